//! The edges' health: a TCP connection to each edge's probe port, opened and closed, every
//! `dns.health.interval` (± 10 %), judged by `rise` and `fall` like the origins' probes
//! (`health::OriginHealth`, whose state machine this reuses).
//!
//! Why TCP connect and not HTTPS: an edge that accepts connections on its TLS port is up as
//! far as DNS can tell; whether it can serve a tenant is the edge's own business (its origins,
//! its health checks). That is also what Traffic Manager's TCP monitoring does.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::IntGaugeVec;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::zone::{Edge, Zone};
use super::Dns;
use crate::health::Status;

/// How often the prober looks for due probes.
const TICK: Duration = Duration::from_millis(100);

/// Probes are spread over ±10 % of the interval so edges are not probed in lockstep.
const JITTER: f64 = 0.10;

/// Probes the edges of the live zone forever (a task of the DNS service).
pub(super) async fn run(dns: Arc<Dns>) {
    let mut tasks = JoinSet::new();
    loop {
        if let Some(zone) = dns.zone() {
            launch_due(&dns, &zone, &mut tasks);
        }
        while tasks.try_join_next().is_some() {}
        tokio::time::sleep(TICK).await;
    }
}

/// Probes every edge of `zone` once and waits for the verdicts (bounded by the probe
/// timeout): before the responder starts answering, so it does not start failing static.
pub(super) async fn probe_all_once(dns: &Arc<Dns>, zone: &Arc<Zone>) {
    let mut tasks = JoinSet::new();
    launch_due(dns, zone, &mut tasks);
    while tasks.join_next().await.is_some() {}
}

fn launch_due(dns: &Arc<Dns>, zone: &Arc<Zone>, tasks: &mut JoinSet<()>) {
    let now = dns.now_ms();
    let health = &zone.settings().health;
    for geo in zone.geographies() {
        for edge in &geo.edges {
            let state = &edge.health;
            if state.next_probe_ms.load(Ordering::Relaxed) > now
                || state.probing.swap(true, Ordering::AcqRel)
            {
                continue;
            }
            let (dns, edge, geography) = (dns.clone(), edge.clone(), geo.name.to_string());
            let (timeout, interval) = (health.timeout, health.interval);
            let (rise, fall) = (health.rise.get(), health.fall.get());
            tasks.spawn(async move {
                let (ok, rtt, detail) = connect(edge.probe, timeout).await;
                let transition = edge.health.record_probe(ok, rtt, dns.now_ms(), rise, fall);
                if let Some(t) = transition {
                    // A new edge passing its first probe is news only at `info`.
                    if t.to == Status::Healthy && t.from == Status::Unknown {
                        tracing::info!(target: "health", geography, edge = %edge.addr, "dns edge healthy");
                    } else {
                        tracing::warn!(
                            target: "health",
                            geography,
                            edge = %edge.addr,
                            probe = %edge.probe,
                            from = t.from.label(),
                            to = t.to.label(),
                            reason = %t.reason,
                            detail = detail.as_deref().unwrap_or(""),
                            "dns edge health changed"
                        );
                    }
                }
                set_gauge(&dns.metrics().edge_healthy, &geography, &edge);
                let jitter = 1.0 + JITTER * (2.0 * rand::random::<f64>() - 1.0);
                let next = dns.now_ms() + (interval.as_millis() as f64 * jitter) as u64;
                edge.health.next_probe_ms.store(next, Ordering::Relaxed);
                edge.health.probing.store(false, Ordering::Release);
            });
        }
    }
}

/// One probe: passed, its round trip, and what went wrong.
async fn connect(addr: SocketAddr, timeout: Duration) -> (bool, Duration, Option<String>) {
    let start = Instant::now();
    let result = tokio::time::timeout(timeout, TcpStream::connect(addr)).await;
    let rtt = start.elapsed();
    match result {
        Ok(Ok(_stream)) => (true, rtt, None),
        Ok(Err(e)) => (false, rtt, Some(e.to_string())),
        Err(_) => (
            false,
            rtt,
            Some(format!("no connection within {timeout:?}")),
        ),
    }
}

fn set_gauge(gauge: &IntGaugeVec, geography: &str, edge: &Edge) {
    gauge
        .with_label_values(&[geography, &edge.addr.to_string()])
        .set(i64::from(edge.health.status() == Status::Healthy));
}

/// Sets `edge_dns_edge_healthy` for exactly the edges of `zone` (edges that left the config
/// disappear from the metric).
pub(super) fn publish_health(zone: &Zone, gauge: &IntGaugeVec) {
    gauge.reset();
    for geo in zone.geographies() {
        for edge in &geo.edges {
            set_gauge(gauge, geo.name.as_str(), edge);
        }
    }
}
