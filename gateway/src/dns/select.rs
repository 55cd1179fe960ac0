//! Which edges of one geography an answer names: Traffic Manager's priority method, then its
//! weighted method, as a multivalue answer. Pure: health comes in as a predicate, randomness
//! as an argument.
//!
//! 1. Eligible edges are the ones of the asked address family that are not drained and have
//!    a weight above 0; usable ones are eligible and healthy.
//! 2. With any usable edge: every usable edge of the best (lowest) priority among them.
//! 3. With none (fail static): every eligible edge of the best priority, as if all were
//!    healthy; with no eligible edge either (all drained or weight 0), every edge of the
//!    family's best priority. Never an empty answer while the family has an edge, and never
//!    an edge of another geography: the input is one geography's edges.
//! 4. The chosen tier is ordered by a weighted random shuffle (Efraimidis–Spirakis: each edge
//!    draws `u^(1/weight)`, highest first) and cut to `max` addresses. Resolvers and clients
//!    mostly use the first address, so weights set each edge's share of first places; with
//!    `max` below the tier's size they also set which edges are named at all.

use std::net::IpAddr;

use rand::Rng;

use super::zone::Edge;

/// An address family, i.e. a record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4: A records.
    V4,
    /// IPv6: AAAA records.
    V6,
}

impl Family {
    fn has(self, addr: IpAddr) -> bool {
        matches!(
            (self, addr),
            (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
        )
    }
}

/// The edges an answer names, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// At most `max`, all of one priority; empty only when the family has no edge at all.
    pub addrs: Vec<IpAddr>,
    /// No edge of the family was usable: these are named anyway (and counted).
    pub fail_static: bool,
}

