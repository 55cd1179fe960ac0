//! Who is in the fleet: each replica heartbeats every [`HEARTBEAT_INTERVAL`] into one Redis
//! hash (`<prefix>members`, field = node id, value = Redis's time and a JSON record), and a
//! record older than [`MEMBER_TTL`] is dropped by the next reader. The record holds the node
//! id, the gateway's version, the configuration generation and hash, the overrides version
//! and the uptime.
//!
//! **The configuration hash** compares what should be the same on every replica: the
//! configuration file's TOML, parsed and written back in a canonical order, without the
//! node-local keys (`[listeners]`, which may differ per host, and `fleet.node_id`). A replica
//! whose hash differs from the most common one is flagged as drift; one whose overrides
//! version is behind the newest seen, as stale. `GET /api/v1/fleet` and `edge-gateway ctl
//! fleet` show both, `edge_fleet_members` and `edge_fleet_config_drift` count them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::metrics::FleetMetrics;
use super::quota::FleetQuotas;
use super::store::{Store, StoreError};
use crate::control::shared::FleetStatus;
use crate::control::Control;

/// How often a replica heartbeats.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// A replica not heard from for this long is no longer a member.
pub const MEMBER_TTL: Duration = Duration::from_secs(3);

/// What a replica says about itself in each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// `fleet.node_id` (default: host name and process id).
    pub node: String,
    /// The gateway's version.
    pub version: String,
    /// The configuration generation (1 at start, +1 per reload or override change).
    pub generation: u64,
    /// The canonical hash of the shared configuration (hex).
    pub config_hash: String,
    /// The overrides version applied.
    pub overrides_version: u64,
    /// Seconds since the process started.
    pub uptime_s: u64,
}

/// The live members, as Redis last listed them.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    /// Redis's time of the listing (ms since the epoch).
    pub now_ms: u64,
    /// Each member with the time of its last heartbeat (ms since the epoch).
    pub members: Vec<(u64, Member)>,
}

/// The fleet's membership, seen from one replica.
#[derive(Debug)]
pub struct Members {
    store: Arc<Store>,
    node: String,
    control: Arc<Control>,
    quotas: Arc<FleetQuotas>,
    metrics: Arc<FleetMetrics>,
    started: Instant,
    /// The hash of the configuration source last hashed, by its generation.
    hashed: Mutex<(u64, String)>,
    last: Mutex<Roster>,
}

impl Members {
    /// Membership of this replica (`node`).
    pub fn new(
        store: Arc<Store>,
        node: &str,
        control: Arc<Control>,
        quotas: Arc<FleetQuotas>,
        metrics: Arc<FleetMetrics>,
    ) -> Self {
        Members {
            store,
            node: node.to_owned(),
            control,
            quotas,
            metrics,
            started: Instant::now(),
            hashed: Mutex::new((0, String::new())),
            last: Mutex::new(Roster::default()),
        }
    }

    /// This replica's record now.
    pub fn me(&self) -> Member {
        let generation = self.control.state.live().snapshot.generation;
        let config_hash = {
            let mut h = self.hashed.lock().unwrap_or_else(PoisonError::into_inner);
            if h.0 != generation || h.1.is_empty() {
                *h = (
                    generation,
                    shared_config_hash(&self.control.active().source),
                );
            }
            h.1.clone()
        };
        Member {
            node: self.node.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            generation,
            config_hash,
            overrides_version: self.control.overrides_version(),
            uptime_s: self.started.elapsed().as_secs(),
        }
    }

    /// Heartbeats and reads the roster; updates the member gauges and the replica count the
    /// divide-quota fallback uses.
    pub async fn beat(&self) -> Result<Roster, StoreError> {
        let started = Instant::now();
        let record = serde_json::to_string(&self.me()).unwrap_or_default();
        let result = self.call(&record).await;
        self.metrics.round("heartbeat", started, &result, |e| {
            matches!(e, StoreError::Timeout(_))
        });
        let roster = result?;
        let n = roster.members.len();
        self.metrics.members.set(n as i64);
        self.metrics
            .config_drift
            .set(drifting(&roster.members).len() as i64);
        self.quotas
            .set_replicas(u32::try_from(n).unwrap_or(u32::MAX));
        self.metrics
            .overshoot
            .set((f64::from(self.quotas.replicas()) + 1.0) * self.quotas.interval().as_secs_f64());
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = roster.clone();
        Ok(roster)
    }

