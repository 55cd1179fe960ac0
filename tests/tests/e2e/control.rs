//! The control plane: hot reload, the admin API and `ctl`, overrides, metrics, certificate
//! rotation.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edge_gateway::certs::write_pair;
use edge_tests::gateway::run_cli;
use edge_tests::load::{run_load, send, Outcome};
use edge_tests::metrics::{scrape, wait_metric};
use edge_tests::{
    free_addr, https_client, ClientOptions, GatewayProcess, Topology, ADMIN_TOKEN, EU_TENANT,
};
use serde_json::Value;

const HEALTH: &str = r#"
[health]
interval = "200ms"
timeout = "200ms"
"#;

async fn topology() -> Topology {
    let mut topo = Topology::standard().await;
    topo.admin = Some(free_addr());
    topo.extra = HEALTH.to_string();
    topo
}

fn start(topo: &Topology) -> GatewayProcess {
    GatewayProcess::start_full(
        &topo.write_config(),
        topo.https,
        &[],
        &[("EDGE_ADMIN_TOKEN", ADMIN_TOKEN)],
    )
}

fn admin_url(topo: &Topology, path: &str) -> String {
    format!("http://{}{path}", topo.admin.unwrap())
}

fn admin() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn api(
    topo: &Topology,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut req = admin()
        .request(method, admin_url(topo, path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn eu_region(topo: &Topology) -> String {
    let c = https_client(topo, &ClientOptions::default());
    let o = send(
        0,
        c.get(format!("{}/x", topo.base_url()))
            .header("x-tenant-id", EU_TENANT),
    )
    .await;
    assert_eq!(o.status, 200, "{o:?}");
    o.served_by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protected_endpoint_needs_the_token() {
    let topo = topology().await;
    let _gw = start(&topo);
    use reqwest::Method as M;
    let protected = [
        (M::GET, "/metrics"),
        (M::GET, "/api/v1/regions"),
        (M::GET, "/api/v1/origins"),
        (M::GET, "/api/v1/overrides"),
        (M::DELETE, "/api/v1/overrides"),
        (M::GET, "/api/v1/config"),
        (M::POST, "/api/v1/config/reload"),
        (M::GET, &format!("/api/v1/tenants/{EU_TENANT}/route")),
        (M::PUT, "/api/v1/regions/northeurope/weight"),
        (M::POST, "/api/v1/regions/northeurope/drain"),
        (M::POST, "/api/v1/regions/northeurope/undrain"),
        (
            M::PUT,
            &format!(
                "/api/v1/origins/northeurope/{}/weight",
                topo.region("northeurope").addrs()[0]
            ),
        ),
        (
            M::POST,
            &format!(
                "/api/v1/origins/northeurope/{}/drain",
                topo.region("northeurope").addrs()[0]
            ),
        ),
    ];
    for (method, path) in &protected {
        for token in [None, Some("wrong-token-wrong-token-1234")] {
            let mut req = admin().request(method.clone(), admin_url(&topo, path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if *method == M::PUT {
                req = req.body(r#"{"weight":0}"#);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{method} {path} with {token:?}");
            assert!(resp.headers().contains_key("www-authenticate"));
        }
    }
    for path in ["/healthz", "/readyz"] {
        let resp = admin().get(admin_url(&topo, path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    // Nothing changed.
    assert_eq!(eu_region(&topo).await, "northeurope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_admin_listener_without_a_token_is_refused() {
    let mut topo = Topology::standard().await;
    let port = free_addr().port();
    topo.admin = Some(SocketAddr::from(([0, 0, 0, 0], port)));
    let out = run_cli(&["run", "--config", topo.write_config().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to open the admin listener"), "{err}");
}

fn ctl(topo: &Topology, args: &[&str]) -> (i32, String) {
    let mut full = vec!["ctl", "--admin"];
    let url = format!("http://{}", topo.admin.unwrap());
    full.push(&url);
    full.extend_from_slice(args);
    let out = std::process::Command::new(edge_tests::gateway_bin())
        .args(&full)
        .env("EDGE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_and_drains_move_traffic_at_once_and_survive_reload_and_restart() {
    let topo = topology().await;
    let mut gw = start(&topo);
    assert_eq!(eu_region(&topo).await, "northeurope");

    // API: weight 0 moves new requests at once.
    let (s, _) = api(
        &topo,
        reqwest::Method::PUT,
        "/api/v1/regions/northeurope/weight",
        Some(r#"{"weight":0}"#),
    )
    .await;
    assert_eq!(s, 200);
    for _ in 0..10 {
        assert_eq!(eu_region(&topo).await, "westeurope");
    }
    // Out-of-range and unknown names are refused with clear errors.
    let (s, v) = api(
        &topo,
        reqwest::Method::PUT,
        "/api/v1/regions/northeurope/weight",
        Some(r#"{"weight":5000}"#),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = api(
        &topo,
        reqwest::Method::POST,
        "/api/v1/regions/nowhere/drain",
        None,
    )
    .await;
    assert_eq!(s, 404);

    // ctl: weight back, then drain / undrain.
    let (code, out) = ctl(&topo, &["weight", "northeurope", "100"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(eu_region(&topo).await, "northeurope");
    let (code, out) = ctl(&topo, &["drain", "northeurope"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(eu_region(&topo).await, "westeurope");
    let (code, out) = ctl(&topo, &["regions"]);
    assert_eq!(code, 0);
    let line = out.lines().find(|l| l.starts_with("northeurope")).unwrap();
    assert!(line.contains("true"), "drained shows in the table: {out}");
    let (code, _) = ctl(&topo, &["drain", "nowhere"]);
    assert_eq!(code, 1, "refusals exit 1");

    // The drain survives a reload...
    let (s, v) = api(&topo, reqwest::Method::POST, "/api/v1/config/reload", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(eu_region(&topo).await, "westeurope");
    // ...and a restart (restored from the state file).
    gw.signal(libc::SIGINT);
    assert!(gw.wait_exit(Duration::from_secs(10)).is_some());
    drop(gw);
    let _gw = start(&topo);
    assert_eq!(eu_region(&topo).await, "westeurope");
    let (code, out) = ctl(&topo, &["overrides"]);
    assert_eq!(code, 0);
    assert!(out.contains("northeurope"), "{out}");

    let (code, out) = ctl(&topo, &["undrain", "northeurope"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(eu_region(&topo).await, "northeurope");
    let (code, _) = ctl(&topo, &["overrides", "--clear"]);
    assert_eq!(code, 0);
    let (_, v) = api(&topo, reqwest::Method::GET, "/api/v1/overrides", None).await;
    assert_eq!(v["regions"].as_object().map(|m| m.len()), Some(0), "{v}");

    // Route explanation: the same decision the proxy makes.
    let (code, out) = ctl(&topo, &["route", EU_TENANT]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("geography eu"), "{out}");
    assert!(out.contains("candidates: northeurope/"), "{out}");
    // Without a token ctl exits 3.
    let out = std::process::Command::new(edge_tests::gateway_bin())
        .args([
            "ctl",
            "--admin",
            &format!("http://{}", topo.admin.unwrap()),
            "regions",
        ])
        .env_remove("EDGE_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
}

fn swap_priorities(topo: &mut Topology, west_first: bool) {
    topo.priorities = if west_first {
        vec![("northeurope", 2), ("westeurope", 1)]
    } else {
        vec![("northeurope", 1), ("westeurope", 2)]
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_lose_no_request_and_take_effect_at_once() {
    let mut topo = topology().await;
    let _gw = start(&topo);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());
    // Background load, bounded in requests.
    let load = {
        let (c, url) = (c.clone(), url.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let outcomes = run_load(
                6_000,
                8,
                move |_| c.get(&url).header("x-tenant-id", EU_TENANT),
                None,
            )
            .await;
            (outcomes, start.elapsed())
        })
    };
    for i in 0..20 {
        let west = i % 2 == 0;
        swap_priorities(&mut topo, west);
        topo.write_config();
        let (s, v) = api(&topo, reqwest::Method::POST, "/api/v1/config/reload", None).await;
        assert_eq!(s, 200, "reload {i}: {v}");
        let want = if west { "westeurope" } else { "northeurope" };
        let got = eu_region(&topo).await;
        assert_eq!(got, want, "after reload {i}");
    }
    let (outcomes, took) = load.await.unwrap();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok()).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    let rate = outcomes.len() as f64 / took.as_secs_f64();
    eprintln!(
        "load during reloads: {} requests at {rate:.0} req/s",
        outcomes.len()
    );
    assert!(rate >= 300.0, "load was only {rate:.0} req/s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_is_refused_and_the_old_one_keeps_serving() {
    let topo = topology().await;
    let gw = start(&topo);
    let good = topo.config_toml();
    let path = topo.write_config();
    let broken = [
        ("syntax error", good.replace("[health]", "[health")),
        (
            "unknown region geography",
            good.replace("geography = \"na\"\npriority = 2", "geography = \"nowhere\"\npriority = 2"),
        ),
        (
            "tenant in a missing geography",
            format!("{good}\n[[tenants]]\nid = \"11111111-2222-4333-8444-555555555555\"\ngeography = \"mars\"\n"),
        ),
    ];
    let c = https_client(&topo, &ClientOptions::default());
    for (i, (what, text)) in broken.iter().enumerate() {
        assert_ne!(text, &good, "{what}: the mutation applied");
        std::fs::write(&path, text).unwrap();
        let refused = wait_metric(
            &topo,
            "edge_config_reloads_total",
            ("result", "invalid"),
            (i + 1) as f64,
        )
        .await;
        assert!(
            refused >= (i + 1) as f64,
            "{what}: the watcher did not refuse it ({refused}):\n{}",
            gw.log_text()
        );
        let (_, v) = api(&topo, reqwest::Method::GET, "/api/v1/config", None).await;
        let err = v["last_error"].as_str().unwrap_or_default();
        assert!(err.contains("edge.toml:"), "{what}: {err}");
        assert_eq!(v["generation"], 1, "{what}: nothing was swapped in");
        let o = send(
            0,
            c.get(format!("{}/x", topo.base_url()))
                .header("x-tenant-id", EU_TENANT),
        )
        .await;
        assert_eq!(
            (o.status, o.served_by.as_str()),
            (200, "northeurope"),
            "{what}"
        );
    }
    // The API reports the same refusal.
    let (s, v) = api(&topo, reqwest::Method::POST, "/api/v1/config/reload", None).await;
    assert_eq!(s, 422);
    assert!(v["detail"].as_str().unwrap().contains("mars"), "{v}");
    // A good file is picked up by the watcher.
    std::fs::write(&path, &good).unwrap();
    assert!(wait_metric(&topo, "edge_config_reloads_total", ("result", "ok"), 1.0).await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_of_the_pod_survives_a_geography_outage() {
    let topo = topology().await;
    let _gw = start(&topo);
    let ready = |scope: &'static str| {
        let url = admin_url(&topo, &format!("/readyz{scope}"));
        async move {
            let resp = admin().get(url).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(ready("").await.0, 200);
    for o in topo.origins_in("na") {
        o.set_health_status(503);
    }
    // Probes every 200 ms, fall 2: the geography view turns unready...
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = ready("").await;
        if status == 503 || Instant::now() > deadline {
            break (status, body);
        }
        // Health changes asynchronously; /readyz is the signal.
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["geographies_without_healthy_origin"],
        serde_json::json!(["na"])
    );
    // ...while the pod view, what Kubernetes probes, stays ready and names the outage.
    let (status, body) = ready("?scope=pod").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "pod");
    assert_eq!(
        body["geographies_without_healthy_origin"],
        serde_json::json!(["na"])
    );
    // And the EU tenants are still served.
    assert_eq!(eu_region(&topo).await, "northeurope");
}

/// A volume laid out like Kubernetes' atomic writer lays out a ConfigMap: the files are
/// symlinks through `..data`, which points at a timestamped directory.
struct ConfigMapVolume {
    dir: std::path::PathBuf,
    version: u32,
}

impl ConfigMapVolume {
    fn new(topo: &Topology) -> Self {
        let dir = topo.dir.path().join("configmap");
        std::fs::create_dir(&dir).unwrap();
        let mut v = ConfigMapVolume { dir, version: 0 };
        v.publish(topo);
        for name in ["edge.toml", "edge.pem", "edge.key"] {
            std::os::unix::fs::symlink(format!("..data/{name}"), v.dir.join(name)).unwrap();
        }
        v
    }

    /// What the kubelet does on an update: a new directory, a new `..data` swapped in by
    /// rename, the old directory removed.
    fn publish(&mut self, topo: &Topology) {
        self.version += 1;
        let stamp = format!("..2026_11_26_{:02}", self.version);
        let target = self.dir.join(&stamp);
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("edge.toml"), topo.config_toml()).unwrap();
        for name in ["edge.pem", "edge.key"] {
            std::fs::copy(topo.dir.path().join(name), target.join(name)).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&stamp, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        if self.version > 1 {
            let old = self
                .dir
                .join(format!("..2026_11_26_{:02}", self.version - 1));
            std::fs::remove_dir_all(old).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kubernetes_configmap_update_is_picked_up() {
    let mut topo = topology().await;
    let mut volume = ConfigMapVolume::new(&topo);
    let _gw = GatewayProcess::start_full(
        &volume.dir.join("edge.toml"),
        topo.https,
        &[],
        &[("EDGE_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    assert_eq!(eu_region(&topo).await, "northeurope");
    // Several updates in a row: each swaps the directory the files resolve to.
    for (i, west) in [true, false, true].into_iter().enumerate() {
        swap_priorities(&mut topo, west);
        volume.publish(&topo);
        let generation = i as u64 + 2;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v) = api(&topo, reqwest::Method::GET, "/api/v1/config", None).await;
            if v["generation"].as_u64() >= Some(generation) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "update {} was not picked up: {v}",
                i + 1
            );
            // The watcher reloads asynchronously; the generation is the signal.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let want = if west { "westeurope" } else { "northeurope" };
        assert_eq!(eu_region(&topo).await, want, "after update {}", i + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_count_what_was_sent() {
    let topo = topology().await;
    let _gw = start(&topo);
    let c = https_client(&topo, &ClientOptions::default());
    for _ in 0..25 {
        let o = send(
            0,
            c.get(format!("{}/ok", topo.base_url()))
                .header("x-tenant-id", EU_TENANT),
        )
        .await;
        assert_eq!(o.status, 200);
    }
    for _ in 0..7 {
        let o = send(
            0,
            c.get(format!("{}/nope", topo.base_url()))
                .header("x-tenant-id", edge_tests::UNKNOWN_TENANT),
        )
        .await;
        assert_eq!(o.status, 404);
    }
    for _ in 0..3 {
        let o = send(
            0,
            c.get(format!("{}/status/503", topo.base_url()))
                .header("x-tenant-id", EU_TENANT),
        )
        .await;
        assert_eq!(o.status, 503);
    }
    let scrape = scrape(&topo).await;
    let sum = |class: &str| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == "edge_requests_total" && s.labels.get("class") == Some(class))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(sum("2xx"), 25.0);
    assert_eq!(sum("4xx"), 7.0);
    assert_eq!(sum("5xx"), 3.0);
    let names: std::collections::HashSet<&str> =
        scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for want in [
        "edge_request_duration_seconds",
        "edge_upstream_attempts_total",
        "edge_origin_healthy",
        "edge_origin_probe_latency_seconds",
        "edge_config_generation",
        "edge_tls_handshakes_total",
        "edge_downstream_connections_open",
    ] {
        assert!(names.contains(want), "{want} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_certificate_is_served_to_new_connections_without_restart() {
    let topo = topology().await;
    let _gw = start(&topo);
    let first = leaf_of(&topo).await;
    let fresh = topo.pki.leaf(&["gw.test", "*.app.test"]).unwrap();
    write_pair(topo.dir.path(), "edge", &fresh).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = leaf_of(&topo).await;
        if now == fresh.chain[0].as_ref() {
            break;
        }
        assert_eq!(now, first, "served neither the old nor the new certificate");
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn leaf_of(topo: &Topology) -> Vec<u8> {
    let tls = edge_tests::raw_h1(topo).await;
    let (_, conn) = tls.get_ref();
    conn.peer_certificates().unwrap()[0].as_ref().to_vec()
}
