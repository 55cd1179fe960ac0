//! The world a scenario runs in: simulated origins and a gateway the harness starts, or a
//! gateway that is already running; the admin client and the load's target.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::gateway::{self, Admin, GatewayProcess};
use crate::load::{self, Proto, Target};
use crate::pki::{self, Pki};
use crate::topology::{ConfigSpec, SimWorld, Topology};
use crate::util;

use super::catalog::Scenario;
use super::options::{GatewayChoice, Options};
use super::plan::Plan;

/// The path every request of the load asks for.
const LOAD_PATH: &str = "/api/orders";

/// A started world: simulated origins, gateway, admin client.
pub(super) struct World {
    pub(super) sims: Option<SimWorld>,
    pub(super) gateway: Option<GatewayProcess>,
    pub(super) admin: Option<Admin>,
    pub(super) target: Target,
    pub(super) configs: Option<ConfigFiles>,
    pub(super) gateway_desc: String,
    _dir: tempfile::TempDir,
}

/// The config file and two variants of it, for the reload storm.
#[derive(Clone)]
pub(super) struct ConfigFiles {
    path: PathBuf,
    variants: [String; 2],
}

impl ConfigFiles {
    /// The config of `spec` and a variant of it, at `path`; writes the first.
    fn create(path: PathBuf, spec: &ConfigSpec<'_>) -> Result<ConfigFiles, String> {
        // The second variant changes a secondary region's weight: a real change that
        // leaves every tenant's routing the same.
        let weights = [("westus".to_owned(), 90)];
        let variant = ConfigSpec {
            weights: &weights,
            ..spec.clone()
        };
        let configs = ConfigFiles {
            path,
            variants: [spec.render(), variant.render()],
        };
        configs
            .write(0)
            .map_err(|e| format!("cannot write the gateway config: {e}"))?;
        Ok(configs)
    }

    /// Replaces the config file atomically with variant `i % 2`.
    pub(super) fn write(&self, i: u64) -> std::io::Result<()> {
        let text = &self.variants[(i % 2) as usize];
        let tmp = self.path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// The gateway the harness starts, as the options give it.
struct Launch<'a> {
    bin: &'a Path,
    threads: usize,
    access_log: bool,
}

impl Launch<'_> {
    /// Starts the gateway on `config` with a fresh admin token and waits until it is ready.
    async fn start(
        &self,
        config: &Path,
        admin_addr: SocketAddr,
        log: &Path,
    ) -> Result<(GatewayProcess, Admin), String> {
        let token = random_token();
        let env = [
            ("EDGE_ADMIN_TOKEN", token.as_str()),
            ("RUST_LOG", log_filter(self.access_log)),
        ];
        let gw = GatewayProcess::start(self.bin, config, admin_addr, log, &env)?;
        let admin = Admin::new(admin_addr, &token)?;
        wait_ready(&admin, &gw).await?;
        Ok((gw, admin))
    }

    /// The gateway as the report names it.
    fn describe(&self, gw: &GatewayProcess, log: &Path) -> String {
        format!(
            "{} (started by the harness, pid {}, {} thread{}, log {})",
            self.bin.display(),
            gw.pid(),
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            log.display()
        )
    }
}

/// Starts what `opts.gateway` asks for and waits until the gateway serves.
pub(super) async fn start(
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
            let launch = Launch {
                bin,
                threads: *threads,
                access_log: *access_log,
            };
            spawn(scenario, opts, plan, topology, dir, launch).await
        }
        GatewayChoice::External {
            addr,
            ca,
            server_name,
            admin,
        } => external(scenario, dir, *addr, ca, server_name, admin.as_ref()),
    }
}

/// Simulated origins, a generated config and a gateway started on it.
async fn spawn(
    scenario: Scenario,
    opts: &Options,
    plan: &Plan,
    topology: &Topology,
    dir: tempfile::TempDir,
    launch: Launch<'_>,
) -> Result<World, String> {
    let sims = SimWorld::start(topology)
        .map_err(|e| format!("cannot start the simulated origins: {e}"))?;
    let pki = Pki::generate(dir.path())?;
    let https = util::free_port().map_err(|e| format!("no free port: {e}"))?;
    let admin_addr = util::free_port().map_err(|e| format!("no free port: {e}"))?;
    let origins = sims.addresses();
    let spec = ConfigSpec {
        topology,
        origins: &origins,
        https,
        admin: admin_addr,
        threads: launch.threads,
        tuning: &plan.tuning,
        extra: &plan.rate_limits,
        weights: &[],
    };
    let configs = ConfigFiles::create(dir.path().join("edge.toml"), &spec)?;
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let log = opts.out.join(format!("{scenario}.gateway.log"));
    let (gw, admin) = launch.start(&configs.path, admin_addr, &log).await?;
    let target = Target {
        addr: https,
        ca: pki.ca_der,
        server_name: pki::SERVER_NAME.to_owned(),
        path: LOAD_PATH.to_owned(),
    };
    wait_serving(
        &target,
        topology.tenants.first().map_or("", |t| t.id.as_str()),
    )
    .await
    .map_err(|e| format!("{e}; the gateway's log:\n{}", gw.log_tail(30)))?;
    Ok(World {
        sims: Some(sims),
        gateway_desc: launch.describe(&gw, &log),
        gateway: Some(gw),
        admin: Some(admin),
        target,
        configs: Some(configs),
        _dir: dir,
    })
}

/// A gateway that is already running on loopback; the scenario must not need to break
/// origins, and gets the admin API only when it is given.
fn external(
    scenario: Scenario,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    ca: &Path,
    server_name: &str,
    admin: Option<&(SocketAddr, String)>,
) -> Result<World, String> {
    util::require_loopback(addr, "target")?;
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
            addr,
            ca: Pki::read_ca(ca)?,
            server_name: server_name.to_owned(),
            path: LOAD_PATH.to_owned(),
        },
        configs: None,
        gateway_desc: format!("already running at {addr} (not started by the harness)"),
        _dir: dir,
    })
}

/// `RUST_LOG` of the started gateway.
fn log_filter(access_log: bool) -> &'static str {
    if access_log {
        "info,pingora_core=warn,pingora_proxy=warn,pingora=warn"
    } else {
        gateway::DEFAULT_LOG_FILTER
    }
}

/// Waits (at most 10 s) until every geography has a usable origin (the start-up probes
/// passed).
async fn wait_ready(admin: &Admin, gw: &GatewayProcess) -> Result<(), String> {
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
    Ok(())
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
