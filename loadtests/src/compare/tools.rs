//! The load tools and the proxies' binaries: found on the `PATH`, asked for their versions,
//! run against one target, and their output parsed into a sample.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::model::{Mode, Proxy, Sample, Workload};
use crate::bench::TENANT;

/// `tool` on the `PATH` (or in the sbin directories, where Debian puts nginx and HAProxy).
pub(crate) fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].iter().map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The first line of `bin ARG` (stdout, else stderr).
pub(crate) fn version(bin: &Path, arg: &str) -> String {
    Command::new(bin)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or_default().trim().to_owned()
        })
        .unwrap_or_default()
}

/// The host name for TLS URLs: `localhost` when it resolves to 127.0.0.1 (so SNI is a name),
/// else the address.
pub(crate) fn tls_host() -> String {
    let v4 = ("localhost", 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| a.ip().is_loopback() && a.is_ipv4());
    if v4 {
        "localhost".to_owned()
    } else {
        "127.0.0.1".to_owned()
    }
}

/// Parses wrk's `--latency` output into a sample (CPU and connections filled in later).
pub fn parse_wrk(text: &str) -> Option<Sample> {
    let mut s = Sample::default();
    let mut in_dist = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("Latency Distribution") {
            in_dist = true;
            continue;
        }
        if in_dist {
            if let Some(v) = l.strip_prefix("50%") {
                s.p50_ms = parse_wrk_time(v.trim());
                continue;
            }
            if let Some(v) = l.strip_prefix("99%") {
                s.p99_ms = parse_wrk_time(v.trim());
                in_dist = false;
                continue;
            }
        }
        if l.contains("requests in") {
            s.requests = l.split_whitespace().next()?.parse().ok()?;
        } else if let Some(v) = l.strip_prefix("Requests/sec:") {
            s.rps = v.trim().parse().ok()?;
        } else if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            s.errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            s.errors += v
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    (s.requests > 0).then_some(s)
}

fn parse_wrk_time(v: &str) -> Option<f64> {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let x: f64 = num.trim().parse().ok()?;
    Some(match unit {
        "us" => x / 1000.0,
        "ms" => x,
        "s" => x * 1000.0,
        "m" => x * 60_000.0,
        _ => return None,
    })
}

/// Parses h2load's output into a sample.
pub fn parse_h2load(text: &str) -> Option<Sample> {
    let mut s = Sample::default();
    let mut ok = 0u64;
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("finished in") {
            // "finished in 5.00s, 12345.00 req/s, 1.2MB/s"
            s.rps = rest
                .split(',')
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
        } else if let Some(rest) = l.strip_prefix("requests:") {
            // "N total, N started, N done, N succeeded, N failed, N errored, N timeout"
            for part in rest.split(',') {
                let mut w = part.split_whitespace();
                let (Some(n), Some(what)) = (w.next(), w.next()) else {
                    continue;
                };
                let n: u64 = n.parse().unwrap_or(0);
                match what {
                    "done" => s.requests = n,
                    "failed" | "errored" | "timeout" => s.errors += n,
                    _ => {}
                }
            }
        } else if let Some(rest) = l.strip_prefix("status codes:") {
            ok = rest
                .split(',')
                .find(|p| p.contains("2xx"))
                .and_then(|p| p.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
        } else if let Some(rest) = l.strip_prefix("time for request:") {
            // min max mean sd +/-sd: the mean stands in for the median.
            s.p50_ms = rest.split_whitespace().nth(2).and_then(parse_wrk_time);
        }
    }
    s.errors += s.requests.saturating_sub(ok).saturating_sub(s.errors);
    (s.requests > 0).then_some(s)
}

/// Runs a tool to completion, at most `limit`; returns its stdout.
pub(crate) fn run_tool(cmd: &mut Command, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmd:?} did not finish within {limit:?}"));
            }
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("cannot read the output of {cmd:?}: {e}"))?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// The programs a comparison needs besides the gateway and the bare pass-through.
pub(super) struct Tools {
    pub(super) nginx: PathBuf,
    pub(super) haproxy: PathBuf,
    pub(super) wrk: PathBuf,
    pub(super) h2load: PathBuf,
}

