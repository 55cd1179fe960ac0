//! CI's short form of the region-outage scenario: a few seconds with fast health checks,
//! against the gateway binary under test (`$EDGE_GATEWAY_BIN`, else the build next to this
//! test). Fails on any residency violation, any failed request (a 502 to a POST the gateway
//! would not send again is expected), a slow failover/failback, or a POST executed twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edge_loadtest::scenario::{self, GatewayChoice, Options, Scenario};

#[test]
fn region_outage_short_form_has_no_error_and_no_residency_violation() {
    let bin = edge_tests::gateway_bin();
    let out = tempfile::tempdir().unwrap();
    let opts = Options {
        duration: None,
        rps: None,
        concurrency: None,
        short: true,
        out: out.path().to_path_buf(),
        gateway: GatewayChoice::Spawn {
            bin,
            threads: 2,
            access_log: false,
        },
        max_requests: None,
        quiet: true,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime
        .block_on(scenario::run(Scenario::RegionOutage, &opts))
        .unwrap();
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    assert_eq!(report.totals.residency_violations, 0, "{failed:?}");
    assert_eq!(
        report.totals.failed, 0,
        "failed requests by kind: {:?}",
        report.totals.by_kind
    );
    assert!(
        report.totals.ok > 1000,
        "too little traffic: {}",
        report.totals.ok
    );
    assert!(failed.is_empty(), "failed checks: {failed:#?}");
    let posts = report
        .posts
        .as_ref()
        .expect("the region outage sends POSTs");
    assert!(posts.executions_counted, "{posts:?}");
    assert!(posts.sent > 200, "too few POSTs: {posts:?}");
    assert_eq!(posts.executed_twice_or_more, 0, "{posts:?}");
    assert_eq!(posts.ok_not_executed, 0, "{posts:?}");
    assert_eq!(posts.executions_untracked, 0, "{posts:?}");
    let f = &report.failover[0];
    assert!(f.failover_ms.is_some_and(|ms| ms < 1000.0), "{f:?}");
    assert!(f.failback_ms.is_some(), "{f:?}");
    assert!(out.path().join("region-outage.svg").is_file());
    assert!(out.path().join("region-outage.json").is_file());
}
