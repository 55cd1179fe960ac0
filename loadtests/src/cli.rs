//! Command line: `run <scenario>`, `list`, `compare`, `profile`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::bench::AccessLog;
use crate::compare::{self, CompareOptions, Mode, Proxy};
use crate::profile::{self, Kind, ProfileOptions, Proto, Target};
use crate::scenario::{self, GatewayChoice, Options, Scenario};
use crate::util;

/// Load tests and fault scenarios for edge-gateway, and a side-by-side benchmark.
#[derive(Debug, Parser)]
#[command(name = "edge-loadtest", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario (or `all`): Markdown on stdout, `<scenario>.json` and `<scenario>.svg`
    /// in --out. Exit code 0 when every check passed, 1 when one failed, 2 on a setup error.
    Run(RunArgs),
    /// List the scenarios.
    List,
    /// Benchmark edge-gateway against nginx, HAProxy and a bare Pingora pass-through.
    Compare(CompareArgs),
    /// Count instructions (callgrind) and heap allocations (DHAT) per request, gateway vs
    /// the bare pass-through; `cargo xtask profile` builds the binaries and runs this.
    Profile(ProfileArgs),
}

/// `run` arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// steady, region-outage, brownout, weight-shift, reload-storm, rate-limit, churn,
    /// wrong-edge, fleet, or all.
    pub scenario: String,
    /// Run length, e.g. 30s (default: the scenario's; see `list`).
    #[arg(long, value_parser = util::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Offered load in requests per second, all streams together (default: the scenario's).
    #[arg(long)]
    pub rps: Option<f64>,
    /// Closed loop: this many concurrent workers as fast as they can, instead of --rps.
    #[arg(long, conflicts_with = "rps")]
    pub concurrency: Option<usize>,
    /// The short CI form: a few seconds, fast health checks (200 ms probes, 2 s slow start).
    #[arg(long)]
    pub short: bool,
    /// Directory for the JSON, the SVG and the gateway's log (default: `loadtests/out/` of
    /// the workspace, created if missing).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The edge-gateway binary (default: $EDGE_GATEWAY_BIN, then target/release/edge-gateway).
    #[arg(long)]
    pub gateway_bin: Option<PathBuf>,
    /// Worker threads of the started gateway (`server.threads`).
    #[arg(long, default_value_t = 2)]
    pub gateway_threads: usize,
    /// Keep the started gateway's per-request access log on.
    #[arg(long)]
    pub access_log: bool,
    /// Target an already running gateway at this loopback address instead of starting one
    /// (its topology is taken to be `edge-gateway demo`'s; scenarios that break origins
    /// need a gateway they start).
    #[arg(long)]
    pub target: Option<SocketAddr>,
    /// With --target: the CA certificate (PEM) the gateway's certificate chains to.
    #[arg(long, requires = "target")]
    pub ca: Option<PathBuf>,
    /// With --target: the host name to ask for (SNI).
    #[arg(long, default_value = "localhost", requires = "target")]
    pub server_name: String,
    /// With --target: its admin API (token in $EDGE_ADMIN_TOKEN).
    #[arg(long, requires = "target")]
    pub admin: Option<SocketAddr>,
    /// Upper bound on requests sent.
    #[arg(long)]
    pub max_requests: Option<u64>,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `compare` arguments.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Interleaved rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Seconds per run.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Concurrent connections (wrk).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// h2load connections (default: a quarter of --connections).
    #[arg(long)]
    pub h2_connections: Option<usize>,
    /// Streams in flight per h2 connection, comma-separated: one h2 workload each, e.g.
    /// `1,4,16,64`.
    #[arg(long, default_value = "4")]
    pub h2_streams: String,
    /// Modes, comma-separated: plain, tls, h2, churn.
    #[arg(long, default_value = "plain,tls,h2,churn")]
    pub modes: String,
    /// Targets, comma-separated: gateway, candidate, gateway-fleet, nginx, haproxy, bare,
    /// direct. `candidate` runs only with `--candidate-bin`; `gateway-fleet` is the gateway
    /// with `[fleet]` on a local redis-server (the same config otherwise, so `[fleet]` is the
    /// only difference).
    #[arg(long, default_value = "gateway,candidate,nginx,haproxy,bare,direct")]
    pub targets: String,
    /// A second gateway build run on the same config in the same rounds (a PGO build, or the
    /// gateway before a change).
    #[arg(long)]
    pub candidate_bin: Option<PathBuf>,
    /// What the candidate is, for the tables.
    #[arg(long, default_value = "candidate")]
    pub candidate_label: String,
    /// The edge-gateway binary (default: $EDGE_GATEWAY_BIN, then target/release/edge-gateway).
    #[arg(long)]
    pub gateway_bin: Option<PathBuf>,
    /// The bare Pingora pass-through (default: $EDGE_BARE_BIN, then
    /// target/release/examples/bare_passthrough).
    #[arg(long)]
    pub bare_bin: Option<PathBuf>,
    /// Directory for compare.json and the proxies' logs (default: `loadtests/out/` of the
    /// workspace, created if missing).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the Markdown table to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// `profile` arguments.
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// The edge-gateway release binary (default: $EDGE_GATEWAY_BIN, then
    /// target/release/edge-gateway).
    #[arg(long)]
    pub gateway_bin: Option<PathBuf>,
    /// The bare pass-through release binary (default: $EDGE_BARE_BIN, then
    /// target/release/examples/bare_passthrough).
    #[arg(long)]
    pub bare_bin: Option<PathBuf>,
    /// The gateway built with the C library's allocator, for DHAT (without it: no
    /// allocation counts for the gateway).
    #[arg(long)]
    pub gateway_dhat_bin: Option<PathBuf>,
    /// The bare pass-through built with the C library's allocator, for DHAT.
    #[arg(long)]
    pub bare_dhat_bin: Option<PathBuf>,
    /// Another gateway build to count instructions of, `NAME=PATH` (e.g. `pgo=...`);
    /// repeatable; access log off; callgrind only.
    #[arg(long = "extra-gateway", value_name = "NAME=PATH")]
    pub extra_gateways: Vec<String>,
    /// The gateway's access log: off, json (one JSON line per request to a file), or both
    /// (two targets: `gateway` and `gateway+log`).
    #[arg(long, default_value = "both")]
    pub access_log: String,
    /// Also count the gateway with `routing.header_case = "preserve"` (target
    /// `gateway+case`; access log off).
    #[arg(long)]
    pub preserve_case: bool,
    /// Protocols, comma-separated: h1 (TLS HTTP/1.1 keep-alive), h2, h1-plain (plain
    /// HTTP/1.1; the bare pass-through only, the gateway is TLS-only).
    #[arg(long, default_value = "h1,h2")]
    pub protocols: String,
    /// Requests of the longer run per protocol (N2; the shorter run sends a fifth).
    #[arg(long, default_value_t = 10_000)]
    pub requests: u64,
    /// Requests per protocol before counting.
    #[arg(long, default_value_t = 500)]
    pub warmup: u64,
    /// Client connections.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Streams in flight per h2 connection.
    #[arg(long, default_value_t = 4)]
    pub h2_streams: usize,
    /// Tools, comma-separated: callgrind, dhat.
    #[arg(long, default_value = "callgrind,dhat")]
    pub tools: String,
    /// Functions and allocation sites listed per target and protocol.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// Directory for the profiles, profile.md and profile.json (default:
    /// `loadtests/out/profile/` of the workspace).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Parses the command line and runs it; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            println!("| scenario | default length | default load | what |");
            println!("|---|---:|---:|---|");
            for s in Scenario::ALL {
                println!(
                    "| {} | {} s | {} req/s | {} |",
                    s.name(),
                    s.default_duration(false).as_secs(),
                    s.default_rps(false),
                    s.describe()
                );
            }
            0
        }
        Command::Run(args) => run(args),
        Command::Compare(args) => match compare_opts(args) {
            Ok(opts) => {
                let code = match compare::run(&opts) {
                    Ok(_) => 0,
                    Err(e) => {
                        eprintln!("edge-loadtest compare: {e}");
                        2
                    }
                };
                eprintln!("edge-loadtest compare: output in {}", opts.out.display());
                code
            }
            Err(e) => {
                eprintln!("edge-loadtest compare: {e}");
                2
            }
        },
        Command::Profile(args) => match profile_opts(args) {
            Ok(opts) => {
                let code = match profile::run(&opts) {
                    Ok(_) => 0,
                    Err(e) => {
                        eprintln!("edge-loadtest profile: {e}");
                        2
                    }
                };
                eprintln!("edge-loadtest profile: output in {}", opts.out.display());
                code
            }
            Err(e) => {
                eprintln!("edge-loadtest profile: {e}");
                2
            }
        },
    }
}

