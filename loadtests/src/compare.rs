//! `edge-loadtest compare`: the same workload through the gateway, nginx, HAProxy and a bare
//! Pingora pass-through (and straight to the backend), interleaved A B C A B C …, driven by
//! wrk (HTTP/1.1) and h2load (h2).
//!
//! Every proxy gets one worker thread, upstream keep-alive and the same backend (an nginx
//! returning a fixed 100-byte body, one worker). Per run it measures requests per second and
//! latency (from the load tool), the proxy's CPU time per request (utime + stime of the
//! proxy's own processes, from `/proc/PID/stat`) and the upstream connections it opened per
//! 1,000 requests (the backend's `stub_status` accept counter). Medians over the rounds are
//! printed as Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::pki::Pki;
use crate::util;

/// The tenant every benchmark request names (the gateway needs one; the others ignore it).
const TENANT: &str = "e0000000-0000-4000-8000-000000000001";

/// `outlier_detection.consecutive_failures` of the benchmarked gateway (see `gateway_conf`).
pub const OUTLIER_FAILURES: u32 = 100;

/// The backend's answer: exactly 100 bytes.
const BODY: &str =
    "edge-loadtest backend: a fixed answer of exactly one hundred bytes for proxy benchmarks......\n";

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
    /// Every target, in run order.
    pub const ALL: [Proxy; 5] = [
        Proxy::Gateway,
        Proxy::Nginx,
        Proxy::Haproxy,
        Proxy::Bare,
        Proxy::Direct,
    ];

    /// Label in tables.
    pub fn label(self) -> &'static str {
        match self {
            Proxy::Gateway => "edge-gateway",
            Proxy::Nginx => "nginx",
            Proxy::Haproxy => "HAProxy",
            Proxy::Bare => "bare Pingora",
            Proxy::Direct => "direct to backend",
        }
    }
}

/// How to run the comparison.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Interleaved rounds.
    pub rounds: usize,
    /// Length of each run.
    pub seconds: u64,
    /// Concurrent connections (wrk), or streams in flight (h2load: connections × streams).
    pub connections: usize,
    /// Modes to run.
    pub modes: Vec<Mode>,
    /// The gateway binary.
    pub gateway_bin: PathBuf,
    /// The bare pass-through binary.
    pub bare_bin: PathBuf,
    /// Where the JSON (and the proxies' logs) go.
    pub out: PathBuf,
    /// Also write the Markdown to this file.
    pub markdown: Option<PathBuf>,
    /// The command line, for the report.
    pub command: String,
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

