//! Fault controls: kill, refuse, revive, hang, latency, error rate.

use std::time::{Duration, Instant};

use edge_sim::{HEADER_ORIGIN, HEADER_REGION};
use tokio::net::TcpStream;

use crate::origin::origin;
use crate::support::{self, Conn};

/// The client-side timeout the brief asks hang tests to use.
const HANG_TIMEOUT: Duration = Duration::from_millis(300);

#[tokio::test]
async fn kill_refuses_and_resets_then_revive_serves_same_port() {
    let o = origin("eastus", "eu-kill").await;
    let addr = o.addr();
    let mut keep_alive = Conn::open(addr).await.unwrap();
    assert_eq!(
        keep_alive
            .send(support::empty("GET", "/"))
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(o.open_connections(), 1);

    o.kill();
    assert!(!o.is_serving());
    let refused = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // The open keep-alive connection is dropped as well.
    let on_old_conn = tokio::time::timeout(
        support::EXCHANGE_TIMEOUT,
        keep_alive.send(support::empty("GET", "/")),
    )
    .await
    .unwrap();
    assert!(on_old_conn.is_err(), "{on_old_conn:?}");
    support::wait_until(|| o.open_connections() == 0).await;

    o.revive().await.unwrap();
    assert!(o.is_serving());
    assert_eq!(o.addr(), addr);
    let reply = support::get(addr, "/after").await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header(HEADER_ORIGIN), "eu-kill");
    assert_eq!(o.requests(), 2);

    // Reviving a serving origin is a no-op.
    o.revive().await.unwrap();
    assert_eq!(support::get(addr, "/").await.unwrap().status, 200);
}

#[tokio::test]
async fn kill_fails_requests_that_are_in_flight() {
    let o = origin("eastus", "eu-inflight").await;
    o.hang(true);
    let addr = o.addr();
    let in_flight = tokio::spawn(async move { support::get(addr, "/slow").await });
    support::wait_until(|| o.requests() == 1).await;
    o.kill();
    let result = in_flight.await.unwrap();
    let error = result.unwrap_err();
    assert!(
        !error.is::<tokio::time::error::Elapsed>(),
        "timed out instead of failing"
    );
}

#[tokio::test]
async fn refuse_closes_listener_but_keeps_open_connections() {
    let o = origin("westus", "wu-refuse").await;
    let mut keep_alive = Conn::open(o.addr()).await.unwrap();
    assert_eq!(
        keep_alive
            .send(support::empty("GET", "/"))
            .await
            .unwrap()
            .status,
        200
    );

    o.refuse();
    assert!(!o.is_serving());
    assert!(TcpStream::connect(o.addr()).await.is_err());
    assert_eq!(
        keep_alive
            .send(support::empty("GET", "/still"))
            .await
            .unwrap()
            .status,
        200
    );

    o.revive().await.unwrap();
    assert_eq!(support::get(o.addr(), "/").await.unwrap().status, 200);
}

#[tokio::test]
async fn hang_holds_requests_and_probes_until_lifted() {
    let o = origin("northeurope", "ne-hang").await;
    o.hang(true);
    assert!(o.is_hanging());

    let req = support::send_within(o.addr(), support::empty("GET", "/"), HANG_TIMEOUT).await;
    assert!(req.unwrap_err().is::<tokio::time::error::Elapsed>());
    let probe =
        support::send_within(o.addr(), support::empty("GET", "/healthz"), HANG_TIMEOUT).await;
    assert!(probe.unwrap_err().is::<tokio::time::error::Elapsed>());
    // The requests were read (and counted) even though they were never answered.
    assert_eq!(o.requests(), 1);
    assert_eq!(o.health_probes(), 1);

    // Lifting the hang releases a request that is still waiting.
    let addr = o.addr();
    let waiting = tokio::spawn(async move { support::get(addr, "/held").await });
    support::wait_until(|| o.requests() == 2).await;
    o.hang(false);
    let reply = waiting.await.unwrap().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.echo().path, "/held");
}

#[tokio::test]
async fn latency_delays_responses_and_probes() {
    let o = origin("westeurope", "we-slow").await;
    let fixed = Duration::from_millis(200);
    o.set_latency(fixed, Duration::from_millis(20));
    assert_eq!(o.latency(), (fixed, Duration::from_millis(20)));

    for path in ["/", "/healthz"] {
        let start = Instant::now();
        let reply = support::get(o.addr(), path).await.unwrap();
        assert_eq!(reply.status, 200);
        assert!(
            start.elapsed() >= fixed,
            "{path} took {:?}",
            start.elapsed()
        );
    }

    o.reset();
    assert_eq!(o.latency(), (Duration::ZERO, Duration::ZERO));
}

#[tokio::test]
async fn error_rate_one_answers_503_with_json_and_spares_probes() {
    let o = origin("eastus", "eu-err").await;
    o.set_error_rate(1.0);
    assert_eq!(o.error_rate(), 1.0);
    let mut conn = Conn::open(o.addr()).await.unwrap();
    for i in 0..10 {
        let reply = conn
            .send(support::empty("GET", &format!("/e/{i}")))
            .await
            .unwrap();
        assert_eq!(reply.status, 503);
        assert_eq!(reply.header(HEADER_REGION), "eastus");
        assert_eq!(reply.header(HEADER_ORIGIN), "eu-err");
        let echo = reply.echo();
        assert_eq!(echo.fault.as_deref(), Some("error_rate"));
        assert_eq!(echo.path, format!("/e/{i}"));
    }
    assert_eq!(o.requests(), 10);
    assert_eq!(
        support::get(o.addr(), "/healthz").await.unwrap().status,
        200
    );

    o.set_error_rate(0.0);
    assert_eq!(
        conn.send(support::empty("GET", "/")).await.unwrap().status,
        200
    );
}

#[tokio::test]
async fn controls_work_from_another_thread() {
    let o = origin("westus", "wu-thread").await;
    let handle = o.clone();
    std::thread::spawn(move || {
        handle.set_error_rate(1.0);
        handle.kill();
    })
    .join()
    .unwrap();
    assert!(TcpStream::connect(o.addr()).await.is_err());
    o.revive().await.unwrap();
    assert_eq!(support::get(o.addr(), "/").await.unwrap().status, 503);
}
