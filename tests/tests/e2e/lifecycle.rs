//! Process lifecycle under load: graceful stop (SIGTERM) and binary upgrade (socket hand-over
//! with `--upgrade` + SIGQUIT), both with zero failed requests.

use std::time::{Duration, Instant};

use edge_tests::load::{run_load, run_until, Outcome};
use edge_tests::{https_client, ClientOptions, GatewayProcess, Topology, EU_TENANT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_before_exiting() {
    let topo = Topology::standard().await;
    let mut gw = GatewayProcess::start(&topo.write_config(), topo.https);
    // A slow origin keeps requests in flight when the signal arrives.
    topo.region("northeurope")
        .set_latency(Duration::from_millis(400), Duration::ZERO);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/slow", topo.base_url());
    let pid = gw.pid();
    let origin = topo.region("northeurope").clone();
    let outcomes = run_load(
        8,
        8,
        move |_| c.get(&url).header("x-tenant-id", EU_TENANT),
        Some(edge_tests::load::Trigger {
            at: 7,
            action: Box::new(move || {
                // Signal once the other 7 requests have reached the (slow) origin.
                let deadline = Instant::now() + Duration::from_secs(5);
                while origin.requests() < 7 && Instant::now() < deadline {
                    std::thread::yield_now();
                }
                edge_tests::gateway::send_signal(pid, libc::SIGTERM);
            }),
        }),
    )
    .await;
    let ok = outcomes.iter().filter(|o| o.ok()).count();
    assert!(ok >= 7, "in-flight requests were cut: {outcomes:?}");
    let code = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(code, Some(0), "did not exit cleanly:\n{}", gw.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_upgrade_hands_over_the_sockets_without_a_failed_request() {
    let topo = Topology::standard().await;
    let sock = topo.dir.path().join("upgrade.sock");
    let sock_arg = sock.to_str().unwrap().to_string();
    let config = topo.write_config();
    let mut old = GatewayProcess::start_with(&config, topo.https, &["--upgrade-sock", &sock_arg]);
    let c = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (c, url, stop) = (c.clone(), url.clone(), stop.clone());
        tokio::spawn(async move {
            run_until(stop, 50_000, 4, move |_| {
                c.get(&url).header("x-tenant-id", EU_TENANT)
            })
            .await
        })
    };
    // The new process waits on the upgrade socket for the old one's listeners.
    let new = GatewayProcess::start_with(
        &config,
        topo.https,
        &["--upgrade", "--upgrade-sock", &sock_arg],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "the new process never opened the upgrade socket:\n{}",
            new.log_text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    old.signal(libc::SIGQUIT);
    // Pingora's old process waits a fixed 5 s for the new one to take the sockets, then the
    // 1 s grace period: measured 6.0 s. The deadline is more than 5× that.
    let code = old.wait_exit(Duration::from_secs(40));
    assert_eq!(code, Some(0), "old process:\n{}", old.log_text());
    // Keep the load going on the new process for a moment, then stop it.
    let more = edge_tests::load::run_load(
        200,
        4,
        {
            let (c, url) = (c.clone(), url.clone());
            move |_| c.get(&url).header("x-tenant-id", EU_TENANT)
        },
        None,
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut outcomes = load.await.unwrap();
    outcomes.extend(more);
    assert!(
        outcomes.len() > 500,
        "too little load to mean anything: {}",
        outcomes.len()
    );
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok()).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    // The new process serves on its own.
    let o = edge_tests::load::send(0, c.get(&url).header("x-tenant-id", EU_TENANT)).await;
    assert_eq!(o.status, 200, "{}", new.log_text());
}
