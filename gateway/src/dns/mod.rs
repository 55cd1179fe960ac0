//! The DNS plane: an authoritative responder that answers each tenant's host name with edges
//! of the tenant's home geography (Traffic Manager's job, residency-aware), and the export of
//! the same records as a zone file.
//!
//! - [`zone`](Zone): the zone of one routing generation (SOA, NS, each geography's edges;
//!   tenants are looked up in the generation's own directory).
//! - `select`: which edges of a geography an answer names (priority, weight, fail static).
//! - [`answer()`]: one packet in, one answer out; pure, property-tested and fuzzed.
//! - `server`: the UDP and TCP listeners and their bounds, and the edge prober, as one
//!   Pingora background service.
//! - `probe`: the TCP-connect probe of the edges.
//! - `export`: the zone as an RFC 1035 master file (`edge-gateway dns export`).
//!
//! Every query reads the live generation (`GatewayState::live`), so a reload (tenants, edges)
//! or an operator's drain (an override, which also swaps a generation) is answered from the
//! next query on. The zone is rebuilt once per generation, not per query.
//!
//! Imports: this plane reads `state`, `topology` (through the snapshot), `health` (the probe
//! state machine) and `metrics`; the control plane reaches it (drains are overrides), never
//! the other way round.

mod answer;
mod export;
mod probe;
mod select;
mod server;
mod zone;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use crate::health::HealthRegistry;
use crate::metrics::DnsMetrics;
use crate::state::GatewayState;

pub use answer::{answer, Outcome, Transport};
pub use export::{write_zone, TenantRecords};
pub use server::{bind, DnsServer};
pub use zone::Zone;

/// The responder's shared state: the zone of the live generation (rebuilt when the generation
/// changes) and the health of every edge (kept across rebuilds).
#[derive(Debug)]
pub struct Dns {
    state: Arc<GatewayState>,
    registry: HealthRegistry,
    cached: ArcSwap<Cached>,
}

#[derive(Debug)]
struct Cached {
    /// `None` before the first build.
    generation: Option<u64>,
    zone: Option<Arc<Zone>>,
}

impl Dns {
    /// The responder for the generations of `state`.
    pub fn new(state: Arc<GatewayState>) -> Self {
        Dns {
            state,
            registry: HealthRegistry::new(),
            cached: ArcSwap::from_pointee(Cached {
                generation: None,
                zone: None,
            }),
        }
    }

    /// The zone of the live generation, `None` when it has no `[dns]`. Built on the first
    /// query after a generation is swapped in: a few microseconds per edge, independent of
    /// the number of tenants.
    pub fn zone(&self) -> Option<Arc<Zone>> {
        let live = self.state.live();
        let generation = live.snapshot.generation;
        let cached = self.cached.load();
        if cached.generation == Some(generation) {
            return cached.zone.clone();
        }
        let zone = Zone::build(
            live.snapshot.config.clone(),
            generation,
            &live.snapshot.dns_drained,
            &self.registry,
            unix_seconds(),
        )
        .map(Arc::new);
        if let Some(z) = &zone {
            probe::publish_health(z, &self.metrics().edge_healthy);
        }
        self.cached.store(Arc::new(Cached {
            generation: Some(generation),
            zone: zone.clone(),
        }));
        zone
    }

    /// The responder's metrics.
    pub fn metrics(&self) -> &DnsMetrics {
        &self.state.metrics.dns
    }

    /// The clock of the edges' health state (milliseconds, never 0).
    pub fn now_ms(&self) -> u64 {
        self.registry.now_ms()
    }
}

impl Zone {
    /// The zone of `config` as a static file sees it: no drains, no probe verdicts, the
    /// serial from the config or the clock. `None` without `[dns]`. For `dns export` and the
    /// fuzz target.
    pub fn for_config(config: Arc<edge_config::Config>) -> Option<Zone> {
        Zone::build(
            config,
            0,
            &std::collections::BTreeSet::new(),
            &HealthRegistry::new(),
            unix_seconds(),
        )
    }
}

/// Seconds since the Unix epoch, for the default SOA serial (it fits `u32` until 2106).
fn unix_seconds() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}
