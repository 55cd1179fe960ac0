//! The fleet's background service: three loops on one task, each bounding its Redis calls
//! with `fleet.timeout` (in `fleet/store.rs`), none on the request path.
//!
//! - **rate limits**: a reconciliation round every `sync_interval`, and sooner when a request
//!   wakes it (a quarter of a burst spent, or an empty allowance), at most one early round
//!   per tenth of the interval. A failed round switches to the `when_unreachable` fallback;
//!   while in it, each tick refills divided allowances locally and `PING`s Redis, and the
//!   first answer switches back.
//! - **overrides**: a poll every `min(sync_interval, 500 ms)` (`fleet/overrides.rs`).
//! - **heartbeats**: every second (`fleet/members.rs`).
//!
//! On shutdown the replica leaves the roster.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::members::{Members, HEARTBEAT_INTERVAL};
use super::metrics::FleetMetrics;
use super::overrides::{poll_interval, FleetOverrides};
use super::quota::{FleetQuotas, Mode};
use super::reconcile;
use super::store::{Store, StoreError};
use crate::control::Control;

/// The fleet's background work for one replica.
#[derive(Debug)]
pub struct FleetService {
    pub(crate) quotas: Arc<FleetQuotas>,
    pub(crate) store: Arc<Store>,
    pub(crate) overrides: Arc<FleetOverrides>,
    pub(crate) members: Arc<Members>,
    pub(crate) control: Arc<Control>,
    pub(crate) node: String,
    pub(crate) fallback: Mode,
    pub(crate) metrics: Arc<FleetMetrics>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for FleetService {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        // Start connecting now rather than at the first round.
        let _ = self.store.query::<String>(&redis::cmd("PING")).await;
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = self.rate_limits() => {}
            _ = self.overrides() => {}
            _ = self.heartbeats() => {}
        }
        if let Err(e) = self.members.leave().await {
            tracing::debug!(error = %e, "could not leave the fleet's roster");
        }
    }
}

impl FleetService {
    async fn rate_limits(&self) {
        let interval = self.quotas.interval();
        let min_gap = interval / 10;
        let mut next = Instant::now() + interval;
        let mut last = Instant::now();
        let mut counted = (0, 0);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.quotas.woken() => {
                    tokio::time::sleep_until(last + min_gap).await;
                }
            }
            let now = Instant::now();
            if now >= next {
                next = now + interval;
            }
            let elapsed = now.duration_since(last);
            last = now;
            self.tick(now.into_std(), elapsed).await;
            self.metrics.keys.set(self.quotas.tracked() as i64);
            let (tenant, route, _) = self.quotas.counts();
            let m = &self.metrics.rate_limited;
            m.with_label_values(&["tenant"]).inc_by(tenant - counted.0);
            m.with_label_values(&["route"]).inc_by(route - counted.1);
            counted = (tenant, route);
        }
    }

    /// One tick of the rate-limit loop.
    async fn tick(&self, now: std::time::Instant, elapsed: Duration) {
        if self.quotas.mode() != Mode::Shared {
            self.quotas.refill_locally(elapsed);
            let ping: Result<String, StoreError> = self.store.query(&redis::cmd("PING")).await;
            if ping.is_err() {
                return;
            }
            tracing::info!("fleet: Redis answers again; rate limits are fleet-wide again");
            self.quotas.set_mode(Mode::Shared, now);
        }
        let started = std::time::Instant::now();
        let result = reconcile::round(&self.quotas, &self.store, &self.node, None, now).await;
        self.metrics.round("ratelimit", started, &result, |e| {
            matches!(e, StoreError::Timeout(_))
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, fallback = ?self.fallback,
                "fleet: Redis unreachable; tenant and route limits are enforced locally");
            self.quotas.set_mode(self.fallback, now);
        }
    }

    async fn overrides(&self) {
        let every = poll_interval(self.quotas.interval());
        let mut failing = false;
        loop {
            match self.overrides.poll(&self.control).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("fleet: overrides in sync with Redis again");
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e,
                        "fleet: cannot read the fleet's overrides; keeping the last ones applied");
                }
                _ => {}
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn heartbeats(&self) {
        loop {
            if let Err(e) = self.members.beat().await {
                tracing::debug!(error = %e, "fleet heartbeat failed");
            }
            tokio::time::sleep(HEARTBEAT_INTERVAL).await;
        }
    }
}
