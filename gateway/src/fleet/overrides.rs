//! Fleet-wide overrides: the admin API's weights and drains written to Redis and applied by
//! every replica.
//!
//! In Redis, under the key prefix:
//! - `overrides:state`, a hash with one field per overridden attribute:
//!   `region/<name>/weight`, `region/<name>/drained`, `origin/<region>/<address>/weight`,
//!   `origin/<region>/<address>/drained`;
//! - `overrides:version`, incremented by every write;
//! - `overrides:log`, a Stream capped near [`AUDIT_CAP`] entries: the audit trail (version,
//!   who, what, node, the state before and after as JSON, Redis's time in ms).
//!
//! A write (`OVERRIDES_WRITE`, one script) checks `If-Match`, sets and deletes the fields
//! that changed, bumps the version and appends the audit entry, atomically. Because only
//! changed fields are written, concurrent writes to different regions both survive; to the
//! same field, the last writer wins, and each gets its version back.
//!
//! Every replica polls the version every [`poll_interval`] (at most 500 ms, so a change
//! reaches every replica within a second) and applies a newer state through
//! `Control::apply_shared`, which also saves it to the state file: that copy is what a
//! replica starting while Redis is down serves with. A replica that was cut off catches up at
//! its first poll. If Redis lost its data (no version at all), the first replica to notice
//! seeds it with its last-known overrides, so a Redis restart without persistence does not
//! undrain a region.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::Value;

use super::metrics::FleetMetrics;
use super::store::{Store, StoreError};
use crate::control::shared::{OverrideWrite, SharedOverrides};
use crate::control::{Control, OverrideError};
use crate::topology::{Override, Overrides};

/// The audit stream keeps about this many entries (`XADD MAXLEN ~`).
pub const AUDIT_CAP: usize = 10_000;

/// How often a replica looks for a newer version: `sync_interval`, at most 500 ms.
pub fn poll_interval(sync_interval: Duration) -> Duration {
    sync_interval.min(Duration::from_millis(500))
}

/// The fleet's overrides in Redis.
#[derive(Debug)]
pub struct FleetOverrides {
    store: Arc<Store>,
    node: String,
    metrics: Arc<FleetMetrics>,
}

impl FleetOverrides {
    /// The overrides of the fleet in `store`, written as `node`.
    pub fn new(store: Arc<Store>, node: &str, metrics: Arc<FleetMetrics>) -> Self {
        FleetOverrides {
            store,
            node: node.to_owned(),
            metrics,
        }
    }

    fn version_key(&self) -> String {
        self.store.key("overrides:version")
    }

    fn state_key(&self) -> String {
        self.store.key("overrides:state")
    }

    fn log_key(&self) -> String {
        self.store.key("overrides:log")
    }

    /// The version (`None`: Redis holds none) and the overrides, from one instant.
    pub async fn read_state(&self) -> Result<(Option<u64>, Overrides), StoreError> {
        let mut inv = self.store.scripts.overrides_read.prepare_invoke();
        inv.key(self.version_key()).key(self.state_key());
        let (version, flat): (Option<u64>, Vec<String>) = self.store.run(&inv).await?;
        Ok((version, unflatten(pairs(flat))))
    }

    /// [`FleetOverrides::read_state`] on a connection of its own (at start).
    pub async fn read_state_once(&self) -> Result<(Option<u64>, Overrides), StoreError> {
        let mut inv = self.store.scripts.overrides_read.prepare_invoke();
        inv.key(self.version_key()).key(self.state_key());
        let (version, flat): (Option<u64>, Vec<String>) = self.store.run_once(&inv).await?;
        Ok((version, unflatten(pairs(flat))))
    }

    /// Seeds Redis with `overrides` at `version` when it holds no version; true if it did.
    pub async fn seed(&self, version: u64, overrides: &Overrides) -> Result<bool, StoreError> {
        let mut inv = self.store.scripts.overrides_seed.prepare_invoke();
        inv.key(self.version_key())
            .key(self.state_key())
            .key(self.log_key())
            .arg(version)
            .arg(&self.node)
            .arg(AUDIT_CAP);
        for (field, value) in flatten(overrides) {
            inv.arg(field).arg(value);
        }
        let seeded: i64 = self.store.run(&inv).await?;
        Ok(seeded == 1)
    }