/// Finds every tool `targets` need (HAProxy only when it is a target; nginx is always the
/// backend), or names all the missing ones.
pub(super) fn tools(targets: &[Proxy]) -> Result<Tools, String> {
    let find = |t: &str| which(t).ok_or_else(|| t.to_owned());
    let haproxy = if targets.contains(&Proxy::Haproxy) {
        find("haproxy")
    } else {
        Ok(which("haproxy").unwrap_or_else(|| PathBuf::from("haproxy")))
    };
    let found = [find("nginx"), haproxy, find("wrk"), find("h2load")];
    let missing: Vec<String> = found
        .iter()
        .filter_map(|r| r.as_ref().err().cloned())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing: {} — run loadtests/compare.sh (it installs them), or \
             `apt-get install -y nginx haproxy wrk nghttp2-client`",
            missing.join(", ")
        ));
    }
    let [Ok(nginx), Ok(haproxy), Ok(wrk), Ok(h2load)] = found else {
        return Err("missing tools".to_owned());
    };
    Ok(Tools {
        nginx,
        haproxy,
        wrk,
        h2load,
    })
}

/// Drives one run of load: wrk for HTTP/1.1, h2load for h2.
pub(super) struct Driver<'a> {
    tools: &'a Tools,
    /// The host name of TLS URLs.
    host: String,
    /// Connections (wrk).
    pub(super) conns: usize,
    /// Connections (h2load); each has the workload's streams in flight.
    pub(super) h2_conns: usize,
}

impl<'a> Driver<'a> {
    pub(super) fn new(tools: &'a Tools, connections: usize, h2_connections: usize) -> Driver<'a> {
        Driver {
            tools,
            host: tls_host(),
            conns: connections.max(1),
            h2_conns: h2_connections.max(1),
        }
    }

    /// Sends `w`'s load to `addr` for `secs` seconds; the sample has no CPU or upstream
    /// numbers yet.
    pub(super) fn run(&self, w: Workload, addr: SocketAddr, secs: u64) -> Result<Sample, String> {
        let mode = w.mode;
        let url = match mode {
            Mode::Plain => format!("http://{addr}/"),
            _ => format!("https://{}:{}/", self.host, addr.port()),
        };
        let limit = Duration::from_secs(secs + 30);
        let tenant = format!("x-tenant-id: {TENANT}");
        let text = match mode {
            Mode::H2 => run_tool(
                Command::new(&self.tools.h2load)
                    .args(["-t", "1", "-c", &self.h2_conns.to_string()])
                    .args(["-m", &w.streams.max(1).to_string()])
                    .args(["-D", &secs.to_string(), "-H", &tenant])
                    .arg(&url),
                limit,
            )?,
            _ => {
                let mut cmd = Command::new(&self.tools.wrk);
                cmd.args(["-t", "1", "-c", &self.conns.to_string()]).args([
                    "-d",
                    &format!("{secs}s"),
                    "--latency",
                    "-H",
                    &tenant,
                ]);
                if mode == Mode::Churn {
                    cmd.args(["-H", "Connection: close"]);
                }
                run_tool(cmd.arg(&url), limit)?
            }
        };
        let parsed = match mode {
            Mode::H2 => parse_h2load(&text),
            _ => parse_wrk(&text),
        };
        parsed.ok_or_else(|| {
            format!(
                "no result from the load tool for {url}:\n{}",
                text.lines().take(15).collect::<Vec<_>>().join("\n")
            )
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_parses() {
        let text = "Running 5s test @ http://127.0.0.1:8080/\n  1 threads and 64 connections\n  \
            Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     2.10ms  300.00us   9.00ms   90.00%\n  \
            Latency Distribution\n     50%    2.00ms\n     75%    2.20ms\n     90%    2.50ms\n     99%  850.00us\n  \
            123456 requests in 5.00s, 20.00MB read\n  Socket errors: connect 1, read 2, write 0, timeout 3\n  \
            Non-2xx or 3xx responses: 4\nRequests/sec:  24691.20\nTransfer/sec:      4.00MB\n";
        let s = parse_wrk(text).unwrap();
        assert_eq!(s.requests, 123_456);
        assert!((s.rps - 24691.2).abs() < 1e-6);
        assert_eq!(s.p50_ms, Some(2.0));
        assert_eq!(s.p99_ms, Some(0.85));
        assert_eq!(s.errors, 10);
    }

    #[test]
    fn h2load_output_parses() {
        let text = "finished in 5.00s, 12345.60 req/s, 1.23MB/s\n\
            requests: 61728 total, 61792 started, 61728 done, 61700 succeeded, 28 failed, 0 errored, 0 timeout\n\
            status codes: 61700 2xx, 0 3xx, 0 4xx, 28 5xx\n\
            time for request:      123us      5.00ms      1.50ms       500us    80.00%\n";
        let s = parse_h2load(text).unwrap();
        assert_eq!(s.requests, 61_728);
        assert!((s.rps - 12345.6).abs() < 1e-6);
        assert_eq!(s.errors, 28);
        assert_eq!(s.p50_ms, Some(1.5));
    }
}
