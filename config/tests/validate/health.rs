//! `[health]`, `[outlier_detection]` and `[routing]` (and `[client_ip]`, in the same tests):
//! explicit values, region overrides merged over the global health checks, and errors at
//! their keys.

use std::time::Duration;

use edge_config::{summary, Health, PlanName, RetryBudget, StatusRange};

use crate::{error_at, errors, line_of, ok, BASE};

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
