//! `edge-loadtest profile`: what one request costs the gateway and the bare Pingora
//! pass-through, counted rather than timed.
//!
//! Each proxy runs under valgrind while h2load sends a fixed number of requests (TLS HTTP/1.1
//! keep-alive with `--h1`, and h2), to the same backend nginx `compare` uses:
//!
//! - **instructions** (`--tool=callgrind`): one process per proxy. After a warm-up the
//!   counters are zeroed (`callgrind_control -z`); then, per protocol, N1 requests, a dump
//!   (`callgrind_control -d`), N2 requests, a dump. A dump holds what ran since the previous
//!   one, so `(I(N2) - I(N1)) / (N2 - N1)` is the cost of one request with start-up, warm-up,
//!   the connections' handshakes and their teardown cancelled out; `I(N1) - N1 × that`,
//!   divided by the connections, is what one connection costs besides its requests.
//! - **heap allocations** (`--tool=dhat`): DHAT counts only at exit, so two processes per
//!   proxy and protocol, one sent N1 requests and one N2, and the same difference. DHAT sees
//!   `malloc` and friends: the binaries it runs must use the C library's allocator, not
//!   mimalloc (`cargo xtask profile` builds such copies; see `xtask/src/profile.rs`).
//!
//! Per function (callgrind) and per allocation site (DHAT) the same difference, divided by
//! `N2 - N1`, says where a request's instructions and allocations go.
//!
//! Counts are deterministic up to scheduling: under valgrind the proxy is far slower than the
//! native client and backend, so it always runs saturated, and how many requests one read
//! returns (h2) can vary a little between runs.

mod callgrind;
mod dhat;
mod load;
mod report;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::bench::{self, AccessLog, GatewaySetup};
use crate::compare::confs::{self, Ports};
use crate::compare::procs::{wait_port_within, Proc};
use crate::compare::tools::which;
use crate::pki::Pki;
use crate::util;

pub use load::Proto;

/// Which kind of binary a target is: how it is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// edge-gateway, on the benchmark config of [`crate::bench`].
    Gateway,
    /// `gateway/examples/bare_passthrough.rs`.
    Bare,
}

/// One binary to profile.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name in tables and file names.
    pub name: String,
    /// How it is started.
    pub kind: Kind,
    /// The binary callgrind runs (the release build).
    pub bin: PathBuf,
    /// The binary DHAT runs (same code, the C library's allocator); `None`: no DHAT run.
    pub dhat_bin: Option<PathBuf>,
    /// The gateway's access log (ignored for the bare pass-through).
    pub access_log: AccessLog,
    /// The gateway keeps header-name case (`routing.header_case = "preserve"`).
    pub preserve_case: bool,
}

/// How to profile.
#[derive(Debug, Clone)]
pub struct ProfileOptions {
    /// The binaries, the bare pass-through among them (ratios are to the first `Bare`).
    pub targets: Vec<Target>,
    /// The protocols.
    pub protocols: Vec<Proto>,
    /// N2: requests of the longer run (the shorter sends a fifth).
    pub requests: u64,
    /// Requests per protocol before counting starts.
    pub warmup: u64,
    /// Client connections (h2load `-c`).
    pub connections: usize,
    /// Streams in flight per h2 connection (h2load `-m`).
    pub h2_streams: usize,
    /// Run callgrind.
    pub callgrind: bool,
    /// Run DHAT (for the targets that have a `dhat_bin`).
    pub dhat: bool,
    /// Functions and allocation sites listed per target and protocol.
    pub top: usize,
    /// Where the raw profiles, `profile.md` and `profile.json` go.
    pub out: PathBuf,
    /// The command line, for the report.
    pub command: String,
}

impl ProfileOptions {
    /// N1: requests of the shorter run.
    pub fn short_requests(&self) -> u64 {
        (self.requests / 5).max(1)
    }
}

/// One function's or allocation site's cost per request.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The function, or the allocation site's first frames outside the allocator.
    pub name: String,
    /// Per request: instructions (callgrind) or allocations (DHAT).
    pub per_request: f64,
    /// DHAT only: bytes per request.
    pub bytes_per_request: Option<f64>,
}

/// Instructions per request, from callgrind.
#[derive(Debug, Clone, Serialize)]
pub struct Instructions {
    /// Instructions per request.
    pub per_request: f64,
    /// Instructions per client connection besides its requests (TLS handshake, teardown).
    pub per_connection: f64,
    /// Functions by inclusive cost per request (scaffolding above 95 % of the total left out).
    pub inclusive: Vec<Entry>,
    /// The gateway's own functions (`edge_gateway::`, including the Pingora phase filters it
    /// implements) by inclusive cost per request: what our code costs, callees included.
    pub ours: Vec<Entry>,
    /// Functions by their own (exclusive) cost per request (the threads' roots left out).
    pub exclusive: Vec<Entry>,
    /// The two dumps.
    pub files: [PathBuf; 2],
}

