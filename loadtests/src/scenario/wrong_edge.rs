//! `wrong-edge`: residency at the edge under load. Two edges of one fleet (`[edge]`), EU on
//! 127.0.0.10 and NA on 127.0.0.20, each with its own CA, in front of the same simulated
//! regions; every request names its tenant by host (`{tenant}.app.test`, the SNI). Half of
//! the streams connect to the tenant's own edge, half to the other one, which must pass the
//! connection through still encrypted.
//!
//! Checked on every answer: 200, served by a region of the tenant's geography (else a
//! residency violation), and the TLS certificate is the tenant's home edge's (else a foreign
//! termination); and at the end, both edges' `edge_residency_foreign_terminations_total` and
//! `edge_tls_handshakes_total` of the wrong edge for foreign hosts (none expected). The
//! report gives p50/p99 latency of right-edge and wrong-edge requests, over HTTP/1.1
//! keep-alive and with a new TLS connection per request, so the cost of passthrough is
//! measured, not asserted.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rustls::pki_types::CertificateDer;
use serde::Serialize;

use crate::gateway::{metric_sum, Admin, GatewayProcess};
use crate::pki::Pki;
use crate::topology::{ConfigSpec, RegionDef, SimWorld, TenantDef, Topology, Tuning};
use crate::util;

use super::catalog::Scenario;
use super::options::{GatewayChoice, Options};

/// Requests in flight at once per stream; beyond it a tick's request is skipped and counted.
const MAX_IN_FLIGHT: usize = 256;

/// One edge of the run.
struct Edge {
    geography: &'static str,
    https: SocketAddr,
    admin_addr: SocketAddr,
    pki: Pki,
    leaf: CertificateDer<'static>,
}

/// What one stream measured.
#[derive(Debug, Clone, Serialize)]
pub struct StreamResult {
    /// `right-h1`, `wrong-h1`, `right-churn`, `wrong-churn`.
    pub name: String,
    /// Requests answered 200 by the tenant's geography with its home edge's certificate.
    pub ok: u64,
    /// Requests that failed (status, transport, timeout).
    pub errors: u64,
    /// Answers served by a region outside the tenant's geography.
    pub residency_violations: u64,
    /// Answers whose TLS certificate was not the tenant's home edge's.
    pub foreign_certificates: u64,
    /// Ticks skipped because too many requests were in flight.
    pub skipped: u64,
    /// Latency percentiles of successful requests, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
}

/// The run's report.
#[derive(Debug, Clone, Serialize)]
pub struct WrongEdgeReport {
    /// `wrong-edge`.
    pub scenario: &'static str,
    /// Offered load, all streams together.
    pub rps: f64,
    /// Run length.
    pub duration_s: f64,
    /// Per stream.
    pub streams: Vec<StreamResult>,
    /// Both edges' `edge_residency_foreign_terminations_total`.
    pub foreign_terminations: f64,
    /// Both edges' `edge_residency_passthrough_total`.
    pub passthroughs: f64,
    /// Both edges' `edge_residency_handshake_refusals_total`.
    pub handshake_refusals: f64,
    /// Every check passed.
    pub passed: bool,
}

