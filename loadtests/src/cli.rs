//! Command line: `run <scenario>`, `list`, `compare`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::compare::{self, CompareOptions, Mode};
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
}

/// `run` arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// steady, region-outage, brownout, weight-shift, reload-storm, rate-limit, churn, or all.
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
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Modes, comma-separated: plain, tls, h2, churn.
    #[arg(long, default_value = "plain,tls,h2,churn")]
    pub modes: String,
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
    /// Targets, comma-separated: gateway, gateway-fleet, nginx, haproxy, bare, direct.
    /// `gateway-fleet` is the gateway with `[fleet]` on a local redis-server (both gateways
    /// then get the same rate limits, so `[fleet]` is the only difference).
    #[arg(long, default_value = "gateway,nginx,haproxy,bare,direct")]
    pub targets: String,
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
    }
}

fn compare_opts(args: CompareArgs) -> Result<CompareOptions, String> {
    let gateway_bin = crate::gateway::locate(args.gateway_bin.as_deref())?;
    let targets = compare::Proxy::parse_list(&args.targets)?;
    let bare_bin = if targets.contains(&compare::Proxy::Bare) {
        Some(util::locate_binary(
            args.bare_bin.as_deref(),
            "EDGE_BARE_BIN",
            &[util::target_dir()
                .join("release")
                .join("examples")
                .join("bare_passthrough")],
            "cargo build --release -p edge-gateway --example bare_passthrough",
        )?)
    } else {
        None
    };
    if args.rounds == 0 || args.rounds > 50 {
        return Err("--rounds must be 1 to 50".to_owned());
    }
    if args.seconds == 0 || args.seconds > 600 {
        return Err("--seconds must be 1 to 600".to_owned());
    }
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    Ok(CompareOptions {
        rounds: args.rounds,
        seconds: args.seconds,
        connections: args.connections,
        modes: Mode::parse_list(&args.modes)?,
        gateway_bin,
        bare_bin,
        targets,
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
        if s == Scenario::Fleet {
            match runtime.block_on(scenario::run_fleet(opts)) {
                Ok(true) => {}
                Ok(false) => code = code.max(1),
                Err(e) => {
                    eprintln!("edge-loadtest {s}: {e}");
                    code = 2;
                }
            }
            continue;
        }
        match runtime.block_on(scenario::run(s, opts)) {
            Ok(report) if report.passed => {}
            Ok(_) => code = code.max(1),
            Err(e) => {
                eprintln!("edge-loadtest {s}: {e}");
                code = 2;
            }
        }
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}
