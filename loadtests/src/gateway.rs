//! The gateway under load: a child process started with a generated config, or one that is
//! already running; and its admin API.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util;

/// How long a started gateway may take to open its listener.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// `RUST_LOG` for a started gateway: health and audit lines, no per-request access log
/// (the access log is measured separately with `--access-log`).
pub const DEFAULT_LOG_FILTER: &str =
    "info,access=warn,pingora_core=warn,pingora_proxy=warn,pingora=warn";

/// Finds the `edge-gateway` binary: `explicit`, else `$EDGE_GATEWAY_BIN`, else the
/// workspace's release build, else the build next to this executable.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let mut candidates = vec![util::target_dir().join("release").join("edge-gateway")];
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join("edge-gateway"));
        if let Some(up) = dir.parent() {
            candidates.push(up.join("edge-gateway"));
        }
    }
    util::locate_binary(
        explicit,
        "EDGE_GATEWAY_BIN",
        &candidates,
        "cargo build --release -p edge-gateway",
    )
}

/// A gateway child process; stopped by its PID when dropped (SIGINT, then SIGKILL after 5 s).
#[derive(Debug)]
pub struct GatewayProcess {
    child: Child,
    log: PathBuf,
    /// The binary it runs.
    pub bin: PathBuf,
}

impl GatewayProcess {
    /// Runs `bin run --config config` with `env`, logging to `log`, and waits (at most 30 s)
    /// until `listener` accepts connections. Give a plain-TCP listener (the admin API): a bare
    /// TCP probe of the TLS listener would be logged by the gateway as a failed handshake.
    pub fn start(
        bin: &Path,
        config: &Path,
        listener: SocketAddr,
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<GatewayProcess, String> {
        let out = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot duplicate a file handle: {e}"))?;
        let child = Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(config)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut gw = GatewayProcess {
            child,
            log: log.to_path_buf(),
            bin: bin.to_path_buf(),
        };
        gw.wait_listening(listener)?;
        Ok(gw)
    }

    fn wait_listening(&mut self, addr: SocketAddr) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Err(format!(
                        "the gateway exited before listening ({status}); its log:\n{}",
                        self.log_tail(40)
                    ))
                }
                Ok(None) => {}
                Err(e) => return Err(format!("cannot poll the gateway process: {e}")),
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the gateway did not listen on {addr} within {START_DEADLINE:?}; its log:\n{}",
                    self.log_tail(40)
                ));
            }
            // The process offers no readiness signal but its listening socket.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Where it logs.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

/// How long a stopped gateway may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        // SIGINT to our own child, by PID: the gateway exits at once, but through exit(3), so
        // an instrumented build (`cargo xtask pgo`) writes its profile. SIGKILL if it lingers.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(self.child.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + STOP_GRACE;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts the WARN and ERROR lines of a gateway log by level, target and message (the text