fn bare_bin(explicit: Option<&std::path::Path>) -> Result<PathBuf, String> {
    util::locate_binary(
        explicit,
        "EDGE_BARE_BIN",
        &[util::target_dir()
            .join("release")
            .join("examples")
            .join("bare_passthrough")],
        "cargo build --release -p edge-gateway --example bare_passthrough",
    )
}

fn existing(p: Option<PathBuf>) -> Result<Option<PathBuf>, String> {
    match p {
        Some(p) if !p.is_file() => Err(format!("{} does not exist", p.display())),
        p => Ok(p),
    }
}

fn profile_opts(args: ProfileArgs) -> Result<ProfileOptions, String> {
    let gateway_bin = crate::gateway::locate(args.gateway_bin.as_deref())?;
    let bare_bin = bare_bin(args.bare_bin.as_deref())?;
    let gateway_dhat = existing(args.gateway_dhat_bin)?;
    let bare_dhat = existing(args.bare_dhat_bin)?;
    let logs = match args.access_log.as_str() {
        "off" => vec![AccessLog::Off],
        "json" => vec![AccessLog::Json],
        "both" => vec![AccessLog::Off, AccessLog::Json],
        x => return Err(format!("--access-log {x:?}: use off, json or both")),
    };
    let mut targets: Vec<Target> = logs
        .into_iter()
        .map(|log| Target {
            name: match log {
                AccessLog::Off => "gateway".to_owned(),
                AccessLog::Json => "gateway+log".to_owned(),
            },
            kind: Kind::Gateway,
            bin: gateway_bin.clone(),
            dhat_bin: gateway_dhat.clone(),
            access_log: log,
            preserve_case: false,
        })
        .collect();
    if args.preserve_case {
        targets.push(Target {
            name: "gateway+case".to_owned(),
            kind: Kind::Gateway,
            bin: gateway_bin.clone(),
            dhat_bin: gateway_dhat.clone(),
            access_log: AccessLog::Off,
            preserve_case: true,
        });
    }
    for extra in &args.extra_gateways {
        let Some((name, path)) = extra.split_once('=') else {
            return Err(format!("--extra-gateway {extra:?}: use NAME=PATH"));
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "--extra-gateway {extra:?}: NAME is letters, digits, '-'"
            ));
        }
        let bin = PathBuf::from(path);
        if !bin.is_file() {
            return Err(format!("--extra-gateway {name}: {path} does not exist"));
        }
        targets.push(Target {
            name: name.to_owned(),
            kind: Kind::Gateway,
            bin,
            dhat_bin: None,
            access_log: AccessLog::Off,
            preserve_case: false,
        });
    }
    targets.push(Target {
        name: "bare".to_owned(),
        kind: Kind::Bare,
        bin: bare_bin,
        dhat_bin: bare_dhat,
        access_log: AccessLog::Off,
        preserve_case: false,
    });
    let tools: Vec<&str> = args.tools.split(',').map(str::trim).collect();
    if let Some(t) = tools.iter().find(|t| !["callgrind", "dhat"].contains(t)) {
        return Err(format!("--tools: unknown tool {t:?}; use callgrind, dhat"));
    }
    if !(10..=10_000_000).contains(&args.requests) {
        return Err("--requests must be 10 to 10,000,000".to_owned());
    }
    Ok(ProfileOptions {
        targets,
        protocols: Proto::parse_list(&args.protocols)?,
        requests: args.requests,
        warmup: args.warmup.max(1),
        connections: args.connections.max(1),
        h2_streams: args.h2_streams.max(1),
        callgrind: tools.contains(&"callgrind"),
        dhat: tools.contains(&"dhat"),
        top: args.top,
        out: args
            .out
            .unwrap_or_else(|| util::default_out().join("profile")),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    })
}

