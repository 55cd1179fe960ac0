//! The scenarios: what load, what faults at which moment, and what must hold afterwards.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::gateway::{self, Admin, GatewayProcess};
use crate::load::{self, Live, Proto, Rate, StreamSpec, Target};
use crate::pki::{self, Pki};
use crate::report::{self, Report, RunData};
use crate::topology::{ConfigSpec, SimWorld, Topology, Tuning, EU_PRIMARY};
use crate::util;

/// The tenant that floods in the rate-limit scenario (index into the standard topology).
const FLOOD_TENANT: usize = 0;

/// The flooding tenant's limit in the rate-limit scenario (requests per second = burst).
pub const FLOOD_LIMIT_RPS: u32 = 100;

/// Latency added to the EU primary during the brownout.
pub const BROWNOUT_LATENCY: Duration = Duration::from_millis(150);
/// Jitter on top of it.
pub const BROWNOUT_JITTER: Duration = Duration::from_millis(20);
/// Share of requests the EU primary answers with a 503 during the brownout.
pub const BROWNOUT_ERROR_RATE: f64 = 0.2;

/// Time between reloads in the reload storm.
pub const RELOAD_EVERY: Duration = Duration::from_millis(500);

/// A scenario's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// HTTP/1.1 keep-alive and h2 over TLS, a tenant mix across geographies.
    Steady,
    /// The EU primary is killed mid-run and revived later.
    RegionOutage,
    /// The EU primary answers 150 ms slower and with 20 % 503s for a while.
    Brownout,
    /// The admin API drains the EU primary mid-run, then restores it.
    WeightShift,
    /// The configuration is changed and reloaded every 500 ms under load.
    ReloadStorm,
    /// One tenant floods; the others must not suffer.
    RateLimit,
    /// A new TLS connection (full handshake) per request.
    Churn,
}

impl Scenario {
    /// Every scenario, in the order `run all` runs them.
    pub const ALL: [Scenario; 7] = [
        Scenario::Steady,
        Scenario::RegionOutage,
        Scenario::Brownout,
        Scenario::WeightShift,
        Scenario::ReloadStorm,
        Scenario::RateLimit,
        Scenario::Churn,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::RegionOutage => "region-outage",
            Scenario::Brownout => "brownout",
            Scenario::WeightShift => "weight-shift",
            Scenario::ReloadStorm => "reload-storm",
            Scenario::RateLimit => "rate-limit",
            Scenario::Churn => "churn",
        }
    }

    /// One line on what it does.
    pub fn describe(self) -> &'static str {
        match self {
            Scenario::Steady => "HTTP/1.1 keep-alive and h2 over TLS, tenants across eu/na/apac",
            Scenario::RegionOutage => {
                "kill the EU primary (northeurope) at 20 % of the run, revive it at 35 %"
            }
            Scenario::Brownout => {
                "EU primary +150 ms (±20 ms) and 20 % 503s from 25 % to 75 % of the run"
            }
            Scenario::WeightShift => {
                "drain the EU primary through the admin API at 30 %, undrain it at 65 %"
            }
            Scenario::ReloadStorm => "change and reload the config every 500 ms from 15 % to 85 %",
            Scenario::RateLimit => {
                "one tenant floods from 30 % to 80 % of the run; the others must not suffer"
            }
            Scenario::Churn => "a new TLS connection with a full handshake per request",
        }
    }

    /// The default run length.
    pub fn default_duration(self, short: bool) -> Duration {
        let secs = if short {
            match self {
                Scenario::RegionOutage => 8,
                _ => 6,
            }
        } else {
            match self {
                Scenario::RegionOutage => 27,
                Scenario::Brownout => 30,
                Scenario::Churn => 15,
                _ => 20,
            }
        };
        Duration::from_secs(secs)
    }

    /// The default offered rate (requests per second, all streams together).
    pub fn default_rps(self, short: bool) -> f64 {
        let rps = match self {
            Scenario::Steady => 1500.0,
            Scenario::RegionOutage | Scenario::WeightShift | Scenario::ReloadStorm => 1000.0,
            Scenario::Brownout => 800.0,
            Scenario::RateLimit => 300.0,
            Scenario::Churn => 200.0,
        };
        if short {
            rps * 0.4
        } else {
            rps
        }
    }

    /// Whether the scenario breaks origins, which only works with origins it started.
    pub fn needs_own_origins(self) -> bool {
        matches!(
            self,
            Scenario::RegionOutage | Scenario::Brownout | Scenario::RateLimit
        )
    }

    /// Whether the scenario drives the admin API.
    pub fn needs_admin(self) -> bool {
        matches!(self, Scenario::WeightShift | Scenario::ReloadStorm)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scenario {s:?}; one of: {}", names.join(", "))
            })
    }
}

