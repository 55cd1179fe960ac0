//! The residency decision at the ClientHello, before anything is decrypted: terminate TLS
//! here, pass the still-encrypted connection to an edge of the tenant's geography, or refuse.
//!
//! A pure function of the server name, this edge's `[edge]` section, the tenant sources and
//! directory, and peer health, so that its two guarantees are checked by a property test over
//! random fleets: a host that names a foreign tenant is never terminated here, and a
//! connection is never passed to an edge outside the tenant's geography.

use std::net::SocketAddr;

use edge_config::{Edge, GeographyName, TenantDirectory, TenantSource};

use crate::request::tenancy::{self, TenantMatch};

/// What peer health the decision needs.
pub trait PeerHealthView {
    /// Whether the peer edge at `addr` takes connections.
    fn is_healthy(&self, addr: SocketAddr) -> bool;
}

/// What to do with a connection, decided from its ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run the handshake here: no server name, or one that names no tenant, an unknown
    /// tenant, or a tenant of this edge's geography.
    Terminate,
    /// The server name names a tenant of `geography`: pass the connection to one of `peers`
    /// (healthy edges of that geography, in configuration order; at least one).
    Passthrough {
        /// The tenant's geography.
        geography: GeographyName,
        /// Where it may go.
        peers: Vec<SocketAddr>,
    },
    /// The server name names a tenant of `geography` and the connection can go nowhere: close
    /// it without a handshake.
    Refuse {
        /// The tenant's geography.
        geography: GeographyName,
        /// Why.
        reason: RefuseReason,
    },
}

/// Why a foreign tenant's connection is refused at the ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// No edge of the tenant's geography is healthy (or none is configured).
    NoHealthyPeer,
    /// The connection already came from a peer edge (it carried a PROXY header): passing it on
    /// again could loop between misconfigured edges.
    Loop,
    /// Every healthy edge of the geography refused the connection (decided by passthrough,
    /// not here).
    PeerUnreachable,
}

impl RefuseReason {
    /// The `reason` label of `edge_residency_handshake_refusals_total`.
    pub fn label(self) -> &'static str {
        match self {
            RefuseReason::NoHealthyPeer => "no_healthy_peer",
            RefuseReason::Loop => "loop",
            RefuseReason::PeerUnreachable => "peer_unreachable",
        }
    }
}