/// Heap allocations per request, from DHAT.
#[derive(Debug, Clone, Serialize)]
pub struct Allocations {
    /// Allocations (blocks) per request.
    pub blocks_per_request: f64,
    /// Bytes allocated per request.
    pub bytes_per_request: f64,
    /// Allocation sites by blocks per request.
    pub sites: Vec<Entry>,
    /// The two DHAT files (open them in DHAT's `dh_view.html`).
    pub files: [PathBuf; 2],
}

/// One target under one protocol.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// The target's name.
    pub target: String,
    /// Its kind.
    pub kind: Kind,
    /// The protocol.
    pub proto: Proto,
    /// From callgrind.
    pub instructions: Option<Instructions>,
    /// From DHAT.
    pub allocations: Option<Allocations>,
}

/// The whole profile, as written to `profile.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// When (UTC).
    pub date: String,
    /// The machine.
    pub machine: String,
    /// The command.
    pub command: String,
    /// valgrind's version.
    pub valgrind: String,
    /// N1 and N2.
    pub requests: [u64; 2],
    /// Client connections.
    pub connections: usize,
    /// h2 streams per connection.
    pub h2_streams: usize,
    /// Results.
    pub results: Vec<Measured>,
    /// What went wrong or makes a number suspect.
    pub notes: Vec<String>,
}

/// What every run shares: the backend, the certificates, the tools, the output directory.
struct Bench<'a> {
    opts: &'a ProfileOptions,
    dir: PathBuf,
    pki: Pki,
    backend: SocketAddr,
    h2load: PathBuf,
    host: String,
}

impl Bench<'_> {
    /// Starts `target` under `valgrind <tool_args>` on a fresh port and waits until it
    /// answers a request. `tag` names its log.
    fn spawn(&self, target: &Target, tool_args: &[String], tag: &str) -> Result<Running, String> {
        let listen = util::free_port().map_err(|e| format!("no free port: {e}"))?;
        let plain = util::free_port().map_err(|e| format!("no free port: {e}"))?;
        let mut cmd = Command::new("valgrind");
        cmd.args(tool_args).arg(&target.bin);
        match target.kind {
            Kind::Gateway => {
                let conf = self.dir.join(format!("edge-{tag}.toml"));
                let setup = GatewaySetup {
                    listen,
                    backend: self.backend,
                    // Probed once at start (the origin must be healthy), then not during the
                    // measurement.
                    probe_interval: Duration::from_secs(3600),
                    probe_timeout: Duration::from_secs(5),
                    threads: 1,
                    preserve_case: target.preserve_case,
                };
                std::fs::write(&conf, bench::gateway_toml(&setup))
                    .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
                cmd.args(target.access_log.global_args())
                    .arg("run")
                    .arg("--config")
                    .arg(&conf)
                    .env("RUST_LOG", target.access_log.rust_log());
            }
            Kind::Bare => {
                cmd.arg("--listen")
                    .arg(plain.to_string())
                    .arg("--upstream")
                    .arg(self.backend.to_string())
                    .arg("--tls-listen")
                    .arg(listen.to_string())
                    .arg("--cert")
                    .arg(&self.pki.cert)
                    .arg("--key")
                    .arg(&self.pki.key)
                    .arg("--threads")
                    .arg("1");
            }
        }
        let log = self.opts.out.join(format!("{tag}.log"));
        let mut proc = Proc::spawn(&target.name, &mut cmd, &log)?;
        // valgrind translates the whole binary's start-up path first: tens of seconds.
        wait_port_within(listen, &mut proc, &log, Duration::from_secs(300))?;
        let running = Running {
            proc,
            listen,
            plain: (target.kind == Kind::Bare).then_some(plain),
            log,
        };
        self.until_ready(&running)?;
        Ok(running)
    }

    /// Waits until one request through the proxy succeeds (the gateway's origin becomes
    /// usable after its first probe).
    fn until_ready(&self, r: &Running) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..120 {
            match self.load(Proto::H1, r.listen, 1, 1) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Err(format!(
            "no successful request through the proxy within a minute ({}): {last}",
            r.log.display()
        ))
    }

    /// Sends exactly `n` requests of `proto` over `conns` connections; every one must get a
    /// 2xx.
    fn load(&self, proto: Proto, addr: SocketAddr, n: u64, conns: usize) -> Result<(), String> {
        load::fixed(&load::Request {
            h2load: &self.h2load,
            host: &self.host,
            addr,
            proto,
            requests: n,
            connections: conns,
            h2_streams: self.opts.h2_streams,
        })
    }

    /// The warm-up of every protocol `r` serves.
    fn warm_up(&self, r: &Running) -> Result<(), String> {
        for &p in &self.opts.protocols {
            if let Some(addr) = r.addr(p) {
                self.load(p, addr, self.opts.warmup, self.opts.connections)?;
            }
        }
        Ok(())
    }

    /// The protocols of the options `kind` serves.
    fn protocols(&self, kind: Kind) -> Vec<Proto> {
        self.opts
            .protocols
            .iter()
            .copied()
            .filter(|&p| kind == Kind::Bare || p != Proto::H1Plain)
            .collect()
    }
}

