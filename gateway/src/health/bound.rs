//! Health bound to one snapshot: the [`OriginHealth`] of each of its origins, by [`OriginId`],
//! and the [`HealthView`] routing reads at one instant.
//!
//! Built once per snapshot (when it is swapped in); origins whose (region, address) the
//! registry already knows keep what was learned about them across reloads.

use std::sync::Arc;

use super::state::{HealthRegistry, OriginHealth, OriginKey, Transition};
use crate::topology::{HealthView, OriginId, Snapshot};

/// The health state of every origin of one snapshot, indexed by [`OriginId`].
#[derive(Debug)]
pub struct OriginStates {
    states: Vec<Arc<OriginHealth>>,
    registry: Arc<HealthRegistry>,
    slow_start: std::time::Duration,
}

impl OriginStates {
    /// Binds `snapshot`'s origins to their state in `registry` (created as "unknown" for
    /// origins it has not seen).
    pub fn bind(registry: &Arc<HealthRegistry>, snapshot: &Snapshot) -> Self {
        let states = snapshot
            .origins()
            .iter()
            .map(|o| {
                registry.get_or_create(OriginKey {
                    region: snapshot.region(o.region).name.to_string(),
                    address: o.address.clone(),
                })
            })
            .collect();
        OriginStates {
            states,
            registry: registry.clone(),
            slow_start: snapshot.config.routing.slow_start,
        }
    }

    /// The health state of origin `id` (ids come from the bound snapshot).
    pub fn of(&self, id: OriginId) -> &Arc<OriginHealth> {
        &self.states[id.0 as usize]
    }

    /// Every origin's state, in [`OriginId`] order.
    pub fn iter(&self) -> impl Iterator<Item = (OriginId, &Arc<OriginHealth>)> {
        self.states
            .iter()
            .enumerate()
            .map(|(i, h)| (OriginId(i as u32), h))
    }

    /// The registry the states live in (its clock is the health clock).
    pub fn registry(&self) -> &Arc<HealthRegistry> {
        &self.registry
    }

    /// Milliseconds on the health clock.
    pub fn now_ms(&self) -> u64 {
        self.registry.now_ms()
    }

    /// Health as the router sees it at this instant.
    pub fn view(&self) -> LiveHealth<'_> {
        LiveHealth {
            states: self,
            now_ms: self.now_ms(),
        }
    }
}

/// Health as the router sees it at one instant: probes, ejections, latency and slow start.
#[derive(Debug, Clone, Copy)]
pub struct LiveHealth<'a> {
    states: &'a OriginStates,
    now_ms: u64,
}

impl HealthView for LiveHealth<'_> {
    fn is_usable(&self, origin: OriginId) -> bool {
        self.states.of(origin).is_usable(self.now_ms)
    }

    fn latency(&self, origin: OriginId) -> Option<std::time::Duration> {
        self.states.of(origin).latency()
    }

    fn warmth(&self, origin: OriginId) -> f64 {
        self.states
            .of(origin)
            .warmth(self.now_ms, self.states.slow_start)
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