/// Decides what to do with a connection whose ClientHello asked for `sni`. `from_peer`: the
/// connection carried a PROXY header from a trusted peer edge.
pub fn decide(
    sni: Option<&str>,
    from_peer: bool,
    edge: &Edge,
    sources: &[TenantSource],
    tenants: &TenantDirectory,
    health: &impl PeerHealthView,
) -> Decision {
    let Some(sni) = sni else {
        return Decision::Terminate;
    };
    let TenantMatch::Found { id, .. } = tenancy::identify_host(sources, sni) else {
        return Decision::Terminate;
    };
    let Some(tenant) = tenants.by_id.get(&id) else {
        return Decision::Terminate;
    };
    if tenant.geography == edge.geography {
        return Decision::Terminate;
    }
    let geography = tenant.geography.clone();
    if from_peer {
        return Decision::Refuse {
            geography,
            reason: RefuseReason::Loop,
        };
    }
    let peers: Vec<SocketAddr> = edge
        .peers_of(&geography)
        .map(|p| {
            p.addresses
                .iter()
                .copied()
                .filter(|a| health.is_healthy(*a))
                .collect()
        })
        .unwrap_or_default();
    if peers.is_empty() {
        Decision::Refuse {
            geography,
            reason: RefuseReason::NoHealthyPeer,
        }
    } else {
        Decision::Passthrough { geography, peers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_config::{EdgePeer, ForeignTenants, PeerHealth, Tenant, TenantId};
    use proptest::prelude::*;
    use std::collections::HashSet;

    struct Health(HashSet<SocketAddr>);

    impl PeerHealthView for Health {
        fn is_healthy(&self, addr: SocketAddr) -> bool {
            !self.0.contains(&addr)
        }
    }

    const GEOS: [&str; 4] = ["eu", "na", "apac", "uk"];

    fn sources() -> Vec<TenantSource> {
        vec![
            TenantSource::Header {
                name: "x-tenant-id".into(),
            },
            TenantSource::Host {
                prefix: String::new(),
                suffix: ".app.test".into(),
            },
        ]
    }

    fn tenant_id(n: u8) -> TenantId {
        TenantId::parse(&format!("00000000-0000-4000-8000-0000000000{n:02x}")).unwrap()
    }

    /// An edge standing in `GEOS[own]` with `per_geo` addresses for every other geography;
    /// address `10.0.g.i:443` belongs to geography g.
    fn edge(own: usize, per_geo: &[u8; 4]) -> Edge {
        let peers = GEOS
            .iter()
            .enumerate()
            .filter(|(g, _)| *g != own)
            .map(|(g, name)| EdgePeer {
                geography: GeographyName::new(name),
                addresses: (0..per_geo[g])
                    .map(|i| SocketAddr::from(([10, 0, g as u8, i], 443)))
                    .collect(),
                ca: None,
            })
            .collect();
        Edge {
            geography: GeographyName::new(GEOS[own]),
            trusted_peers: Vec::new(),
            foreign_tenants: ForeignTenants::Proxy,
            peers,
            peer_health: PeerHealth::default(),
        }
    }

    fn directory(homes: &[usize]) -> TenantDirectory {
        let mut d = TenantDirectory::default();
        for (n, g) in homes.iter().enumerate() {
            let id = tenant_id(n as u8);
            d.by_id.insert(
                id,
                Tenant {
                    id,
                    geography: GeographyName::new(GEOS[*g]),
                    plan: None,
                    allowed_countries: None,
                },
            );
        }
        d
    }

    fn host(n: u8) -> String {
        format!("{}.app.test", tenant_id(n))
    }

    #[test]
    fn each_outcome() {
        let edge = edge(0, &[0, 2, 1, 1]);
        let dir = directory(&[0, 1, 2]);
        let none = Health(HashSet::new());
        let decide = |sni: Option<&str>, from_peer, h: &Health| {
            decide(sni, from_peer, &edge, &sources(), &dir, h)
        };
        assert_eq!(decide(None, false, &none), Decision::Terminate);
        assert_eq!(decide(Some("api.test"), false, &none), Decision::Terminate);
        assert_eq!(decide(Some(&host(0)), false, &none), Decision::Terminate);
        // Home tenant, even when passed on by a peer (that is how it arrives here).
        assert_eq!(decide(Some(&host(0)), true, &none), Decision::Terminate);
        // Unknown tenant, and a malformed id: terminated, refused after decryption.
        assert_eq!(decide(Some(&host(9)), false, &none), Decision::Terminate);
        assert_eq!(
            decide(Some("nope.app.test"), false, &none),
            Decision::Terminate
        );
        let na = || GeographyName::new("na");
        assert_eq!(
            decide(Some(&host(1).to_uppercase()), false, &none),
            Decision::Passthrough {
                geography: na(),
                peers: vec![
                    "10.0.1.0:443".parse().unwrap(),
                    "10.0.1.1:443".parse().unwrap()
                ]
            }
        );
        let one_down = Health(["10.0.1.0:443".parse().unwrap()].into());
        assert_eq!(
            decide(Some(&host(1)), false, &one_down),
            Decision::Passthrough {
                geography: na(),
                peers: vec!["10.0.1.1:443".parse().unwrap()]
            }
        );
        let both_down = Health(
            [
                "10.0.1.0:443".parse().unwrap(),
                "10.0.1.1:443".parse().unwrap(),
            ]
            .into(),
        );
        assert_eq!(
            decide(Some(&host(1)), false, &both_down),
            Decision::Refuse {
                geography: na(),
                reason: RefuseReason::NoHealthyPeer
            }
        );
        assert_eq!(
            decide(Some(&host(1)), true, &none),
            Decision::Refuse {
                geography: na(),
                reason: RefuseReason::Loop
            }
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        /// Over random fleets, directories, health and server names: a host naming a foreign
        /// tenant is never terminated here; a connection only ever goes to healthy edges of
        /// the tenant's own geography; a connection from a peer is never passed on.
        #[test]
        fn never_terminates_a_foreign_host_nor_passes_outside_its_geography(
            own in 0usize..4,
            per_geo in proptest::array::uniform4(0u8..4),
            homes in proptest::collection::vec(0usize..4, 1..12),
            down in proptest::collection::vec((0u8..4, 0u8..4), 0..10),
            pick in 0u8..16,
            upper in any::<bool>(),
            from_peer in any::<bool>(),
            junk in "[a-z0-9.-]{0,30}",
        ) {
            let edge = edge(own, &per_geo);
            let dir = directory(&homes);
            let health = Health(
                down.iter().map(|(g, i)| SocketAddr::from(([10, 0, *g, *i], 443))).collect(),
            );
            let sni = if pick < 14 { host(pick) } else { junk };
            let sni = if upper { sni.to_uppercase() } else { sni };
            let decision = decide(Some(&sni), from_peer, &edge, &sources(), &dir, &health);
            let home = (pick < 14)
                .then(|| homes.get(pick as usize))
                .flatten()
                .map(|g| GEOS[*g]);
            match (&decision, home) {
                (Decision::Terminate, Some(g)) => prop_assert_eq!(g, GEOS[own]),
                (Decision::Terminate, None) => {}
                (Decision::Passthrough { geography, peers }, Some(g)) => {
                    prop_assert!(!from_peer);
                    prop_assert_ne!(g, GEOS[own]);
                    prop_assert_eq!(geography.as_str(), g);
                    prop_assert!(!peers.is_empty());
                    let gi = GEOS.iter().position(|x| *x == g).unwrap() as u8;
                    for p in peers {
                        let SocketAddr::V4(v4) = p else { unreachable!() };
                        prop_assert_eq!(v4.ip().octets()[2], gi, "{} is not in {}", p, g);
                        prop_assert!(health.is_healthy(*p));
                    }
                }
                (Decision::Refuse { geography, .. }, Some(g)) => {
                    prop_assert_ne!(g, GEOS[own]);
                    prop_assert_eq!(geography.as_str(), g);
                }
                (d, None) => prop_assert!(false, "{:?} for a host naming no known tenant", d),
            }
        }
    }
}
