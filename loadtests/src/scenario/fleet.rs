//! `fleet`: three gateway replicas on one `redis-server`, the clients spread over them.
//!
//! One EU tenant floods (two closed loops per replica) against a quota of [`QUOTA_RPS`]
//! requests per second, bursts of [`QUOTA_BURST`]; a second EU tenant sends a steady trickle
//! through every replica (the probe of the drain). At 25 % of the run `northeurope` is
//! drained through the first replica's admin API; at 50 % Redis is killed, at 70 % started
//! again (empty: no persistence).
//!
//! The report: the flooding tenant's admitted rate in each phase against its quota (Redis
//! up: about the quota once for the whole fleet; Redis down: up to the quota per replica,
//! `when_unreachable = "full-quota"`; Redis back: the quota again), the time until every
//! replica stopped sending the probe tenant to `northeurope`, and the failed requests (any
//! answer but a 2xx, or a 429 of the flooding tenant): 0 to pass.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::gateway::{self, Admin, GatewayProcess};
use crate::load::{self, Proto, Target};
use crate::pki::{self, Pki};
use crate::topology::{ConfigSpec, SimWorld, Topology, Tuning, EU_PRIMARY};
use crate::util;

use super::options::{GatewayChoice, Options};

/// The flooding tenant's quota: requests per second.
pub const QUOTA_RPS: u32 = 50;
/// The flooding tenant's burst.
pub const QUOTA_BURST: u32 = 10;
/// Replicas.
pub const REPLICAS: usize = 3;
/// The longest a drain may take to reach every replica.
pub const MAX_DRAIN: Duration = Duration::from_secs(1);
/// Probe requests per second per replica.
const PROBE_RPS: f64 = 40.0;

/// What the run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// `fleet`.
    pub scenario: &'static str,
    /// When (UTC).
    pub date: String,
    /// The gateway binary.
    pub gateway: String,
    /// Length of the run (s).
    pub duration_s: f64,
    /// The flooding tenant's quota.
    pub quota_rps: u32,
    /// Its burst.
    pub quota_burst: u32,
    /// The phases, in order.
    pub phases: Vec<Phase>,
    /// Time from the drain (sent to one replica) until no replica sent the probe tenant to
    /// `northeurope` any more, and per replica.
    pub drain_honoured_ms: f64,
    /// Per replica.
    pub drain_honoured_ms_per_replica: Vec<f64>,
    /// Requests sent.
    pub requests: u64,
    /// Failed requests (not 2xx; 429s of the flooding tenant excluded).
    pub failed: u64,
    /// `edge_fleet_redis_up` of each replica while Redis was down (the lowest seen).
    pub redis_up_while_down: Vec<f64>,
    /// `edge_fleet_redis_up` of each replica at the end.
    pub redis_up_at_end: Vec<f64>,
    /// Checks that failed.
    pub problems: Vec<String>,
    /// Whether every check passed.
    pub passed: bool,
}

/// The flooding tenant in one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// What was going on.
    pub name: String,
    /// From (s).
    pub from_s: f64,
    /// Until (s).
    pub until_s: f64,
    /// Admitted requests per second of the flooding tenant, all replicas together.
    pub admitted_rps: f64,
    /// Refused (429) per second.
    pub refused_rps: f64,
}

/// One request.
#[derive(Debug, Clone)]
struct Rec {
    at: Duration,
    replica: usize,
    flood: bool,
    status: u16,
    served_by: String,
}

/// A `redis-server` the run owns; killed by PID when dropped.
struct Redis {
    child: Option<Child>,
    port: u16,
    log: std::path::PathBuf,
}

impl Redis {
    fn start(port: u16, log: &Path) -> Result<Redis, String> {
        let mut r = Redis {
            child: None,
            port,
            log: log.to_path_buf(),
        };
        r.restart()?;
        Ok(r)
    }