/// Runs the scenario; `Ok(passed)`.
pub async fn run(opts: &Options) -> Result<bool, String> {
    let GatewayChoice::Spawn { bin, threads, .. } = &opts.gateway else {
        return Err("wrong-edge starts two edges itself; drop --target".to_owned());
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let scenario = Scenario::WrongEdge;
    let duration = opts
        .duration
        .unwrap_or_else(|| scenario.default_duration(opts.short));
    let rps = opts.rps.unwrap_or_else(|| scenario.default_rps(opts.short));
    let topology = two_geographies();
    let dir = tempfile::Builder::new()
        .prefix("edge-loadtest-edges-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let sims = SimWorld::start(&topology)
        .map_err(|e| format!("cannot start the simulated origins: {e}"))?;
    let eu = edge(dir.path(), "eu", [127, 0, 0, 10])?;
    let na = edge(dir.path(), "na", [127, 0, 0, 20])?;
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| format!("cannot create {}: {e}", opts.out.display()))?;
    let tuning = Tuning::defaults();
    let mut processes = Vec::new();
    let mut admins = Vec::new();
    for (me, other) in [(&eu, &na), (&na, &eu)] {
        let origins = sims.addresses();
        let spec = ConfigSpec {
            topology: &topology,
            origins: &origins,
            https: me.https,
            admin: me.admin_addr,
            threads: *threads,
            tuning: &tuning,
            extra: &edge_section(me, other),
            weights: &[],
        };
        let config = dir.path().join(me.geography).join("edge.toml");
        std::fs::write(&config, spec.render())
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let log = opts
            .out
            .join(format!("wrong-edge.{}.gateway.log", me.geography));
        let token = format!("loadtest-{}", uuid::Uuid::new_v4().simple());
        let env = [
            ("EDGE_ADMIN_TOKEN", token.as_str()),
            ("RUST_LOG", crate::gateway::DEFAULT_LOG_FILTER),
        ];
        processes.push(GatewayProcess::start(
            bin,
            &config,
            me.admin_addr,
            &log,
            &env,
        )?);
        admins.push(Admin::new(me.admin_addr, &token)?);
    }
    for admin in &admins {
        wait_ready(admin).await?;
    }
    let edges = Arc::new([eu, na]);
    let started = Instant::now();
    let per_stream = rps / 4.0;
    let mut tasks = Vec::new();
    for churn in [false, true] {
        for wrong in [false, true] {
            let name = format!(
                "{}-{}",
                if wrong { "wrong" } else { "right" },
                if churn { "churn" } else { "h1" }
            );
            tasks.push(tokio::spawn(stream(
                name,
                edges.clone(),
                topology.tenants.clone(),
                wrong,
                churn,
                per_stream,
                duration,
            )));
        }
    }
    let mut streams = Vec::new();
    for t in tasks {
        streams.push(t.await.map_err(|e| format!("a stream failed: {e}"))??);
    }
    let elapsed = started.elapsed();
    let mut totals = [0.0f64; 3];
    for admin in &admins {
        let m = admin.metrics().await;
        for (i, name) in [
            "edge_residency_foreign_terminations_total",
            "edge_residency_passthrough_total",
            "edge_residency_handshake_refusals_total",
        ]
        .iter()
        .enumerate()
        {
            totals[i] += metric_sum(&m, name).unwrap_or(0.0);
        }
    }
    let passed = totals[0] == 0.0
        && totals[2] == 0.0
        && streams.iter().all(|s| {
            s.errors == 0 && s.residency_violations == 0 && s.foreign_certificates == 0 && s.ok > 0
        });
    let report = WrongEdgeReport {
        scenario: "wrong-edge",
        rps,
        duration_s: elapsed.as_secs_f64(),
        streams,
        foreign_terminations: totals[0],
        passthroughs: totals[1],
        handshake_refusals: totals[2],
        passed,
    };
    let json = opts.out.join("wrong-edge.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&json, text).map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    println!("{}", markdown(&report, &json));
    drop(processes);
    drop(sims);
    Ok(passed)
}

/// EU and NA of the standard topology (its APAC has no edge here).
fn two_geographies() -> Topology {
    let standard = Topology::standard();
    let keep = |g: &str| g == "eu" || g == "na";
    Topology {
        regions: standard
            .regions
            .into_iter()
            .filter(|r: &RegionDef| keep(&r.geography))
            .collect(),
        tenants: standard
            .tenants
            .into_iter()
            .filter(|t: &TenantDef| keep(&t.geography))
            .collect(),
    }
}

fn edge(dir: &Path, geography: &'static str, ip: [u8; 4]) -> Result<Edge, String> {
    let own = dir.join(geography);
    std::fs::create_dir_all(&own).map_err(|e| format!("cannot create {}: {e}", own.display()))?;
    let pki = Pki::generate(&own)?;
    let pem = std::fs::read(&pki.cert).map_err(|e| format!("cannot read the leaf: {e}"))?;
    let leaf = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .and_then(Result::ok)
        .ok_or("no leaf certificate in the generated PEM")?;
    let port = util::free_port()
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    Ok(Edge {
        geography,
        https: SocketAddr::from((ip, port)),
        admin_addr: util::free_port().map_err(|e| format!("no free port: {e}"))?,
        pki,
        leaf,
    })
}

/// `[edge]` of `me`, naming `other` as its peer. Loopback connections between the edges come
/// from 127.0.0.1, and the load comes from 127.0.3.x.
fn edge_section(me: &Edge, other: &Edge) -> String {
    format!(
        "\n[edge]\ngeography = \"{}\"\ntrusted_peers = [\"127.0.0.1/32\"]\n\n\
         [[edge.peers]]\ngeography = \"{}\"\naddresses = [\"{}\"]\nca = \"{}\"\n",
        me.geography,
        other.geography,
        other.https,
        other.pki.ca_pem.display()
    )
}

/// Waits (15 s at most) until the edge's origins are usable and its probe found its peer
/// healthy: an edge started before its peer counts it down until `rise` probes pass.
async fn wait_ready(admin: &Admin) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let peer_up = metric_sum(&admin.metrics().await, "edge_peer_healthy") == Some(1.0);
        if peer_up && admin.ready().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err("an edge did not become ready (origins and peer) within 15 s".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client trusting both edges, connecting from a 127.0.3.x address, resolving every tenant
/// host to the edge `to(tenant)` picks.
fn client(
    edges: &[Edge; 2],
    tenants: &[TenantDef],
    to: impl Fn(&TenantDef) -> SocketAddr,
    churn: bool,
    from: IpAddr,
) -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    for e in edges {
        roots
            .add(e.pki.ca_der.clone())
            .map_err(|e| format!("CA: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS client config: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    if churn {
        tls.resumption = rustls::client::Resumption::disabled();
    }
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .tls_info(true)
        .local_address(from)
        .no_proxy()
        .http1_only()
        .timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .pool_max_idle_per_host(if churn { 0 } else { MAX_IN_FLIGHT });
    for t in tenants {
        b = b.resolve(&host(t), to(t));
    }
    b.build().map_err(|e| format!("cannot build a client: {e}"))
}

fn host(t: &TenantDef) -> String {
    format!("{}.app.test", t.id)
}

/// Tallies of one stream.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    violations: u64,
    foreign: u64,
    skipped: u64,
}

/// An open-loop stream: `rate` requests a second for `duration`, each for a random tenant,
/// to its own edge or (`wrong`) the other one.
async fn stream(
    name: String,
    edges: Arc<[Edge; 2]>,
    tenants: Vec<TenantDef>,
    wrong: bool,
    churn: bool,
    rate: f64,
    duration: Duration,
) -> Result<StreamResult, String> {
    let home = |t: &TenantDef| usize::from(t.geography == "na");
    let from: IpAddr = if wrong {
        [127, 0, 3, 6]
    } else {
        [127, 0, 3, 5]
    }
    .into();
    let to = |t: &TenantDef| edges[home(t) ^ usize::from(wrong)].https;
    let client = client(&edges, &tenants, to, churn, from)?;
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?,
    ));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let every = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + duration;
    let mut inflight = Vec::new();
    let mut n = 0usize;
    while Instant::now() < end {
        tick.tick().await;
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            lock(&tally).skipped += 1;
            continue;
        };
        let tenant = tenants[n % tenants.len()].clone();
        n += 1;
        let expected_leaf = edges[home(&tenant)].leaf.clone();
        let port = to(&tenant).port();
        let (client, hist, tally) = (client.clone(), hist.clone(), tally.clone());
        inflight.push(tokio::spawn(async move {
            let started = Instant::now();
            let url = format!("https://{}:{port}/api/orders", host(&tenant));
            let result = client.get(url).send().await;
            let elapsed = started.elapsed();
            let mut t = lock(&tally);
            let Ok(resp) = result else {
                t.errors += 1;
                return;
            };
            let cert = resp
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|i| i.peer_certificate().map(<[u8]>::to_vec));
            if cert.as_deref() != Some(expected_leaf.as_ref()) {
                t.foreign += 1;
            }
            let region = resp
                .headers()
                .get("x-edge-region")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            let in_home = match tenant.geography.as_str() {
                "eu" => region == "northeurope" || region == "westeurope",
                _ => region == "eastus" || region == "westus",
            };
            if resp.status() != 200 {
                t.errors += 1;
            } else if !in_home {
                t.violations += 1;
            } else {
                t.ok += 1;
                let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                let _ = lock(&hist).record(micros.max(1));
            }
            drop(permit);
        }));
        inflight.retain(|h| !h.is_finished());
    }
    for h in inflight {
        let _ = h.await;
    }
    let hist = lock(&hist);
    let t = lock(&tally);
    let pct = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Ok(StreamResult {
        name,
        ok: t.ok,
        errors: t.errors,
        residency_violations: t.violations,
        foreign_certificates: t.foreign,
        skipped: t.skipped,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn markdown(r: &WrongEdgeReport, json: &Path) -> String {
    let mut s = format!(
        "## wrong-edge: {}\n\n{:.0} req/s offered for {:.1} s; half the streams reach the \
         tenant's own edge, half the other one.\n\n\
         | stream | ok | errors | residency violations | foreign certificates | skipped | p50 ms | p99 ms |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        if r.passed { "passed" } else { "FAILED" },
        r.rps,
        r.duration_s
    );
    for st in &r.streams {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} |\n",
            st.name,
            st.ok,
            st.errors,
            st.residency_violations,
            st.foreign_certificates,
            st.skipped,
            st.p50_ms,
            st.p99_ms
        ));
    }
    let find = |n: &str| r.streams.iter().find(|s| s.name == n);
    for proto in ["h1", "churn"] {
        if let (Some(right), Some(wrong)) = (
            find(&format!("right-{proto}")),
            find(&format!("wrong-{proto}")),
        ) {
            s.push_str(&format!(
                "\nPassthrough adds ({proto}): p50 {:+.2} ms, p99 {:+.2} ms.",
                wrong.p50_ms - right.p50_ms,
                wrong.p99_ms - right.p99_ms
            ));
        }
    }
    s.push_str(&format!(
        "\n\nForeign terminations (both edges): {}; passthroughs: {}; refused handshakes: {}.\n\
         JSON: {}\n",
        r.foreign_terminations,
        r.passthroughs,
        r.handshake_refusals,
        json.display()
    ));
    s
}