/// Which gateway the load goes to.
#[derive(Debug, Clone)]
pub enum GatewayChoice {
    /// Start this binary with a generated config.
    Spawn {
        /// The `edge-gateway` binary.
        bin: PathBuf,
        /// `server.threads`.
        threads: usize,
        /// Keep the gateway's per-request access log on (it is off by default).
        access_log: bool,
    },
    /// An already running gateway on loopback (e.g. `edge-gateway demo`).
    External {
        /// Its HTTPS listener.
        addr: std::net::SocketAddr,
        /// The CA its certificate chains to (PEM).
        ca: PathBuf,
        /// The host name to ask for (SNI).
        server_name: String,
        /// Its admin API and token, if the scenario needs it.
        admin: Option<(std::net::SocketAddr, String)>,
    },
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run length (default: the scenario's).
    pub duration: Option<Duration>,
    /// Offered rate, all streams together (default: the scenario's).
    pub rps: Option<f64>,
    /// Closed loop with this many workers instead of a fixed rate.
    pub concurrency: Option<usize>,
    /// The short CI form: a few seconds, fast health checks.
    pub short: bool,
    /// Where the JSON, SVG and gateway log go.
    pub out: PathBuf,
    /// The gateway.
    pub gateway: GatewayChoice,
    /// Upper bound on requests (default: 1.5 × rate × duration, at most 5 million).
    pub max_requests: Option<u64>,
    /// No progress line.
    pub quiet: bool,
}

/// What a scenario does to the world at one moment.
#[derive(Debug, Clone)]
enum Act {
    Kill(String),
    Revive(String),
    Brownout(String),
    Clear(String),
    Drain(String),
    Undrain(String),
    ReloadStorm {
        until: Duration,
    },
    /// Marks a moment (e.g. a stream starting) on the chart and in the phases.
    Mark(String),
}

/// An action at an offset of the run.
#[derive(Debug, Clone)]
struct Step {
    at: Duration,
    act: Act,
}

/// Whether an event breaks something, repairs it, or is just worth marking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A region is taken out (kill, brownout, drain).
    Fault,
    /// It is given back.
    Recovery,
    /// Anything else (e.g. a reload storm starts).
    Info,
}

/// Something the scenario did, and when it took effect.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// What happened, e.g. `kill northeurope`.
    pub label: String,
    /// Fault, recovery or info.
    pub kind: EventKind,
    /// The region it concerns.
    pub region: Option<String>,
    /// Whether the action succeeded.
    pub ok: bool,
    /// Details (an admin API answer, an error).
    pub detail: String,
}

/// The results of the reload storm.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadStats {
    /// Reloads asked for.
    pub attempted: u64,
    /// Reloads the gateway accepted.
    pub ok: u64,
    /// Reloads refused or failed (with the first error).
    pub failed: u64,
    /// The first failure's answer.
    pub first_error: Option<String>,
    /// Time the admin API took to answer a reload, median and maximum (ms).
    pub took_ms_p50: f64,
    /// Maximum (ms).
    pub took_ms_max: f64,
}