    /// Removes this replica from the roster (at shutdown).
    pub async fn leave(&self) -> Result<(), StoreError> {
        let mut inv = self.store.scripts.leave.prepare_invoke();
        inv.key(self.store.key("members")).arg(&self.node);
        self.store.run::<i64>(&inv).await.map(|_| ())
    }

    async fn call(&self, record: &str) -> Result<Roster, StoreError> {
        let mut inv = self.store.scripts.members.prepare_invoke();
        inv.key(self.store.key("members"))
            .arg(&self.node)
            .arg(record)
            .arg(MEMBER_TTL.as_millis() as u64);
        let flat: Vec<redis::Value> = self.store.run(&inv).await?;
        Ok(parse_roster(&flat))
    }

    /// The roster from Redis now, else the last one heard (and whether it is fresh).
    async fn roster(&self) -> (Roster, bool) {
        match self.call("").await {
            Ok(r) => (r, true),
            Err(_) => (
                self.last
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
                false,
            ),
        }
    }
}

#[async_trait]
impl FleetStatus for Members {
    async fn view(&self) -> Value {
        let (roster, fresh) = self.roster().await;
        view(&self.node, &roster, fresh, self.store.is_up())
    }
}

fn parse_roster(flat: &[redis::Value]) -> Roster {
    let now_ms = flat
        .first()
        .and_then(|v| redis::from_redis_value_ref::<u64>(v).ok())
        .unwrap_or(0);
    let mut members = Vec::new();
    for pair in flat.get(1..).unwrap_or_default().chunks(2) {
        let [_, record] = pair else { continue };
        let Ok(text) = redis::from_redis_value_ref::<String>(record) else {
            continue;
        };
        let Some((at, json)) = text.split_once(' ') else {
            continue;
        };
        if let (Ok(at), Ok(m)) = (at.parse(), serde_json::from_str::<Member>(json)) {
            members.push((at, m));
        }
    }
    members.sort_by(|a, b| a.1.node.cmp(&b.1.node));
    Roster { now_ms, members }
}

/// The most common configuration hash (ties: the smallest), and the members that differ.
fn drifting(members: &[(u64, Member)]) -> Vec<&str> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, m) in members {
        *counts.entry(m.config_hash.as_str()).or_default() += 1;
    }
    let Some(common) = counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(h, _)| *h)
    else {
        return Vec::new();
    };
    members
        .iter()
        .filter(|(_, m)| m.config_hash != common)
        .map(|(_, m)| m.node.as_str())
        .collect()
}

/// The JSON of `GET /api/v1/fleet`.
pub fn view(me: &str, roster: &Roster, fresh: bool, redis_up: bool) -> Value {
    let drift = drifting(&roster.members);
    let newest = roster
        .members
        .iter()
        .map(|(_, m)| m.overrides_version)
        .max()
        .unwrap_or(0);
    let mut hashes: BTreeMap<&str, usize> = BTreeMap::new();
    let members: Vec<Value> = roster
        .members
        .iter()
        .map(|(at, m)| {
            *hashes.entry(m.config_hash.as_str()).or_default() += 1;
            json!({
                "node": m.node,
                "self": m.node == me,
                "version": m.version,
                "generation": m.generation,
                "config_hash": m.config_hash,
                "overrides_version": m.overrides_version,
                "uptime_s": m.uptime_s,
                "last_seen_ms": roster.now_ms.saturating_sub(*at),
                "config_drift": drift.contains(&m.node.as_str()),
                "stale_overrides": m.overrides_version < newest,
            })
        })
        .collect();
    let stale = roster
        .members
        .iter()
        .filter(|(_, m)| m.overrides_version < newest)
        .count();
    json!({
        "node": me,
        "redis_up": redis_up && fresh,
        "fresh": fresh,
        "members": members,
        "config_hashes": hashes,
        "config_drift": drift.len(),
        "stale_overrides": stale,
        "overrides_version": newest,
        "agree": fresh && drift.is_empty() && stale == 0,
    })
}

