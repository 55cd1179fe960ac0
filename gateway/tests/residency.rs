//! Data residency as a property: over random topologies, weights, health states and tenant
//! sets, routing never returns an origin outside the tenant's home geography, and it refuses
//! (503) exactly when the home geography has nothing that can serve.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use edge_config::*;
use edge_gateway::routing::route;
use edge_gateway::tenancy::{SourceKind, TenantMatch};
use edge_gateway::{ErrorKind, HealthView, OriginId, Snapshot};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct RegionPlan {
    geography: usize,
    priority: u32,
    weight: u32,
    origin_weights: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Plan {
    geographies: usize,
    fail_open: Vec<bool>,
    regions: Vec<RegionPlan>,
    tenants: Vec<usize>,
    max_attempts: u32,
}

fn plan_strategy() -> impl Strategy<Value = Plan> {
    (1usize..5).prop_flat_map(|geos| {
        let region = (
            0..geos,
            1u32..4,
            prop_oneof![Just(0u32), 1u32..1000],
            prop::collection::vec(prop_oneof![Just(0u32), 1u32..1000], 1..4),
        )
            .prop_map(|(geography, priority, weight, origin_weights)| RegionPlan {
                geography,
                priority,
                weight,
                origin_weights,
            });
        (
            Just(geos),
            prop::collection::vec(any::<bool>(), geos),
            prop::collection::vec(region, 1..10),
            prop::collection::vec(0..geos, 1..12),
            1u32..6,
        )
            .prop_map(
                |(geographies, fail_open, mut regions, tenants, max_attempts)| {
                    // Validation guarantees every geography has a region.
                    for g in 0..geographies {
                        if !regions.iter().any(|r| r.geography == g) {
                            let mut r = regions[0].clone();
                            r.geography = g;
                            regions.push(r);
                        }
                    }
                    Plan {
                        geographies,
                        fail_open,
                        regions,
                        tenants,
                        max_attempts,
                    }
                },
            )
    })
}

fn tenant_id(i: usize) -> TenantId {
    TenantId(uuid::Uuid::from_u128(
        0x1000_0000_0000_4000_8000_0000_0000_0000 + i as u128,
    ))
}

fn build_config(plan: &Plan) -> Config {
    let geo_name = |g: usize| GeographyName::new(&format!("geo{g}"));
    let mut port = 10_000u16;
    let regions = plan
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| Region {
            name: RegionName::new(&format!("region{i}")),
            geography: geo_name(r.geography),
            priority: NonZeroU32::new(r.priority).unwrap(),
            weight: r.weight,
            origins: r
                .origin_weights
                .iter()
                .map(|&w| {
                    port += 1;
                    Origin {
                        address: format!("127.0.0.1:{port}"),
                        socket_addr: ([127, 0, 0, 1], port).into(),
                        weight: w,
                        tls: false,
                        sni: "127.0.0.1".into(),
                        host: None,
                    }
                })
                .collect(),
            health: Health::default(),
            location: None,
        })
        .collect();
    let tenants = TenantDirectory {
        by_id: plan
            .tenants
            .iter()
            .enumerate()
            .map(|(i, &g)| {
                (
                    tenant_id(i),
                    Tenant {
                        id: tenant_id(i),
                        geography: geo_name(g),
                        plan: None,
                        allowed_countries: None,
                    },
                )
            })
            .collect(),
    };
    Config {
        admin: Admin::default(),
        server: Server {
            threads: NonZeroUsize::new(1).unwrap(),
            grace_period: Duration::from_secs(1),
        },
        listeners: Listeners {
            https: vec![([127, 0, 0, 1], 8443).into()],
            http: vec![],
            admin: None,
        },
        tls: Tls {
            hsts_max_age: Duration::from_secs(31_536_000),
            hsts_include_subdomains: false,
            certificates: vec![],
        },
        tenancy: Tenancy {
            sources: vec![TenantSource::Header {
                name: "x-tenant-id".into(),
            }],
            unknown: UnknownTenant::Reject,
            default_geography: None,
            file: None,
        },
        tenants,
        geographies: (0..plan.geographies)
            .map(|g| Geography {
                name: geo_name(g),
                fail_open: plan.fail_open[g],
                countries: Vec::new(),
                continents: Vec::new(),
            })
            .collect(),
        regions,
        health: Health {
            path: "/healthz".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            rise: NonZeroU32::new(2).unwrap(),
            fall: NonZeroU32::new(2).unwrap(),
            expected_statuses: vec![StatusRange { lo: 200, hi: 399 }],
            host: None,
        },
        outlier_detection: OutlierDetection::default(),
        routing: Routing {
            max_attempts: NonZeroU32::new(plan.max_attempts).unwrap(),
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(55),
            debug_headers: false,
            ..Routing::default()
        },
        client_ip: ClientIp::default(),
        limits: Limits::default(),
        rate_limits: None,
        geo: None,
        access_log: AccessLog::default(),
        dns: None,
        edge: None,
        fleet: None,
    }
}

