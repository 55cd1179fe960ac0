//! A geography's route table (origins grouped into priority tiers) and the [`HealthView`]
//! through which routing sees health: the interface that `request::routing` implements its
//! selection over, kept apart from the algorithm as pingora-load-balancing keeps
//! `BackendSelection` apart from `weighted.rs`.

use std::time::Duration;

use super::ids::OriginId;

/// One origin's place in a geography's route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The origin.
    pub origin: OriginId,
    /// Effective weight: region weight × origin weight. Zero means drained.
    pub weight: u64,
}

/// All origins of one priority inside a geography.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// The priority shared by these origins' regions (1 = primary).
    pub priority: u32,
    /// The origins, in configuration order.
    pub members: Vec<Member>,
}

/// The route table of one geography: tiers in ascending priority.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    /// Tiers, lowest priority value (most preferred) first.
    pub tiers: Vec<Tier>,
}

/// What the router knows about origins' health at one instant. Health checks implement it
/// over live state; tests implement it over fixed sets.
pub trait HealthView {
    /// True when `origin` may be sent a request.
    fn is_usable(&self, origin: OriginId) -> bool;

    /// The origin's measured latency, if known.
    fn latency(&self, _origin: OriginId) -> Option<Duration> {
        None
    }

    /// Share of its weight the origin gets while warming up after recovery, in (0, 1].
    fn warmth(&self, _origin: OriginId) -> f64 {
        1.0
    }
}

/// A [`HealthView`] in which every origin is usable, equally fast and fully warm.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllUsable;

impl HealthView for AllUsable {
    fn is_usable(&self, _origin: OriginId) -> bool {
        true
    }
}
