//! Health checks, latency-aware selection and failover, with origins the tests break on
//! purpose. Every load loop is bounded in requests and time.

use std::time::Duration;

use edge_tests::load::{run_load, send, until, Outcome, Trigger};
use edge_tests::{
    https_client, ClientOptions, GatewayProcess, RegionSpec, Topology, EU_TENANT, NA_TENANT,
};

const FAST_HEALTH: &str = r#"
[health]
interval = "100ms"
timeout = "200ms"
rise = 2
fall = 2

[outlier_detection]
base_ejection_time = "500ms"

[routing]
connect_timeout = "500ms"
read_timeout = "1s"
slow_start = "1s"
"#;

fn eu(name: &'static str, priority: u32, origins: usize) -> RegionSpec {
    RegionSpec {
        name,
        geography: "eu",
        priority,
        origins,
    }
}

fn na(name: &'static str, priority: u32) -> RegionSpec {
    RegionSpec {
        name,
        geography: "na",
        priority,
        origins: 1,
    }
}

async fn topology(regions: &[RegionSpec], extra: &str) -> Topology {
    let mut topo = Topology::start(regions).await;
    topo.extra = extra.to_string();
    topo
}

fn standard_regions() -> Vec<RegionSpec> {
    vec![
        eu("northeurope", 1, 1),
        eu("westeurope", 2, 1),
        na("eastus", 1),
        na("westus", 2),
    ]
}

fn failures(outcomes: &[Outcome]) -> Vec<&Outcome> {
    outcomes
        .iter()
        .filter(|o| !o.ok() || o.error.is_some())
        .collect()
}