/// A proxy running under valgrind.
struct Running {
    proc: Proc,
    /// The TLS listener.
    listen: SocketAddr,
    /// The plain HTTP listener (the bare pass-through's).
    plain: Option<SocketAddr>,
    log: PathBuf,
}

impl Running {
    /// Where `proto`'s requests go; `None`: this proxy does not serve it.
    fn addr(&self, proto: Proto) -> Option<SocketAddr> {
        match proto {
            Proto::H1Plain => self.plain,
            _ => Some(self.listen),
        }
    }

    /// Stops it and waits (at most 3 minutes) for valgrind to write its profile.
    fn finish(mut self) -> Result<(), String> {
        if self.proc.stop_within(Duration::from_secs(180)) {
            Ok(())
        } else {
            Err(format!(
                "did not exit within 3 minutes of SIGTERM (killed; see {})",
                self.log.display()
            ))
        }
    }
}

/// Runs the profile, prints the Markdown and writes `profile.md` and `profile.json`.
pub fn run(opts: &ProfileOptions) -> Result<Profile, String> {
    let missing: Vec<&str> = [
        "valgrind",
        "callgrind_control",
        "callgrind_annotate",
        "h2load",
    ]
    .into_iter()
    .chain(std::iter::once("nginx"))
    .filter(|t| which(t).is_none())
    .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing: {} — `cargo xtask profile` installs them (Debian: apt-get install valgrind \
             nghttp2-client nginx)",
            missing.join(", ")
        ));
    }
    if !opts.targets.iter().any(|t| t.kind == Kind::Bare) {
        return Err("no bare pass-through to compare with".to_owned());
    }
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("edge-profile-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let dir = tmp.path().to_path_buf();
    let pki = Pki::generate(&dir)?;
    bench::write_geo_db(&dir)?;
    let ports = Ports::pick(false)?;
    let backend = start_backend(&dir, &pki, &ports, &opts.out)?;
    let bench = Bench {
        opts,
        dir,
        pki,
        backend: ports.backend,
        h2load: which("h2load").unwrap_or_else(|| PathBuf::from("h2load")),
        host: crate::compare::tools::tls_host(),
    };

    let mut results = Vec::new();
    let mut notes = Vec::new();
    for target in &opts.targets {
        let mut per_proto: Vec<Measured> = bench
            .protocols(target.kind)
            .into_iter()
            .map(|proto| Measured {
                target: target.name.clone(),
                kind: target.kind,
                proto,
                instructions: None,
                allocations: None,
            })
            .collect();
        if opts.callgrind {
            eprintln!("profile: {} under callgrind", target.name);
            match callgrind::measure(&bench, target) {
                Ok(found) => {
                    for (m, i) in per_proto.iter_mut().zip(found) {
                        m.instructions = Some(i);
                    }
                }
                Err(e) => notes.push(format!("{} under callgrind: {e}", target.name)),
            }
        }
        if opts.dhat && target.dhat_bin.is_some() {
            for m in per_proto.iter_mut() {
                eprintln!("profile: {} {} under DHAT", target.name, m.proto.name());
                match dhat::measure(&bench, target, m.proto) {
                    Ok(a) => m.allocations = Some(a),
                    Err(e) => notes.push(format!(
                        "{} {} under DHAT: {e}",
                        target.name,
                        m.proto.name()
                    )),
                }
            }
        } else if opts.dhat {
            notes.push(format!(
                "{}: no DHAT build given, no allocation counts",
                target.name
            ));
        }
        results.extend(per_proto);
    }
    drop(backend);

    let profile = Profile {
        date: util::now_utc().1,
        machine: crate::compare::machine(),
        command: opts.command.clone(),
        valgrind: crate::compare::tools::version(Path::new("valgrind"), "--version"),
        requests: [opts.short_requests(), opts.requests],
        connections: opts.connections,
        h2_streams: opts.h2_streams,
        results,
        notes,
    };
    publish(&profile, opts)?;
    Ok(profile)
}

fn start_backend(dir: &Path, pki: &Pki, ports: &Ports, out: &Path) -> Result<Proc, String> {
    let conf = dir.join("backend.conf");
    std::fs::write(&conf, confs::backend_conf(dir, pki, ports))
        .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
    let nginx = which("nginx").ok_or("nginx is missing")?;
    let log = out.join("backend.log");
    let mut proc = Proc::spawn(
        "backend nginx",
        Command::new(nginx).arg("-c").arg(&conf),
        &log,
    )?;
    wait_port_within(ports.backend, &mut proc, &log, Duration::from_secs(15))?;
    Ok(proc)
}

fn publish(p: &Profile, opts: &ProfileOptions) -> Result<(), String> {
    let json = opts.out.join("profile.json");
    let text = serde_json::to_string_pretty(p).map_err(|e| format!("cannot serialise: {e}"))?;
    std::fs::write(&json, text).map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    let md = report::markdown(p, opts.top);
    println!("{md}");
    let path = opts.out.join("profile.md");
    std::fs::write(&path, md).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