fn compare_opts(args: CompareArgs) -> Result<CompareOptions, String> {
    let targets = Proxy::parse_list(&args.targets)?;
    // A binary that is not run need not exist (e.g. `--targets gateway` for PGO training).
    let gateway_bin = if targets.contains(&Proxy::Gateway) || targets.contains(&Proxy::GatewayFleet)
    {
        crate::gateway::locate(args.gateway_bin.as_deref())?
    } else {
        args.gateway_bin.clone().unwrap_or_default()
    };
    let bare_bin = if targets.contains(&Proxy::Bare) {
        bare_bin(args.bare_bin.as_deref())?
    } else {
        args.bare_bin.clone().unwrap_or_default()
    };
    if args.rounds == 0 || args.rounds > 50 {
        return Err("--rounds must be 1 to 50".to_owned());
    }
    if args.seconds == 0 || args.seconds > 600 {
        return Err("--seconds must be 1 to 600".to_owned());
    }
    let h2_streams = args
        .h2_streams
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| match x.parse::<usize>() {
            Ok(m) if (1..=1000).contains(&m) => Ok(m),
            _ => Err(format!("--h2-streams: {x:?} is not 1 to 1000")),
        })
        .collect::<Result<Vec<usize>, String>>()?;
    if h2_streams.is_empty() {
        return Err("--h2-streams: give at least one value".to_owned());
    }
    let candidate = match args.candidate_bin {
        Some(p) if !p.is_file() => return Err(format!("{} does not exist", p.display())),
        Some(p) => Some((p, args.candidate_label)),
        None => None,
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    Ok(CompareOptions {
        rounds: args.rounds,
        seconds: args.seconds,
        connections: args.connections,
        h2_connections: args.h2_connections.unwrap_or((args.connections / 4).max(1)),
        h2_streams,
        modes: Mode::parse_list(&args.modes)?,
        targets,
        gateway_bin,
        bare_bin,
        candidate,
        out: args.out.unwrap_or_else(util::default_out),
        markdown: args.markdown,
        command,
    })
}