/// Random health: some origins down, random latencies and slow-start warmth.
struct Down(HashSet<OriginId>, u64);
impl HealthView for Down {
    fn is_usable(&self, o: OriginId) -> bool {
        !self.0.contains(&o)
    }
    fn latency(&self, o: OriginId) -> Option<Duration> {
        let h = self.1.rotate_left(o.0 % 64) ^ u64::from(o.0);
        (h % 5 != 0).then(|| Duration::from_millis(h % 200))
    }
    fn warmth(&self, o: OriginId) -> f64 {
        let h = self.1.rotate_right(o.0 % 64) ^ u64::from(o.0);
        [1.0, 0.5, 0.05, 1.0][(h % 4) as usize]
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn routing_never_leaves_the_home_geography(
        plan in plan_strategy(),
        down_mask in any::<u64>(),
        seed in any::<u64>(),
    ) {
        let config = Arc::new(build_config(&plan));
        let snapshot = Snapshot::build(config.clone(), 1);
        let down: HashSet<OriginId> = (0..snapshot.origins().len() as u32)
            .filter(|i| down_mask & (1 << (i % 64)) != 0)
            .map(OriginId)
            .collect();
        let health = Down(down.clone(), seed);
        // Region name -> configured geography, straight from the config (not the snapshot).
        let region_geo: HashMap<&str, &str> = config
            .regions
            .iter()
            .map(|r| (r.name.as_str(), r.geography.as_str()))
            .collect();

        for (i, &g) in plan.tenants.iter().enumerate() {
            let home = format!("geo{g}");
            let found = TenantMatch::Found { id: tenant_id(i), source: SourceKind::Header };
            let serveable = |ignore_health: bool| {
                snapshot.origins().iter().enumerate().any(|(oi, o)| {
                    let region = &config.regions[o.region.0 as usize];
                    region.geography.as_str() == home
                        && region.weight > 0
                        && region.origins.iter().any(|ro| ro.address == o.address && ro.weight > 0)
                        && (ignore_health || !down.contains(&OriginId(oi as u32)))
                })
            };
            match route(&snapshot, &found, &health, seed) {
                Ok(r) => {
                    prop_assert!(!r.candidates.is_empty());
                    prop_assert!(r.candidates.len() <= plan.max_attempts as usize);
                    let unique: HashSet<_> = r.candidates.iter().collect();
                    prop_assert_eq!(unique.len(), r.candidates.len());
                    for c in &r.candidates {
                        let o = snapshot.origin(*c);
                        let region = snapshot.region(o.region).name.as_str();
                        prop_assert_eq!(region_geo[region], home.as_str(),
                            "tenant of {} routed to {} in {}", home, region, region_geo[region]);
                        let healthy_exists = serveable(false);
                        if healthy_exists {
                            prop_assert!(!down.contains(c), "unhealthy origin chosen while a healthy one exists");
                        }
                    }
                    prop_assert!(serveable(plan.fail_open[g]));
                }
                Err(e) => {
                    prop_assert_eq!(e.kind, ErrorKind::NoOriginAvailable);
                    prop_assert!(!serveable(plan.fail_open[g]));
                }
            }
        }
    }
}
