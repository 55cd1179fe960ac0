//! The state every plane shares: the live routing generation and the certificate resolver
//! (both swapped whole on reload), and the process-wide mechanisms requests use (metrics, rate
//! limits, retry budget, location database).
//!
//! Written by the control plane (`control::Control`), read by the edge and request planes.

use std::sync::{Arc, OnceLock};

use arc_swap::{ArcSwap, ArcSwapOption};
use edge_config::RateLimits;

use crate::edge::peers::PeerHealth;
use crate::edge::tls::CertResolver;
use crate::fleet::quota::FleetQuotas;
use crate::health::{HealthRegistry, LiveHealth, OriginHealth, OriginStates};
use crate::metrics::{Metrics, RequestHandles, SnapshotMetrics};
use crate::request::access_log::AccessLog;
use crate::request::ratelimit::RateLimiter;
use crate::request::retry::RetryBudget;
use crate::topology::{OriginId, Snapshot};

/// One routing generation as requests see it: a snapshot plus the live state bound to its
/// ids. In-flight requests keep the generation they started with.
#[derive(Debug)]
pub struct Live {
    /// What the configuration says, indexed.
    pub snapshot: Snapshot,
    /// The health state of each of the snapshot's origins.
    pub health: OriginStates,
    /// The request metrics of each of the snapshot's regions and geographies.
    pub metrics: SnapshotMetrics,
}

impl Live {
    /// Binds `snapshot` to the health registry and the metrics.
    pub fn bind(snapshot: Snapshot, registry: &Arc<HealthRegistry>, metrics: &Metrics) -> Self {
        Live {
            health: OriginStates::bind(registry, &snapshot),
            metrics: SnapshotMetrics::bind(metrics, &snapshot),
            snapshot,
        }
    }

    /// The health state of origin `id`.
    pub fn origin_health(&self, id: OriginId) -> &Arc<OriginHealth> {
        self.health.of(id)
    }

    /// Health as the router sees it at this instant.
    pub fn health_view(&self) -> LiveHealth<'_> {
        self.health.view()
    }
}

/// What every request handler shares. The generation is replaced whole on reload.
#[derive(Debug)]
pub struct GatewayState {
    live: ArcSwap<Live>,
    health: Arc<HealthRegistry>,
    /// The certificate resolver installed on every HTTPS listener.
    pub certs: Arc<CertResolver>,
    /// The process-wide retry budget.
    pub retry_budget: RetryBudget,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Counts requests that could not be attributed to a geography.
    pub unrouted: RequestHandles,
    /// Rate limits; reconfigured (keeping unchanged buckets) on every store.
    pub ratelimiter: RateLimiter,
    /// The client-location database, when `[geo]` is configured.
    pub geo: ArcSwapOption<edge_geo::mmdb::GeoDb>,
    /// The access log (disabled until the process starts it: `app::launch`).
    pub access_log: AccessLog,
    /// The health of peer edges (`[edge]`), kept across reloads by address.
    pub peers: Arc<PeerHealth>,
    /// Fleet-wide tenant and route limits, when `[fleet]` is configured (set once at start).
    pub fleet: OnceLock<Arc<FleetQuotas>>,
}

impl GatewayState {
    /// State serving `snapshot` with certificates from `certs`, origin health kept in
    /// `registry`.
    pub fn new(
        snapshot: Snapshot,
        registry: Arc<HealthRegistry>,
        certs: Arc<CertResolver>,
    ) -> Self {
        let metrics = Arc::new(Metrics::new());
        metrics.generation.set(snapshot.generation as i64);
        let unrouted = metrics.request_handles("-", "-");
        let ratelimiter = RateLimiter::new(
            snapshot
                .config
                .rate_limits
                .as_ref()
                .unwrap_or(&RateLimits::default()),
        );
        let retry_budget = RetryBudget::new(&snapshot.config.routing.retry_budget);
        let live = Live::bind(snapshot, &registry, &metrics);
        let access_log = AccessLog::disabled(
            metrics.access_log_lines.clone(),
            metrics.access_log_dropped.clone(),
        );
        GatewayState {
            live: ArcSwap::from_pointee(live),
            health: registry,
            certs,
            retry_budget,
            metrics,
            unrouted,
            ratelimiter,
            geo: ArcSwapOption::empty(),
            access_log,
            peers: Arc::new(PeerHealth::default()),
            fleet: OnceLock::new(),
        }
    }

    /// The current generation.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Binds `snapshot` to this process's health registry and metrics, ready to be warmed and
    /// stored.
    pub fn bind(&self, snapshot: Snapshot) -> Live {
        Live::bind(snapshot, &self.health, &self.metrics)
    }

    /// Replaces the generation for requests that start from now on.
    pub fn store(&self, live: Live) {
        let snapshot = &live.snapshot;
        self.metrics.generation.set(snapshot.generation as i64);
        self.retry_budget
            .reconfigure(&snapshot.config.routing.retry_budget);
        self.ratelimiter.reconfigure(
            snapshot
                .config
                .rate_limits
                .as_ref()
                .unwrap_or(&RateLimits::default()),
        );
        self.live.store(Arc::new(live));
    }
}