/// The hash (16 hex digits, FNV-1a 64) of what must be the same on every replica: the
/// configuration parsed as TOML and written back in canonical (sorted) order, without
/// what is a pod's own: `[listeners]`, `fleet.node_id`, `dns.listen`, `admin.state_file` and
/// `access_log.path`. Text that does not parse is hashed as it is.
pub fn shared_config_hash(source: &str) -> String {
    let canonical = match source.parse::<toml::Table>() {
        Ok(mut table) => {
            table.remove("listeners");
            for (section, key) in [
                ("fleet", "node_id"),
                ("dns", "listen"),
                ("admin", "state_file"),
                ("access_log", "path"),
            ] {
                if let Some(toml::Value::Table(t)) = table.get_mut(section) {
                    t.remove(key);
                }
            }
            toml::to_string(&table).unwrap_or_else(|_| source.to_owned())
        }
        Err(_) => source.to_owned(),
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canonical.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(node: &str, hash: &str, overrides: u64) -> (u64, Member) {
        (
            1000,
            Member {
                node: node.into(),
                version: "0.1.0".into(),
                generation: 1,
                config_hash: hash.into(),
                overrides_version: overrides,
                uptime_s: 5,
            },
        )
    }

    #[test]
    fn the_config_hash_ignores_listeners_node_id_order_and_comments() {
        let a = "[listeners]\nhttps = [\"127.0.0.1:1\"]\n[fleet]\nnode_id = \"a\"\nredis_url = \"redis://h\"\n[server]\nthreads = 2\n";
        let b = "# replica b\n[server]\nthreads = 2\n[fleet]\nredis_url = \"redis://h\"\nnode_id = \"b\"\n[listeners]\nhttps = [\"127.0.0.1:2\"]\n";
        assert_eq!(shared_config_hash(a), shared_config_hash(b));
        let c = b.replace("threads = 2", "threads = 3");
        assert_ne!(shared_config_hash(a), shared_config_hash(&c));
        assert_eq!(shared_config_hash(a).len(), 16);
        // A pod's own DNS sockets, state file and log path are not drift either.
        let own = |n: u8| {
            format!(
                "[server]\nthreads = 2\n[dns]\nzone = \"z\"\nlisten = [\"127.0.0.{n}:53\"]\n\
                 [admin]\nstate_file = \"s{n}.json\"\n[access_log]\npath = \"a{n}.log\"\n"
            )
        };
        assert_eq!(shared_config_hash(&own(1)), shared_config_hash(&own(2)));
        assert_ne!(
            shared_config_hash(&own(1)),
            shared_config_hash(&own(1).replace("zone = \"z\"", "zone = \"y\""))
        );
    }

    #[test]
    fn the_view_flags_drift_and_stale_overrides() {
        let roster = Roster {
            now_ms: 1500,
            members: vec![
                member("a", "h1", 3),
                member("b", "h1", 3),
                member("c", "h2", 2),
            ],
        };
        let v = view("a", &roster, true, true);
        assert_eq!(v["config_drift"], 1);
        assert_eq!(v["stale_overrides"], 1);
        assert_eq!(v["agree"], false);
        assert_eq!(v["members"][2]["config_drift"], true);
        assert_eq!(v["members"][2]["stale_overrides"], true);
        assert_eq!(v["members"][0]["self"], true);
        assert_eq!(v["members"][0]["last_seen_ms"], 500);
        let agreeing = Roster {
            now_ms: 1500,
            members: vec![member("a", "h1", 3), member("b", "h1", 3)],
        };
        assert_eq!(view("a", &agreeing, true, true)["agree"], true);
        assert_eq!(view("a", &agreeing, false, false)["agree"], false);
    }
}