fn assert_all_in_eu(outcomes: &[Outcome]) {
    let outside: Vec<_> = outcomes
        .iter()
        .filter(|o| !["northeurope", "westeurope"].contains(&o.served_by.as_str()))
        .collect();
    assert!(
        outside.is_empty(),
        "served outside the EU: {:?}",
        &outside[..outside.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_primary_under_get_load_fails_no_request() {
    let topo = topology(&standard_regions(), FAST_HEALTH).await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/orders", topo.base_url());
    let primary = topo.region("northeurope").clone();
    let kill_at = 300;
    let concurrency = 8;
    let outcomes = run_load(
        2_000,
        concurrency,
        move |_| c.get(&url).header("x-tenant-id", EU_TENANT),
        Some(Trigger {
            at: kill_at,
            action: Box::new(move || primary.kill()),
        }),
    )
    .await;
    let failed = failures(&outcomes);
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert_all_in_eu(&outcomes);
    // The primary carried the traffic until the kill. Not every request: with 100 ms probes
    // and a 200 ms probe timeout, two slow probes on a loaded machine (the whole suite runs in
    // parallel on two cores) can mark it down for a moment, which routes a request or two to
    // the secondary, as it should.
    let before = outcomes[..kill_at - concurrency]
        .iter()
        .filter(|o| o.served_by == "northeurope")
        .count();
    assert!(
        before * 100 >= (kill_at - concurrency) * 95,
        "the primary served only {before} of the {} requests before the kill",
        kill_at - concurrency
    );
    let after: Vec<_> = outcomes[kill_at + concurrency..]
        .iter()
        .filter(|o| o.served_by != "westeurope")
        .collect();
    assert!(
        after.is_empty(),
        "after the kill: {:?}",
        &after[..after.len().min(3)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_are_retried_when_the_primary_refuses_connections() {
    // Slow probes and a high ejection threshold: here failover must come from retrying the
    // refused connection inside each request, not from health checks.
    let extra = r#"
[health]
interval = "30s"
[outlier_detection]
consecutive_failures = 100
"#;
    let topo = topology(&standard_regions(), extra).await;
    let gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/orders", topo.base_url());
    let make = {
        let (c, url) = (c.clone(), url.clone());
        move |i: usize| {
            c.post(&url)
                .header("x-tenant-id", EU_TENANT)
                .body(format!("{{\"order\":{i}}}"))
        }
    };
    // The primary passed its start-up probe (so it is a candidate) and nothing has been
    // pooled to it yet: every POST now meets a refused connection, never a stale pooled one
    // (a request sent on a connection the origin closed is a different failure: it may have
    // been processed, so a POST is not resent then).
    assert!(topo.region("northeurope").health_probes() > 0);
    topo.region("northeurope").kill();
    let outcomes = run_load(2_000, 8, make, None).await;
    let failed = failures(&outcomes);
    let log = gw.log_text();
    assert!(
        failed.is_empty(),
        "{}",
        &log[log.len().saturating_sub(3000)..]
    );
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(outcomes.iter().all(|o| o.served_by == "westeurope"));
    assert_eq!(topo.region("westeurope").requests(), 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_eu_regions_down_gives_503_and_na_is_unaffected() {
    let topo = topology(&standard_regions(), FAST_HEALTH).await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    topo.region("northeurope").kill();
    topo.region("westeurope").kill();
    let c = https_client(&topo, &ClientOptions::default());
    for _ in 0..20 {
        let o = send(
            0,
            c.get(format!("{}/x", topo.base_url()))
                .header("x-tenant-id", EU_TENANT),
        )
        .await;
        assert_eq!(o.status, 503, "{o:?}");
        assert!(o.elapsed < Duration::from_secs(2), "{o:?}");
        let o = send(
            0,
            c.get(format!("{}/x", topo.base_url()))
                .header("x-tenant-id", NA_TENANT),
        )
        .await;
        assert_eq!((o.status, o.served_by.as_str()), (200, "eastus"));
    }
    let resp = c
        .get(format!("{}/x", topo.base_url()))
        .header("x-tenant-id", EU_TENANT)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert_eq!(topo.region("eastus").requests(), 20);
    assert_eq!(topo.region("westus").requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_origin_is_ejected_and_requests_complete_elsewhere() {
    let extra = FAST_HEALTH.replace(
        "base_ejection_time = \"500ms\"",
        "consecutive_failures = 1\nbase_ejection_time = \"30s\"",
    );
    let regions = [
        eu("northeurope", 1, 2),
        eu("westeurope", 2, 1),
        na("eastus", 1),
    ];
    let topo = topology(&regions, &extra).await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let hung = topo.region("northeurope").origins[0].clone();
    hung.hang(true);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());
    // Three workers: at most three requests can be stuck on the hung origin at once, which
    // the retry budget's minimum concurrency (3) always allows to retry.
    let outcomes = run_load(
        200,
        3,
        move |_| c.get(&url).header("x-tenant-id", EU_TENANT),
        None,
    )
    .await;
    let failed = failures(&outcomes);
    assert!(failed.is_empty(), "{failed:?}");
    assert_all_in_eu(&outcomes);
    // Bounded by read_timeout (1 s) + one retry: measured 1.01 s. The bound is 5× that, and
    // under the client's own 10 s timeout, so a request stuck on the hung origin still fails.
    let slowest = outcomes.iter().map(|o| o.elapsed).max().unwrap();
    eprintln!("slowest request with a hung origin: {slowest:?}");
    assert!(slowest < Duration::from_secs(6), "slowest {slowest:?}");
    // Each worker may hit the hung origin once before it is ejected/marked down, no more.
    assert!(
        hung.requests() <= 3,
        "hung origin got {} requests",
        hung.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_faster_of_two_same_priority_regions_takes_the_traffic() {
    let extra = format!("{FAST_HEALTH}\nlatency_sensitivity = \"20ms\"\n");
    let regions = [
        eu("northeurope", 1, 1),
        eu("westeurope", 1, 1),
        na("eastus", 1),
    ];
    let topo = topology(&regions, &extra).await;
    topo.region("westeurope")
        .set_latency(Duration::from_millis(80), Duration::ZERO);
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());
    let outcomes = run_load(
        400,
        8,
        move |_| c.get(&url).header("x-tenant-id", EU_TENANT),
        None,
    )
    .await;
    assert!(failures(&outcomes).is_empty());
    let fast = outcomes
        .iter()
        .filter(|o| o.served_by == "northeurope")
        .count();
    assert!(
        fast as f64 >= 0.95 * 400.0,
        "only {fast}/400 to the faster region"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_within_the_latency_band_split_by_weight() {
    let extra = format!("{FAST_HEALTH}\nlatency_sensitivity = \"50ms\"\n");
    let regions = [
        eu("northeurope", 1, 1),
        eu("westeurope", 1, 1),
        na("eastus", 1),
    ];
    let topo = topology(&regions, &extra).await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());
    let outcomes = run_load(
        600,
        8,
        move |_| c.get(&url).header("x-tenant-id", EU_TENANT),
        None,
    )
    .await;
    assert!(failures(&outcomes).is_empty());
    let north = outcomes
        .iter()
        .filter(|o| o.served_by == "northeurope")
        .count() as f64
        / 600.0;
    assert!((0.35..=0.65).contains(&north), "northeurope share {north}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_origin_is_not_readmitted_and_clients_see_no_error() {
    let topo = topology(&standard_regions(), FAST_HEALTH).await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());
    let req = || c.get(&url).header("x-tenant-id", EU_TENANT);
    let primary = topo.region("northeurope");
    primary.set_health_status(500);
    let moved = until(req, 5, Duration::from_secs(5), |w| {
        w.iter().all(|o| o.served_by == "westeurope")
    })
    .await;
    assert!(moved.is_some(), "traffic never left the failing primary");
    primary.set_health_status(200);
    primary.set_health_flapping(true);
    // 20 probe intervals of alternating verdicts.
    let readmitted = until(req, 1, Duration::from_secs(2), |w| {
        assert!(w[0].ok(), "{:?}", w[0]);
        w[0].served_by == "northeurope"
    })
    .await;
    assert!(readmitted.is_none(), "flapping origin was readmitted");
    primary.set_health_flapping(false);
    let back = until(req, 5, Duration::from_secs(5), |w| {
        w.iter().all(|o| o.served_by == "northeurope")
    })
    .await;
    assert!(back.is_some(), "steady primary was not readmitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_fails_back_to_the_recovered_primary_gradually() {
    let topo = topology(&standard_regions(), FAST_HEALTH).await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());
    let req = || c.get(&url).header("x-tenant-id", EU_TENANT);
    let primary = topo.region("northeurope");
    primary.kill();
    let moved = until(req, 10, Duration::from_secs(5), |w| {
        w.iter().all(|o| o.ok() && o.served_by == "westeurope")
    })
    .await;
    assert!(moved.is_some());
    primary.revive().await.unwrap();
    // rise (2) × interval (100 ms) + slow start (1 s): measured 1.3-1.5 s. The deadline is
    // more than 5× that.
    let mut shares = Vec::new();
    let back = until(req, 20, Duration::from_secs(10), |w| {
        assert!(w.iter().all(Outcome::ok));
        let share = w.iter().filter(|o| o.served_by == "northeurope").count();
        shares.push(share);
        share >= 19
    })
    .await;
    let last: Vec<_> = shares.iter().rev().take(20).collect();
    eprintln!("failback to the recovered primary took {back:?}");
    assert!(
        back.is_some(),
        "traffic did not return to the primary within 10 s; last shares: {last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_headers_explain_the_route() {
    let extra = format!("{FAST_HEALTH}\ndebug_headers = true\n");
    let topo = topology(&standard_regions(), &extra).await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    topo.region("northeurope").kill();
    let c = https_client(&topo, &ClientOptions::default());
    let resp = c
        .get(format!("{}/x", topo.base_url()))
        .header("x-tenant-id", EU_TENANT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let route = resp.headers()["x-edge-route"].to_str().unwrap().to_string();
    assert!(
        route.starts_with("geo=eu; source=header; attempts="),
        "{route}"
    );
    assert!(route.contains("westeurope/"), "{route}");
    assert!(
        !route.contains("eastus") && !route.contains("westus"),
        "{route}"
    );
}
