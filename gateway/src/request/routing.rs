//! Routing: which origins may serve a tenant's request, in the order to try them.
//!
//! Everything here is a pure function of `(tenant, snapshot, health view, random seed)`: no I/O,
//! no clock, no global state. Candidates are drawn only from the route table of the tenant's
//! own geography, so a request can never be sent across a residency border — the property tests
//! below (and in `tests/residency.rs`) check that over random topologies.

use std::time::Duration;

use edge_config::{TenantId, UnknownTenant};
use edge_geo::mmdb::ClientLocation;

use crate::request::problem::{EdgeError, ErrorKind};
use crate::request::tenancy::{SourceKind, TenantMatch};
use crate::topology::{AllUsable, GeoId, HealthView, OriginId, RouteTable, Snapshot};

/// A usable origin of one tier, as the planner sees it.
#[derive(Debug, Clone, Copy)]
struct Live {
    origin: OriginId,
    weight: f64,
    latency: Option<Duration>,
    warmth: f64,
}

/// Orders the usable origins of `table` for one request (Front Door's selection, restricted
/// to one geography):
///
/// 1. keep usable origins with a non-zero weight;
/// 2. take the most preferred tier (lowest priority value) that has any — except that a tier
///    whose origins are all warming up after recovery is taken only with probability equal to
///    their warmth, so traffic fails back gradually (slow start);
/// 3. inside the tier, keep the origins whose latency is within `sensitivity` of the fastest,
///    shuffled by effective weight (region × origin × warmth); the rest of the tier follows,
///    fastest first;
/// 4. then the next tier, and so on, up to `max` candidates.
///
/// Drained origins (weight 0) and unusable ones are never returned, and every candidate comes
/// from `table`, i.e. from one geography.
pub fn plan(
    table: &RouteTable,
    health: &impl HealthView,
    seed: u64,
    max: usize,
    sensitivity: Duration,
) -> Vec<OriginId> {
    let mut rng = SplitMix64(seed);
    let mut tiers: Vec<Vec<Live>> = table
        .tiers
        .iter()
        .map(|tier| {
            tier.members
                .iter()
                .filter(|m| m.weight > 0 && health.is_usable(m.origin))
                .map(|m| {
                    let warmth = health.warmth(m.origin).clamp(f64::MIN_POSITIVE, 1.0);
                    Live {
                        origin: m.origin,
                        weight: m.weight as f64 * warmth,
                        latency: health.latency(m.origin),
                        warmth,
                    }
                })
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect();
    // Slow start across tiers: a recovering primary gets its share of requests first.
    let mut i = 0;
    while i + 1 < tiers.len() {
        let warmth = tiers[i].iter().map(|l| l.warmth).fold(0.0, f64::max);
        if warmth < 1.0 && rng.next_f64() >= warmth {
            tiers.swap(i, i + 1);
        }
        i += 1;
    }
    let mut out = Vec::with_capacity(max.min(8));
    for mut tier in tiers {
        if out.len() >= max {
            break;
        }
        let fastest = tier.iter().filter_map(|l| l.latency).min();
        let (mut band, mut slow): (Vec<Live>, Vec<Live>) = match fastest {
            Some(f) => tier
                .drain(..)
                .partition(|l| l.latency.is_none_or(|lat| lat <= f + sensitivity)),
            None => (std::mem::take(&mut tier), Vec::new()),
        };
        while !band.is_empty() && out.len() < max {
            let total: f64 = band.iter().map(|l| l.weight).sum();
            let mut ticket = rng.next_f64() * total;
            let mut chosen = band.len() - 1;
            for (k, l) in band.iter().enumerate() {
                if ticket < l.weight {
                    chosen = k;
                    break;
                }
                ticket -= l.weight;
            }
            out.push(band.swap_remove(chosen).origin);
        }
        slow.sort_by_key(|l| l.latency);
        out.extend(
            slow.iter()
                .map(|l| l.origin)
                .take(max.saturating_sub(out.len())),
        );
    }
    out
}

/// The outcome of routing one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The tenant; `None` for a tenant-less request routed by the client's location.
    pub tenant: Option<TenantId>,
    /// Where the tenant id was read from.
    pub source: SourceKind,
    /// The tenant's home geography.
    pub geography: GeoId,
    /// Origins to try, in order; never empty.
    pub candidates: Vec<OriginId>,
}

/// Routes a request whose tenant identification gave `found`: the one decision function the
/// admin API's "where does this tenant go" uses, and the proxy through [`route_request`].
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
    let routing = &snapshot.config.routing;
    let max = routing.max_attempts.get() as usize;
    let sensitivity = routing.latency_sensitivity;
    let mut candidates = plan(&geo.table, health, seed, max, sensitivity);
    if candidates.is_empty() && geo.fail_open {
        // Front Door's behaviour when every origin is down, restricted to the same geography:
        // trying a possibly-unhealthy origin of the tenant's own geography beats a certain 503.
        candidates = plan(&geo.table, &AllUsable, seed, max, sensitivity);
    }
    if candidates.is_empty() {
        return Err(EdgeError::no_origin(
            geo.name.as_str(),
            snapshot.config.health.interval,
        ));
    }
    Ok(Route {
        tenant: Some(tenant),
        source,
        geography,
        candidates,
    })
}