/// What the scenario is checked against.
#[derive(Debug, Clone, Serialize)]
pub struct Expectations {
    /// No failed request on streams that do not expect 429s.
    pub zero_errors: bool,
    /// Failover must take less than this (fault to first clean answer from elsewhere).
    pub max_failover: Option<Duration>,
    /// Failback must take less than this.
    pub max_failback: Option<Duration>,
    /// The faulted region must lose traffic (brownout).
    pub traffic_leaves: bool,
    /// The rate-limit stream names: `(flooder, victims)`.
    pub rate_limit: Option<(String, String)>,
    /// Both HTTP/1.1 and h2 answers must be seen.
    pub both_protocols: bool,
    /// Every reload must be accepted.
    pub reloads: bool,
}

/// A scenario's plan: its streams, actions and expectations.
struct Plan {
    duration: Duration,
    streams: Vec<StreamSpec>,
    steps: Vec<Step>,
    expect: Expectations,
    tuning: Tuning,
    rate_limits: String,
}

fn at(duration: Duration, fraction: f64) -> Duration {
    duration.mul_f64(fraction)
}

fn plan(scenario: Scenario, opts: &Options, topology: &Topology) -> Plan {
    let duration = opts
        .duration
        .unwrap_or_else(|| scenario.default_duration(opts.short));
    let rps = opts.rps.unwrap_or_else(|| scenario.default_rps(opts.short));
    let rate = |share: f64| match opts.concurrency {
        Some(c) => Rate::Closed(((c as f64 * share).round() as usize).max(1)),
        None => Rate::Open(rps * share),
    };
    let everyone = topology.tenant_weights();
    let stream = |name: &str, proto: Proto, share: f64| StreamSpec {
        name: name.to_owned(),
        proto,
        rate: rate(share),
        from: Duration::ZERO,
        until: duration,
        tenants: everyone.clone(),
        expect_429: false,
    };
    let tuning = if opts.short {
        Tuning::fast()
    } else {
        Tuning::defaults()
    };
    let mut expect = Expectations {
        zero_errors: true,
        max_failover: None,
        max_failback: None,
        traffic_leaves: false,
        rate_limit: None,
        both_protocols: false,
        reloads: false,
    };
    let region = EU_PRIMARY.to_owned();
    let mut rate_limits = String::new();
    let (streams, steps) = match scenario {
        Scenario::Steady => {
            expect.both_protocols = true;
            (
                vec![stream("h1", Proto::H1, 0.6), stream("h2", Proto::H2, 0.4)],
                vec![],
            )
        }
        Scenario::RegionOutage => {
            expect.max_failover = Some(Duration::from_secs(1));
            expect.max_failback = Some(Duration::from_secs(15));
            (
                vec![stream("h1", Proto::H1, 0.7), stream("h2", Proto::H2, 0.3)],
                vec![
                    Step {
                        at: at(duration, 0.2),
                        act: Act::Kill(region.clone()),
                    },
                    Step {
                        at: at(duration, 0.35),
                        act: Act::Revive(region),
                    },
                ],
            )
        }
        Scenario::Brownout => {
            // Requests are retried on 503s within the retry budget; the rest reach clients.
            expect.zero_errors = false;
            expect.traffic_leaves = true;
            (
                vec![stream("h1", Proto::H1, 1.0)],
                vec![
                    Step {
                        at: at(duration, 0.25),
                        act: Act::Brownout(region.clone()),
                    },
                    Step {
                        at: at(duration, 0.75),
                        act: Act::Clear(region),
                    },
                ],
            )
        }
        Scenario::WeightShift => {
            expect.max_failover = Some(Duration::from_secs(1));
            expect.max_failback = Some(Duration::from_secs(15));
            (
                vec![stream("h1", Proto::H1, 0.7), stream("h2", Proto::H2, 0.3)],
                vec![
                    Step {
                        at: at(duration, 0.3),
                        act: Act::Drain(region.clone()),
                    },
                    Step {
                        at: at(duration, 0.65),
                        act: Act::Undrain(region),
                    },
                ],
            )
        }
        Scenario::ReloadStorm => {
            expect.reloads = true;
            (
                vec![stream("h1", Proto::H1, 0.7), stream("h2", Proto::H2, 0.3)],
                vec![Step {
                    at: at(duration, 0.15),
                    act: Act::ReloadStorm {
                        until: at(duration, 0.85),
                    },
                }],
            )
        }
        Scenario::RateLimit => {
            let flood_from = at(duration, 0.3);
            let flood_until = at(duration, 0.8);
            let flood_id = topology
                .tenants
                .get(FLOOD_TENANT)
                .map(|t| t.id.clone())
                .unwrap_or_default();
            rate_limits = format!(
                "[rate_limits]\ndefault_plan = \"standard\"\n\n\
                 [rate_limits.plans.standard]\nrps = 10000\nburst = 10000\n\n\
                 [[rate_limits.tenant_overrides]]\ntenant = \"{flood_id}\"\nrps = {FLOOD_LIMIT_RPS}\nburst = {FLOOD_LIMIT_RPS}\n\n"
            );
            let victims: Vec<(usize, f64)> = everyone
                .iter()
                .copied()
                .filter(|(t, _)| *t != FLOOD_TENANT)
                .collect();
            let flood_rate = match opts.concurrency {
                Some(c) => Rate::Closed(c.max(1)),
                None => Rate::Open((rps * 6.0).max(f64::from(FLOOD_LIMIT_RPS) * 4.0)),
            };
            expect.rate_limit = Some(("flood".to_owned(), "others".to_owned()));
            let label = topology
                .tenants
                .get(FLOOD_TENANT)
                .map(|t| t.label.clone())
                .unwrap_or_default();
            (
                vec![
                    StreamSpec {
                        name: "others".to_owned(),
                        proto: Proto::H1,
                        rate: rate(1.0),
                        from: Duration::ZERO,
                        until: duration,
                        tenants: victims,
                        expect_429: false,
                    },
                    StreamSpec {
                        name: "flood".to_owned(),
                        proto: Proto::H1,
                        rate: flood_rate,
                        from: flood_from,
                        until: flood_until,
                        tenants: vec![(FLOOD_TENANT, 1.0)],
                        expect_429: true,
                    },
                ],
                vec![
                    Step {
                        at: flood_from,
                        act: Act::Mark(format!("flood starts ({label})")),
                    },
                    Step {
                        at: flood_until,
                        act: Act::Mark("flood ends".to_owned()),
                    },
                ],
            )
        }
        Scenario::Churn => (vec![stream("churn", Proto::Churn, 1.0)], vec![]),
    };
    Plan {
        duration,
        streams,
        steps,
        expect,
        tuning,
        rate_limits,
    }
}

