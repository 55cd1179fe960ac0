//! What is compared and what comes out: the modes and targets, one run's sample, and the
//! medians over the rounds.

use std::collections::BTreeMap;

use serde::Serialize;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Plain HTTP/1.1 keep-alive (wrk).
    Plain,
    /// HTTP/1.1 keep-alive over TLS (wrk).
    Tls,
    /// h2 over TLS (h2load).
    H2,
    /// A new TLS connection per request (wrk, `Connection: close`).
    Churn,
}

impl Mode {
    /// Every mode, in table order.
    pub const ALL: [Mode; 4] = [Mode::Plain, Mode::Tls, Mode::H2, Mode::Churn];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Tls => "tls",
            Mode::H2 => "h2",
            Mode::Churn => "churn",
        }
    }

    /// What it is.
    pub fn describe(self) -> &'static str {
        match self {
            Mode::Plain => "plain HTTP/1.1 keep-alive (wrk)",
            Mode::Tls => "TLS HTTP/1.1 keep-alive (wrk)",
            Mode::H2 => "TLS h2 keep-alive (h2load)",
            Mode::Churn => "TLS, new connection per request (wrk, Connection: close)",
        }
    }

    /// Parses a comma-separated list of modes.
    pub fn parse_list(s: &str) -> Result<Vec<Mode>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| {
                Mode::ALL
                    .into_iter()
                    .find(|m| m.name() == x)
                    .ok_or_else(|| format!("unknown mode {x:?}; use plain, tls, h2, churn"))
            })
            .collect()
    }
}

/// Who serves the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proxy {
    /// edge-gateway (TLS only by design).
    Gateway,
    /// edge-gateway with `[fleet]` on a local `redis-server` (`compare --fleet`).
    GatewayFleet,
    /// nginx.
    Nginx,
    /// HAProxy.
    Haproxy,
    /// The bare Pingora pass-through example.
    Bare,
    /// No proxy: straight to the backend.
    Direct,
}

impl Proxy {
    /// The command-line name (`--targets`).
    pub fn name(self) -> &'static str {
        match self {
            Proxy::Gateway => "gateway",
            Proxy::GatewayFleet => "gateway-fleet",
            Proxy::Nginx => "nginx",
            Proxy::Haproxy => "haproxy",
            Proxy::Bare => "bare",
            Proxy::Direct => "direct",
        }
    }

    /// Parses a comma-separated list of targets.
    pub fn parse_list(s: &str) -> Result<Vec<Proxy>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| {
                Proxy::ALL.into_iter().find(|p| p.name() == x).ok_or_else(|| {
                    format!(
                        "unknown target {x:?}; use gateway, gateway-fleet, nginx, haproxy, bare, direct"
                    )
                })
            })
            .collect()
    }

    /// Every target, in run order.
    pub const ALL: [Proxy; 6] = [
        Proxy::Gateway,
        Proxy::GatewayFleet,
        Proxy::Nginx,
        Proxy::Haproxy,
        Proxy::Bare,
        Proxy::Direct,
    ];

    /// Label in tables.
    pub fn label(self) -> &'static str {
        match self {
            Proxy::Gateway => "edge-gateway",
            Proxy::GatewayFleet => "edge-gateway [fleet]",
            Proxy::Nginx => "nginx",
            Proxy::Haproxy => "HAProxy",
            Proxy::Bare => "bare Pingora",
            Proxy::Direct => "direct to backend",
        }
    }
}

/// One measured run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    /// Requests completed.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency (ms; h2load: mean).
    pub p50_ms: Option<f64>,
    /// p99 latency (ms; not reported by h2load).
    pub p99_ms: Option<f64>,
    /// Non-2xx answers and socket errors.
    pub errors: u64,
    /// Proxy CPU time per request (µs).
    pub cpu_us_per_req: Option<f64>,
    /// Upstream connections opened per 1,000 requests.
    pub upstream_conns_per_1k: Option<f64>,
}

/// Medians of one (mode, target) over the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// Mode.
    pub mode: Mode,
    /// Target.
    pub proxy: Proxy,
    /// Every round's sample.
    pub samples: Vec<Sample>,
    /// Median requests per second.
    pub rps: f64,
    /// Median p50 (ms).
    pub p50_ms: Option<f64>,
    /// Median p99 (ms).
    pub p99_ms: Option<f64>,
    /// Median CPU per request (µs).
    pub cpu_us_per_req: Option<f64>,
    /// Median upstream connections per 1,000 requests.
    pub upstream_conns_per_1k: Option<f64>,
    /// Errors over all rounds.
    pub errors: u64,
}

/// The whole comparison, as written to `compare.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// When (UTC).
    pub date: String,
    /// The machine.
    pub machine: String,
    /// Tool and proxy versions.
    pub versions: BTreeMap<String, String>,
    /// The command that produced it.
    pub command: String,
    /// Rounds, seconds per run, connections.
    pub rounds: usize,
    /// Seconds per run.
    pub seconds: u64,
    /// Connections.
    pub connections: usize,
    /// Results.
    pub cells: Vec<Cell>,
    /// Anything that makes a result suspect (e.g. the gateway ejected its origin).
    pub notes: Vec<String>,
}

/// Rounded to one decimal.
pub(super) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// The medians of one (mode, target) over its samples.
pub(super) fn cell(mode: Mode, proxy: Proxy, samples: Vec<Sample>) -> Cell {
    let med = |f: fn(&Sample) -> Option<f64>| median(samples.iter().filter_map(f).collect());
    Cell {
        mode,
        proxy,
        rps: med(|s| Some(s.rps)).map_or(0.0, round1),
        p50_ms: med(|s| s.p50_ms),
        p99_ms: med(|s| s.p99_ms),
        cpu_us_per_req: med(|s| s.cpu_us_per_req).map(round1),
        upstream_conns_per_1k: med(|s| s.upstream_conns_per_1k).map(round1),
        errors: samples.iter().map(|s| s.errors).sum(),
        samples,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_modes() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(
            Mode::parse_list("plain, h2").unwrap(),
            vec![Mode::Plain, Mode::H2]
        );
        assert!(Mode::parse_list("x").is_err());
    }
}
