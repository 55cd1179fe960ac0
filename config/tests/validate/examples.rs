//! The shipped example files (`config/examples/*.toml`): every one validates, and the full
//! and minimal ones build the model their comments describe.

use std::time::Duration;

use edge_config::{
    validate, BodyLimit, Cidr, ContinentCode, GeographyName, Health, Limits, Location,
    OutlierDetection, PlanName, Quota, RetryBudget, RouteLimit, StatusRange, TenantId,
    TenantSource, UnknownTenant,
};

use crate::{codes, examples_dir};

#[test]
fn every_example_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            seen += 1;
            if let Err(e) = edge_config::load(&path) {
                panic!("{} does not validate:\n{e}", path.display());
            }
            // The file structs also describe the format as a whole.
            let text = std::fs::read_to_string(&path).unwrap();
            toml::from_str::<edge_config::file::ConfigFile>(&text).unwrap();
        }
    }
    assert!(seen >= 2);
}

#[test]
fn full_example_model() {
    let config = edge_config::load(&examples_dir().join("edge.toml")).unwrap();
    assert_eq!(config.server.threads.get(), 2);
    assert_eq!(config.listeners.https, ["127.0.0.1:8443".parse().unwrap()]);
    assert_eq!(
        config.listeners.admin,
        Some("127.0.0.1:9901".parse().unwrap())
    );
    assert_eq!(config.tls.certificates.len(), 1);
    assert!(config.tls.certificates[0].cert.ends_with("certs/edge.pem"));
    assert!(config.tls.certificates[0].cert.is_file());
    assert_eq!(
        config.tenancy.sources,
        [
            TenantSource::Host {
                prefix: String::new(),
                suffix: ".app.example.com".into()
            },
            TenantSource::Header {
                name: "x-tenant-id".into()
            },
            TenantSource::Path {
                prefix: "/t/".into()
            },
            TenantSource::JwtClaim {
                claim: "tid".into()
            },
        ]
    );
    assert_eq!(config.tenancy.unknown, UnknownTenant::Nearest);
    assert_eq!(
        config.tenancy.default_geography,
        Some(GeographyName::new("eu"))
    );
    // 3 inline + 5 from tenants.csv.
    assert_eq!(config.tenants.by_id.len(), 8);
    let t =
        &config.tenants.by_id[&TenantId::parse("4cb17e0c-4fad-4f90-8f94-03428f94daf8").unwrap()];
    assert_eq!(t.geography.as_str(), "na");
    assert_eq!(t.plan.as_ref().map(|p| p.as_str()), Some("premium"));

    let names: Vec<_> = config.regions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["northeurope", "westeurope", "eastus", "westus"]);
    let ne = &config.regions[0];
    assert_eq!(ne.priority.get(), 1);
    assert_eq!(ne.origins.len(), 2);
    assert_eq!(ne.origins[1].weight, 50);
    assert_eq!(ne.origins[1].host.as_deref(), Some("northeurope.internal"));
    assert_eq!(ne.origins[0].sni, "127.0.0.1");
    let ports: Vec<u16> = config
        .regions
        .iter()
        .map(|r| r.origins[0].socket_addr.port())
        .collect();
    assert_eq!(ports, [9101, 9102, 9103, 9104]);
    assert!(config.geographies[1].fail_open);

    // Client location.
    let geo = config.geo.as_ref().unwrap();
    assert_eq!(geo.database, examples_dir().join("geo-demo.mmdb"));
    assert!(geo.database.is_file());
    assert_eq!(geo.reload_interval, Duration::from_secs(5));
    assert_eq!(codes(&geo.deny_countries), ["KP"]);
    let (eu, na) = (&config.geographies[0], &config.geographies[1]);
    assert_eq!(codes(&eu.countries), ["IL", "AE", "TR"]);
    assert_eq!(eu.continents, [ContinentCode::EU, ContinentCode::AF]);
    assert!(na.countries.is_empty());
    assert_eq!(na.continents, [ContinentCode::NA, ContinentCode::SA]);
    assert_eq!(
        ne.location,
        Some(Location {
            lat: 53.35,
            lon: -6.26
        })
    );
    assert!(config.regions.iter().all(|r| r.location.is_some()));
    let restricted =
        &config.tenants.by_id[&TenantId::parse("3108531b-48f1-4f44-995d-5ce8bdad9dd8").unwrap()];
    assert_eq!(
        restricted.allowed_countries.as_deref().map(codes),
        Some(vec!["DE", "FR"])
    );
    assert_eq!(
        config
            .tenants
            .by_id
            .values()
            .filter(|t| t.allowed_countries.is_some())
            .count(),
        1
    );

    // Health: global, and westus's override merged over it.
    let global = &config.health;
    assert_eq!(global.expected_statuses, [StatusRange { lo: 200, hi: 399 }]);
    assert_eq!(global.host.as_deref(), Some("health.internal"));
    for r in &config.regions[..3] {
        assert_eq!(&r.health, global, "{}", r.name);
    }
    let westus = &config.regions[3].health;
    assert_eq!(
        westus,
        &Health {
            interval: Duration::from_secs(2),
            fall: 3.try_into().unwrap(),
            expected_statuses: vec![
                StatusRange { lo: 200, hi: 200 },
                StatusRange { lo: 204, hi: 204 }
            ],
            ..global.clone()
        }
    );
    assert_eq!(config.outlier_detection, OutlierDetection::default());

    let r = &config.routing;
    assert_eq!(r.latency_sensitivity, Duration::from_millis(50));
    assert_eq!(r.retry_methods, ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
    assert_eq!(r.slow_start, Duration::from_secs(10));
    assert_eq!(r.retry_budget, RetryBudget::default());

    assert_eq!(
        config.client_ip.trusted_proxies,
        [
            Cidr::parse("10.0.0.0/8").unwrap(),
            Cidr::parse("::1/128").unwrap()
        ]
    );

    let l = config.rate_limits.as_ref().unwrap();
    let quota = |rps: u32, burst: u32| Quota {
        rps: rps.try_into().unwrap(),
        burst: burst.try_into().unwrap(),
    };
    let plans: Vec<(&str, Quota)> = l.plans.iter().map(|(n, q)| (n.as_str(), *q)).collect();
    assert_eq!(
        plans,
        [("premium", quota(500, 500)), ("standard", quota(50, 100))]
    );
    assert_eq!(l.default_plan, Some(PlanName::new("standard")));
    assert_eq!(l.per_client, Some(quota(100, 200)));
    assert_eq!(
        l.tenant_overrides[&TenantId::parse("3108531b-48f1-4f44-995d-5ce8bdad9dd8").unwrap()],
        quota(1000, 2000)
    );
    assert_eq!(
        l.routes,
        [RouteLimit {
            path_prefix: "/api/search".into(),
            methods: vec!["GET".into()],
            quota: quota(5, 5),
        }]
    );
    assert!(l.send_headers);
    assert_eq!(l.max_tracked_clients.get(), 1_000_000);
    assert_eq!(l.idle_eviction, Duration::from_secs(60));

    // [limits] spells out the defaults, plus one route.
    assert_eq!(
        config.limits,
        Limits {
            routes: vec![BodyLimit {
                path_prefix: "/upload".into(),
                max_body_bytes: 100 * 1024 * 1024,
            }],
            ..Limits::default()
        }
    );
}