/// A started world: simulated origins, gateway, admin client.
struct World {
    sims: Option<SimWorld>,
    gateway: Option<GatewayProcess>,
    admin: Option<Admin>,
    target: Target,
    configs: Option<ConfigFiles>,
    gateway_desc: String,
    _dir: tempfile::TempDir,
}

/// The config file and two variants of it, for the reload storm.
#[derive(Clone)]
struct ConfigFiles {
    path: PathBuf,
    variants: [String; 2],
}

impl ConfigFiles {
    /// Replaces the config file atomically with variant `i % 2`.
    fn write(&self, i: u64) -> std::io::Result<()> {
        let text = &self.variants[(i % 2) as usize];
        let tmp = self.path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// Waits (at most 10 s) until the gateway answers a request over TLS.
async fn wait_serving(target: &Target, tenant: &str) -> Result<(), String> {
    let client = load::client(target, Proto::H1)?;
    let url = format!(
        "https://{}:{}/healthz",
        target.server_name,
        target.addr.port()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.get(&url).header("x-tenant-id", tenant).send().await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!(
                    "the gateway does not answer on {}: {e}",
                    target.addr
                ))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn random_token() -> String {
    format!("loadtest-{}", uuid::Uuid::new_v4().simple())
}

async fn start_world(
    scenario: Scenario,
    opts: &Options,
    plan: &Plan,
    topology: &Topology,
) -> Result<World, String> {
    let dir = tempfile::Builder::new()
        .prefix("edge-loadtest-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    match &opts.gateway {
        GatewayChoice::Spawn {
            bin,
            threads,
            access_log,
        } => {
            let sims = SimWorld::start(topology)
                .map_err(|e| format!("cannot start the simulated origins: {e}"))?;
            let pki = Pki::generate(dir.path())?;
            let https = util::free_port().map_err(|e| format!("no free port: {e}"))?;
            let admin_addr = util::free_port().map_err(|e| format!("no free port: {e}"))?;
            let origins = sims.addresses();
            let render = |weights: &[(String, u32)]| {
                ConfigSpec {
                    topology,
                    origins: &origins,
                    https,
                    admin: admin_addr,
                    threads: *threads,
                    tuning: &plan.tuning,
                    extra: &plan.rate_limits,
                    weights,
                }
                .render()
            };
            // The second variant changes a secondary region's weight: a real change that
            // leaves every tenant's routing the same.
            let configs = ConfigFiles {
                path: dir.path().join("edge.toml"),
                variants: [render(&[]), render(&[("westus".to_owned(), 90)])],
            };
            configs
                .write(0)
                .map_err(|e| format!("cannot write the gateway config: {e}"))?;
            std::fs::create_dir_all(&opts.out)
                .map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
            let log = opts.out.join(format!("{scenario}.gateway.log"));
            let token = random_token();
            let filter = if *access_log {
                "info,pingora_core=warn,pingora_proxy=warn,pingora=warn"
            } else {
                gateway::DEFAULT_LOG_FILTER
            };
            let env = [("EDGE_ADMIN_TOKEN", token.as_str()), ("RUST_LOG", filter)];
            let gw = GatewayProcess::start(bin, &configs.path, admin_addr, &log, &env)?;
            let admin = Admin::new(admin_addr, &token)?;
            // Ready = every geography has a usable origin (the start-up probes passed).
            let deadline = Instant::now() + Duration::from_secs(10);
            while !admin.ready().await {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "the gateway did not become ready within 10 s; its log:\n{}",
                        gw.log_tail(30)
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let target = Target {
                addr: https,
                ca: pki.ca_der,
                server_name: pki::SERVER_NAME.to_owned(),
                path: "/api/orders".to_owned(),
            };
            wait_serving(
                &target,
                topology.tenants.first().map_or("", |t| t.id.as_str()),
            )
            .await
            .map_err(|e| format!("{e}; the gateway's log:\n{}", gw.log_tail(30)))?;
            let gateway_desc = format!(
                "{} (started by the harness, pid {}, {} thread{}, log {})",
                bin.display(),
                gw.pid(),
                threads,
                if *threads == 1 { "" } else { "s" },
                log.display()
            );
            Ok(World {
                sims: Some(sims),
                gateway: Some(gw),
                admin: Some(admin),
                target,
                configs: Some(configs),
                gateway_desc,
                _dir: dir,
            })
        }
        GatewayChoice::External {
            addr,
            ca,
            server_name,
            admin,
        } => {
            util::require_loopback(*addr, "target")?;
            if scenario.needs_own_origins() {
                return Err(format!(
                    "{scenario} breaks simulated origins (or needs its own rate limits) and so \
                     needs a gateway it starts itself; drop --target"
                ));
            }
            let admin = match admin {
                Some((a, token)) => Some(Admin::new(*a, token)?),
                None if scenario.needs_admin() => {
                    return Err(format!(
                    "{scenario} drives the admin API: pass --admin ADDR and set EDGE_ADMIN_TOKEN"
                ))
                }
                None => None,
            };
            Ok(World {
                sims: None,
                gateway: None,
                admin,
                target: Target {
                    addr: *addr,
                    ca: Pki::read_ca(ca)?,
                    server_name: server_name.clone(),
                    path: "/api/orders".to_owned(),
                },
                configs: None,
                gateway_desc: format!("already running at {addr} (not started by the harness)"),
                _dir: dir,
            })
        }
    }
}

/// Runs one scenario end to end and writes its files; returns the report.
pub async fn run(scenario: Scenario, opts: &Options) -> Result<Report, String> {
    // reqwest is built without a default crypto provider; the gateway uses ring as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let topology = match opts.gateway {
        GatewayChoice::Spawn { .. } => Topology::standard(),
        GatewayChoice::External { .. } => Topology::demo(),
    };
    let plan = plan(scenario, opts, &topology);
    let mut world = start_world(scenario, opts, &plan, &topology).await?;
    let topology = Arc::new(topology);

    let offered: f64 = plan
        .streams
        .iter()
        .map(|s| match s.rate {
            Rate::Open(r) => r * (s.until.saturating_sub(s.from)).as_secs_f64(),
            Rate::Closed(_) => 20_000.0 * (s.until.saturating_sub(s.from)).as_secs_f64(),
        })
        .sum();
    let max_requests = opts
        .max_requests
        .unwrap_or(((offered * 1.5) as u64).clamp(1000, 5_000_000));

    let live = Arc::new(Live::default());
    let events = Arc::new(Mutex::new(Vec::new()));
    let reloads = Arc::new(Mutex::new(ReloadStats::default()));
    let start = Instant::now();
    let progress = crate::progress::spawn(
        scenario.name(),
        plan.duration,
        live.clone(),
        start,
        opts.quiet,
    );
    let actions = tokio::spawn(run_steps(
        plan.steps.clone(),
        start,
        ActionCtx {
            sims: world.sims.as_ref().map(|s| {
                topology
                    .regions
                    .iter()
                    .filter_map(|r| s.region(&r.name).cloned())
                    .collect()
            }),
            admin: world.admin.clone(),
            configs: world.configs.clone(),
            events: events.clone(),
            reloads: reloads.clone(),
            live: live.clone(),
        },
    ));
    let records = load::run(
        &world.target,
        topology.clone(),
        &plan.streams,
        max_requests,
        live.clone(),
        start,
    )
    .await;
    live.stop.store(true, Ordering::Relaxed);
    let _ = actions.await;
    progress.finish().await;
    let records = records?;
    let elapsed = start.elapsed();

    let gateway_alive = match world.gateway.as_mut() {
        Some(gw) => gw.is_running(),
        None => true,
    };
    let gateway_log = world
        .gateway
        .as_ref()
        .map(|gw| gateway::log_summary(gw.log_path()))
        .unwrap_or_default();
    let metrics = match &world.admin {
        Some(a) => a.metrics().await,
        None => Vec::new(),
    };
    let events = std::mem::take(&mut *events.lock().unwrap_or_else(PoisonError::into_inner));
    let reloads = reloads
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let data = RunData {
        scenario,
        describe: scenario.describe().to_owned(),
        gateway: world.gateway_desc.clone(),
        duration: plan.duration,
        elapsed,
        topology: (*topology).clone(),
        streams: plan.streams.clone(),
        records,
        events,
        expect: plan.expect.clone(),
        reloads: plan.expect.reloads.then_some(reloads),
        metrics,
        gateway_alive,
        short: opts.short,
        tuning: plan.tuning.clone(),
        gateway_log,
    };
    let report = report::analyse(&data);
    let files = report::write_files(&report, &opts.out)?;
    println!("{}", report::markdown(&report, &files));
    if !report.passed {
        if let Some(gw) = world.gateway.as_ref() {
            eprintln!(
                "gateway log (last lines of {}):\n{}",
                gw.log_path().display(),
                gw.log_tail(15)
            );
        }
    }
    drop(world);
    Ok(report)
}

/// What the action task may touch.
struct ActionCtx {
    sims: Option<Vec<edge_sim::SimRegion>>,
    admin: Option<Admin>,
    configs: Option<ConfigFiles>,
    events: Arc<Mutex<Vec<Event>>>,
    reloads: Arc<Mutex<ReloadStats>>,
    live: Arc<Live>,
}

impl ActionCtx {
    fn region(&self, name: &str) -> Result<&edge_sim::SimRegion, String> {
        self.sims
            .as_ref()
            .and_then(|s| s.iter().find(|r| r.name == name))
            .ok_or_else(|| format!("no simulated region {name}"))
    }

    fn admin(&self) -> Result<&Admin, String> {
        self.admin.as_ref().ok_or_else(|| "no admin API".to_owned())
    }

    /// Records an action that began at `began` (from the start of the run).
    fn push(
        &self,
        began: Duration,
        label: String,
        kind: EventKind,
        region: Option<&str>,
        result: Result<String, String>,
    ) {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(e) => (false, e),
        };
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Event {
                at_s: began.as_secs_f64(),
                label,
                kind,
                region: region.map(str::to_owned),
                ok,
                detail,
            });
    }
}

fn admin_result(reply: gateway::AdminReply) -> Result<String, String> {
    let text = format!("{} in {:.1} ms", reply.status, util::ms(reply.took));
    if reply.ok() {
        Ok(text)
    } else {
        Err(format!("{text}: {}", reply.body.trim()))
    }
}

async fn sleep_until(start: Instant, offset: Duration, ctx: &ActionCtx) -> bool {
    // Sleeps in slices so that an early stop is noticed; bounded by `offset`.
    loop {
        if ctx.live.stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = start.elapsed();
        if now >= offset {
            return true;
        }
        tokio::time::sleep((offset - now).min(Duration::from_millis(100))).await;
    }
}

async fn run_steps(steps: Vec<Step>, start: Instant, ctx: ActionCtx) {
    for step in steps {
        if !sleep_until(start, step.at, &ctx).await {
            return;
        }
        // An event is dated when its action begins: a drain takes effect somewhere during
        // the admin call, and failover is measured from the earliest moment it could.
        let t0 = start.elapsed();
        match step.act {
            Act::Mark(label) => {
                ctx.push(t0, label, EventKind::Info, None, Ok(String::new()));
            }
            Act::Kill(r) => {
                let res = ctx.region(&r).map(|sim| {
                    sim.kill();
                    "every origin's listener closed and connections dropped".to_owned()
                });
                ctx.push(t0, format!("kill {r}"), EventKind::Fault, Some(&r), res);
            }
            Act::Revive(r) => {
                let res = match ctx.region(&r) {
                    Ok(sim) => sim
                        .revive()
                        .await
                        .map(|()| "listening again".to_owned())
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                ctx.push(
                    t0,
                    format!("revive {r}"),
                    EventKind::Recovery,
                    Some(&r),
                    res,
                );
            }
            Act::Brownout(r) => {
                let res = ctx.region(&r).map(|sim| {
                    sim.set_latency(BROWNOUT_LATENCY, BROWNOUT_JITTER);
                    sim.set_error_rate(BROWNOUT_ERROR_RATE);
                    format!(
                        "+{} ms (±{} ms), {} % 503",
                        BROWNOUT_LATENCY.as_millis(),
                        BROWNOUT_JITTER.as_millis(),
                        BROWNOUT_ERROR_RATE * 100.0
                    )
                });
                ctx.push(t0, format!("brownout {r}"), EventKind::Fault, Some(&r), res);
            }
            Act::Clear(r) => {
                let res = ctx.region(&r).map(|sim| {
                    sim.set_latency(Duration::ZERO, Duration::ZERO);
                    sim.set_error_rate(0.0);
                    "latency and errors back to normal".to_owned()
                });
                ctx.push(
                    t0,
                    format!("recover {r}"),
                    EventKind::Recovery,
                    Some(&r),
                    res,
                );
            }
            Act::Drain(r) => {
                let res = match ctx.admin() {
                    Ok(a) => admin_result(a.drain(&r).await),
                    Err(e) => Err(e),
                };
                ctx.push(t0, format!("drain {r}"), EventKind::Fault, Some(&r), res);
            }
            Act::Undrain(r) => {
                let res = match ctx.admin() {
                    Ok(a) => admin_result(a.undrain(&r).await),
                    Err(e) => Err(e),
                };
                ctx.push(
                    t0,
                    format!("undrain {r}"),
                    EventKind::Recovery,
                    Some(&r),
                    res,
                );
            }
            Act::ReloadStorm { until } => {
                ctx.push(
                    t0,
                    "reload storm starts".to_owned(),
                    EventKind::Info,
                    None,
                    Ok(format!("every {} ms", RELOAD_EVERY.as_millis())),
                );
                reload_storm(&ctx, start, until).await;
                let summary = {
                    let s = ctx.reloads.lock().unwrap_or_else(PoisonError::into_inner);
                    format!("{} reloads, {} accepted", s.attempted, s.ok)
                };
                ctx.push(
                    start.elapsed(),
                    "reload storm ends".to_owned(),
                    EventKind::Info,
                    None,
                    Ok(summary),
                );
            }
        }
    }
}

async fn reload_storm(ctx: &ActionCtx, start: Instant, until: Duration) {
    let Ok(admin) = ctx.admin() else {
        return;
    };
    let mut took = Vec::new();
    let mut i: u64 = 0;
    let mut next = start.elapsed();
    // Bounded by `until` and by the number of ticks that fit in it.
    let max_ticks = (until.as_secs_f64() / RELOAD_EVERY.as_secs_f64()).ceil() as u64 + 1;
    while next < until && i < max_ticks {
        if !sleep_until(start, next, ctx).await {
            break;
        }
        i += 1;
        let written = match &ctx.configs {
            Some(c) => c
                .write(i)
                .map_err(|e| format!("cannot write the config: {e}")),
            None => Ok(()),
        };
        let result = match written {
            Ok(()) => admin_result({
                let r = admin.reload().await;
                took.push(util::ms(r.took));
                r
            }),
            Err(e) => Err(e),
        };
        {
            let mut s = ctx.reloads.lock().unwrap_or_else(PoisonError::into_inner);
            s.attempted += 1;
            match result {
                Ok(_) => s.ok += 1,
                Err(e) => {
                    s.failed += 1;
                    s.first_error.get_or_insert(e);
                }
            }
        }
        next += RELOAD_EVERY;
    }
    took.sort_by(f64::total_cmp);
    let mut s = ctx.reloads.lock().unwrap_or_else(PoisonError::into_inner);
    s.took_ms_p50 = took.get(took.len() / 2).copied().unwrap_or(0.0);
    s.took_ms_max = took.last().copied().unwrap_or(0.0);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            duration: None,
            rps: None,
            concurrency: None,
            short: false,
            out: PathBuf::from("."),
            gateway: GatewayChoice::Spawn {
                bin: PathBuf::from("x"),
                threads: 2,
                access_log: false,
            },
            max_requests: None,
            quiet: true,
        }
    }

    #[test]
    fn names_roundtrip() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>().unwrap(), s);
        }
        assert!("nope".parse::<Scenario>().is_err());
    }

    #[test]
    fn outage_plan_fits_in_30_seconds_and_revives_before_failback_deadline() {
        let topo = Topology::standard();
        let p = plan(Scenario::RegionOutage, &opts(), &topo);
        assert!(p.duration <= Duration::from_secs(28));
        let revive = p
            .steps
            .iter()
            .find(|s| matches!(s.act, Act::Revive(_)))
            .unwrap();
        // Failback takes about rise × interval + slow start = 12 s with the defaults.
        assert!(p.duration - revive.at >= Duration::from_secs(15));
    }

    #[test]
    fn rate_limit_plan_names_the_flooder() {
        let topo = Topology::standard();
        let p = plan(Scenario::RateLimit, &opts(), &topo);
        assert!(p.rate_limits.contains(&topo.tenants[FLOOD_TENANT].id));
        let flood = p.streams.iter().find(|s| s.name == "flood").unwrap();
        assert!(flood.expect_429);
        let others = p.streams.iter().find(|s| s.name == "others").unwrap();
        assert!(others.tenants.iter().all(|(t, _)| *t != FLOOD_TENANT));
    }
}