/// A process this harness started; stopped by PID (TERM, then KILL for it and its children).
struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Proc, String> {
        let out = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot duplicate a file handle: {e}"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stop(&mut self) {
        if !self.alive() {
            return;
        }
        let pid = self.pid();
        let children = descendants(pid);
        signal(pid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.alive() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Workers of a master process that did not take them down.
        for c in children {
            if Path::new(&format!("/proc/{c}")).exists() {
                signal(c, "KILL");
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `SIG<sig>` to `pid` with kill(1): a process this harness started, by PID.
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `(ppid, utime + stime ticks)` of a process, from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// Every descendant of `root` (children, grandchildren, …).
fn descendants(root: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| proc_stat(pid).map(|(ppid, _)| (pid, ppid)))
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    // Bounded by the number of processes.
    while let Some(p) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == p && !out.contains(&pid) && out.len() < parents.len() {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

/// CPU ticks of `root` and its descendants.
fn tree_ticks(root: u32) -> u64 {
    std::iter::once(root)
        .chain(descendants(root))
        .filter_map(|p| proc_stat(p).map(|(_, t)| t))
        .sum()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The backend's accepted-connections counter (nginx `stub_status`).
fn backend_accepts(status: SocketAddr) -> Option<u64> {
    let mut s = TcpStream::connect_timeout(&status, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /status HTTP/1.0\r\nHost: status\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    // "... server accepts handled requests\n 12 12 40 \n..."
    let line = text.lines().skip_while(|l| !l.contains("accepts")).nth(1)?;
    line.split_whitespace().next()?.parse().ok()
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].iter().map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn version(bin: &Path, arg: &str) -> String {
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

/// A short description of this machine: CPU model, cores, memory, kernel, OS.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(String::new(), |kb| {
            format!(", {:.0} GiB RAM", kb / 1_048_576.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("PRETTY_NAME="))
        .map(|l| {
            l.trim_start_matches("PRETTY_NAME=")
                .trim_matches('"')
                .to_owned()
        })
        .unwrap_or_default();
    format!("{model}, {cores} vCPUs{mem}, Linux {kernel}, {os}")
}

/// Ports of everything in the comparison.
struct Ports {
    backend: SocketAddr,
    backend_tls: SocketAddr,
    backend_status: SocketAddr,
    nginx: SocketAddr,
    nginx_tls: SocketAddr,
    haproxy: SocketAddr,
    haproxy_tls: SocketAddr,
    bare: SocketAddr,
    bare_tls: SocketAddr,
    gateway_tls: SocketAddr,
}

impl Ports {
    fn pick() -> Result<Ports, String> {
        let p = || util::free_port().map_err(|e| format!("no free port: {e}"));
        Ok(Ports {
            backend: p()?,
            backend_tls: p()?,
            backend_status: p()?,
            nginx: p()?,
            nginx_tls: p()?,
            haproxy: p()?,
            haproxy_tls: p()?,
            bare: p()?,
            bare_tls: p()?,
            gateway_tls: p()?,
        })
    }

    /// The listener of `proxy` for `mode` (`None`: the gateway has no plain listener).
    fn of(&self, proxy: Proxy, mode: Mode) -> Option<SocketAddr> {
        let tls = mode != Mode::Plain;
        Some(match (proxy, tls) {
            (Proxy::Gateway, true) => self.gateway_tls,
            (Proxy::Gateway, false) => return None,
            (Proxy::Nginx, false) => self.nginx,
            (Proxy::Nginx, true) => self.nginx_tls,
            (Proxy::Haproxy, false) => self.haproxy,
            (Proxy::Haproxy, true) => self.haproxy_tls,
            (Proxy::Bare, false) => self.bare,
            (Proxy::Bare, true) => self.bare_tls,
            (Proxy::Direct, false) => self.backend,
            (Proxy::Direct, true) => self.backend_tls,
        })
    }
}

fn nginx_common(dir: &Path, name: &str) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;\ndaemon off;\nmaster_process on;\npid {d}/{name}.pid;\n\
         error_log {d}/{name}.error.log warn;\nworker_rlimit_nofile 16384;\n\
         events {{ worker_connections 8192; multi_accept on; }}\n"
    )
}

fn nginx_http_common(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "  access_log off;\n  client_body_temp_path {d}/tmp-body;\n  proxy_temp_path {d}/tmp-proxy;\n  \
         fastcgi_temp_path {d}/tmp-fcgi;\n  uwsgi_temp_path {d}/tmp-uwsgi;\n  scgi_temp_path {d}/tmp-scgi;\n  \
         keepalive_requests 10000000;\n  keepalive_timeout 75s;\n  \
         ssl_protocols TLSv1.2 TLSv1.3;\n  ssl_session_tickets off;\n  ssl_session_cache off;\n"
    )
}

fn backend_conf(dir: &Path, pki: &Pki, p: &Ports) -> String {
    format!(
        "{}http {{\n{}  default_type text/plain;\n  server {{\n    listen {} reuseport;\n    \
         listen {} ssl http2;\n    ssl_certificate {};\n    ssl_certificate_key {};\n    \
         location / {{ return 200 \"{}\"; }}\n  }}\n  server {{\n    listen {};\n    \
         location = /status {{ stub_status; }}\n  }}\n}}\n",
        nginx_common(dir, "backend"),
        nginx_http_common(dir),
        p.backend,
        p.backend_tls,
        pki.cert.display(),
        pki.key.display(),
        BODY.trim_end_matches('\n').replace('"', "'") + "\\n",
        p.backend_status
    )
}

fn nginx_conf(dir: &Path, pki: &Pki, p: &Ports) -> String {
    format!(
        "{}http {{\n{}  upstream backend {{\n    server {};\n    keepalive 1024;\n    \
         keepalive_requests 10000000;\n    keepalive_timeout 60s;\n  }}\n  server {{\n    \
         listen {};\n    listen {} ssl http2;\n    ssl_certificate {};\n    ssl_certificate_key {};\n    \
         location / {{\n      proxy_pass http://backend;\n      proxy_http_version 1.1;\n      \
         proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n",
        nginx_common(dir, "nginx"),
        nginx_http_common(dir),
        p.backend,
        p.nginx,
        p.nginx_tls,
        pki.cert.display(),
        pki.key.display(),
    )
}

fn haproxy_conf(pki: &Pki, p: &Ports) -> String {
    format!(
        "global\n  nbthread 1\n  maxconn 8000\n  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets\n\n\
         defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  \
         timeout http-keep-alive 75s\n  option http-keep-alive\n  http-reuse always\n\n\
         frontend fe_plain\n  bind {}\n  default_backend be\n\n\
         frontend fe_tls\n  bind {} ssl crt {} alpn h2,http/1.1\n  default_backend be\n\n\
         backend be\n  server backend {} pool-max-conn 1024\n",
        p.haproxy,
        p.haproxy_tls,
        pki.combined.display(),
        p.backend
    )
}

fn gateway_conf(p: &Ports) -> String {
    format!(
        "# Generated by edge-loadtest compare.\n[server]\nthreads = 1\ngrace_period = \"1s\"\n\n\
         [listeners]\nhttps = [\"{}\"]\n\n\
         [[tls.certificates]]\ncert = \"server.pem\"\nkey = \"server.key\"\n\n\
         [tenancy]\nsources = [{{ kind = \"header\", name = \"x-tenant-id\" }}]\n\n\
         [[tenants]]\nid = \"{TENANT}\"\ngeography = \"eu\"\n\n\
         [[geographies]]\nname = \"eu\"\n\n\
         [[regions]]\nname = \"northeurope\"\ngeography = \"eu\"\norigins = [{{ address = \"{}\" }}]\n\n\
         # The load tools close their connections with requests in flight when a run ends, and\n\
         # the gateway counts those client-side aborts against the origin: with the default (3)\n\
         # every run's end ejects the only origin and the next run sees 503s.\n\
         [outlier_detection]\nconsecutive_failures = {OUTLIER_FAILURES}\n",
        p.gateway_tls, p.backend
    )
}

/// Waits (at most 15 s) until `addr` accepts connections.
fn wait_port(addr: SocketAddr, proc: &mut Proc, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if !proc.alive() || Instant::now() >= deadline {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!(
                "{} did not listen on {addr}; its log ({}):\n{}",
                proc.name,
                log.display(),
                tail.lines().rev().take(20).collect::<Vec<_>>().join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The host name for TLS URLs: `localhost` when it resolves to 127.0.0.1 (so SNI is a name),
/// else the address.
fn tls_host() -> String {
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
fn run_tool(cmd: &mut Command, limit: Duration) -> Result<String, String> {
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

struct Tools {
    nginx: PathBuf,
    haproxy: PathBuf,
    wrk: PathBuf,
    h2load: PathBuf,
}

fn tools() -> Result<Tools, String> {
    let find = |t: &str| which(t).ok_or_else(|| t.to_owned());
    let found = [find("nginx"), find("haproxy"), find("wrk"), find("h2load")];
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

/// Runs the comparison and prints the table; returns the results.
pub fn run(opts: &CompareOptions) -> Result<Comparison, String> {
    let tools = tools()?;
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("edge-compare-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let d = dir.path();
    let pki = Pki::generate(d)?;
    let ports = Ports::pick()?;
    let ticks_per_s = clock_ticks();

    let write = |name: &str, text: String| -> Result<PathBuf, String> {
        let p = d.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok(p)
    };
    let backend_cfg = write("backend.conf", backend_conf(d, &pki, &ports))?;
    let nginx_cfg = write("nginx.conf", nginx_conf(d, &pki, &ports))?;
    let haproxy_cfg = write("haproxy.cfg", haproxy_conf(&pki, &ports))?;
    let gateway_cfg = write("edge.toml", gateway_conf(&ports))?;
    let log = |name: &str| opts.out.join(format!("compare-{name}.log"));

    eprintln!("compare: starting the backend, nginx, HAProxy, edge-gateway and bare Pingora");
    let mut backend = Proc::spawn(
        "backend nginx",
        Command::new(&tools.nginx).arg("-c").arg(&backend_cfg),
        &log("backend"),
    )?;
    wait_port(ports.backend_status, &mut backend, &log("backend"))?;
    let mut procs: BTreeMap<Proxy, Proc> = BTreeMap::new();
    let mut nginx = Proc::spawn(
        "nginx",
        Command::new(&tools.nginx).arg("-c").arg(&nginx_cfg),
        &log("nginx"),
    )?;
    wait_port(ports.nginx_tls, &mut nginx, &log("nginx"))?;
    procs.insert(Proxy::Nginx, nginx);
    let mut haproxy = Proc::spawn(
        "haproxy",
        Command::new(&tools.haproxy)
            .arg("-db")
            .arg("-f")
            .arg(&haproxy_cfg),
        &log("haproxy"),
    )?;
    wait_port(ports.haproxy_tls, &mut haproxy, &log("haproxy"))?;
    procs.insert(Proxy::Haproxy, haproxy);
    let mut gateway = Proc::spawn(
        "edge-gateway",
        Command::new(&opts.gateway_bin)
            .arg("run")
            .arg("--config")
            .arg(&gateway_cfg)
            // Health transitions (info) are kept to detect an ejected origin; no access log.
            .env("RUST_LOG", "info,access=warn"),
        &log("gateway"),
    )?;
    wait_port(ports.gateway_tls, &mut gateway, &log("gateway"))?;
    procs.insert(Proxy::Gateway, gateway);
    let mut bare = Proc::spawn(
        "bare Pingora",
        Command::new(&opts.bare_bin)
            .arg("--upstream")
            .arg(ports.backend.to_string())
            .arg("--listen")
            .arg(ports.bare.to_string())
            .arg("--tls-listen")
            .arg(ports.bare_tls.to_string())
            .arg("--cert")
            .arg(&pki.cert)
            .arg("--key")
            .arg(&pki.key)
            .arg("--threads")
            .arg("1"),
        &log("bare"),
    )?;
    wait_port(ports.bare_tls, &mut bare, &log("bare"))?;
    procs.insert(Proxy::Bare, bare);

    let host = tls_host();
    let conns = opts.connections.max(1);
    let run_one = |mode: Mode, addr: SocketAddr, secs: u64| -> Result<Sample, String> {
        let url = match mode {
            Mode::Plain => format!("http://{addr}/"),
            _ => format!("https://{host}:{}/", addr.port()),
        };
        let limit = Duration::from_secs(secs + 30);
        let tenant = format!("x-tenant-id: {TENANT}");
        let text = match mode {
            Mode::H2 => {
                // Streams in flight = connections × streams per connection, as for wrk.
                let c = (conns / 4).max(1);
                run_tool(
                    Command::new(&tools.h2load)
                        .args(["-t", "1", "-c", &c.to_string(), "-m", "4"])
                        .args(["-D", &secs.to_string(), "-H", &tenant])
                        .arg(&url),
                    limit,
                )?
            }
            _ => {
                let mut cmd = Command::new(&tools.wrk);
                cmd.args(["-t", "1", "-c", &conns.to_string()]).args([
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
    };

    let plan: Vec<(Mode, Proxy)> = opts
        .modes
        .iter()
        .flat_map(|&m| Proxy::ALL.into_iter().map(move |p| (m, p)))
        .filter(|&(m, p)| ports.of(p, m).is_some())
        .collect();

    // Warm-up: one short run each (connection pools, caches), not recorded.
    eprintln!("compare: warm-up ({} runs of 1 s)", plan.len());
    for &(mode, proxy) in &plan {
        if let Some(addr) = ports.of(proxy, mode) {
            let _ = run_one(mode, addr, 1);
        }
    }

    let mut samples: BTreeMap<(Mode, Proxy), Vec<Sample>> = BTreeMap::new();
    let total = plan.len() * opts.rounds;
    let mut n = 0;
    for round in 1..=opts.rounds {
        for &mode in &opts.modes {
            // A B C A B C …: every target once per mode per round, in the same order.
            for &(m, proxy) in plan.iter().filter(|(m, _)| *m == mode) {
                let Some(addr) = ports.of(proxy, m) else {
                    continue;
                };
                n += 1;
                let pid = match proxy {
                    Proxy::Direct => backend.pid(),
                    p => procs.get(&p).map_or(0, Proc::pid),
                };
                let accepts0 = backend_accepts(ports.backend_status);
                let ticks0 = tree_ticks(pid);
                let result = run_one(m, addr, opts.seconds);
                let ticks1 = tree_ticks(pid);
                let accepts1 = backend_accepts(ports.backend_status);
                match result {
                    Ok(mut s) => {
                        if s.requests > 0 {
                            let cpu_s = ticks1.saturating_sub(ticks0) as f64 / ticks_per_s;
                            s.cpu_us_per_req = Some(round1(cpu_s * 1e6 / s.requests as f64));
                            if let (Some(a0), Some(a1)) = (accepts0, accepts1) {
                                // The status request itself is one accepted connection.
                                let opened = a1.saturating_sub(a0).saturating_sub(1);
                                s.upstream_conns_per_1k =
                                    Some(round1(opened as f64 * 1000.0 / s.requests as f64));
                            }
                        }
                        eprintln!(
                            "compare [{n}/{total}] round {round} {:<6} {:<18} {:>9.0} req/s  cpu {:>6} µs/req  upstream conns/1k {:>6}  errors {}",
                            m.name(),
                            proxy.label(),
                            s.rps,
                            s.cpu_us_per_req.map_or("-".into(), |x| format!("{x:.1}")),
                            s.upstream_conns_per_1k.map_or("-".into(), |x| format!("{x:.1}")),
                            s.errors
                        );
                        samples.entry((m, proxy)).or_default().push(s);
                    }
                    Err(e) => {
                        eprintln!("compare [{n}/{total}] {} {}: {e}", m.name(), proxy.label());
                        samples.entry((m, proxy)).or_default();
                    }
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }

    let mut versions = BTreeMap::new();
    versions.insert("nginx".to_owned(), version(&tools.nginx, "-v"));
    versions.insert("haproxy".to_owned(), version(&tools.haproxy, "-v"));
    versions.insert("wrk".to_owned(), version(&tools.wrk, "-v"));
    versions.insert("h2load".to_owned(), version(&tools.h2load, "--version"));
    versions.insert(
        "edge-gateway".to_owned(),
        version(&opts.gateway_bin, "--version"),
    );
    let mut notes = Vec::new();
    let ejections = std::fs::read_to_string(log("gateway"))
        .unwrap_or_default()
        .lines()
        .map(crate::gateway::strip_ansi)
        .filter(|l| l.contains("origin health changed") && l.contains("to=\"unhealthy\""))
        .count();
    if ejections > 0 {
        notes.push(format!(
            "edge-gateway marked its origin unhealthy {ejections} time(s) during the comparison \
             (see {}); its runs after that answered 503s",
            log("gateway").display()
        ));
    }
    let cells = samples
        .into_iter()
        .map(|((mode, proxy), samples)| cell(mode, proxy, samples))
        .collect();
    let cmp = Comparison {
        date: util::now_utc().1,
        machine: machine(),
        versions,
        command: opts.command.clone(),
        rounds: opts.rounds,
        seconds: opts.seconds,
        connections: conns,
        cells,
        notes,
    };
    for (_, mut p) in procs {
        p.stop();
    }
    backend.stop();

    let json = opts.out.join("compare.json");
    let text = serde_json::to_string_pretty(&cmp).map_err(|e| format!("cannot serialise: {e}"))?;
    std::fs::write(&json, text).map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    let md = markdown(&cmp);
    println!("{md}");
    if let Some(path) = &opts.markdown {
        std::fs::write(path, &md).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(cmp)
}

fn round1(x: f64) -> f64 {
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

fn cell(mode: Mode, proxy: Proxy, samples: Vec<Sample>) -> Cell {
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

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a > 0.0 => format!("{:.2}×", a / b),
        _ => "—".to_owned(),
    }
}

fn opt(x: Option<f64>, unit: &str) -> String {
    x.map_or("—".to_owned(), |v| format!("{v:.2}{unit}"))
}

/// The comparison as Markdown: one table per mode.
pub fn markdown(c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### edge-gateway vs nginx vs HAProxy vs bare Pingora\n\n\
         {} · {}  \nCommand: `{}`  \n{} interleaved rounds × {} s per run, {} connections \
         (h2: {} connections × 4 streams), one worker thread per proxy, upstream keep-alive, \
         backend: nginx (1 worker) answering 100 bytes.  \nVersions: {}\n",
        c.date,
        c.machine,
        c.command,
        c.rounds,
        c.seconds,
        c.connections,
        (c.connections / 4).max(1),
        c.versions
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let modes: Vec<Mode> = {
        let mut m: Vec<Mode> = c.cells.iter().map(|x| x.mode).collect();
        m.dedup();
        m
    };
    for mode in modes {
        let row = |p: Proxy| c.cells.iter().find(|x| x.mode == mode && x.proxy == p);
        let base = |p: Proxy| row(p).map(|x| x.rps).filter(|r| *r > 0.0);
        let _ = writeln!(s, "**{}**\n", mode.describe());
        let _ = writeln!(
            s,
            "| target | req/s (median) | vs nginx | vs HAProxy | vs bare Pingora | p50 | p99 | proxy CPU/req | upstream conns / 1k req | errors |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for p in Proxy::ALL {
            let Some(x) = row(p) else {
                if p == Proxy::Gateway && mode == Mode::Plain {
                    let _ = writeln!(
                        s,
                        "| edge-gateway | n/a: TLS only by design (plain HTTP is redirected) | | | | | | | | |"
                    );
                }
                continue;
            };
            let _ = writeln!(
                s,
                "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
                p.label(),
                x.rps,
                ratio(x.rps, base(Proxy::Nginx)),
                ratio(x.rps, base(Proxy::Haproxy)),
                ratio(x.rps, base(Proxy::Bare)),
                opt(x.p50_ms, " ms"),
                opt(x.p99_ms, " ms"),
                x.cpu_us_per_req
                    .map_or("—".to_owned(), |v| format!("{v:.1} µs")),
                x.upstream_conns_per_1k
                    .map_or("—".to_owned(), |v| format!("{v:.1}")),
                x.errors
            );
        }
        s.push('\n');
    }
    for n in &c.notes {
        let _ = writeln!(s, "**Note:** {n}.\n");
    }
    let _ = writeln!(
        s,
        "CPU/req is the proxy's own utime+stime (all its processes) over the requests it \
         served; for \"direct\" it is the backend's. Upstream connections are the backend's \
         accepted connections during the run (for \"direct\": the client's). h2load reports no \
         percentiles: its p50 column is the mean."
    );
    s
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

    #[test]
    fn own_process_stat_reads() {
        let (ppid, _ticks) = proc_stat(std::process::id()).unwrap();
        assert!(ppid > 0);
    }
}
