//! The access log: one JSON line per request in a file, written off the request path;
//! sampling of successful requests keeps every error; a rotated-away file is reopened.

use std::time::{Duration, Instant};

use edge_tests::{
    https_client, ClientOptions, GatewayProcess, Topology, EU_TENANT, UNKNOWN_TENANT,
};

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Waits (bounded) until `path` holds `n` lines; the writer flushes every 50 ms here.
fn wait_lines(path: &std::path::Path, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = lines(path);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_go_to_a_file_errors_survive_sampling_and_rotation_is_followed() {
    let mut topo = Topology::standard().await;
    topo.extra = "\n[access_log]\npath = \"access.log\"\nflush_interval = \"50ms\"\n".into();
    let path = topo.dir.path().join("access.log");
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/orders?x=1", topo.base_url());
    for _ in 0..5 {
        let r = c
            .get(&url)
            .header("x-tenant-id", EU_TENANT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = c
        .get(&url)
        .header("x-tenant-id", UNKNOWN_TENANT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let got = wait_lines(&path, 6);
    assert_eq!(got.len(), 6, "{got:#?}");
    // Lines of different worker threads are written buffer by buffer: not in time order.
    let ok = got.iter().find(|l| l["status"] == 200).unwrap();
    for key in [
        "ts",
        "request_id",
        "method",
        "path",
        "client",
        "tenant",
        "geography",
        "region",
        "origin",
        "status",
        "attempts",
        "duration_ms",
        "error",
        "cause",
    ] {
        assert!(ok.get(key).is_some(), "{key} missing: {ok}");
    }
    assert_eq!(ok["tenant"], EU_TENANT);
    assert_eq!(ok["region"], "northeurope");
    assert_eq!(ok["path"], "/orders");
    assert_eq!(ok["client"], "127.0.0.1");
    let refused: Vec<_> = got.iter().filter(|l| l["status"] == 404).collect();
    assert_eq!(refused.len(), 1, "{got:#?}");
    assert_eq!(refused[0]["error"], "unknown_tenant");

    // Rotation as logrotate does it: rename, then the gateway reopens the path.
    let rotated = topo.dir.path().join("access.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() && Instant::now() < deadline {
        let r = c
            .get(&url)
            .header("x-tenant-id", EU_TENANT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(path.exists(), "the log was not reopened after rotation");
    let r = c
        .get(&url)
        .header("x-tenant-id", EU_TENANT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!wait_lines(&path, 1).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_drops_successes_only() {
    let mut topo = Topology::standard().await;
    topo.extra =
        "\n[access_log]\npath = \"access.log\"\nsample_success = 0.0\nflush_interval = \"50ms\"\n"
            .into();
    let path = topo.dir.path().join("access.log");
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());
    for _ in 0..20 {
        let r = c
            .get(&url)
            .header("x-tenant-id", EU_TENANT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    for _ in 0..3 {
        let r = c
            .get(&url)
            .header("x-tenant-id", UNKNOWN_TENANT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let got = wait_lines(&path, 3);
    // Give a late success line the chance to show up before counting.
    std::thread::sleep(Duration::from_millis(200));
    let got = if got.len() == 3 { lines(&path) } else { got };
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got.iter().all(|l| l["status"] == 404));
}
