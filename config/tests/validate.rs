//! End-to-end validation tests: examples, collected errors with key paths and lines,
//! defaults, and robustness against arbitrary input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use edge_config::{
    parse, summary, validate, BodyLimit, Cidr, Config, ConfigError, ContinentCode, CountryCode,
    GeographyName, Health, Limits, Location, OutlierDetection, PlanName, Quota, RateLimits,
    RetryBudget, RouteLimit, StatusRange, TenantId, TenantSource, UnknownTenant,
};
use proptest::prelude::*;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Minimal valid text around which tests vary one thing. Uses the example certificate.
const BASE: &str = r#"
[listeners]
https = ["127.0.0.1:8443"]

[[tls.certificates]]
cert = "certs/edge.pem"
key = "certs/edge.key"

[tenancy]
sources = [{ kind = "header", name = "X-Tenant-Id" }]

[[geographies]]
name = "eu"

[[regions]]
name = "northeurope"
geography = "eu"
origins = [{ address = "127.0.0.1:9101" }]
"#;

/// The codes as text.
fn codes(list: &[CountryCode]) -> Vec<&str> {
    list.iter().map(CountryCode::as_str).collect()
}

fn check(text: &str) -> Result<Config, Vec<ConfigError>> {
    parse(text, "test.toml", &examples_dir()).map_err(|e| e.0)
}

fn ok(text: &str) -> Config {
    match check(text) {
        Ok(c) => c,
        Err(errors) => panic!("expected a valid config, got:\n{errors:#?}"),
    }
}

fn errors(text: &str) -> Vec<ConfigError> {
    match check(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

/// The single error at `key`, failing with the full list when there is not exactly one.
fn error_at<'e>(errors: &'e [ConfigError], key: &str) -> &'e ConfigError {
    let found: Vec<_> = errors.iter().filter(|e| e.key == key).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one error at {key}, got:\n{errors:#?}"
    );
    found[0]
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
        + 1
}

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

#[test]
fn absent_or_empty_limits_take_the_documented_defaults() {
    for text in [BASE.to_owned(), format!("{BASE}\n[limits]\n")] {
        let l = ok(&text).limits;
        assert_eq!(l, Limits::default());
        assert_eq!(l.max_connections.get(), 10_000);
        assert_eq!(l.tls_handshake_timeout, Duration::from_secs(10));
        assert_eq!(l.request_header_timeout, Duration::from_secs(10));
        assert_eq!(l.idle_timeout, Duration::from_secs(60));
        assert_eq!(l.max_uri_bytes, 8192);
        assert_eq!(l.max_header_bytes, 32_768);
        assert_eq!(l.max_headers, 100);
        assert_eq!(l.max_body_bytes, 10_485_760);
        assert_eq!(l.h2_max_concurrent_streams.get(), 100);
        assert_eq!(l.keepalive_requests.get(), 10_000);
        assert!(l.routes.is_empty());
        assert_eq!(l.max_body_bytes_for("/upload"), 10_485_760);
    }
    assert_eq!(
        Limits::default().max_body_bytes,
        validate::DEFAULT_MAX_BODY_BYTES
    );
}

#[test]
fn a_full_limits_section_takes_exact_values() {
    let text = format!(
        r#"{BASE}
[limits]
max_connections = 1000000
tls_handshake_timeout = "2s"
request_header_timeout = "500ms"
idle_timeout = "5m"
max_uri_bytes = 64
max_header_bytes = 1048575
max_headers = 256
max_body_bytes = 0
h2_max_concurrent_streams = 10000
keepalive_requests = 4294967295

[[limits.routes]]
path_prefix = "/"
max_body_bytes = 1024

[[limits.routes]]
path_prefix = "/upload"
max_body_bytes = 104857600

[[limits.routes]]
path_prefix = "/upload/big/"
max_body_bytes = 9223372036854775807

[[limits.routes]]
path_prefix = "/upload/"
max_body_bytes = 0
"#
    );
    let l = ok(&text).limits;
    let route = |prefix: &str, bytes: u64| BodyLimit {
        path_prefix: prefix.into(),
        max_body_bytes: bytes,
    };
    let max = u64::try_from(i64::MAX).unwrap();
    assert_eq!(
        l,
        Limits {
            max_connections: 1_000_000.try_into().unwrap(),
            tls_handshake_timeout: Duration::from_secs(2),
            request_header_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(300),
            max_uri_bytes: 64,
            max_header_bytes: 1_048_575,
            max_headers: 256,
            max_body_bytes: 0,
            h2_max_concurrent_streams: 10_000.try_into().unwrap(),
            keepalive_requests: u32::MAX.try_into().unwrap(),
            // Longest prefix first.
            routes: vec![
                route("/upload/big/", max),
                route("/upload/", 0),
                route("/upload", 104_857_600),
                route("/", 1024),
            ],
        }
    );
    for (path, expected) in [
        ("/upload", 104_857_600),
        ("/upload?resumable=1", 104_857_600),
        ("/upload/", 0),
        ("/upload/x", 0),
        ("/upload/big", 0),
        ("/upload/big/1", max),
        ("/uploads", 1024),
        ("/", 1024),
        // Not a path: only the global limit applies.
        ("*", 0),
    ] {
        assert_eq!(l.max_body_bytes_for(path), expected, "{path:?}");
    }
}

#[test]
fn bad_limits_are_all_reported_at_their_keys() {
    let text = format!(
        r#"{BASE}
[limits]
max_connections = 0
tls_handshake_timeout = "0s"
request_header_timeout = "soon"
idle_timeout = 60
max_uri_bytes = 63
max_header_bytes = 1048576
max_headers = 257
max_body_bytes = -1
h2_max_concurrent_streams = 10001
keepalive_requests = 0
max_body_size = 5

[[limits.routes]]
path_prefix = "/upload"
max_body_bytes = 1

[[limits.routes]]
path_prefix = "upload"
max_body_bytes = 1

[[limits.routes]]
path_prefix = "/upload"
max_body_bytes = 2

[[limits.routes]]
path_prefix = "/big"
max_body_bytes = -5

[[limits.routes]]
path_prefix = "/x"
max_body_bytes = 1
methods = ["POST"]

[[limits.routes]]
path_prefix = "/y"
"#
    );
    let errs = errors(&text);
    let has = |key, part: &str, line_needle: &str| {
        let e = error_at(&errs, key);
        assert!(
            e.message.contains(part),
            "{key}: {:?} lacks {part:?}",
            e.message
        );
        assert_eq!(e.line, Some(line_of(&text, line_needle)), "{key}: {e:?}");
    };
    has(
        "limits.max_connections",
        "0 is out of range: expected 1 to 1000000",
        "max_connections",
    );
    has(
        "limits.tls_handshake_timeout",
        "must be greater than 0",
        "tls_handshake_timeout",
    );
    has(
        "limits.request_header_timeout",
        "\"soon\" is not a duration",
        "request_header_timeout",
    );
    has(
        "limits.idle_timeout",
        "expected a duration string",
        "idle_timeout",
    );
    has(
        "limits.max_uri_bytes",
        "63 is out of range: expected 64 to 1048575",
        "max_uri_bytes",
    );
    has(
        "limits.max_header_bytes",
        "1048576 is out of range: expected 1024 to 1048575",
        "max_header_bytes",
    );
    has(
        "limits.max_headers",
        "257 is out of range: expected 1 to 256",
        "max_headers",
    );
    has(
        "limits.max_body_bytes",
        "-1 is out of range: expected at least 0",
        "max_body_bytes = -1",
    );
    has(
        "limits.h2_max_concurrent_streams",
        "10001 is out of range: expected 1 to 10000",
        "h2_max_concurrent_streams",
    );
    has(
        "limits.keepalive_requests",
        "0 is out of range: expected at least 1",
        "keepalive_requests",
    );
    has(
        "limits.max_body_size",
        "unknown key `max_body_size`",
        "max_body_size",
    );
    has(
        "limits.routes[1].path_prefix",
        "\"upload\" is not a path prefix: it must start with '/'",
        "\"upload\"",
    );
    let e = error_at(&errs, "limits.routes[2].path_prefix");
    assert_eq!(
        e.message,
        "\"/upload\" is listed twice (first at limits.routes[0]); keep one"
    );
    // The second `path_prefix = "/upload"` line.
    let second = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "path_prefix = \"/upload\"")
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert_eq!(e.line, Some(second));
    has(
        "limits.routes[3].max_body_bytes",
        "-5 is out of range: expected at least 0",
        "max_body_bytes = -5",
    );
    has(
        "limits.routes[4].methods",
        "unknown key `methods`",
        "methods",
    );
    let e = error_at(&errs, "limits.routes[5].max_body_bytes");
    assert!(
        e.message.contains("missing required key `max_body_bytes`"),
        "{e:?}"
    );
    assert_eq!(e.line, Some(line_of(&text, "path_prefix = \"/y\"") - 1));
    assert_eq!(errs.len(), 16, "{errs:#?}");
    // Sorted by line, every one in this file.
    let lines: Vec<_> = errs.iter().map(|e| e.line.unwrap()).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn limits_schema_shapes_and_upper_bounds() {
    let errs = errors(&format!(
        "{BASE}\n[limits]\nroutes = {{ path_prefix = \"/\" }}\n"
    ));
    assert!(error_at(&errs, "limits.routes")
        .message
        .contains("expected an array, e.g. [[limits.routes]]"));
    assert_eq!(errs.len(), 1, "{errs:#?}");

    let errs = errors(&format!("limits = 5\n{BASE}"));
    assert!(error_at(&errs, "limits")
        .message
        .contains("expected a table, e.g. [limits]"));
    assert_eq!(errs.len(), 1, "{errs:#?}");

    // A count past u32 says what the bound is, rather than "at least 1".
    let errs = errors(&format!(
        "{BASE}\n[limits]\nkeepalive_requests = 4294967296\n"
    ));
    assert_eq!(
        error_at(&errs, "limits.keepalive_requests").message,
        "4294967296 is out of range: expected at most 4294967295"
    );

    // A route may allow no body; "/a" and "/a/" are different prefixes.
    let l = ok(&format!(
        "{BASE}\n[[limits.routes]]\npath_prefix = \"/a\"\nmax_body_bytes = 0\n\n\
         [[limits.routes]]\npath_prefix = \"/a/\"\nmax_body_bytes = 7\n"
    ))
    .limits;
    assert_eq!(l.max_body_bytes_for("/a"), 0);
    assert_eq!(l.max_body_bytes_for("/a/b"), 7);
    assert_eq!(
        l.max_body_bytes_for("/ab"),
        validate::DEFAULT_MAX_BODY_BYTES
    );
}

