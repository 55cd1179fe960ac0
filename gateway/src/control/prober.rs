//! The one background service that probes every origin of the *current* generation (the
//! probes themselves and the state they feed are in `health`).
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

use crate::health::probe::{probe, tls_connector, ProbeTarget};
use crate::health::{log_transition, HealthRegistry, OriginHealth};
use crate::state::{GatewayState, Live};

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

/// Starts every due probe of `live`, each as its own task in `tasks`.
fn launch_due(live: &Live, tls: Option<&TlsConnector>, tasks: &mut JoinSet<()>) {
    let registry = live.health.registry();
    let snapshot = &live.snapshot;
    let now = registry.now_ms();
    for ((_, health), origin) in live.health.iter().zip(snapshot.origins()) {
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

/// Probes every origin of `live` once, concurrently, and waits for the verdicts (bounded
/// by the probe timeout): run before listening and before swapping in a reloaded snapshot,
/// so new origins are not left "unknown" (and traffic-less) for a whole interval.
pub async fn probe_all_once(live: &Live) {
    let tls = tls_connector();
    let mut tasks = JoinSet::new();
    launch_due(live, tls.as_ref(), &mut tasks);
    while tasks.join_next().await.is_some() {}
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tasks = JoinSet::new();
        loop {
            let live = self.state.live();
            launch_due(&live, self.tls.as_ref(), &mut tasks);
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