#[test]
fn minimal_example_defaults() {
    let config = edge_config::load(&examples_dir().join("minimal.toml")).unwrap();
    assert_eq!(config.server.threads, validate::default_threads());
    assert_eq!(config.server.grace_period, Duration::from_secs(10));
    assert!(config.listeners.http.is_empty());
    assert_eq!(config.listeners.admin, None);
    assert_eq!(config.tls.hsts_max_age, Duration::from_secs(365 * 86_400));
    assert!(!config.tls.hsts_include_subdomains);
    assert_eq!(config.tenancy.unknown, UnknownTenant::Reject);
    assert_eq!(config.tenancy.default_geography, None);
    assert!(config.tenants.by_id.is_empty());
    assert!(!config.geographies[0].fail_open);
    assert!(config.geographies[0].countries.is_empty());
    assert!(config.geographies[0].continents.is_empty());
    assert!(config.geo.is_none());
    let region = &config.regions[0];
    assert_eq!(region.location, None);
    assert_eq!((region.priority.get(), region.weight), (1, 100));
    let origin = &region.origins[0];
    assert_eq!(
        (origin.weight, origin.tls, origin.host.as_deref()),
        (100, false, None)
    );
    assert_eq!(config.health, edge_config::Health::default());
    assert_eq!(config.health.path, "/healthz");
    assert_eq!(config.health.interval, Duration::from_secs(1));
    assert_eq!(config.health.timeout, Duration::from_millis(500));
    assert_eq!((config.health.rise.get(), config.health.fall.get()), (2, 2));
    assert_eq!(config.routing, edge_config::Routing::default());
    assert_eq!(config.routing.max_attempts.get(), 3);
    assert_eq!(config.routing.connect_timeout, Duration::from_secs(1));
    assert_eq!(config.routing.read_timeout, Duration::from_secs(30));
    assert_eq!(config.routing.write_timeout, Duration::from_secs(30));
    assert_eq!(config.routing.idle_timeout, Duration::from_secs(55));
    assert!(!config.routing.debug_headers);

    assert_eq!(
        config.health.expected_statuses,
        [StatusRange { lo: 200, hi: 399 }]
    );
    assert_eq!(config.health.host, None);
    assert_eq!(region.health, config.health);
    let o = &config.outlier_detection;
    assert_eq!(o, &OutlierDetection::default());
    assert_eq!(o.consecutive_failures.get(), 3);
    assert_eq!(o.base_ejection_time, Duration::from_secs(5));
    assert_eq!(o.max_ejection_time, Duration::from_secs(60));
    assert!(o.count_5xx);
    let r = &config.routing;
    assert_eq!(r.latency_sensitivity, Duration::from_millis(50));
    assert_eq!(r.retry_methods, ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
    assert_eq!(r.slow_start, Duration::from_secs(10));
    assert_eq!(r.retry_budget.ratio, 0.2);
    assert_eq!(r.retry_budget.window, Duration::from_secs(10));
    assert_eq!(r.retry_budget.min_concurrent, 3);
    assert!(config.client_ip.trusted_proxies.is_empty());
    assert_eq!(config.rate_limits, None);
    assert_eq!(config.limits, Limits::default());
}