/// before the first structured field, at most 80 characters), most frequent first.
pub fn log_summary(path: &Path) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut counts: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for line in text.lines() {
        let plain = strip_ansi(line);
        let mut words = plain.split_whitespace();
        let (Some(_time), Some(level)) = (words.next(), words.next()) else {
            continue;
        };
        if level != "WARN" && level != "ERROR" {
            continue;
        }
        let rest: Vec<&str> = words.collect();
        let rest = rest.join(" ");
        // "target: message key=value ..." -> "target: message"
        let message: String = rest
            .split(' ')
            .take_while(|w| !w.contains('='))
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(80)
            .collect();
        *counts.entry(format!("{level} {message}")).or_default() += 1;
    }
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Removes ANSI colour sequences (`ESC [ ... m`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A client for the gateway's admin API (plain HTTP on loopback, bearer token).
#[derive(Debug, Clone)]
pub struct Admin {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// The answer to one admin call.
#[derive(Debug, Clone)]
pub struct AdminReply {
    /// HTTP status (0 when no answer arrived).
    pub status: u16,
    /// The body, or the transport error.
    pub body: String,
    /// How long the call took.
    pub took: Duration,
}

impl AdminReply {
    /// Whether the call succeeded (2xx).
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Admin {
    /// An admin client for `addr` (must be loopback) with `token`.
    pub fn new(addr: SocketAddr, token: &str) -> Result<Admin, String> {
        util::require_loopback(addr, "admin address")?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build the admin client: {e}"))?;
        Ok(Admin {
            base: format!("http://{addr}"),
            token: token.to_owned(),
            client,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<String>) -> AdminReply {
        let start = Instant::now();
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                AdminReply {
                    status,
                    body,
                    took: start.elapsed(),
                }
            }
            Err(e) => AdminReply {
                status: 0,
                body: e.to_string(),
                took: start.elapsed(),
            },
        }
    }

    /// `POST /api/v1/regions/{region}/drain`.
    pub async fn drain(&self, region: &str) -> AdminReply {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/regions/{region}/drain"),
            None,
        )
        .await
    }

    /// `POST /api/v1/regions/{region}/undrain`.
    pub async fn undrain(&self, region: &str) -> AdminReply {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/regions/{region}/undrain"),
            None,
        )
        .await
    }

    /// `PUT /api/v1/regions/{region}/weight`.
    pub async fn set_weight(&self, region: &str, weight: u32) -> AdminReply {
        self.call(
            reqwest::Method::PUT,
            &format!("/api/v1/regions/{region}/weight"),
            Some(format!("{{\"weight\":{weight}}}")),
        )
        .await
    }

    /// `POST /api/v1/config/reload`.
    pub async fn reload(&self) -> AdminReply {
        self.call(reqwest::Method::POST, "/api/v1/config/reload", None)
            .await
    }

    /// `DELETE /api/v1/overrides`.
    pub async fn clear_overrides(&self) -> AdminReply {
        self.call(reqwest::Method::DELETE, "/api/v1/overrides", None)
            .await
    }

    /// `GET /metrics`, parsed into `(name{labels}, value)` samples.
    pub async fn metrics(&self) -> Vec<(String, f64)> {
        let reply = self.call(reqwest::Method::GET, "/metrics", None).await;
        if !reply.ok() {
            return Vec::new();
        }
        parse_prometheus(&reply.body)
    }

    /// `GET /readyz` answered 200.
    pub async fn ready(&self) -> bool {
        self.call(reqwest::Method::GET, "/readyz", None).await.ok()
    }
}

/// Parses Prometheus text format into `(series, value)`; comments and bad lines are skipped.
pub fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.trim().to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The sum of every series of metric `name` (all label sets), if any is present.
pub fn metric_sum(samples: &[(String, f64)], name: &str) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for (series, value) in samples {
        let base = series.split('{').next().unwrap_or_default();
        if base == name {
            found = true;
            sum += value;
        }
    }
    found.then_some(sum)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_summarised() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.log");
        std::fs::write(
            &p,
            "\u{1b}[2m2026-01-01T00:00:00Z\u{1b}[0m \u{1b}[31mERROR\u{1b}[0m \u{1b}[2mpingora_core::connectors\u{1b}[0m\u{1b}[2m:\u{1b}[0m failed to acquire reusable stream\n\
             2026-01-01T00:00:01Z ERROR pingora_core::connectors: failed to acquire reusable stream\n\
             2026-01-01T00:00:02Z  INFO health: origin health changed region=x\n\
             2026-01-01T00:00:03Z  WARN edge_gateway::reload: reload refused trigger=api\n",
        )
        .unwrap();
        let s = log_summary(&p);
        assert_eq!(
            s,
            vec![
                (
                    "ERROR pingora_core::connectors: failed to acquire reusable stream".to_owned(),
                    2
                ),
                ("WARN edge_gateway::reload: reload refused".to_owned(), 1),
            ]
        );
    }

    #[test]
    fn prometheus_text_parses() {
        let text = "# HELP x y\n# TYPE a counter\na 3\nb{r=\"x\"} 2\nb{r=\"y\"} 5.5\nbad\n";
        let s = parse_prometheus(text);
        assert_eq!(s.len(), 3);
        assert_eq!(metric_sum(&s, "a"), Some(3.0));
        assert_eq!(metric_sum(&s, "b"), Some(7.5));
        assert_eq!(metric_sum(&s, "c"), None);
    }
}