/// Routes a request: [`route`] for requests that name a tenant; with
/// `tenancy.unknown = "nearest"`, a request that names none goes to the geography that claims
/// the client's country (then continent, then `tenancy.default_geography`), and inside it to
/// the nearest usable region when the client's coordinates and the regions' locations are
/// known (else the usual priority/latency/weight order). A request that names a tenant is
/// never moved by location.
pub fn route_request(
    snapshot: &Snapshot,
    found: &TenantMatch,
    client: Option<&ClientLocation>,
    health: &impl HealthView,
    seed: u64,
) -> Result<Route, EdgeError> {
    let tenancy = &snapshot.config.tenancy;
    let (TenantMatch::Absent, UnknownTenant::Nearest, Some(default)) =
        (found, tenancy.unknown, tenancy.default_geography.as_ref())
    else {
        return route(snapshot, found, health, seed);
    };
    let name = edge_geo::locate::nearest_geography(
        client.and_then(|c| c.country),
        client.and_then(|c| c.continent),
        &snapshot.config.geographies,
        default,
    );
    let Some(geography) = snapshot.geography_id(name) else {
        return Err(EdgeError::new(
            ErrorKind::Internal,
            "the default geography is not configured",
        ));
    };
    let geo = snapshot.geography(geography);
    let routing = &snapshot.config.routing;
    let mut candidates = plan(
        &geo.table,
        health,
        seed,
        routing.max_attempts.get() as usize,
        routing.latency_sensitivity,
    );
    if let Some(from) = client.and_then(|c| c.coordinates) {
        let distance = |o: &OriginId| {
            snapshot
                .region(snapshot.origin(*o).region)
                .location
                .map(|at| edge_geo::locate::great_circle_km(from, at))
        };
        // Only when every candidate's region is placed on the map: a partial order would
        // silently prefer unplaced regions.
        if candidates.iter().all(|c| distance(c).is_some()) {
            candidates.sort_by(|a, b| {
                distance(a)
                    .unwrap_or(f64::MAX)
                    .total_cmp(&distance(b).unwrap_or(f64::MAX))
            });
        }
    }
    if candidates.is_empty() {
        return Err(EdgeError::no_origin(
            geo.name.as_str(),
            snapshot.config.health.interval,
        ));
    }
    Ok(Route {
        tenant: None,
        source: SourceKind::Location,
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

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Member, Tier};
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
            let c = plan(&t, &AllUsable, seed, 3, Duration::ZERO);
            assert_eq!(c.len(), 3);
            assert!(c[..2].contains(&OriginId(0)) && c[..2].contains(&OriginId(1)));
            assert_eq!(c[2], OriginId(2));
        }
    }

    #[test]
    fn max_bounds_the_list() {
        let t = table(&[(1, &[(0, 1), (1, 1)]), (2, &[(2, 1)])]);
        assert_eq!(plan(&t, &AllUsable, 7, 1, Duration::ZERO).len(), 1);
        assert_eq!(plan(&t, &AllUsable, 7, 0, Duration::ZERO).len(), 0);
    }

    #[test]
    fn drained_and_unusable_are_skipped() {
        let t = table(&[(1, &[(0, 0), (1, 100)]), (2, &[(2, 100)])]);
        let c = plan(&t, &Down([1].into()), 1, 3, Duration::ZERO);
        assert_eq!(c, vec![OriginId(2)]);
        let c = plan(&t, &Down([1, 2].into()), 1, 3, Duration::ZERO);
        assert!(c.is_empty());
    }

    #[test]
    fn first_choice_follows_weights() {
        let t = table(&[(1, &[(0, 300), (1, 100)])]);
        let n = 20_000u64;
        let zeros = (0..n)
            .filter(|&s| plan(&t, &AllUsable, s, 1, Duration::ZERO)[0] == OriginId(0))
            .count() as f64;
        let share = zeros / n as f64;
        assert!((share - 0.75).abs() < 0.02, "share {share}");
    }

    struct Latency(Vec<(u32, u64)>, Vec<(u32, f64)>);
    impl HealthView for Latency {
        fn is_usable(&self, _o: OriginId) -> bool {
            true
        }
        fn latency(&self, o: OriginId) -> Option<Duration> {
            self.0
                .iter()
                .find(|(id, _)| *id == o.0)
                .map(|(_, ms)| Duration::from_millis(*ms))
        }
        fn warmth(&self, o: OriginId) -> f64 {
            self.1
                .iter()
                .find(|(id, _)| *id == o.0)
                .map_or(1.0, |(_, w)| *w)
        }
    }

    fn share_first(t: &RouteTable, h: &impl HealthView, sens: Duration, origin: u32) -> f64 {
        let n = 10_000u64;
        (0..n)
            .filter(|&s| plan(t, h, s, 3, sens)[0] == OriginId(origin))
            .count() as f64
            / n as f64
    }

    #[test]
    fn latency_band_prefers_the_fast_origin_and_keeps_the_slow_one_as_fallback() {
        let t = table(&[(1, &[(0, 100), (1, 100)])]);
        let h = Latency(vec![(0, 5), (1, 85)], vec![]);
        let sens = Duration::from_millis(20);
        assert_eq!(share_first(&t, &h, sens, 0), 1.0);
        assert_eq!(plan(&t, &h, 1, 3, sens), vec![OriginId(0), OriginId(1)]);
        // Both within the band: split by weight.
        let h = Latency(vec![(0, 5), (1, 15)], vec![]);
        let share = share_first(&t, &h, sens, 0);
        assert!((share - 0.5).abs() < 0.03, "{share}");
    }

    #[test]
    fn a_warming_primary_gets_a_growing_share() {
        let t = table(&[(1, &[(0, 100)]), (2, &[(1, 100)])]);
        for warmth in [0.1, 0.5, 0.9] {
            let h = Latency(vec![], vec![(0, warmth)]);
            let share = share_first(&t, &h, Duration::ZERO, 0);
            assert!((share - warmth).abs() < 0.03, "warmth {warmth}: {share}");
            // The secondary stays a candidate either way.
            assert_eq!(plan(&t, &h, 3, 3, Duration::ZERO).len(), 2);
        }
    }
}
