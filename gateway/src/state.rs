//! The gateway's shared, swappable state.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::health::HealthRegistry;
use crate::metrics::{Metrics, RequestHandles};
use crate::ratelimit::RateLimiter;
use crate::snapshot::Snapshot;
use crate::tls::CertResolver;
use edge_config::RateLimits;

/// What every request handler shares: the current routing snapshot and the certificate
/// resolver. Both are replaced whole on reload; in-flight requests keep the snapshot they
/// started with.
#[derive(Debug)]
pub struct GatewayState {
    snapshot: ArcSwap<Snapshot>,
    /// The certificate resolver installed on every HTTPS listener.
    pub certs: Arc<CertResolver>,
    health: Arc<HealthRegistry>,
    /// The process-wide retry budget.
    pub retry_budget: crate::retry_budget::RetryBudget,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Counts requests that could not be attributed to a geography.
    pub unrouted: RequestHandles,
    /// Rate limits; reconfigured (keeping unchanged buckets) on every store.
    pub ratelimiter: RateLimiter,
    /// The client-location database, when `[geo]` is configured.
    pub geo: arc_swap::ArcSwapOption<edge_geo::mmdb::GeoDb>,
}

impl GatewayState {
    /// State serving `snapshot` with certificates from `certs`.
    pub fn new(mut snapshot: Snapshot, certs: Arc<CertResolver>) -> Self {
        let metrics = Arc::new(Metrics::new());
        snapshot.attach_metrics(&metrics);
        metrics.generation.set(snapshot.generation as i64);
        let unrouted = metrics.request_handles("-", "-");
        let health = snapshot.registry().clone();
        let ratelimiter = RateLimiter::new(
            snapshot
                .config
                .rate_limits
                .as_ref()
                .unwrap_or(&RateLimits::default()),
        );
        let retry_budget =
            crate::retry_budget::RetryBudget::new(&snapshot.config.routing.retry_budget);
        GatewayState {
            snapshot: ArcSwap::from_pointee(snapshot),
            certs,
            health,
            retry_budget,
            metrics,
            unrouted,
            ratelimiter,
            geo: arc_swap::ArcSwapOption::empty(),
        }
    }

    /// The health registry shared by every snapshot.
    pub fn health(&self) -> &Arc<HealthRegistry> {
        &self.health
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Replaces the snapshot for requests that start from now on.
    pub fn store(&self, mut snapshot: Snapshot) {
        snapshot.attach_metrics(&self.metrics);
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
        self.snapshot.store(Arc::new(snapshot));
    }
}
