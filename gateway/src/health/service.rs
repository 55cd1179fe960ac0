//! The one background service that probes every origin of the *current* snapshot.
//!
//! It re-reads the snapshot on every tick, so a reload never orphans a prober (one task per
//! pool would) and origins that left the config stop being probed at once.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;

use super::probe::{probe, tls_connector, ProbeTarget};
use super::state::{HealthRegistry, OriginHealth, Transition};
use crate::routing::OriginId;
use crate::snapshot::Snapshot;
use crate::state::GatewayState;

/// How often the service looks for due probes.
const TICK: Duration = Duration::from_millis(25);

/// Probes are spread over ±10 % of the interval so origins are not probed in lockstep.
const JITTER: f64 = 0.10;

/// The active health checker.
pub struct HealthChecker {
    state: Arc<GatewayState>,
    tls: Option<TlsConnector>,
}

impl HealthChecker {
    /// A checker for the snapshots of `state`.
    pub fn new(state: Arc<GatewayState>) -> Self {
        HealthChecker {
            state,
            tls: tls_connector(),
        }
    }
}

/// Starts every due probe of `snapshot`, each as its own task in `tasks`.
fn launch_due(
    registry: &Arc<HealthRegistry>,
    tls: Option<&TlsConnector>,
    snapshot: &Snapshot,
    tasks: &mut JoinSet<()>,
) {
    let now = registry.now_ms();
    for (i, origin) in snapshot.origins().iter().enumerate() {
        let health = snapshot.origin_health(OriginId(i as u32));
        if health.next_probe_ms.load(Ordering::Relaxed) > now
            || health.probing.swap(true, Ordering::AcqRel)
        {
            continue;
        }
        let hc = &snapshot.region(origin.region).health;
        let target = ProbeTarget {
            addr: origin.socket_addr,
            tls: origin.tls.then(|| origin.peer.sni.clone()),
            host: hc.host.clone().unwrap_or_else(|| origin.address.clone()),
            path: hc.path.clone(),
            expected: hc.expected_statuses.clone(),
            timeout: hc.timeout,
        };
        let interval = hc.interval;
        let (rise, fall) = (hc.rise.get(), hc.fall.get());
        let tls = tls.cloned();
        let registry = registry.clone();
        let health = health.clone();
        tasks.spawn(async move {
            run_one(&registry, &health, &target, tls.as_ref(), rise, fall).await;
            let jitter = 1.0 + JITTER * (2.0 * rand::random::<f64>() - 1.0);
            let next = registry.now_ms() + (interval.as_millis() as f64 * jitter) as u64;
            health.next_probe_ms.store(next, Ordering::Relaxed);
            health.probing.store(false, Ordering::Release);
        });
    }
}

async fn run_one(
    registry: &HealthRegistry,
    health: &OriginHealth,
    target: &ProbeTarget,
    tls: Option<&TlsConnector>,
    rise: u32,
    fall: u32,
) {
    let outcome = probe(target, tls).await;
    if let Some(t) = health.record_probe(outcome.ok, outcome.rtt, registry.now_ms(), rise, fall) {
        log_transition(health, &t, outcome.detail.as_deref());
    }
}

/// Logs a status change (the state is also readable from code for the admin API).
pub fn log_transition(health: &OriginHealth, t: &Transition, detail: Option<&str>) {
    tracing::info!(
        target: "health",
        region = %health.key.region,
        origin = %health.key.address,
        from = t.from.label(),
        to = t.to.label(),
        reason = %t.reason,
        detail = detail.unwrap_or("-"),
        latency_ms = health.latency().map(|d| d.as_secs_f64() * 1000.0),
        "origin health changed"
    );
}

/// Probes every origin of `snapshot` once, concurrently, and waits for the verdicts (bounded
/// by the probe timeout): run before listening and before swapping in a reloaded snapshot,
/// so new origins are not left "unknown" (and traffic-less) for a whole interval.
pub async fn probe_all_once(registry: &Arc<HealthRegistry>, snapshot: &Snapshot) {
    let tls = tls_connector();
    let mut tasks = JoinSet::new();
    launch_due(registry, tls.as_ref(), snapshot, &mut tasks);
    while tasks.join_next().await.is_some() {}
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tasks = JoinSet::new();
        loop {
            let snapshot = self.state.snapshot();
            launch_due(
                self.state.health(),
                self.tls.as_ref(),
                &snapshot,
                &mut tasks,
            );
            // Reap finished probes so the set does not grow.
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep(TICK) => {}
            }
        }
        tasks.abort_all();
    }
}
