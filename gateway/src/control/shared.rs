//! What the control plane asks of a store shared by the replicas of a fleet: the fleet plane
//! (`fleet/`) implements these traits, so that `control` never imports it.

use std::fmt;

use async_trait::async_trait;

use super::OverrideError;
use crate::topology::Overrides;

/// One change of the fleet-wide overrides, as the admin API asked for it.
#[derive(Debug)]
pub struct OverrideWrite<'a> {
    /// The admin token's name.
    pub who: &'a str,
    /// What was asked, e.g. `region northeurope drain`.
    pub what: &'a str,
    /// The version the caller saw (`If-Match`), when it asked for optimistic concurrency.
    pub if_match: Option<u64>,
    /// The overrides the change was computed from.
    pub before: &'a Overrides,
    /// The overrides after the change.
    pub after: &'a Overrides,
}

/// Overrides every replica of the fleet applies (weights, drains), with a version.
#[async_trait]
pub trait SharedOverrides: Send + Sync + fmt::Debug {
    /// The current version and overrides. [`OverrideError::Unavailable`] when the store
    /// cannot be reached.
    async fn read(&self) -> Result<(u64, Overrides), OverrideError>;

    /// Writes what changed from `w.before` to `w.after`, atomically, with an audit entry;
    /// returns the new version and the overrides as stored after the write (concurrent
    /// writes to other entries are kept; to the same entry, the last writer wins).
    /// [`OverrideError::VersionMismatch`] when `w.if_match` is not the current version.
    async fn write(&self, w: &OverrideWrite<'_>) -> Result<(u64, Overrides), OverrideError>;

    /// The newest `count` entries of the audit trail, newest first (JSON objects: version,
    /// who, what, node, before, after, `at_ms`).
    async fn history(&self, count: usize) -> Result<Vec<serde_json::Value>, OverrideError>;
}

/// The fleet as `GET /api/v1/fleet` shows it.
#[async_trait]
pub trait FleetStatus: Send + Sync + fmt::Debug {
    /// The live replicas with their versions, configuration hashes and overrides versions,
    /// drift and staleness flags (JSON; see `docs/fleet.md`).
    async fn view(&self) -> serde_json::Value;
}