    fn restart(&mut self) -> Result<(), String> {
        let out = std::fs::File::create(&self.log)
            .map_err(|e| format!("cannot create {}: {e}", self.log.display()))?;
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start redis-server (cargo xtask deps installs it): {e}")
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            if Instant::now() > deadline {
                return Err("redis-server did not answer PING within 10 s".to_owned());
            }
            // Its socket is the readiness signal redis-server offers.
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One replica: its process, admin client and load target.
struct Replica {
    /// Killed (by PID) when the replica is dropped.
    _process: GatewayProcess,
    admin: Admin,
    target: Target,
}

/// Runs the scenario, writes `fleet.json` and prints the report; Ok(passed).
pub async fn run(opts: &Options) -> Result<bool, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let GatewayChoice::Spawn { bin, .. } = &opts.gateway else {
        return Err("fleet starts its own replicas and Redis; drop --target".to_owned());
    };
    let duration = opts.duration.unwrap_or(if opts.short {
        Duration::from_secs(12)
    } else {
        Duration::from_secs(30)
    });
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("edge-loadtest-fleet-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let topology = Topology::standard();
    let sims = SimWorld::start(&topology)
        .map_err(|e| format!("cannot start the simulated origins: {e}"))?;
    let pki = Pki::generate(dir.path())?;
    let redis_port = util::free_port()
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let mut redis = Redis::start(redis_port, &opts.out.join("fleet.redis.log"))?;
    let flood_tenant = topology.tenants[0].id.clone();
    let probe_tenant = topology.tenants[1].id.clone();
    let mut replicas = Vec::new();
    for i in 0..REPLICAS {
        replicas.push(
            start_replica(
                bin,
                opts,
                dir.path(),
                &topology,
                &sims,
                &pki,
                i,
                redis_port,
                &flood_tenant,
            )
            .await?,
        );
    }

    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, r) in replicas.iter().enumerate() {
        for _ in 0..2 {
            let client = load::client(&r.target, Proto::H1)?;
            tasks.push(tokio::spawn(traffic(
                client,
                url(&r.target),
                flood_tenant.clone(),
                i,
                true,
                None,
                start,
                duration,
                stop.clone(),
            )));
        }
        let client = load::client(&r.target, Proto::H1)?;
        tasks.push(tokio::spawn(traffic(
            client,
            url(&r.target),
            probe_tenant.clone(),
            i,
            false,
            Some(PROBE_RPS),
            start,
            duration,
            stop.clone(),
        )));
    }

    let at = |share: f64| start + duration.mul_f64(share);
    tokio::time::sleep_until(at(0.25).into()).await;
    let drained_at = start.elapsed();
    let reply = replicas[0].admin.drain(EU_PRIMARY).await;
    let mut problems = Vec::new();
    if !reply.ok() {
        problems.push(format!(
            "the drain was refused: {} {}",
            reply.status, reply.body
        ));
    }
    tokio::time::sleep_until(at(0.5).into()).await;
    let killed_at = start.elapsed();
    redis.kill();
    let mut lowest = vec![1.0f64; REPLICAS];
    while Instant::now() < at(0.7) {
        for (i, r) in replicas.iter().enumerate() {
            let up =
                gateway::metric_sum(&r.admin.metrics().await, "edge_fleet_redis_up").unwrap_or(1.0);
            lowest[i] = lowest[i].min(up);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let restarted_at = start.elapsed();
    redis.restart()?;
    tokio::time::sleep_until((start + duration).into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut records = Vec::new();
    for t in tasks {
        records.extend(t.await.map_err(|e| format!("a load task failed: {e}"))?);
    }
    let mut at_end = Vec::new();
    for r in &replicas {
        at_end.push(
            gateway::metric_sum(&r.admin.metrics().await, "edge_fleet_redis_up").unwrap_or(0.0),
        );
    }

    let phase = |name: &str, from: Duration, until: Duration| {
        let secs = until.saturating_sub(from).as_secs_f64().max(1e-9);
        let in_phase = |r: &&Rec| r.flood && r.at >= from && r.at < until;
        let ok = records
            .iter()
            .filter(in_phase)
            .filter(|r| r.status == 200)
            .count() as f64;
        let refused = records
            .iter()
            .filter(in_phase)
            .filter(|r| r.status == 429)
            .count() as f64;
        Phase {
            name: name.to_owned(),
            from_s: from.as_secs_f64(),
            until_s: until.as_secs_f64(),
            admitted_rps: ok / secs,
            refused_rps: refused / secs,
        }
    };
    let end = start.elapsed().min(duration);
    let phases = vec![
        phase(
            "Redis up (fleet-wide quota)",
            Duration::from_secs(1),
            killed_at,
        ),
        phase(
            "Redis down (full quota per replica)",
            killed_at + Duration::from_millis(500),
            restarted_at,
        ),
        phase(
            "Redis back (fleet-wide quota, from 2 s after)",
            restarted_at + Duration::from_secs(2),
            end,
        ),
    ];
    let per_replica: Vec<f64> = (0..REPLICAS)
        .map(|i| {
            records
                .iter()
                .filter(|r| {
                    !r.flood && r.replica == i && r.at >= drained_at && r.served_by == EU_PRIMARY
                })
                .map(|r| (r.at - drained_at).as_secs_f64() * 1000.0)
                .fold(0.0, f64::max)
        })
        .collect();
    let drain_ms = per_replica.iter().copied().fold(0.0, f64::max);
    let failed = records
        .iter()
        .filter(|r| !((200..300).contains(&r.status) || (r.flood && r.status == 429)))
        .count() as u64;

    let quota = f64::from(QUOTA_RPS);
    if failed > 0 {
        problems.push(format!("{failed} requests failed"));
    }
    if drain_ms > MAX_DRAIN.as_secs_f64() * 1000.0 {
        problems.push(format!(
            "the drain took {drain_ms:.0} ms to reach every replica"
        ));
    }
    for p in [&phases[0], &phases[2]] {
        // Over a phase of a few seconds: the quota ± 15 % (the burst and the overshoot bound
        // weigh more in a short window).
        if (p.admitted_rps - quota).abs() > quota * 0.15 {
            problems.push(format!(
                "{}: {:.1} admitted/s, quota {quota}",
                p.name, p.admitted_rps
            ));
        }
    }
    if phases[1].admitted_rps <= quota * 1.2
        || phases[1].admitted_rps > quota * REPLICAS as f64 * 1.15
    {
        problems.push(format!(
            "Redis down: {:.1} admitted/s, expected above the quota and at most {} × it",
            phases[1].admitted_rps, REPLICAS
        ));
    }
    if lowest.iter().any(|&v| v != 0.0) {
        problems.push(format!(
            "edge_fleet_redis_up did not drop to 0 on every replica: {lowest:?}"
        ));
    }
    if at_end.iter().any(|&v| v != 1.0) {
        problems.push(format!(
            "edge_fleet_redis_up not back to 1 on every replica: {at_end:?}"
        ));
    }
    let report = FleetReport {
        scenario: "fleet",
        date: util::now_utc().1,
        gateway: bin.display().to_string(),
        duration_s: end.as_secs_f64(),
        quota_rps: QUOTA_RPS,
        quota_burst: QUOTA_BURST,
        phases,
        drain_honoured_ms: drain_ms,
        drain_honoured_ms_per_replica: per_replica,
        requests: records.len() as u64,
        failed,
        redis_up_while_down: lowest,
        redis_up_at_end: at_end,
        passed: problems.is_empty(),
        problems,
    };
    let json = opts.out.join("fleet.json");
    let text =
        serde_json::to_string_pretty(&report).map_err(|e| format!("cannot serialise: {e}"))?;
    std::fs::write(&json, text).map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    println!("{}", markdown(&report, &json));
    drop(replicas);
    Ok(report.passed)
}

fn url(target: &Target) -> String {
    format!(
        "https://{}:{}/api/orders",
        target.server_name,
        target.addr.port()
    )
}

/// Starts replica `i` in a directory of its own and waits until it is ready.
#[allow(clippy::too_many_arguments)]
async fn start_replica(
    bin: &Path,
    opts: &Options,
    dir: &Path,
    topology: &Topology,
    sims: &SimWorld,
    pki: &Pki,
    i: usize,
    redis_port: u16,
    flood_tenant: &str,
) -> Result<Replica, String> {
    let https = util::free_port().map_err(|e| format!("no free port: {e}"))?;
    let admin_addr = util::free_port().map_err(|e| format!("no free port: {e}"))?;
    let origins = sims.addresses();
    let extra = format!(
        "[[rate_limits.tenant_overrides]]\ntenant = \"{flood_tenant}\"\nrps = {QUOTA_RPS}\nburst = {QUOTA_BURST}\n\n\
         [fleet]\nredis_url = \"redis://127.0.0.1:{redis_port}\"\nnode_id = \"replica-{i}\"\n"
    );
    let tuning = if opts.short {
        Tuning::fast()
    } else {
        Tuning::defaults()
    };
    let spec = ConfigSpec {
        topology,
        origins: &origins,
        https,
        admin: admin_addr,
        threads: 1,
        tuning: &tuning,
        extra: &format!("[rate_limits]\n{extra}"),
        weights: &[],
    };
    let replica_dir = dir.join(format!("replica-{i}"));
    std::fs::create_dir_all(&replica_dir).map_err(|e| format!("cannot create a directory: {e}"))?;
    let text = spec
        .render()
        .replace(
            "cert = \"server.pem\"",
            &format!("cert = \"{}\"", pki.cert.display()),
        )
        .replace(
            "key = \"server.key\"",
            &format!("key = \"{}\"", pki.key.display()),
        );
    let config = replica_dir.join("edge.toml");
    std::fs::write(&config, text).map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    let token = format!("loadtest-{}", uuid::Uuid::new_v4().simple());
    let log = opts.out.join(format!("fleet.replica-{i}.log"));
    let env = [
        ("EDGE_ADMIN_TOKEN", token.as_str()),
        ("RUST_LOG", gateway::DEFAULT_LOG_FILTER),
    ];
    let process = GatewayProcess::start(bin, &config, admin_addr, &log, &env)?;
    let admin = Admin::new(admin_addr, &token)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !admin.ready().await {
        if Instant::now() > deadline {
            return Err(format!(
                "replica {i} did not become ready:\n{}",
                process.log_tail(30)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Replica {
        _process: process,
        admin,
        target: Target {
            addr: https,
            ca: pki.ca_der.clone(),
            server_name: pki::SERVER_NAME.to_owned(),
            path: "/api/orders".to_owned(),
        },
    })
}

/// Requests of `tenant` through one replica until the run ends: as fast as answers come
/// (`rate` = None) or paced at `rate` per second; at most 500,000.
#[allow(clippy::too_many_arguments)]
async fn traffic(
    client: reqwest::Client,
    url: String,
    tenant: String,
    replica: usize,
    flood: bool,
    rate: Option<f64>,
    start: Instant,
    duration: Duration,
    stop: Arc<AtomicBool>,
) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) && start.elapsed() < duration && out.len() < 500_000 {
        if let Some(r) = rate {
            tokio::time::sleep_until(next.into()).await;
            next += Duration::from_secs_f64(1.0 / r);
        }
        let at = start.elapsed();
        let (status, served_by) = match client.get(&url).header("x-tenant-id", &tenant).send().await
        {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let served = resp
                    .headers()
                    .get("x-sim-region")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body_ok = resp.bytes().await.is_ok();
                (if body_ok { status } else { 0 }, served)
            }
            Err(_) => (0, String::new()),
        };
        out.push(Rec {
            at,
            replica,
            flood,
            status,
            served_by,
        });
    }
    out
}

/// The report as Markdown.
fn markdown(r: &FleetReport, json: &Path) -> String {
    let mut s = format!(
        "## fleet: {} replicas on one Redis — {}\n\n{} requests, {} failed; the flooding tenant's \
         quota: {} req/s, burst {}.\n\n| phase | from (s) | until (s) | admitted/s | refused/s | vs quota |\n|---|---:|---:|---:|---:|---:|\n",
        REPLICAS,
        if r.passed { "PASSED" } else { "FAILED" },
        r.requests,
        r.failed,
        r.quota_rps,
        r.quota_burst
    );
    for p in &r.phases {
        s.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}× |\n",
            p.name,
            p.from_s,
            p.until_s,
            p.admitted_rps,
            p.refused_rps,
            p.admitted_rps / f64::from(r.quota_rps)
        ));
    }
    s.push_str(&format!(
        "\nDrain of {EU_PRIMARY} sent to replica-0: every replica honoured it within {:.0} ms \
         (per replica: {}).\nedge_fleet_redis_up while Redis was down: {:?}; at the end: {:?}.\n",
        r.drain_honoured_ms,
        r.drain_honoured_ms_per_replica
            .iter()
            .map(|m| format!("{m:.0} ms"))
            .collect::<Vec<_>>()
            .join(", "),
        r.redis_up_while_down,
        r.redis_up_at_end
    ));
    for p in &r.problems {
        s.push_str(&format!("\n- problem: {p}"));
    }
    s.push_str(&format!("\n\nFiles: {}\n", json.display()));
    s
}