/// Chooses from `edges` (one geography's) for `family`; see the module doc. `usable` says
/// whether an edge is healthy now.
pub fn choose<R: Rng + ?Sized>(
    edges: &[Edge],
    family: Family,
    usable: impl Fn(&Edge) -> bool,
    max: usize,
    rng: &mut R,
) -> Choice {
    let of_family = || edges.iter().filter(|e| family.has(e.addr));
    let eligible = |e: &&Edge| !e.drained && e.weight > 0;
    let up: Vec<&Edge> = of_family().filter(eligible).filter(|e| usable(e)).collect();
    let (pool, fail_static) = if !up.is_empty() {
        (up, false)
    } else {
        let eligible: Vec<&Edge> = of_family().filter(eligible).collect();
        if eligible.is_empty() {
            (of_family().collect(), true)
        } else {
            (eligible, true)
        }
    };
    let Some(best) = pool.iter().map(|e| e.priority).min() else {
        return Choice {
            addrs: Vec::new(),
            fail_static: false,
        };
    };
    let mut keyed: Vec<(f64, IpAddr)> = pool
        .iter()
        .filter(|e| e.priority == best)
        .map(|e| {
            // u in (0, 1]; a weight of 0 (only here when failing static) counts as 1.
            let u: f64 = 1.0 - rng.gen::<f64>();
            (u.powf(1.0 / f64::from(e.weight.max(1))), e.addr)
        })
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    keyed.truncate(max.max(1));
    Choice {
        addrs: keyed.into_iter().map(|(_, a)| a).collect(),
        fail_static,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::health::{OriginHealth, OriginKey};

    fn edge(addr: &str, priority: u32, weight: u32, drained: bool) -> Edge {
        let addr: IpAddr = addr.parse().unwrap();
        Edge {
            addr,
            priority,
            weight,
            drained,
            probe: SocketAddr::new(addr, 443),
            health: Arc::new(OriginHealth::new(OriginKey {
                region: "dns:test".into(),
                address: addr.to_string(),
            })),
        }
    }

    fn pick(edges: &[Edge], up: &[&str], max: usize) -> Choice {
        let up: Vec<IpAddr> = up.iter().map(|a| a.parse().unwrap()).collect();
        choose(
            edges,
            Family::V4,
            |e| up.contains(&e.addr),
            max,
            &mut StdRng::seed_from_u64(7),
        )
    }

    fn sorted(mut v: Vec<IpAddr>) -> Vec<String> {
        v.sort();
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_best_healthy_priority_is_answered() {
        let edges = [
            edge("10.0.0.1", 1, 100, false),
            edge("10.0.0.2", 1, 100, false),
            edge("10.0.0.3", 2, 100, false),
            edge("2001:db8::1", 1, 100, false),
        ];
        let c = pick(&edges, &["10.0.0.1", "10.0.0.2", "10.0.0.3"], 8);
        assert_eq!(sorted(c.addrs), ["10.0.0.1", "10.0.0.2"]);
        assert!(!c.fail_static);
        // The primary tier half down: the rest of it.
        let c = pick(&edges, &["10.0.0.2", "10.0.0.3"], 8);
        assert_eq!(sorted(c.addrs), ["10.0.0.2"]);
        // The primary tier down: the secondary, which is not failing static.
        let c = pick(&edges, &["10.0.0.3"], 8);
        assert_eq!(
            (sorted(c.addrs), c.fail_static),
            (vec!["10.0.0.3".into()], false)
        );
    }

    #[test]
    fn nothing_healthy_fails_static_to_the_best_priority() {
        let edges = [
            edge("10.0.0.1", 1, 100, false),
            edge("10.0.0.2", 1, 100, true),
            edge("10.0.0.3", 2, 100, false),
        ];
        let c = pick(&edges, &[], 8);
        assert_eq!(
            (sorted(c.addrs), c.fail_static),
            (vec!["10.0.0.1".into()], true)
        );
        // Every edge drained: still this geography's edges, never an empty answer.
        let drained = [
            edge("10.0.0.1", 1, 100, true),
            edge("10.0.0.2", 2, 0, false),
        ];
        let c = pick(&drained, &["10.0.0.1", "10.0.0.2"], 8);
        assert_eq!(
            (sorted(c.addrs), c.fail_static),
            (vec!["10.0.0.1".into()], true)
        );
    }

    #[test]
    fn drained_and_zero_weight_edges_are_not_answered_while_others_are_up() {
        let edges = [
            edge("10.0.0.1", 1, 100, true),
            edge("10.0.0.2", 1, 0, false),
            edge("10.0.0.3", 1, 100, false),
        ];
        let c = pick(&edges, &["10.0.0.1", "10.0.0.2", "10.0.0.3"], 8);
        assert_eq!(sorted(c.addrs), ["10.0.0.3"]);
    }

    #[test]
    fn no_edge_of_the_family_is_an_empty_answer() {
        let edges = [edge("2001:db8::1", 1, 100, false)];
        let c = pick(&edges, &[], 8);
        assert_eq!(
            c,
            Choice {
                addrs: vec![],
                fail_static: false
            }
        );
    }

    #[test]
    fn weights_set_the_share_of_first_places() {
        let edges = [
            edge("10.0.0.1", 1, 300, false),
            edge("10.0.0.2", 1, 100, false),
        ];
        let mut rng = StdRng::seed_from_u64(1);
        let mut first: HashMap<IpAddr, u32> = HashMap::new();
        let n = 20_000;
        for _ in 0..n {
            let c = choose(&edges, Family::V4, |_| true, 8, &mut rng);
            assert_eq!(c.addrs.len(), 2);
            *first.entry(c.addrs[0]).or_default() += 1;
        }
        let heavy = f64::from(first[&"10.0.0.1".parse::<IpAddr>().unwrap()]) / f64::from(n);
        assert!(
            (heavy - 0.75).abs() < 0.02,
            "share of the weight-300 edge: {heavy}"
        );
    }

    fn arb_edges() -> impl Strategy<Value = Vec<(bool, u32, u32, bool, bool)>> {
        // (ipv6, priority, weight, drained, usable)
        proptest::collection::vec(
            (
                any::<bool>(),
                1u32..4,
                0u32..4,
                any::<bool>(),
                any::<bool>(),
            ),
            0..12,
        )
    }

    proptest! {
        #[test]
        fn choices_keep_their_promises(spec in arb_edges(), max in 1usize..6, seed in any::<u64>(), v6 in any::<bool>()) {
            let edges: Vec<Edge> = spec
                .iter()
                .enumerate()
                .map(|(i, &(ipv6, p, w, d, _))| {
                    let a = if ipv6 { format!("2001:db8::{}", i + 1) } else { format!("10.0.0.{}", i + 1) };
                    edge(&a, p, w * 100, d)
                })
                .collect();
            let usable: HashMap<IpAddr, bool> =
                edges.iter().zip(&spec).map(|(e, s)| (e.addr, s.4)).collect();
            let family = if v6 { Family::V6 } else { Family::V4 };
            let c = choose(&edges, family, |e| usable[&e.addr], max, &mut StdRng::seed_from_u64(seed));
            let of_family: Vec<&Edge> = edges.iter().filter(|e| family.has(e.addr)).collect();
            let chosen: Vec<&Edge> =
                c.addrs.iter().map(|a| edges.iter().find(|e| e.addr == *a).unwrap()).collect();
            prop_assert_eq!(c.addrs.is_empty(), of_family.is_empty());
            prop_assert!(c.addrs.len() <= max);
            prop_assert!(chosen.iter().all(|e| family.has(e.addr)));
            let mut unique = c.addrs.clone();
            unique.sort();
            unique.dedup();
            prop_assert_eq!(unique.len(), c.addrs.len());
            prop_assert!(chosen.windows(2).all(|w| w[0].priority == w[1].priority));
            let any_up = of_family.iter().any(|e| !e.drained && e.weight > 0 && usable[&e.addr]);
            prop_assert_eq!(c.fail_static, !of_family.is_empty() && !any_up);
            if any_up {
                prop_assert!(chosen.iter().all(|e| !e.drained && e.weight > 0 && usable[&e.addr]));
                let best = of_family
                    .iter()
                    .filter(|e| !e.drained && e.weight > 0 && usable[&e.addr])
                    .map(|e| e.priority)
                    .min();
                prop_assert_eq!(chosen.first().map(|e| e.priority), best);
            }
        }
    }
}
