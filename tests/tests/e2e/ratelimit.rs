//! Rate limits over real sockets: per tenant (by plan), per client (spoof-proof), with clear
//! 429s, and the origin never sees a rejected request.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use edge_tests::load::{send, Outcome};
use edge_tests::{https_client, ClientOptions, GatewayProcess, Topology, EU_TENANT, EU_TENANT_2};

fn with_limits(topo: &Topology, limits: &str) -> std::path::PathBuf {
    // Tenants get their plan from the inline [[tenants]] table.
    let config = topo
        .config_toml()
        .replace(
            &format!("id = \"{EU_TENANT}\"\ngeography = \"eu\"\n"),
            &format!("id = \"{EU_TENANT}\"\ngeography = \"eu\"\nplan = \"small\"\n"),
        )
        .replace(
            &format!("id = \"{EU_TENANT_2}\"\ngeography = \"eu\"\n"),
            &format!("id = \"{EU_TENANT_2}\"\ngeography = \"eu\"\nplan = \"small\"\n"),
        );
    let path = topo.dir.path().join("edge.toml");
    std::fs::write(&path, format!("{config}\n{limits}")).unwrap();
    path
}

/// Sends as fast as `workers` concurrent loops can for `duration`; returns every outcome.
async fn flood(
    client: reqwest::Client,
    url: String,
    tenant: &'static str,
    workers: usize,
    duration: Duration,
) -> Vec<Outcome> {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (c, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            // Bounded by time, and by count as a backstop.
            while Instant::now() < deadline && out.len() < 200_000 {
                out.push(send(0, c.get(&url).header("x-tenant-id", tenant)).await);
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_gets_its_burst_plus_its_rate_and_clear_429s_for_the_rest() {
    let topo = Topology::standard().await;
    let config = with_limits(
        &topo,
        "[rate_limits]\n[rate_limits.plans.small]\nrps = 50\nburst = 10\n",
    );
    let _gw = GatewayProcess::start(&config, topo.https);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());
    let started = Instant::now();
    let (a, b) = tokio::join!(
        flood(c.clone(), url.clone(), EU_TENANT, 6, Duration::from_secs(3)),
        flood(
            c.clone(),
            url.clone(),
            EU_TENANT_2,
            2,
            Duration::from_secs(3)
        ),
    );
    let elapsed = started.elapsed().as_secs_f64();
    for (name, outcomes) in [("tenant 1", &a), ("tenant 2", &b)] {
        let ok = outcomes.iter().filter(|o| o.status == 200).count() as f64;
        let limited = outcomes.iter().filter(|o| o.status == 429).count();
        let other = outcomes
            .iter()
            .filter(|o| o.status != 200 && o.status != 429)
            .count();
        assert_eq!(other, 0, "{name}: unexpected statuses");
        // burst + rps × duration, ±5 % (the window is measured client-side).
        let expected = 10.0 + 50.0 * elapsed;
        assert!(
            (ok - expected).abs() <= expected * 0.05 + 2.0,
            "{name}: {ok} admitted, expected about {expected:.0} ({limited} limited)"
        );
        assert!(limited > 0, "{name} was never limited");
    }
    // Each tenant had its own bucket: both got their full quota despite the other's flood.
    let admitted = a.iter().chain(b.iter()).filter(|o| o.status == 200).count() as u64;
    assert_eq!(
        topo.region("northeurope").requests(),
        admitted,
        "the origin saw a rejected request"
    );

    // A 429 is a clear, complete answer.
    let resp = c.get(&url).header("x-tenant-id", EU_TENANT);
    let mut limited = None;
    for _ in 0..50 {
        let r = resp.try_clone().unwrap().send().await.unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a 429 while flooding");
    let h = r.headers();
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(h["content-type"], "application/problem+json");
    assert!(
        h["ratelimit-policy"].to_str().unwrap().contains("q=50"),
        "{h:?}"
    );
    assert!(h["ratelimit"].to_str().unwrap().contains("r=0"), "{h:?}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["type"].as_str().unwrap().ends_with("rate-limited"));
}

async fn client_from(topo: &Topology, local: IpAddr) -> reqwest::Client {
    https_client(
        topo,
        &ClientOptions {
            local_address: Some(local),
            ..Default::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let topo = Topology::standard().await;
    let config = with_limits(
        &topo,
        "[rate_limits]\n[rate_limits.plans.small]\nrps = 1000\nburst = 1000\n[rate_limits.per_client]\nrps = 1\nburst = 5\n",
    );
    let _gw = GatewayProcess::start(&config, topo.https);
    let c = client_from(&topo, "127.0.0.1".parse().unwrap()).await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = c
            .get(format!("{}/x", topo.base_url()))
            .header("x-tenant-id", EU_TENANT)
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .header("forwarded", format!("for=203.0.113.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    assert!(
        (5..=6).contains(&ok),
        "one client, one bucket: {statuses:?}"
    );
    // And the origin was told the real client, not the forged one.
    let seen = topo.region("northeurope").origins[0].recorded();
    assert!(seen
        .iter()
        .all(|r| r.header("x-forwarded-for") == Some("127.0.0.1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxys_forwarded_for_is_honoured() {
    let topo = Topology::standard().await;
    let config = with_limits(
        &topo,
        "[client_ip]\ntrusted_proxies = [\"127.0.0.2/32\"]\n\
         [rate_limits]\n[rate_limits.plans.small]\nrps = 1000\nburst = 1000\n\
         [rate_limits.per_client]\nrps = 1\nburst = 2\n",
    );
    let _gw = GatewayProcess::start(&config, topo.https);
    // The "proxy" connects from 127.0.0.2 and forwards 10 distinct clients, 2 requests each.
    let proxy = client_from(&topo, "127.0.0.2".parse().unwrap()).await;
    for i in 0..10 {
        for _ in 0..2 {
            let r = proxy
                .get(format!("{}/x", topo.base_url()))
                .header("x-tenant-id", EU_TENANT)
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "client 198.51.100.{i} has its own bucket");
        }
    }
    // A third request of one forwarded client is limited.
    let r = proxy
        .get(format!("{}/x", topo.base_url()))
        .header("x-tenant-id", EU_TENANT)
        .header("x-forwarded-for", "198.51.100.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let seen = topo.region("northeurope").origins[0].recorded();
    assert!(seen
        .iter()
        .any(|r| r.header("x-forwarded-for") == Some("198.51.100.7")));
}
