//! Scale: a gateway with a million tenants serves, and reloads them three times, without a
//! failed request.
//!
//! The test asserts behaviour, not speed: how long a load and swap takes is printed, and
//! measured properly (release build, nothing else running) by
//! `cargo run --release -p edge-gateway --example tenant_scale`. The test still runs alone
//! (`Topology::standard_alone`): no other test's gateway runs while it loads a million
//! tenants, so it neither slows them down nor is slowed down by them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use edge_tests::load::{run_until, send, Outcome};
use edge_tests::{
    free_addr, https_client, ClientOptions, GatewayProcess, Topology, ADMIN_TOKEN, EU_TENANT,
};
use serde_json::Value;

async fn topology() -> Topology {
    let mut topo = Topology::standard_alone().await;
    topo.admin = Some(free_addr());
    topo
}

async fn api(topo: &Topology, method: reqwest::Method, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .request(method, format!("http://{}{path}", topo.admin.unwrap()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_tenants_load_and_reload_without_a_failed_request() {
    let topo = topology().await;
    let n = 1_000_000usize;
    let mut csv = String::with_capacity(n * 42);
    csv.push_str("id,geography\n");
    let mut last = String::new();
    for i in 0..n {
        let id = uuid::Uuid::from_u128(0x5000_0000_0000_4000_8000_0000_0000_0000 + i as u128)
            .to_string();
        csv.push_str(&id);
        csv.push_str(if i % 2 == 0 { ",eu\n" } else { ",na\n" });
        last = id;
    }
    std::fs::write(topo.dir.path().join("tenants.csv"), csv).unwrap();
    let config = topo.config_toml().replace(
        "unknown = \"reject\"",
        "unknown = \"reject\"\nfile = \"tenants.csv\"",
    );
    let path = topo.dir.path().join("edge.toml");
    std::fs::write(&path, config).unwrap();
    let _gw =
        GatewayProcess::start_full(&path, topo.https, &[], &[("EDGE_ADMIN_TOKEN", ADMIN_TOKEN)]);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());
    // The last tenant of the file (odd index: na) is known.
    let o = send(0, c.get(&url).header("x-tenant-id", last.as_str())).await;
    assert_eq!((o.status, o.served_by.as_str()), (200, "eastus"));
    // Load from before the first reload until after the last.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (c, url, stop) = (c.clone(), url.clone(), stop.clone());
        tokio::spawn(async move {
            run_until(stop, 200_000, 4, move |_| {
                c.get(&url).header("x-tenant-id", EU_TENANT)
            })
            .await
        })
    };
    let mut took = Vec::new();
    for _ in 0..3 {
        let (s, v) = api(&topo, reqwest::Method::POST, "/api/v1/config/reload").await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["tenants"], n + 3);
        took.push((
            v["took_ms"].as_f64().unwrap(),
            v["load_ms"].as_f64().unwrap(),
            v["build_ms"].as_f64().unwrap(),
        ));
    }
    stop.store(true, Ordering::SeqCst);
    let outcomes = load.await.unwrap();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the reloads, e.g. {:?}",
        failed.len(),
        outcomes.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(
        !outcomes.is_empty(),
        "no request was sent during the reloads"
    );
    // Indicative only (a debug gateway binary on a shared machine); see the module doc.
    eprintln!(
        "1M-tenant reloads took (total, load, build) {took:?} ms; {} requests meanwhile",
        outcomes.len()
    );
}
