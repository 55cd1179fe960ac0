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
//!
//! The parts, in the order [`run`] uses them: `tools` finds the load tools, `fleet` writes
//! the configs (`confs`) and starts every process (`procs`), `rounds` measures, and
//! [`markdown`](fn@markdown) prints the medians of the `model`.

pub(crate) mod confs;
mod fleet;
mod markdown;
mod model;
pub(crate) mod procs;
mod rounds;
pub(crate) mod tools;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::pki::Pki;
use crate::util;

pub use crate::bench::OUTLIER_FAILURES;
pub use markdown::markdown;
pub use model::{Cell, Comparison, Mode, Proxy, Sample, Workload};
pub use procs::machine;
pub use tools::{parse_h2load, parse_wrk};

use confs::Ports;
use fleet::{Bins, Fleet};
use rounds::{Meter, Schedule};
use tools::{Driver, Tools};

/// How to run the comparison.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Interleaved rounds.
    pub rounds: usize,
    /// Length of each run.
    pub seconds: u64,
    /// Concurrent connections (wrk).
    pub connections: usize,
    /// h2load connections.
    pub h2_connections: usize,
    /// h2 streams in flight per connection: one h2 workload per value.
    pub h2_streams: Vec<usize>,
    /// Modes to run.
    pub modes: Vec<Mode>,
    /// Targets to run.
    pub targets: Vec<Proxy>,
    /// The gateway binary.
    pub gateway_bin: PathBuf,
    /// The bare pass-through binary.
    pub bare_bin: PathBuf,
    /// A second gateway build and its label (e.g. `PGO`).
    pub candidate: Option<(PathBuf, String)>,
    /// Where the JSON (and the proxies' logs) go.
    pub out: PathBuf,
    /// Also write the Markdown to this file.
    pub markdown: Option<PathBuf>,
    /// The command line, for the report.
    pub command: String,
}

/// Runs the comparison and prints the table; returns the results.
pub fn run(opts: &CompareOptions) -> Result<Comparison, String> {
    let tools = tools::tools(&opts.targets)?;
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("edge-compare-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let pki = Pki::generate(dir.path())?;
    let ports = Ports::pick(opts.targets.contains(&Proxy::GatewayFleet))?;
    let ticks_per_s = procs::clock_ticks();
    let bins = Bins {
        gateway: &opts.gateway_bin,
        bare: &opts.bare_bin,
        candidate: opts.candidate.as_ref().map(|(p, _)| p.as_path()),
    };
    let mut targets = opts.targets.clone();
    if opts.candidate.is_none() {
        targets.retain(|&p| p != Proxy::Candidate);
    }
    let fleet = Fleet::start(&tools, &bins, dir.path(), &pki, &ports, &opts.out, &targets)?;
    let driver = Driver::new(&tools, opts.connections, opts.h2_connections);
    let workloads = workloads(&opts.modes, &opts.h2_streams);
    let schedule = Schedule {
        workloads: &workloads,
        targets: &targets,
        rounds: opts.rounds,
        seconds: opts.seconds,
    };
    let meter = Meter {
        driver: &driver,
        fleet: &fleet,
        ports: &ports,
        ticks_per_s,
    };
    let samples = rounds::run(&schedule, &meter);
    let cmp = Comparison {
        date: util::now_utc().1,
        machine: machine(),
        versions: versions(&tools, opts),
        command: opts.command.clone(),
        rounds: opts.rounds,
        seconds: opts.seconds,
        connections: driver.conns,
        h2_connections: driver.h2_conns,
        candidate: opts
            .candidate
            .as_ref()
            .map(|(p, label)| format!("{label} ({})", p.display())),
        cells: samples
            .into_iter()
            .map(|((w, proxy), samples)| model::cell(w, proxy, samples))
            .collect(),
        notes: notes(opts),
    };
    fleet.stop();
    publish(&cmp, opts)?;
    Ok(cmp)
}

/// The workloads of `modes`: one per h2 stream count for h2, one for every other mode.
pub fn workloads(modes: &[Mode], h2_streams: &[usize]) -> Vec<Workload> {
    modes
        .iter()
        .flat_map(|&mode| {
            let streams: Vec<usize> = if mode == Mode::H2 {
                h2_streams.iter().map(|&m| m.max(1)).collect()
            } else {
                vec![1]
            };
            streams
                .into_iter()
                .map(move |streams| Workload { mode, streams })
        })
        .collect()
}

/// The version line of every program in the comparison.
fn versions(tools: &Tools, opts: &CompareOptions) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    versions.insert("nginx".to_owned(), tools::version(&tools.nginx, "-v"));
    versions.insert("haproxy".to_owned(), tools::version(&tools.haproxy, "-v"));
    versions.insert("wrk".to_owned(), tools::version(&tools.wrk, "-v"));
    versions.insert(
        "h2load".to_owned(),
        tools::version(&tools.h2load, "--version"),
    );
    versions.insert(
        "edge-gateway".to_owned(),
        tools::version(&opts.gateway_bin, "--version"),
    );
    versions
}

/// What makes results suspect, read from the gateway's log: an ejected origin answers 503s.
fn notes(opts: &CompareOptions) -> Vec<String> {
    let log = fleet::log_path(&opts.out, "gateway");
    let mut notes = Vec::new();
    let ejections = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(crate::gateway::strip_ansi)
        .filter(|l| l.contains("origin health changed") && l.contains("to=\"unhealthy\""))
        .count();
    if ejections > 0 {
        notes.push(format!(
            "edge-gateway marked its origin unhealthy {ejections} time(s) during the comparison \
             (see {}); its runs after that answered 503s",
            log.display()
        ));
    }
    notes
}

/// Writes `compare.json` (and the Markdown file if asked for) and prints the Markdown.
fn publish(cmp: &Comparison, opts: &CompareOptions) -> Result<(), String> {
    let json = opts.out.join("compare.json");
    let text = serde_json::to_string_pretty(cmp).map_err(|e| format!("cannot serialise: {e}"))?;
    std::fs::write(&json, text).map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    let md = markdown(cmp);
    println!("{md}");
    if let Some(path) = &opts.markdown {
        std::fs::write(path, &md).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
