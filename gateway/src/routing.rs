//! Routing: which origins may serve a tenant's request, in the order to try them.
//!
//! Everything here is a pure function of `(tenant, snapshot, health view, random seed)`: no I/O,
//! no clock, no global state. Candidates are drawn only from the route table of the tenant's
//! own geography, so a request can never be sent across a residency border — the property tests
//! below (and in `tests/residency.rs`) check that over random topologies.

use edge_config::TenantId;

use crate::error::{EdgeError, ErrorKind};
use crate::snapshot::{GeoId, Snapshot};
use crate::tenancy::{SourceKind, TenantMatch};

/// Index of an origin in a [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OriginId(pub u32);

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

/// Whether an origin may take traffic now. Health checks implement this; the spine treats
/// every origin as usable.
pub trait HealthView {
    /// True when `origin` may be sent a request.
    fn is_usable(&self, origin: OriginId) -> bool;
}

/// A [`HealthView`] in which every origin is usable.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllUsable;

impl HealthView for AllUsable {
    fn is_usable(&self, _origin: OriginId) -> bool {
        true
    }
}

/// Orders the usable origins of `table` for one request: the most preferred tier first, each
/// tier shuffled by weight (so the first candidate follows the weights and the others are the
/// same-priority alternatives), then the next tier. At most `max` candidates are returned.
///
/// Drained origins (weight 0) and unusable ones are never returned.
pub fn plan(table: &RouteTable, health: &impl HealthView, seed: u64, max: usize) -> Vec<OriginId> {
    let mut out = Vec::with_capacity(max.min(8));
    let mut rng = SplitMix64(seed);
    let mut pool: Vec<(OriginId, u64)> = Vec::new();
    for tier in &table.tiers {
        if out.len() >= max {
            break;
        }
        pool.clear();
        pool.extend(
            tier.members
                .iter()
                .filter(|m| m.weight > 0 && health.is_usable(m.origin))
                .map(|m| (m.origin, m.weight)),
        );
        while !pool.is_empty() && out.len() < max {
            let total: u64 = pool.iter().map(|&(_, w)| w).sum();
            let mut ticket = rng.next() % total;
            let mut chosen = pool.len() - 1;
            for (i, &(_, w)) in pool.iter().enumerate() {
                if ticket < w {
                    chosen = i;
                    break;
                }
                ticket -= w;
            }
            out.push(pool.swap_remove(chosen).0);
        }
    }
    out
}

/// The outcome of routing one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The tenant.
    pub tenant: TenantId,
    /// Where the tenant id was read from.
    pub source: SourceKind,
    /// The tenant's home geography.
    pub geography: GeoId,
    /// Origins to try, in order; never empty.
    pub candidates: Vec<OriginId>,
}

/// Routes a request whose tenant identification gave `found`: the one decision function the
/// proxy (and later the admin API's "where does this tenant go") uses.
pub fn route(
    snapshot: &Snapshot,
    found: &TenantMatch,
    health: &impl HealthView,
    seed: u64,
) -> Result<Route, EdgeError> {
    let (tenant, source) = match found {
        TenantMatch::Found { id, source } => (*id, *source),
        TenantMatch::Malformed { source } => {
            return Err(EdgeError::new(
                ErrorKind::MalformedTenant,
                format!(
                    "the tenant id read from the {} is not a UUID (or was given more than once)",
                    source.label()
                ),
            ))
        }
        TenantMatch::Absent => {
            return Err(EdgeError::new(
                ErrorKind::UnknownTenant,
                "no tenant could be identified from this request",
            ))
        }
    };
    let Some(geography) = snapshot.tenant_geography(&tenant) else {
        return Err(EdgeError::new(
            ErrorKind::UnknownTenant,
            format!("tenant {tenant} is not known to this gateway"),
        ));
    };
    let geo = snapshot.geography(geography);
    let max = snapshot.config.routing.max_attempts.get() as usize;
    let mut candidates = plan(&geo.table, health, seed, max);
    if candidates.is_empty() && geo.fail_open {
        // Front Door's behaviour when every origin is down, restricted to the same geography:
        // trying a possibly-unhealthy origin of the tenant's own geography beats a certain 503.
        candidates = plan(&geo.table, &AllUsable, seed, max);
    }
    if candidates.is_empty() {
        return Err(EdgeError::no_origin(
            geo.name.as_str(),
            snapshot.config.health.interval,
        ));
    }
    Ok(Route {
        tenant,
        source,
        geography,
        candidates,
    })
}

/// A tiny deterministic generator: routing stays a pure function of its seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn table(tiers: &[(u32, &[(u32, u64)])]) -> RouteTable {
        RouteTable {
            tiers: tiers
                .iter()
                .map(|(p, ms)| Tier {
                    priority: *p,
                    members: ms
                        .iter()
                        .map(|&(o, w)| Member {
                            origin: OriginId(o),
                            weight: w,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    struct Down(HashSet<u32>);
    impl HealthView for Down {
        fn is_usable(&self, o: OriginId) -> bool {
            !self.0.contains(&o.0)
        }
    }

    #[test]
    fn primary_tier_first_then_secondary() {
        let t = table(&[(1, &[(0, 100), (1, 100)]), (2, &[(2, 100)])]);
        for seed in 0..50 {
            let c = plan(&t, &AllUsable, seed, 3);
            assert_eq!(c.len(), 3);
            assert!(c[..2].contains(&OriginId(0)) && c[..2].contains(&OriginId(1)));
            assert_eq!(c[2], OriginId(2));
        }
    }

    #[test]
    fn max_bounds_the_list() {
        let t = table(&[(1, &[(0, 1), (1, 1)]), (2, &[(2, 1)])]);
        assert_eq!(plan(&t, &AllUsable, 7, 1).len(), 1);
        assert_eq!(plan(&t, &AllUsable, 7, 0).len(), 0);
    }

    #[test]
    fn drained_and_unusable_are_skipped() {
        let t = table(&[(1, &[(0, 0), (1, 100)]), (2, &[(2, 100)])]);
        let c = plan(&t, &Down([1].into()), 1, 3);
        assert_eq!(c, vec![OriginId(2)]);
        let c = plan(&t, &Down([1, 2].into()), 1, 3);
        assert!(c.is_empty());
    }

    #[test]
    fn first_choice_follows_weights() {
        let t = table(&[(1, &[(0, 300), (1, 100)])]);
        let n = 20_000u64;
        let zeros = (0..n)
            .filter(|&s| plan(&t, &AllUsable, s, 1)[0] == OriginId(0))
            .count() as f64;
        let share = zeros / n as f64;
        assert!((share - 0.75).abs() < 0.02, "share {share}");
    }
}