    /// One poll: applies a newer version through `control`, or seeds an empty Redis.
    pub async fn poll(&self, control: &Control) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.poll_inner(control).await;
        self.metrics.round("overrides", started, &result, |e| {
            matches!(e, StoreError::Timeout(_))
        });
        result
    }

    async fn poll_inner(&self, control: &Control) -> Result<(), StoreError> {
        let version: Option<u64> = self
            .store
            .query(redis::cmd("GET").arg(self.version_key()))
            .await?;
        let local = control.overrides_version();
        match version {
            None => {
                let mine = control.overrides();
                if local > 0 || mine != Overrides::default() {
                    let version = local.max(1);
                    if self.seed(version, &mine).await? {
                        tracing::warn!(
                            version,
                            "the fleet's Redis held no overrides; seeded it with this replica's"
                        );
                        control.apply_shared(version, mine, Some(local)).await;
                    }
                }
            }
            Some(v) if v != local => {
                let (v, overrides) = self.read_state().await?;
                if let Some(v) = v {
                    control.apply_shared(v, overrides, Some(local)).await;
                }
            }
            Some(_) => {}
        }
        self.metrics
            .overrides_version
            .set(i64::try_from(control.overrides_version()).unwrap_or(i64::MAX));
        Ok(())
    }

    /// The newest `count` audit entries, newest first, as JSON objects.
    pub async fn history(&self, count: usize) -> Result<Vec<serde_json::Value>, StoreError> {
        let entries: Vec<(String, Vec<String>)> = self
            .store
            .query(
                redis::cmd("XREVRANGE")
                    .arg(self.log_key())
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(count),
            )
            .await?;
        Ok(entries
            .into_iter()
            .map(|(id, fields)| {
                let mut entry = serde_json::Map::new();
                entry.insert("id".into(), id.into());
                for (k, v) in pairs(fields) {
                    let value = match k.as_str() {
                        "before" | "after" => serde_json::from_str(&v).unwrap_or(v.into()),
                        "version" | "at_ms" => v.parse::<u64>().map_or(v.into(), Into::into),
                        _ => v.into(),
                    };
                    entry.insert(k, value);
                }
                serde_json::Value::Object(entry)
            })
            .collect())
    }
}

#[async_trait]
impl SharedOverrides for FleetOverrides {
    async fn read(&self) -> Result<(u64, Overrides), OverrideError> {
        self.read_state()
            .await
            .map(|(v, o)| (v.unwrap_or(0), o))
            .map_err(|e| OverrideError::Unavailable(e.to_string()))
    }

    async fn write(&self, w: &OverrideWrite<'_>) -> Result<(u64, Overrides), OverrideError> {
        let started = Instant::now();
        let (sets, deletes) = patch(&flatten(w.before), &flatten(w.after));
        let mut inv = self.store.scripts.overrides_write.prepare_invoke();
        inv.key(self.version_key())
            .key(self.state_key())
            .key(self.log_key())
            .arg(w.if_match.map_or_else(String::new, |v| v.to_string()))
            .arg(w.who)
            .arg(w.what)
            .arg(&self.node)
            .arg(AUDIT_CAP)
            .arg(sets.len());
        for (field, value) in sets {
            inv.arg(field).arg(value);
        }
        for field in deletes {
            inv.arg(field);
        }
        let result: Result<Vec<Value>, StoreError> = self.store.run(&inv).await;
        self.metrics.round("write", started, &result, |e| {
            matches!(e, StoreError::Timeout(_))
        });
        let reply = result.map_err(|e| OverrideError::Unavailable(e.to_string()))?;
        let number = |v: Option<&Value>| match v {
            Some(Value::Int(n)) => u64::try_from(*n).ok(),
            _ => None,
        };
        match (number(reply.first()), number(reply.get(1))) {
            (Some(0), Some(current)) => Err(OverrideError::VersionMismatch { current }),
            (Some(1), Some(version)) => {
                let state: Vec<String> = reply
                    .get(2)
                    .map(redis::from_redis_value_ref)
                    .transpose()
                    .map_err(|e| OverrideError::Unavailable(e.to_string()))?
                    .unwrap_or_default();
                Ok((version, unflatten(pairs(state))))
            }
            _ => Err(OverrideError::Unavailable(
                "unexpected answer from the overrides script".into(),
            )),
        }
    }