fn run(args: RunArgs) -> i32 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let scenarios: Vec<Scenario> = if args.scenario == "all" {
        Scenario::ALL.to_vec()
    } else {
        match args.scenario.parse() {
            Ok(s) => vec![s],
            Err(e) => {
                eprintln!("edge-loadtest: {e}");
                return 2;
            }
        }
    };
    let gateway = match gateway_choice(&args) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("edge-loadtest: {e}");
            return 2;
        }
    };
    let opts = Options {
        duration: args.duration,
        rps: args.rps,
        concurrency: args.concurrency,
        short: args.short,
        out: args.out.clone().unwrap_or_else(util::default_out),
        gateway,
        max_requests: args.max_requests,
        quiet: args.quiet,
    };
    let code = run_all(&scenarios, &opts);
    eprintln!("edge-loadtest: output in {}", opts.out.display());
    code
}

/// The gateway `--target` names, else the binary to start.
fn gateway_choice(args: &RunArgs) -> Result<GatewayChoice, String> {
    match &args.target {
        Some(addr) => {
            let Some(ca) = args.ca.clone() else {
                return Err("--target needs --ca (the gateway's CA certificate)".to_owned());
            };
            let admin = args
                .admin
                .map(|a| (a, std::env::var("EDGE_ADMIN_TOKEN").unwrap_or_default()));
            Ok(GatewayChoice::External {
                addr: *addr,
                ca,
                server_name: args.server_name.clone(),
                admin,
            })
        }
        None => match crate::gateway::locate(args.gateway_bin.as_deref()) {
            Ok(bin) => Ok(GatewayChoice::Spawn {
                bin,
                threads: args.gateway_threads.max(1),
                access_log: args.access_log,
            }),
            Err(e) => Err(format!("cannot find the gateway: {e}")),
        },
    }
}

/// Runs the scenarios one after the other; the exit code of the worst.
fn run_all(scenarios: &[Scenario], opts: &Options) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("edge-loadtest")
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("edge-loadtest: cannot start the runtime: {e}");
            return 2;
        }
    };
    let mut code = 0;
    for &s in scenarios {
        let outcome = match s {
            Scenario::WrongEdge => runtime.block_on(scenario::wrong_edge::run(opts)),
            Scenario::Fleet => runtime.block_on(scenario::run_fleet(opts)),
            _ => runtime
                .block_on(scenario::run(s, opts))
                .map(|report| report.passed),
        };
        match outcome {
            Ok(true) => {}
            Ok(false) => code = code.max(1),
            Err(e) => {
                eprintln!("edge-loadtest {s}: {e}");
                code = 2;
            }
        }
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}
