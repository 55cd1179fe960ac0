//! The read model, built once per configuration: dense ids, each geography's route table, the
//! routing [`Snapshot`], the peer edges as upstreams (`edges`, with `[edge]`), and
//! operators' [`Overrides`] as the value a snapshot is built with.
//!
//! A leaf: it imports no other plane of the crate. Everything that changes while a snapshot
//! is live (origin health, metric handles) is bound to its ids from outside.

mod edges;
mod ids;
mod overrides;
mod snapshot;
mod table;

pub use ids::{GeoId, OriginId, RegionId};
pub use overrides::{origin_key, Override, Overrides, MAX_WEIGHT};
pub use snapshot::Snapshot;
pub use table::{AllUsable, HealthView, RouteTable};

#[cfg(test)]
pub use table::{Member, Tier};
