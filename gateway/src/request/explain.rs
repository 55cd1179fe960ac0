//! Explainability: why a request went where it went.

use std::fmt::Write as _;

use super::routing::Route;
use crate::state::Live;

/// The `x-edge-route` debug header: geography, tenant source, the ordered candidates (region /
/// origin, with health and latency) and how many attempts were made.
pub fn route_header(live: &Live, route: &Route, attempts: usize) -> String {
    let snapshot = &live.snapshot;
    let mut s = format!(
        "geo={}; source={}; attempts={attempts}; candidates=",
        snapshot.geography(route.geography).name,
        route.source.label()
    );
    for (i, c) in route.candidates.iter().enumerate() {
        let origin = snapshot.origin(*c);
        let region = snapshot.region(origin.region);
        let health = live.origin_health(*c);
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}/{}(p{}", region.name, origin.address, region.priority);
        if let Some(l) = health.latency() {
            let _ = write!(s, " {:.1}ms", l.as_secs_f64() * 1000.0);
        }
        s.push(')');
    }
    s
}