    async fn history(&self, count: usize) -> Result<Vec<serde_json::Value>, OverrideError> {
        FleetOverrides::history(self, count)
            .await
            .map_err(|e| OverrideError::Unavailable(e.to_string()))
    }
}

/// `[a, b, c, d]` as `[(a, b), (c, d)]` (a Redis hash as it comes).
fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

/// Overrides as hash fields: one per attribute that is set.
pub fn flatten(o: &Overrides) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |kind: &str, name: &str, ov: &Override| {
        if let Some(w) = ov.weight {
            out.insert(format!("{kind}/{name}/weight"), w.to_string());
        }
        if ov.drained {
            out.insert(format!("{kind}/{name}/drained"), "1".to_owned());
        }
    };
    for (name, ov) in &o.regions {
        put("region", name, ov);
    }
    for (key, ov) in &o.origins {
        put("origin", key, ov);
    }
    for (address, ov) in &o.dns_edges {
        put("dns_edge", address, ov);
    }
    out
}

/// Hash fields back to overrides; fields that mean nothing are skipped (and logged).
pub fn unflatten(fields: impl IntoIterator<Item = (String, String)>) -> Overrides {
    let mut o = Overrides::default();
    for (field, value) in fields {
        let parsed = field.split_once('/').and_then(|(kind, rest)| {
            let (name, attr) = rest.rsplit_once('/')?;
            let map = match kind {
                "region" => &mut o.regions,
                "origin" => &mut o.origins,
                "dns_edge" => &mut o.dns_edges,
                _ => return None,
            };
            let entry = map.entry(name.to_owned()).or_default();
            match attr {
                "weight" => entry.weight = Some(value.parse().ok()?),
                "drained" => entry.drained = value == "1",
                _ => return None,
            }
            Some(())
        });
        if parsed.is_none() {
            tracing::warn!(
                field,
                value,
                "ignoring an override field this version does not know"
            );
        }
    }
    o.compact();
    o
}

/// The fields to set and to delete to go from `before` to `after`.
pub fn patch(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> (Vec<(String, String)>, Vec<String>) {
    let sets = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let deletes = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    (sets, deletes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::origin_key;

    #[test]
    fn overrides_flatten_and_come_back() {
        let mut o = Overrides::default();
        o.regions.insert(
            "northeurope".into(),
            Override {
                weight: Some(300),
                drained: true,
            },
        );
        o.origins.insert(
            origin_key("westeurope", "[::1]:8443"),
            Override {
                weight: None,
                drained: true,
            },
        );
        o.dns_edges.insert(
            "2001:db8::10".into(),
            Override {
                weight: None,
                drained: true,
            },
        );
        let flat = flatten(&o);
        assert_eq!(
            flat.keys().collect::<Vec<_>>(),
            [
                "dns_edge/2001:db8::10/drained",
                "origin/westeurope/[::1]:8443/drained",
                "region/northeurope/drained",
                "region/northeurope/weight"
            ]
        );
        assert_eq!(unflatten(flat.clone()), o);
        // Undraining deletes one field and keeps the weight.
        let mut after = o.clone();
        after.regions.get_mut("northeurope").unwrap().drained = false;
        let (sets, deletes) = patch(&flat, &flatten(&after));
        assert!(sets.is_empty());
        assert_eq!(deletes, ["region/northeurope/drained"]);
        // Unknown fields are skipped.
        let o = unflatten([("pool/x/weight".to_owned(), "1".to_owned())]);
        assert_eq!(o, Overrides::default());
    }
}
