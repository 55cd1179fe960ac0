//! A fixed number of requests with h2load: HTTP/1.1 (`--h1`) or h2, over TLS.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::bench::TENANT;
use crate::compare::{parse_h2load, tools::run_tool};

/// The protocol of a profile run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proto {
    /// HTTP/1.1 keep-alive over TLS (h2load `--h1`, one request in flight per connection).
    H1,
    /// h2 over TLS.
    H2,
    /// HTTP/1.1 keep-alive without TLS (bare pass-through only: the gateway is TLS-only).
    H1Plain,
}

impl Proto {
    /// Every protocol.
    pub const ALL: [Proto; 3] = [Proto::H1, Proto::H2, Proto::H1Plain];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Proto::H1 => "h1",
            Proto::H2 => "h2",
            Proto::H1Plain => "h1-plain",
        }
    }

    /// What it is.
    pub fn describe(self) -> &'static str {
        match self {
            Proto::H1 => "TLS HTTP/1.1 keep-alive",
            Proto::H2 => "TLS h2",
            Proto::H1Plain => "plain HTTP/1.1 keep-alive (bare pass-through only)",
        }
    }

    /// Parses a comma-separated list.
    pub fn parse_list(s: &str) -> Result<Vec<Proto>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| {
                Proto::ALL
                    .into_iter()
                    .find(|p| p.name() == x)
                    .ok_or_else(|| format!("unknown protocol {x:?}; use h1, h2, h1-plain"))
            })
            .collect()
    }
}

/// One fixed-count load.
pub(super) struct Request<'a> {
    pub(super) h2load: &'a Path,
    /// The TLS host name (SNI).
    pub(super) host: &'a str,
    pub(super) addr: SocketAddr,
    pub(super) proto: Proto,
    pub(super) requests: u64,
    pub(super) connections: usize,
    pub(super) h2_streams: usize,
}

/// Sends exactly `r.requests` requests; fails unless every one got a 2xx.
pub(super) fn fixed(r: &Request<'_>) -> Result<(), String> {
    let conns = r.connections.clamp(1, r.requests.max(1) as usize);
    let streams = match r.proto {
        Proto::H1 | Proto::H1Plain => 1,
        Proto::H2 => r.h2_streams.max(1),
    };
    let url = match r.proto {
        Proto::H1Plain => format!("http://{}/", r.addr),
        _ => format!("https://{}:{}/", r.host, r.addr.port()),
    };
    let mut cmd = Command::new(r.h2load);
    cmd.args(["-t", "1", "-n", &r.requests.to_string()])
        .args(["-c", &conns.to_string(), "-m", &streams.to_string()])
        .args(["-H", &format!("x-tenant-id: {TENANT}")]);
    if r.proto != Proto::H2 {
        cmd.arg("--h1");
    }
    cmd.arg(&url);
    // Under valgrind a request takes up to a few milliseconds.
    let limit = Duration::from_secs(120) + Duration::from_millis(20) * r.requests as u32;
    let text = run_tool(&mut cmd, limit)?;
    let s = parse_h2load(&text).ok_or_else(|| {
        format!(
            "no result from h2load for {url}:\n{}",
            text.lines().take(15).collect::<Vec<_>>().join("\n")
        )
    })?;
    if s.requests != r.requests || s.errors > 0 {
        return Err(format!(
            "{} of {} requests done, {} failed or not 2xx ({url}):\n{}",
            s.requests,
            r.requests,
            s.errors,
            text.lines()
                .filter(|l| l.contains("requests:") || l.contains("status codes:"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse() {
        assert_eq!(
            Proto::parse_list("h1, h2").unwrap(),
            vec![Proto::H1, Proto::H2]
        );
        assert!(Proto::parse_list("h3").is_err());
    }
}