#[test]
fn empty_rate_limits_table_takes_defaults() {
    let c = ok(&format!(
        "{BASE}
[rate_limits]
"
    ));
    let l = c.rate_limits.unwrap();
    assert_eq!(l, RateLimits::default());
    assert!(l.plans.is_empty() && l.default_plan.is_none() && l.per_client.is_none());
    assert!(l.tenant_overrides.is_empty() && l.routes.is_empty());
    assert!(l.send_headers);
    assert_eq!(l.max_tracked_clients.get(), 1_000_000);
    assert_eq!(l.idle_eviction, Duration::from_secs(60));
}

#[test]
fn new_keys_take_explicit_values() {
    let text = format!(
        r#"{BASE}
[health]
expected_statuses = ["200", 204, "300-302"]

[outlier_detection]
consecutive_failures = 100
base_ejection_time = "1s"
max_ejection_time = "1s"
count_5xx = false

[routing]
latency_sensitivity = "0s"
retry_methods = ["get", "Post"]
slow_start = "0s"

[routing.retry_budget]
ratio = 1
window = "1m"
min_concurrent = 0

[client_ip]
trusted_proxies = ["10.1.2.3", "fd00::/8", "::ffff:0:0/96"]

[rate_limits]
send_headers = false
max_tracked_clients = 1
idle_eviction = "1h"

[rate_limits.plans.gold]
rps = 7

[[rate_limits.routes]]
path_prefix = "/"
rps = 1

[[rate_limits.routes]]
path_prefix = "/upload"
methods = ["post", "PUT"]
rps = 2
burst = 20

[[rate_limits.routes]]
path_prefix = "/upload/"
methods = ["POST"]
rps = 3
"#
    );
    let c = ok(&text);
    assert_eq!(
        c.health.expected_statuses,
        [
            StatusRange { lo: 200, hi: 200 },
            StatusRange { lo: 204, hi: 204 },
            StatusRange { lo: 300, hi: 302 }
        ]
    );
    assert_eq!(c.regions[0].health, c.health);
    let o = c.outlier_detection;
    assert_eq!(o.consecutive_failures.get(), 100);
    assert_eq!(
        (o.base_ejection_time, o.max_ejection_time),
        (Duration::from_secs(1), Duration::from_secs(1))
    );
    assert!(!o.count_5xx);
    assert_eq!(c.routing.latency_sensitivity, Duration::ZERO);
    assert_eq!(c.routing.retry_methods, ["GET", "POST"]);
    assert_eq!(c.routing.slow_start, Duration::ZERO);
    assert_eq!(
        c.routing.retry_budget,
        RetryBudget {
            ratio: 1.0,
            window: Duration::from_secs(60),
            min_concurrent: 0
        }
    );
    let proxies: Vec<String> = c
        .client_ip
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(proxies, ["10.1.2.3/32", "fd00::/8", "::ffff:0.0.0.0/96"]);
    let l = c.rate_limits.unwrap();
    assert!(!l.send_headers);
    assert_eq!(l.max_tracked_clients.get(), 1);
    assert_eq!(l.idle_eviction, Duration::from_secs(3600));
    // burst defaults to rps.
    let gold = l.plans[&PlanName::new("gold")];
    assert_eq!((gold.rps.get(), gold.burst.get()), (7, 7));
    let routes: Vec<(&str, Vec<&str>, u32, u32)> = l
        .routes
        .iter()
        .map(|r| {
            (
                r.path_prefix.as_str(),
                r.methods.iter().map(String::as_str).collect(),
                r.quota.rps.get(),
                r.quota.burst.get(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("/", vec![], 1, 1),
            ("/upload", vec!["POST", "PUT"], 2, 20),
            ("/upload/", vec!["POST"], 3, 3)
        ]
    );
}

#[test]
fn region_health_overrides_merge_over_the_global_settings() {
    let text = BASE.replace(
        "[[regions]]\nname = \"northeurope\"",
        r#"[health]
path = "/ready"
timeout = "2s"
host = "probe.internal"

[[regions]]
name = "westeurope"
geography = "eu"
priority = 2
origins = [{ address = "127.0.0.1:9102" }]
health = { interval = "5s", rise = 4, expected_statuses = ["204"] }

[[regions]]
name = "uksouth"
geography = "eu"
priority = 3
origins = [{ address = "127.0.0.1:9103" }]

[regions.health]
path = "/deep"
host = "uk.internal"

[[regions]]
name = "northeurope""#,
    );
    let c = ok(&text);
    let global = Health {
        path: "/ready".into(),
        timeout: Duration::from_secs(2),
        host: Some("probe.internal".into()),
        ..Health::default()
    };
    assert_eq!(c.health, global);
    let by_name = |n: &str| {
        &c.regions
            .iter()
            .find(|r| r.name.as_str() == n)
            .unwrap()
            .health
    };
    assert_eq!(
        by_name("westeurope"),
        &Health {
            interval: Duration::from_secs(5),
            rise: 4.try_into().unwrap(),
            expected_statuses: vec![StatusRange { lo: 204, hi: 204 }],
            ..global.clone()
        }
    );
    assert_eq!(
        by_name("uksouth"),
        &Health {
            path: "/deep".into(),
            host: Some("uk.internal".into()),
            ..global.clone()
        }
    );
    assert_eq!(by_name("northeurope"), &global);
    let s = summary(&c);
    assert!(
        s.contains("region westeurope priority 2 weight 100: 1 origin(s): 127.0.0.1:9102\n    health: GET /ready every 5s, timeout 2s, rise 4, fall 2, expect 204, host probe.internal\n"),
        "{s}"
    );
    assert!(
        s.contains("health: GET /ready every 1s, timeout 2s, rise 2, fall 2, expect 200-399, host probe.internal\n"),
        "{s}"
    );
}

#[test]
fn bad_health_outlier_routing_and_client_ip_values_are_reported_at_their_keys() {
    let text = BASE.replace(
        "origins = [{ address = \"127.0.0.1:9101\" }]",
        r#"origins = [{ address = "127.0.0.1:9101" }]
health = { interval = "1ms", expected_statuses = [], colour = "red", host = "a b" }

[health]
expected_statuses = ["200-299", "600", "399-200"]
host = ""

[outlier_detection]
consecutive_failures = 101
max_ejection_time = "1s"
base_ejection_time = "0s"

[routing]
latency_sensitivity = 5
retry_methods = ["GET", "get", "PO ST"]
slow_start = "-1s"

[routing.retry_budget]
ratio = 1.5
window = "0s"
min_concurrent = -1
burst = 3

[client_ip]
trusted_proxies = ["10.0.0.1/8", "10.0.0.0/40", "localhost", "::1"]"#,
    );
    let errs = errors(&text);
    let at = |key| error_at(&errs, key);
    let has = |key, part: &str, line_needle: &str| {
        let e = at(key);
        assert!(
            e.message.contains(part),
            "{key}: {:?} lacks {part:?}",
            e.message
        );
        assert_eq!(e.line, Some(line_of(&text, line_needle)), "{key}: {e:?}");
    };
    // The region's override is checked like [health], at its own keys.
    has(
        "regions[0].health.interval",
        "at least 100ms",
        "interval = \"1ms\"",
    );
    has(
        "regions[0].health.expected_statuses",
        "at least one status or range",
        "expected_statuses = []",
    );
    has("regions[0].health.colour", "unknown key `colour`", "colour");
    has(
        "regions[0].health.host",
        "not a valid Host header",
        "host = \"a b\"",
    );

    has(
        "health.expected_statuses[1]",
        "600 is not an HTTP status code",
        "\"600\"",
    );
    has(
        "health.expected_statuses[2]",
        "did you mean \"200-399\"",
        "\"399-200\"",
    );
    has("health.host", "not a valid Host header", "host = \"\"");

    has(
        "outlier_detection.consecutive_failures",
        "expected 1 to 100",
        "= 101",
    );
    has(
        "outlier_detection.base_ejection_time",
        "greater than 0",
        "base_ejection_time",
    );
    // base fell back to its default (5s), which the written max is shorter than.
    has(
        "outlier_detection.max_ejection_time",
        "1s is shorter than base_ejection_time (5s)",
        "max_ejection_time",
    );

    has(
        "routing.latency_sensitivity",
        "expected a duration string",
        "latency_sensitivity",
    );
    has(
        "routing.retry_methods[1]",
        "GET is listed twice (first at routing.retry_methods[0])",
        "retry_methods",
    );
    has(
        "routing.retry_methods[2]",
        "\"PO ST\" is not an HTTP method",
        "retry_methods",
    );
    has("routing.slow_start", "is not a duration", "slow_start");
    has(
        "routing.retry_budget.ratio",
        "1.5 is out of range: expected 0.0 to 1.0",
        "ratio = 1.5",
    );
    has("routing.retry_budget.window", "greater than 0", "window = ");
    has(
        "routing.retry_budget.min_concurrent",
        "expected at least 0",
        "min_concurrent",
    );
    has(
        "routing.retry_budget.burst",
        "unknown key `burst`",
        "burst = 3",
    );

    has(
        "client_ip.trusted_proxies[0]",
        "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?",
        "trusted_proxies",
    );
    has(
        "client_ip.trusted_proxies[1]",
        "from 0 to 32",
        "trusted_proxies",
    );
    has(
        "client_ip.trusted_proxies[2]",
        "is not an IP network",
        "trusted_proxies",
    );
    assert_eq!(errs.len(), 21, "{errs:#?}");
}

#[test]
fn a_mistyped_array_element_does_not_hide_sibling_keys() {
    let text = format!(
        "{BASE}\n[health]\nexpected_statuses = [\"200\", 2.5, \"999\"]\nhost = \"\"\n\n\
         [client_ip]\ntrusted_proxies = [\"10.0.0.0/8\", 7]\n"
    );
    let errs = errors(&text);
    let e = error_at(&errs, "health.expected_statuses[1]");
    assert_eq!(
        e.message,
        "invalid type: floating point `2.5`, expected a status code or range such as \"200\" or \
         \"200-399\""
    );
    assert_eq!(e.line, Some(line_of(&text, "2.5")));
    // The rest of [health] is still checked; the array itself is not (no "999" error).
    assert!(error_at(&errs, "health.host")
        .message
        .contains("not a valid Host header"));
    assert!(error_at(&errs, "client_ip.trusted_proxies[1]")
        .message
        .contains("expected a string"));
    assert_eq!(errs.len(), 3, "{errs:#?}");
}

#[test]
fn ejection_times_must_be_ordered() {
    let errs = errors(&format!(
        "{BASE}\n[outlier_detection]\nbase_ejection_time = \"2m\"\n"
    ));
    let e = error_at(&errs, "outlier_detection.base_ejection_time");
    assert!(
        e.message
            .contains("2m is longer than max_ejection_time (default 1m); set max_ejection_time to at least 2m"),
        "{}",
        e.message
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let c = ok(&format!(
        "{BASE}\n[outlier_detection]\nbase_ejection_time = \"2m\"\nmax_ejection_time = \"1h\"\n"
    ));
    assert_eq!(
        c.outlier_detection.max_ejection_time,
        Duration::from_secs(3600)
    );
}

#[test]
fn bad_rate_limits_are_reported_at_their_keys() {
    let text = format!(
        r#"{BASE}
[rate_limits]
default_plan = "Gold"
max_tracked_clients = 0
idle_eviction = "0s"
send_headers = "yes"

[rate_limits.plans.standard]
rps = 0
burst = -5

[rate_limits.plans."Big Plan"]
rps = 10

[rate_limits.plans.nobody]
burst = 10

[rate_limits.plans.flat]
rps = 1
bursts = 2

[rate_limits.per_client]
rps = 4294967296

[[rate_limits.tenant_overrides]]
tenant = "not-a-uuid"
rps = 1

[[rate_limits.tenant_overrides]]
tenant = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b"
rps = 1

[[rate_limits.tenant_overrides]]
tenant = "3F0B1F5E-8A7C-4C57-9A53-0C1D2E3F4A5B"
rps = 2

[[rate_limits.tenant_overrides]]
rps = 2

[[rate_limits.routes]]
path_prefix = "api"
methods = []
rps = 1

[[rate_limits.routes]]
path_prefix = "/api"
methods = ["GET"]
rps = 1

[[rate_limits.routes]]
path_prefix = "/api"
methods = ["POST", "get"]
rps = 1

[[rate_limits.routes]]
path_prefix = "/api"
methods = ["HEAD", "G E T"]
rps = 1
"#
    );
    let errs = errors(&text);
    let has = |key, part: &str, line_needle: &str| {
        let e = error_at(&errs, key);
        assert!(
            e.message.contains(part),
            "{key}: {:?} lacks {part:?}",
            e.message
        );
        assert_eq!(e.line, Some(line_of(&text, line_needle)), "{key}: {e:?}");
    };
    has(
        "rate_limits.default_plan",
        "\"Gold\" is not a valid plan name",
        "default_plan",
    );
    has(
        "rate_limits.max_tracked_clients",
        "expected at least 1",
        "max_tracked_clients",
    );
    has(
        "rate_limits.idle_eviction",
        "greater than 0",
        "idle_eviction",
    );
    has(
        "rate_limits.send_headers",
        "expected a boolean",
        "send_headers",
    );
    has(
        "rate_limits.plans.standard.rps",
        "0 is out of range: expected at least 1",
        "rps = 0",
    );
    has(
        "rate_limits.plans.standard.burst",
        "expected at least 1",
        "burst = -5",
    );
    has(
        "rate_limits.plans.\"Big Plan\"",
        "not a valid plan name",
        "Big Plan",
    );
    has(
        "rate_limits.plans.nobody.rps",
        "missing required key `rps`",
        "plans.nobody",
    );
    has(
        "rate_limits.plans.flat.bursts",
        "unknown key `bursts`",
        "bursts",
    );
    has(
        "rate_limits.per_client.rps",
        "expected at most 4294967295",
        "4294967296",
    );
    has(
        "rate_limits.tenant_overrides[0].tenant",
        "not a valid tenant id",
        "not-a-uuid",
    );
    has(
        "rate_limits.tenant_overrides[2].tenant",
        "already has an override at rate_limits.tenant_overrides[1]",
        "3F0B1F5E",
    );
    let e = error_at(&errs, "rate_limits.tenant_overrides[3].tenant");
    assert!(e.message.contains("missing required key `tenant`"));
    has(
        "rate_limits.routes[0].path_prefix",
        "must start with '/'",
        "\"api\"",
    );
    has(
        "rate_limits.routes[0].methods",
        "must not be empty",
        "methods = []",
    );
    let e = error_at(&errs, "rate_limits.routes[2].path_prefix");
    assert!(
        e.message
            .contains("\"/api\" with these methods overlaps rate_limits.routes[1]"),
        "{}",
        e.message
    );
    assert_eq!(e.line, Some(line_of(&text, "[\"POST\", \"get\"]") - 1));
    has(
        "rate_limits.routes[3].methods[1]",
        "is not an HTTP method",
        "G E T",
    );
    assert_eq!(errs.len(), 17, "{errs:#?}");
}

#[test]
fn rate_limit_plan_references_are_checked() {
    const T1: &str = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b";
    const T2: &str = "9d6c2a4e-1b3f-4e5a-8c7d-0f1e2d3c4b5a";
    let tenants = format!(
        "[[tenants]]\nid = \"{T1}\"\ngeography = \"eu\"\nplan = \"standard\"\n\n\
         [[tenants]]\nid = \"{T2}\"\ngeography = \"eu\"\nplan = \"gold\"\n"
    );
    // Without [rate_limits], plans are not checked.
    let c = ok(&format!("{BASE}\n{tenants}"));
    assert_eq!(c.rate_limits, None);

    let text = format!(
        "{BASE}\n{tenants}\n[rate_limits]\ndefault_plan = \"free\"\n\n\
         [rate_limits.plans.standard]\nrps = 10\n\n[rate_limits.plans.premium]\nrps = 100\n"
    );
    let errs = errors(&text);
    let e = error_at(&errs, "rate_limits.default_plan");
    assert_eq!(
        e.message,
        "default_plan \"free\" is not a defined plan (defined: premium, standard); add \
         [rate_limits.plans.free] with rps = ..."
    );
    assert_eq!(e.line, Some(line_of(&text, "default_plan")));
    let e = error_at(&errs, "tenants[1].plan");
    assert_eq!(
        e.message,
        format!(
            "tenant {T2} names plan \"gold\", which is not defined in [rate_limits.plans] \
             (defined: premium, standard)"
        )
    );
    assert_eq!(e.line, Some(line_of(&text, "plan = \"gold\"")));
    assert_eq!(errs.len(), 2, "{errs:#?}");

    // An empty [rate_limits] defines no plans: any plan is unknown.
    let errs = errors(&format!("{BASE}\n{tenants}\n[rate_limits]\n"));
    assert!(error_at(&errs, "tenants[0].plan")
        .message
        .contains("(defined: none)"));
    assert_eq!(errs.len(), 2, "{errs:#?}");

    // When a plan did not parse, references are not checked (that would be noise).
    let errs = errors(&format!(
        "{BASE}\n{tenants}\n[rate_limits]\ndefault_plan = \"gold\"\n[rate_limits.plans.standard]\nrsp = 1\n"
    ));
    assert!(
        errs.iter()
            .all(|e| e.key.starts_with("rate_limits.plans.standard")),
        "{errs:#?}"
    );

    // A plan whose quota is wrong is still a defined plan.
    let errs = errors(&format!(
        "{BASE}\n{tenants}\n[rate_limits]\n[rate_limits.plans.standard]\nrps = 0\n[rate_limits.plans.gold]\nrps = 1\n"
    ));
    error_at(&errs, "rate_limits.plans.standard.rps");
    assert_eq!(errs.len(), 1, "{errs:#?}");
}

#[test]
fn tenant_file_plans_must_be_defined_when_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["edge.pem", "edge.key"] {
        std::fs::copy(examples_dir().join("certs").join(f), dir.path().join(f)).unwrap();
    }
    let mut csv =
        String::from("id,geography,plan\n3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b,eu,standard\n");
    for i in 0..150u128 {
        csv.push_str(&format!("{},eu,gold\n", uuid::Uuid::from_u128(i + 1)));
    }
    std::fs::write(dir.path().join("t.csv"), csv).unwrap();
    let config = format!(
        "{}\n[rate_limits]\n[rate_limits.plans.standard]\nrps = 5\n",
        BASE.replace("certs/", "")
            .replace("[tenancy]", "[tenancy]\nfile = \"t.csv\"")
    );
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, &config).unwrap();
    let errs = edge_config::load(&path).unwrap_err().0;
    let file = dir.path().join("t.csv").display().to_string();
    assert!(errs.iter().all(|e| e.file == file && e.key.is_empty()));
    // The first 100 with their lines, then a count.
    assert_eq!(errs.len(), 101, "{errs:#?}");
    assert_eq!(errs[0].line, Some(3));
    assert!(
        errs[0].message.ends_with(
            "names plan \"gold\", which is not defined in [rate_limits.plans] (defined: standard)"
        ),
        "{}",
        errs[0].message
    );
    assert_eq!(errs[99].line, Some(102));
    assert!(
        errs[100].message.starts_with("50 more errors"),
        "{}",
        errs[100].message
    );
}

#[test]
fn rate_limits_schema_shapes() {
    let text = format!(
        "{BASE}\n[rate_limits]\nplans = 3\nper_client = \"fast\"\nroutes = {{ rps = 1 }}\ntenant_overrides = [1]\n"
    );
    let errs = errors(&text);
    assert!(error_at(&errs, "rate_limits.plans")
        .message
        .contains("expected a table"));
    assert!(error_at(&errs, "rate_limits.per_client")
        .message
        .contains("expected a table"));
    assert!(error_at(&errs, "rate_limits.routes")
        .message
        .contains("expected an array"));
    assert!(error_at(&errs, "rate_limits.tenant_overrides[0]")
        .message
        .contains("expected a table"));
    assert_eq!(errs.len(), 4, "{errs:#?}");

    let errs = errors(&format!("{BASE}\n[rate_limits.plans]\nstandard = 50\n"));
    let e = error_at(&errs, "rate_limits.plans.standard");
    assert!(
        e.message
            .contains("expected a table, e.g. { rps = 50, burst = 10 }"),
        "{}",
        e.message
    );

    let errs = errors(&format!("rate_limits = 1\nclient_ip = []\n{BASE}"));
    error_at(&errs, "rate_limits");
    error_at(&errs, "client_ip");
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn durations_and_explicit_values() {
    let text = format!(
        "{BASE}
[server]
threads = 3
grace_period = \"1m 30s\"

[health]
path = \"/ready\"
interval = \"250ms\"
timeout = \"2s\"
rise = 1
fall = 5

[routing]
max_attempts = 10
connect_timeout = \"200ms\"
read_timeout = \"2m\"
write_timeout = \"45s\"
idle_timeout = \"0s\"
debug_headers = true
"
    )
    .replace(
        "[[tls.certificates]]",
        "[tls]\nhsts_max_age = \"0s\"\nhsts_include_subdomains = true\n\n[[tls.certificates]]",
    );
    let c = ok(&text);
    assert_eq!(c.server.threads.get(), 3);
    assert_eq!(c.server.grace_period, Duration::from_secs(90));
    assert_eq!(c.tls.hsts_max_age, Duration::ZERO);
    assert!(c.tls.hsts_include_subdomains);
    assert_eq!(c.health.path, "/ready");
    assert_eq!(c.health.interval, Duration::from_millis(250));
    assert_eq!(c.health.timeout, Duration::from_secs(2));
    assert_eq!((c.health.rise.get(), c.health.fall.get()), (1, 5));
    assert_eq!(c.routing.max_attempts.get(), 10);
    assert_eq!(c.routing.connect_timeout, Duration::from_millis(200));
    assert_eq!(c.routing.read_timeout, Duration::from_secs(120));
    assert_eq!(c.routing.write_timeout, Duration::from_secs(45));
    assert_eq!(c.routing.idle_timeout, Duration::ZERO);
    assert!(c.routing.debug_headers);
}

#[test]
fn bad_durations_and_ranges_are_reported_at_their_keys() {
    let text = format!(
        "{BASE}
[server]
threads = 0
grace_period = \"10 parsecs\"

[health]
path = \"healthz\"
interval = \"10ms\"
timeout = \"0s\"
rise = 0

[routing]
max_attempts = 11
read_timeout = 30
"
    );
    let errs = errors(&text);
    let at = |key| error_at(&errs, key);
    assert!(at("server.threads").message.contains("expected 1 to 1024"));
    assert_eq!(
        at("server.threads").line,
        Some(line_of(&text, "threads = 0"))
    );
    assert!(at("server.grace_period")
        .message
        .contains("is not a duration"));
    assert!(at("health.path").message.contains("must start with '/'"));
    assert!(at("health.interval").message.contains("at least 100ms"));
    assert!(at("health.timeout").message.contains("greater than 0"));
    assert!(at("health.rise").message.contains("at least 1"));
    assert!(at("routing.max_attempts").message.contains("1 to 10"));
    // A type error is a schema error; the rest of [routing] is still checked.
    let read = at("routing.read_timeout");
    assert!(
        read.message.contains("expected a duration string"),
        "{}",
        read.message
    );
    assert_eq!(read.line, Some(line_of(&text, "read_timeout = 30")));
    assert_eq!(errs.len(), 8, "{errs:#?}");
}

#[test]
fn broken_config_reports_every_mistake_with_key_and_line() {
    let text = r#"
colour = "blue"

[listeners]
https = ["0.0.0.0:8443"]
http = ["127.0.0.1:8443"]

[[tls.certificates]]
cert = "certs/missing.pem"
key = "certs/edge.key"

[tenancy]
sources = [{ kind = "header", name = "x-tenant-id" }]

[[tenants]]
id = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b"
geography = "eu"

[[tenants]]
id = "3F0B1F5E-8A7C-4C57-9A53-0C1D2E3F4A5B"
geography = "eu"

[[tenants]]
id = "not-a-uuid"
geography = "eu"

[[geographies]]
name = "eu"

[[geographies]]
name = "na"

[[regions]]
name = "northeurope"
geography = "eu"
origins = [{ address = "127.0.0.1:9101" }]

[[regions]]
name = "eastus"
geography = "na"
zone = 3
origins = [{ address = "127.0.0.1:9103" }]

[[regions]]
name = "westus"
geography = "naa"
origins = [{ address = "127.0.0.1:9104" }]

[[regions]]
name = "westeurope"
geography = "eu"
origins = []
"#;
    let errs = errors(text);
    let at = |key| error_at(&errs, key);

    let e = at("colour");
    assert!(e.message.contains("unknown top-level key"), "{}", e.message);
    assert_eq!(e.line, Some(line_of(text, "colour")));

    let e = at("listeners.http[0]");
    assert!(
        e.message
            .contains("overlaps listeners.https[0] (0.0.0.0:8443)"),
        "{}",
        e.message
    );
    assert_eq!(e.line, Some(line_of(text, "http = ")));

    let e = at("tls.certificates[0].cert");
    assert!(e.message.contains("cannot read"), "{}", e.message);
    assert!(e.message.contains("certs/missing.pem"));
    assert_eq!(e.line, Some(line_of(text, "missing.pem")));

    let e = at("tenants[1].id");
    assert!(e.message.contains("duplicate tenant id"), "{}", e.message);
    assert!(e.message.contains("tenants[0]"));
    assert_eq!(e.line, Some(line_of(text, "3F0B1F5E")));

    let e = at("tenants[2].id");
    assert!(e.message.contains("not a valid tenant id"), "{}", e.message);
    assert!(e.message.contains("UUID"));
    assert_eq!(e.line, Some(line_of(text, "not-a-uuid")));

    let e = at("regions[1].zone");
    assert!(e.message.contains("unknown key `zone`"), "{}", e.message);
    assert_eq!(e.line, Some(line_of(text, "zone = 3")));

    let e = at("regions[2].geography");
    assert_eq!(
        e.message,
        r#"region "westus" names geography "naa", which is not defined (defined: eu, na)"#
    );
    assert_eq!(e.line, Some(line_of(text, "\"naa\"")));

    let e = at("regions[3].origins");
    assert!(e.message.contains("has no origins"), "{}", e.message);
    assert_eq!(e.line, Some(line_of(text, "origins = []")));

    // Region eastus did not parse, so "geography na has no regions" would be noise.
    assert_eq!(errs.len(), 8, "{errs:#?}");
    // Sorted by line.
    let lines: Vec<_> = errs.iter().map(|e| e.line.unwrap()).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
    assert!(errs.iter().all(|e| e.file == "test.toml"));

    let shown = edge_config::ConfigErrors(errs.clone()).to_string();
    assert!(shown.contains(&format!(
        "test.toml:{}: regions[1].zone: unknown key `zone`",
        line_of(text, "zone = 3")
    )));
}

#[test]
fn schema_errors_in_nested_elements_name_their_element() {
    let text = r#"
[listeners]
https = ["127.0.0.1:8443"]

[[tls.certificates]]
cert = "certs/edge.pem"

[tenancy]
sources = [
  { kind = "header", name = "x-tenant-id" },
  { kind = "hots", pattern = "{tenant}.example.com" },
  { kind = "jwt-claim", claim = "tid", issuer = "me" },
  { kind = "path" },
]

[[geographies]]
name = "eu"
fail_open = "yes"

[[regions]]
name = "northeurope"
geography = "eu"
origins = [
  { address = "127.0.0.1:9101" },
  { address = "127.0.0.1:9102", wieght = 5 },
]

[[regions]]
geography = "eu"
origins = [{ address = "127.0.0.1:9103" }]
"#;
    let errs = errors(text);
    let at = |key| error_at(&errs, key);
    let e = at("tls.certificates[0].key");
    assert!(
        e.message.contains("missing required key `key`"),
        "{}",
        e.message
    );
    assert_eq!(e.line, Some(line_of(text, "[[tls.certificates]]")));

    let e = at("tenancy.sources[1].kind");
    assert!(e.message.contains("unknown value `hots`"), "{}", e.message);
    assert_eq!(e.line, Some(line_of(text, "hots")));
    let e = at("tenancy.sources[2].issuer");
    assert_eq!(e.line, Some(line_of(text, "issuer")));
    let e = at("tenancy.sources[3].prefix");
    assert!(
        e.message.contains("missing required key `prefix`"),
        "{}",
        e.message
    );
    assert_eq!(e.line, Some(line_of(text, "kind = \"path\"")));

    let e = at("geographies[0].fail_open");
    assert!(e.message.contains("expected a boolean"), "{}", e.message);

    let e = at("regions[0].origins[1].wieght");
    assert_eq!(e.line, Some(line_of(text, "wieght")));
    let e = at("regions[1].name");
    assert!(e.message.contains("missing required key `name`"));
    assert_eq!(errs.len(), 7, "{errs:#?}");
}

#[test]
fn semantic_checks() {
    let text = r#"
[listeners]
https = ["127.0.0.1:8443", "localhost:8443"]
http = ["[::]:8080", "127.0.0.1:8080"]
admin = "127.0.0.1:8443"

[[tls.certificates]]
cert = "certs/edge.key"
key = "certs/edge.pem"

[tenancy]
sources = [
  { kind = "host", pattern = "app.example.com" },
  { kind = "host", pattern = "{tenant}.{tenant}.example.com" },
  { kind = "host", pattern = "https://{tenant}.example.com" },
  { kind = "header", name = "x tenant" },
  { kind = "path", prefix = "t/{tenant}" },
  { kind = "path", prefix = "/t/{tenant}/x" },
  { kind = "jwt-claim", claim = "" },
]
unknown = "nearest"

[[tenants]]
id = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b"
geography = "mars"
plan = "Gold"

[[geographies]]
name = "EU"

[[geographies]]
name = "eu"

[[geographies]]
name = "eu"

[[geographies]]
name = "na"

[[geographies]]
name = "ap"

[[regions]]
name = "AP"
geography = "ap"
origins = [{ address = "127.0.0.1:9109" }]

[[regions]]
name = "north europe"
geography = "eu"
priority = 0
weight = 1001
origins = [
  { address = "127.0.0.1" },
  { address = "::1:80" },
  { address = "127.0.0.1:0" },
  { address = "does-not-exist.invalid:80" },
  { address = "127.0.0.1:9101", weight = -1, sni = "" },
]

[[regions]]
name = "westeurope"
geography = "eu"
origins = [{ address = "[::1]:9102", tls = true }]

[[regions]]
name = "westeurope"
geography = "eu"
origins = [{ address = "127.0.0.1:9103" }]
"#;
    let errs = errors(text);
    let msg = |key| error_at(&errs, key).message.clone();
    let has = |key, part: &str| {
        let m = msg(key);
        assert!(m.contains(part), "{key}: {m:?} does not contain {part:?}");
    };
    has("listeners.https[1]", "not a listen address");
    has("listeners.http[1]", "wildcard");
    has("listeners.admin", "the same address is listed twice");
    has("tls.certificates[0].cert", "no PEM CERTIFICATE");
    has("tls.certificates[0].key", "no private key");
    has("tenancy.sources[0].pattern", "exactly once (found 0)");
    has("tenancy.sources[1].pattern", "exactly once (found 2)");
    has("tenancy.sources[2].pattern", "no scheme, port or path");
    has("tenancy.sources[3].name", "not a valid HTTP header name");
    has("tenancy.sources[4].prefix", "must start with '/'");
    has("tenancy.sources[5].prefix", "must end with {tenant}");
    has("tenancy.sources[6].claim", "must not be empty");
    has(
        "tenancy.unknown",
        "needs a MaxMind database ([geo] with database = \"GeoLite2-Country.mmdb\") and \
         default_geography",
    );
    has(
        "tenants[0].geography",
        "which is not defined (defined: ap, eu, na)",
    );
    has("tenants[0].plan", "not a valid plan name");
    has("geographies[0].name", "not a valid geography name");
    has(
        "geographies[2].name",
        "defined twice (first at geographies[1])",
    );
    has("geographies[3].name", "geography \"na\" has no regions");
    // A region with a bad name still counts as a region of "ap".
    has("regions[0].name", "not a valid region name");
    has("regions[1].name", "not a valid region name");
    has("regions[1].priority", "at least 1");
    has("regions[1].weight", "0 to 1000");
    has("regions[1].origins[0].address", "is not host:port");
    has("regions[1].origins[1].address", "needs brackets");
    has("regions[1].origins[2].address", "from 1 to 65535");
    has("regions[1].origins[3].address", "cannot resolve");
    has("regions[1].origins[4].weight", "0 to 1000");
    has("regions[1].origins[4].sni", "not a valid server name");
    has("regions[3].name", "defined twice (first at regions[2])");
    assert_eq!(errs.len(), 29, "{errs:#?}");
}

#[test]
fn listeners_and_certificates_are_required() {
    let text = BASE
        .replace("https = [\"127.0.0.1:8443\"]", "admin = \"127.0.0.1:9901\"")
        .replace(
            "[[tls.certificates]]\ncert = \"certs/edge.pem\"\nkey = \"certs/edge.key\"",
            "",
        );
    let errs = errors(&text);
    error_at(&errs, "listeners.https");
    assert_eq!(errs.len(), 1, "{errs:#?}");

    let text = BASE.replace(
        "[[tls.certificates]]\ncert = \"certs/edge.pem\"\nkey = \"certs/edge.key\"",
        "",
    );
    let errs = errors(&text);
    assert!(error_at(&errs, "tls.certificates")
        .message
        .contains("at least one certificate"));

    let errs = errors("");
    error_at(&errs, "listeners.https");
    error_at(&errs, "tenancy.sources");
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn listener_overlap_rules() {
    let with = |https: &str, http: &str| {
        BASE.replace(
            "https = [\"127.0.0.1:8443\"]",
            &format!("https = [{https}]\nhttp = [{http}]"),
        )
    };
    // Different ports, different addresses on one port, and port 0 never overlap.
    ok(&with(r#""127.0.0.1:8443""#, r#""127.0.0.1:8080""#));
    ok(&with(r#""127.0.0.1:8443", "127.0.0.2:8443""#, ""));
    ok(&with(r#""0.0.0.0:0""#, r#""0.0.0.0:0""#));
    let c = ok(&with(r#""[::1]:8443""#, ""));
    assert_eq!(
        c.listeners.https,
        ["[::1]:8443".parse::<SocketAddr>().unwrap()]
    );
    // [::] overlaps IPv4 too.
    let errs = errors(&with(r#""[::]:8443""#, r#""10.1.2.3:8443""#));
    error_at(&errs, "listeners.http[0]");
    let errs = errors(&with(r#""127.0.0.1:8443", "127.0.0.1:8443""#, ""));
    error_at(&errs, "listeners.https[1]");
}

#[test]
fn syntax_error_is_reported_alone_with_its_line() {
    let text = "[listeners]\nhttps = [\"127.0.0.1:8443\"\n\n[tenancy]\nsources = 3\nbogus = 1\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].key, "");
    assert!(
        errs[0].line.is_some_and(|l| (2..=4).contains(&l)),
        "{errs:?}"
    );
    assert!(errs[0].message.starts_with("invalid TOML"));

    let errs = errors("a = 1\na = 2\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, Some(2));
}

#[test]
fn wrong_shapes_are_schema_errors() {
    let text = "server = 1\nregions = 2\ngeographies = [1]\n[tenancy]\nsources = \"host\"\n";
    let errs = errors(text);
    assert!(error_at(&errs, "server")
        .message
        .contains("expected a table"));
    assert!(error_at(&errs, "regions")
        .message
        .contains("expected an array"));
    assert!(error_at(&errs, "geographies[0]")
        .message
        .contains("expected a table"));
    assert!(error_at(&errs, "tenancy.sources")
        .message
        .contains("expected an array"));
    error_at(&errs, "listeners.https");
    assert_eq!(errs.len(), 5, "{errs:#?}");
}

#[test]
fn tenant_file_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["edge.pem", "edge.key"] {
        std::fs::copy(examples_dir().join("certs").join(f), dir.path().join(f)).unwrap();
    }
    let csv = "id,geography\n3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b,eu\n\n# ok\nnope,eu\n3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b,eu\n";
    std::fs::write(dir.path().join("t.csv"), csv).unwrap();
    let config = BASE
        .replace("certs/", "")
        .replace("[tenancy]", "[tenancy]\nfile = \"t.csv\"");
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, &config).unwrap();
    let errs = edge_config::load(&path).unwrap_err().0;
    assert_eq!(errs.len(), 2, "{errs:#?}");
    let file = dir.path().join("t.csv").display().to_string();
    assert!(errs.iter().all(|e| e.file == file && e.key.is_empty()));
    assert_eq!(errs[0].line, Some(5));
    assert!(errs[0].message.contains("not a valid tenant id"));
    assert_eq!(errs[1].line, Some(6));
    assert!(errs[1].message.contains("duplicate tenant id"));

    std::fs::remove_file(dir.path().join("t.csv")).unwrap();
    let errs = edge_config::load(&path).unwrap_err().0;
    let e = error_at(&errs, "tenancy.file");
    assert!(e.message.contains("cannot read tenant file"));
    assert_eq!(e.line, Some(line_of(&config, "file = ")));
}

#[test]
fn missing_config_file() {
    let errs = edge_config::load(Path::new("/nonexistent/edge.toml"))
        .unwrap_err()
        .0;
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].file, "/nonexistent/edge.toml");
    assert!(errs[0].message.contains("cannot read"));
}

#[test]
fn summary_describes_the_topology() {
    let config = edge_config::load(&examples_dir().join("edge.toml")).unwrap();
    let s = summary(&config);
    for part in [
        "https 127.0.0.1:8443",
        "http 127.0.0.1:8080",
        "admin 127.0.0.1:9901",
        "tenants: 8",
        "geography eu (fail closed, 4 tenants)",
        "geography na (fail open, 4 tenants)",
        "region northeurope priority 1 weight 100: 2 origin(s): 127.0.0.1:9101, 127.0.0.1:9105 (weight 50, host northeurope.internal)",
        "region westus priority 2 weight 100: 1 origin(s): 127.0.0.1:9104",
        "host {tenant}.app.example.com",
        "HSTS max-age 365d",
        "health: GET /healthz every 1s, timeout 500ms, rise 2, fall 2, expect 200-399, host health.internal\n",
        "region westus priority 2 weight 100: 1 origin(s): 127.0.0.1:9104\n    health: GET /healthz every 2s, timeout 500ms, rise 2, fall 3, expect 200, 204, host health.internal\n",
        "outlier detection: eject after 3 consecutive failures (5xx included), for 5s growing to 1m",
        "retries: GET, HEAD, OPTIONS, PUT, DELETE; budget ratio 0.2 over 10s, min 3 concurrent; latency sensitivity 50ms; slow start 10s",
        "client ip: X-Forwarded-For from trusted proxies 10.0.0.0/8, ::1/128",
        "rate limits: plans premium 500/s burst 500, standard 50/s burst 100; default plan standard; per client 100/s burst 200; 1 tenant override(s); route /api/search GET 5/s burst 5; headers always; up to 1000000 tracked keys, idle after 1m",
        "unknown tenants: route by client location (default geography eu)\n",
        "tenants: 8 (1 limited to allowed countries)\n",
        "geography eu (fail closed, 4 tenants); countries IL, AE, TR; continents EU, AF\n",
        "geography na (fail open, 4 tenants); continents NA, SA\n",
        "region northeurope priority 1 weight 100: 2 origin(s): 127.0.0.1:9101, 127.0.0.1:9105 (weight 50, host northeurope.internal)\n    location: lat 53.35, lon -6.26\n",
        "geo-demo.mmdb, checked for changes every 5s; denied countries KP\n",
        "limits: 10000 connections; timeouts tls handshake 10s, request header 10s, idle 1m; uri 8KiB; headers 100 fields, 32KiB; body 10MiB, /upload 100MiB; 100 h2 streams; 10000 requests per http/1.1 connection\n",
    ] {
        assert!(s.contains(part), "summary lacks {part:?}:\n{s}");
    }
    let minimal = summary(&edge_config::load(&examples_dir().join("minimal.toml")).unwrap());
    for part in [
        "client ip: the peer address (no trusted proxies)",
        "geo: off",
        "unknown tenants: reject",
        "rate limits: off",
        "slow start 10s",
        "body 10MiB; 100 h2 streams",
    ] {
        assert!(minimal.contains(part), "summary lacks {part:?}:\n{minimal}");
    }
    assert!(!minimal.contains("    health:"), "{minimal}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = parse(&text, "fuzz.toml", Path::new("/nonexistent"));
    }

    #[test]
    fn parse_never_panics_on_toml_like_text(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("[listeners]".to_owned()),
                Just("[[regions]]".to_owned()),
                Just("[[geographies]]".to_owned()),
                Just("[tenancy]".to_owned()),
                Just("[[tls.certificates]]".to_owned()),
                Just("[health]".to_owned()),
                Just("[outlier_detection]".to_owned()),
                Just("[routing.retry_budget]".to_owned()),
                Just("[client_ip]".to_owned()),
                Just("[rate_limits]".to_owned()),
                Just("[rate_limits.plans.standard]".to_owned()),
                Just("[rate_limits.per_client]".to_owned()),
                Just("[[rate_limits.routes]]".to_owned()),
                Just("[[rate_limits.tenant_overrides]]".to_owned()),
                Just("[regions.health]".to_owned()),
                "[a-z_]{1,12} = \"[a-z0-9{}:./ -]{0,20}\"",
                "[a-z_]{1,12} = -?[0-9]{1,12}",
                "[a-z_]{1,12} = \\[\\{ [a-z]{1,8} = \"[a-z0-9.:]{0,12}\" \\}\\]",
                "\\PC{0,30}",
            ],
            0..30,
        )
    ) {
        let text = lines.join("\n");
        let _ = parse(&text, "fuzz.toml", Path::new("/nonexistent"));
    }
}

/// `[geo]` with the example demo database (relative to the examples directory).
const GEO: &str = "\n[geo]\ndatabase = \"geo-demo.mmdb\"\n";

/// BASE with `unknown = "nearest"`, `default_geography = "eu"` and `[geo]`.
fn nearest_base() -> String {
    BASE.replace(
        "[tenancy]\n",
        "[tenancy]\nunknown = \"nearest\"\ndefault_geography = \"eu\"\n",
    ) + GEO
}

#[test]
fn geo_settings_take_defaults_and_upper_case_codes() {
    let config = ok(&format!("{BASE}{GEO}deny_countries = [\"kp\", \"Ir\"]\n"));
    let geo = config.geo.unwrap();
    assert_eq!(geo.database, examples_dir().join("geo-demo.mmdb"));
    assert_eq!(geo.reload_interval, validate::DEFAULT_GEO_RELOAD_INTERVAL);
    assert_eq!(geo.reload_interval, Duration::from_secs(5));
    assert_eq!(codes(&geo.deny_countries), ["KP", "IR"]);
    // Without "nearest", geographies may list countries already; nothing uses them yet.
    let config = ok(&format!(
        "{}{GEO}reload_interval = \"1m\"\n",
        BASE.replace("name = \"eu\"\n", "name = \"eu\"\ncountries = [\"de\"]\n")
    ));
    assert_eq!(config.geo.unwrap().reload_interval, Duration::from_secs(60));
    assert_eq!(codes(&config.geographies[0].countries), ["DE"]);
    assert_eq!(config.tenancy.unknown, UnknownTenant::Reject);
}

#[test]
fn nearest_routing_and_country_rules_build_the_model() {
    let text = nearest_base().replace(
        "name = \"eu\"\n",
        "name = \"eu\"\ncountries = [\"GB\", \"ch\"]\ncontinents = [\"eu\", \"AF\"]\n",
    ) + r#"
[[geographies]]
name = "na"
continents = ["NA"]

[[regions]]
name = "eastus"
geography = "na"
location = { lat = 37, lon = -79.82 }
origins = [{ address = "127.0.0.1:9103" }]

[[tenants]]
id = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b"
geography = "eu"
allowed_countries = ["de", "AT"]

[[tenants]]
id = "fbaf7fa7-3354-4078-ae7d-61299da1536f"
geography = "na"
"#;
    let config = ok(&text);
    assert_eq!(config.tenancy.unknown, UnknownTenant::Nearest);
    assert_eq!(
        config.tenancy.default_geography,
        Some(GeographyName::new("eu"))
    );
    let eu = &config.geographies[0];
    assert_eq!(codes(&eu.countries), ["GB", "CH"]);
    assert_eq!(eu.continents, [ContinentCode::EU, ContinentCode::AF]);
    assert_eq!(config.geographies[1].continents, [ContinentCode::NA]);
    // An integer is as good as a float for degrees.
    assert_eq!(
        config.regions[1].location,
        Some(Location {
            lat: 37.0,
            lon: -79.82
        })
    );
    let tenant = |id: &str| &config.tenants.by_id[&TenantId::parse(id).unwrap()];
    assert_eq!(
        tenant("3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b")
            .allowed_countries
            .as_deref()
            .map(codes),
        Some(vec!["DE", "AT"])
    );
    assert_eq!(
        tenant("fbaf7fa7-3354-4078-ae7d-61299da1536f").allowed_countries,
        None
    );
}

#[test]
fn bad_geo_settings_are_reported_at_their_keys() {
    let text = format!(
        "{BASE}\n[geo]\ndatabse = \"x.mmdb\"\nreload_interval = \"10ms\"\n\
         deny_countries = [\"UK\", \"KP\", \"kp\", \"K\"]\n"
    );
    let errs = errors(&text);
    let e = error_at(&errs, "geo");
    assert!(
        e.message.starts_with("database is required in [geo]"),
        "{e:?}"
    );
    assert_eq!(e.line, Some(line_of(&text, "[geo]")));
    assert!(error_at(&errs, "geo.databse")
        .message
        .contains("unknown key `databse`"));
    let e = error_at(&errs, "geo.reload_interval");
    assert!(
        e.message
            .contains("10ms is too short: must be at least 100ms"),
        "{e:?}"
    );
    assert!(error_at(&errs, "geo.deny_countries[0]")
        .message
        .contains("(the United Kingdom is \"GB\")"));
    assert_eq!(
        error_at(&errs, "geo.deny_countries[2]").message,
        "KP is listed twice (first at geo.deny_countries[1]); list it once"
    );
    assert!(error_at(&errs, "geo.deny_countries[3]")
        .message
        .contains("is not a country code"));
    assert_eq!(errs.len(), 6, "{errs:#?}");
}

#[test]
fn the_database_must_look_like_a_maxmind_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    let mut mmdb_like = vec![0u8; 300_000];
    mmdb_like.extend_from_slice(validate::MMDB_METADATA_MARKER);
    mmdb_like.extend_from_slice(&[0xe0; 10]);
    let cases = [
        (file("good.mmdb", &mmdb_like), None),
        (
            dir.path().join("missing.mmdb").display().to_string(),
            Some("cannot be read: No such file"),
        ),
        (dir.path().display().to_string(), Some("is a directory")),
        (
            file(
                "GeoLite2-Country_20250101.tar.gz",
                &[0x1f, 0x8b, 8, 0, 0, 0],
            ),
            Some("is a gzip archive, not a MaxMind DB file"),
        ),
        (file("db.zip", b"PK\x03\x04"), Some("is a zip archive")),
        (file("empty.mmdb", b""), Some("is not a MaxMind DB file")),
        (
            file("text.mmdb", b"hello"),
            Some("is not a MaxMind DB file (no metadata marker near its end)"),
        ),
        // The marker must be within the last 128 KiB, where the format keeps the metadata.
        (
            file("early.mmdb", &{
                let mut v = validate::MMDB_METADATA_MARKER.to_vec();
                v.resize(200_000, 0);
                v
            }),
            Some("is not a MaxMind DB file"),
        ),
    ];
    for (path, problem) in cases {
        let text = format!("{BASE}\n[geo]\ndatabase = {path:?}\n");
        match (check(&text), problem) {
            (Ok(config), None) => {
                assert_eq!(config.geo.unwrap().database.display().to_string(), path);
            }
            (Err(errs), Some(problem)) => {
                let e = error_at(&errs, "geo.database");
                assert!(
                    e.message.starts_with(&format!("{path:?} ")) && e.message.contains(problem),
                    "{path}: {e:?}"
                );
                assert_eq!(e.line, Some(line_of(&text, "database = ")));
                assert_eq!(errs.len(), 1, "{errs:#?}");
            }
            (result, _) => panic!("{path}: unexpected {result:#?}"),
        }
    }
    // A relative path shows where it was looked for.
    let errs = errors(&format!("{BASE}\n[geo]\ndatabase = \"nope.mmdb\"\n"));
    let shown = examples_dir().join("nope.mmdb").display().to_string();
    assert!(
        error_at(&errs, "geo.database")
            .message
            .starts_with(&format!("\"nope.mmdb\" ({shown}) cannot be read")),
        "{errs:#?}"
    );
}

#[test]
fn geography_countries_and_continents_are_checked_and_unique() {
    let text = format!(
        "{}{}",
        BASE.replace(
            "name = \"eu\"\n",
            "name = \"eu\"\ncountries = [\"DE\", \"de\", \"ZZ\", \"EU\"]\n\
             continents = [\"EU\", \"Europe\"]\n",
        ),
        r#"
[[geographies]]
name = "na"
countries = ["US", "DE"]
continents = ["NA", "eu"]

[[geographies]]
name = "Bad Name"
countries = ["US"]

[[regions]]
name = "eastus"
geography = "na"
origins = [{ address = "127.0.0.1:9103" }]
"#
    );
    let errs = errors(&text);
    let msg = |key| error_at(&errs, key).message.clone();
    assert_eq!(
        msg("geographies[0].countries[1]"),
        "DE is listed twice (first at geographies[0].countries[0]); list it once"
    );
    assert!(msg("geographies[0].countries[2]").contains("not an assigned ISO 3166-1 alpha-2"));
    assert!(msg("geographies[0].countries[3]").contains("EU is a continent: use continents"));
    assert!(msg("geographies[0].continents[1]").contains("use one of AF, AN, AS, EU, NA, OC, SA"));
    assert_eq!(
        msg("geographies[1].countries[1]"),
        "country DE is already in geography \"eu\" (geographies[0].countries[0]); a country can \
         belong to one geography only, so that its clients route to exactly one"
    );
    assert!(msg("geographies[1].continents[1]")
        .starts_with("continent EU is already in geography \"eu\" (geographies[0].continents[0])"));
    // Checked even though the geography's name is wrong.
    assert!(msg("geographies[2].countries[0]")
        .starts_with("country US is already in geography \"na\" (geographies[1].countries[0])"));
    assert!(msg("geographies[2].name").contains("not a valid geography name"));
    let e = error_at(&errs, "geographies[1].countries[1]");
    assert_eq!(e.line, Some(line_of(&text, "countries = [\"US\", \"DE\"]")));
    assert_eq!(errs.len(), 8, "{errs:#?}");

    let errs = errors(&BASE.replace("name = \"eu\"\n", "name = \"eu\"\ncountries = \"DE\"\n"));
    assert!(error_at(&errs, "geographies[0].countries")
        .message
        .contains("expected an array"));
}

#[test]
fn region_locations_are_checked() {
    let text = format!(
        "{}{}",
        BASE.replace(
            "geography = \"eu\"\norigins",
            "geography = \"eu\"\nlocation = { lat = 90.5, lon = -181 }\norigins"
        ),
        r#"
[[regions]]
name = "westeurope"
geography = "eu"
location = { lat = 52.37 }
origins = [{ address = "127.0.0.1:9102" }]

[[regions]]
name = "uksouth"
geography = "eu"
location = { lat = nan, lon = 0, alt = 10 }
origins = [{ address = "127.0.0.1:9103" }]

[[regions]]
name = "ukwest"
geography = "eu"
location = { lat = "north", lon = 0 }
origins = [{ address = "127.0.0.1:9104" }]
"#
    );
    let errs = errors(&text);
    let msg = |key| error_at(&errs, key).message.clone();
    assert_eq!(
        msg("regions[0].location.lat"),
        "90.5 is out of range: latitude is -90 to 90 degrees (negative: south)"
    );
    assert_eq!(
        msg("regions[0].location.lon"),
        "-181 is out of range: longitude is -180 to 180 degrees (negative: west)"
    );
    assert!(msg("regions[1].location").starts_with("location needs both lat and lon"));
    assert!(msg("regions[2].location.alt").contains("unknown key `alt`, expected `lat` or `lon`"));
    assert!(msg("regions[2].location.lat").contains("NaN is out of range"));
    // A mistyped coordinate is reported, and then (being dropped) as missing.
    let mistyped: Vec<_> = errs
        .iter()
        .filter(|e| e.key.starts_with("regions[3]"))
        .collect();
    assert_eq!(mistyped.len(), 2, "{mistyped:#?}");
    assert!(mistyped.iter().any(|e| e.key == "regions[3].location.lat"
        && e.message
            .contains("expected a number of degrees such as 53.35")));
    assert_eq!(
        error_at(&errs, "regions[0].location.lat").line,
        Some(line_of(&text, "location = { lat = 90.5"))
    );
    assert_eq!(errs.len(), 7, "{errs:#?}");
}

#[test]
fn nearest_needs_a_database_and_a_default_geography() {
    let with_tenancy = |tenancy: &str, geo: bool| {
        let text = BASE.replace("[tenancy]\n", &format!("[tenancy]\n{tenancy}\n"));
        if geo {
            text + GEO
        } else {
            text
        }
    };
    let one = |text: &str, key: &str| {
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        let e = error_at(&errs, key);
        (e.message.clone(), e.line)
    };

    let text = with_tenancy("unknown = \"nearest\"", true);
    let (m, line) = one(&text, "tenancy.unknown");
    assert!(
        m.starts_with("\"nearest\" routes clients without a tenant by location and needs default_geography, the geography for clients"),
        "{m}"
    );
    assert_eq!(line, Some(line_of(&text, "unknown = ")));

    let (m, _) = one(
        &with_tenancy("unknown = \"nearest\"\ndefault_geography = \"eu\"", false),
        "tenancy.unknown",
    );
    assert!(
        m.ends_with("needs a MaxMind database ([geo] with database = \"GeoLite2-Country.mmdb\")"),
        "{m}"
    );

    let (m, _) = one(
        &with_tenancy("unknown = \"nearest\"\ndefault_geography = \"ap\"", true),
        "tenancy.default_geography",
    );
    assert_eq!(m, "default_geography \"ap\" is not defined (defined: eu)");
    let (m, _) = one(
        &with_tenancy("unknown = \"nearest\"\ndefault_geography = \"EU\"", true),
        "tenancy.default_geography",
    );
    assert!(m.contains("not a valid geography name"), "{m}");

    let (m, _) = one(
        &with_tenancy("default_geography = \"eu\"", true),
        "tenancy.default_geography",
    );
    assert!(
        m.starts_with("default_geography only applies with unknown = \"nearest\""),
        "{m}"
    );
    // A misspelt `unknown` is the one problem reported.
    let (m, _) = one(
        &with_tenancy("unknown = \"closest\"\ndefault_geography = \"eu\"", true),
        "tenancy.unknown",
    );
    assert_eq!(
        m,
        "unknown value \"closest\"; expected \"reject\" or \"nearest\""
    );

    // A broken [geo] is reported there, not again as missing for "nearest".
    let text = BASE.replace(
        "[tenancy]\n",
        "[tenancy]\nunknown = \"nearest\"\ndefault_geography = \"eu\"\n",
    ) + "\n[geo]\ndatabase = \"missing.mmdb\"\n";
    let (m, _) = one(&text, "geo.database");
    assert!(m.contains("cannot be read"), "{m}");
}

#[test]
fn allowed_countries_are_checked() {
    let tenant = |id: &str, allowed: &str| {
        format!("\n[[tenants]]\nid = \"{id}\"\ngeography = \"eu\"\nallowed_countries = {allowed}\n")
    };
    let text = format!(
        "{BASE}{GEO}deny_countries = [\"KP\"]\n{}{}",
        tenant("3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b", "[]"),
        tenant(
            "fbaf7fa7-3354-4078-ae7d-61299da1536f",
            "[\"DE\", \"KP\", \"de\", \"UK\"]"
        ),
    );
    let errs = errors(&text);
    let msg = |key| error_at(&errs, key).message.clone();
    assert!(msg("tenants[0].allowed_countries").starts_with("allowed_countries must not be empty"));
    assert_eq!(
        msg("tenants[1].allowed_countries[1]"),
        "KP is in geo.deny_countries, so its clients are refused for every tenant; remove it here \
         or there"
    );
    assert!(msg("tenants[1].allowed_countries[2]").contains("listed twice"));
    assert!(msg("tenants[1].allowed_countries[3]").contains("\"GB\""));
    assert_eq!(
        error_at(&errs, "tenants[1].allowed_countries[1]").line,
        Some(line_of(&text, "[\"DE\", \"KP\""))
    );
    assert_eq!(errs.len(), 4, "{errs:#?}");

    let text = format!(
        "{BASE}{}",
        tenant("3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b", "[\"DE\"]")
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(error_at(&errs, "tenants[0].allowed_countries")
        .message
        .starts_with("allowed_countries needs client location: add [geo]"));
}

#[test]
fn the_tenant_file_has_no_allowed_countries_column() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["edge.pem", "edge.key"] {
        std::fs::copy(examples_dir().join("certs").join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("t.csv"),
        "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b,eu,,DE\n",
    )
    .unwrap();
    let path = dir.path().join("edge.toml");
    std::fs::write(
        &path,
        BASE.replace("certs/", "")
            .replace("[tenancy]", "[tenancy]\nfile = \"t.csv\""),
    )
    .unwrap();
    let errs = edge_config::load(&path).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0]
        .message
        .contains("expected `id,geography[,plan]`, found 4 fields"));
}
