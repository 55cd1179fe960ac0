//! Executions of non-idempotent requests, counted by the id in their body.

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use edge_sim::{SimHost, SimRegion, EXECUTION_BODY_LIMIT};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::origin::origin;
use crate::support::{self, request, Conn};

fn with_body(method: &str, body: &str) -> http::Request<Full<Bytes>> {
    request(method, "/api/orders")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

#[tokio::test]
async fn post_and_patch_count_per_id_other_methods_do_not() {
    let o = origin("northeurope", "ne-exec").await;
    let mut conn = Conn::open(o.addr()).await.unwrap();
    for (method, body) in [
        ("POST", r#"{"id":"order-1","item":"book"}"#),
        ("POST", r#"{"id":"order-2"}"#),
        ("PATCH", r#"{"id":"order-1"}"#),
        ("PUT", r#"{"id":"order-3"}"#),
        ("DELETE", r#"{"id":"order-3"}"#),
        ("GET", r#"{"id":"order-3"}"#),
        ("POST", "order-4"),
        ("POST", ""),
    ] {
        let reply = conn.send(with_body(method, body)).await.unwrap();
        assert_eq!(reply.status, 200, "{method} {body}");
    }
    let e = o.executions();
    assert_eq!(e.count("order-1"), 2);
    assert_eq!(e.count("order-2"), 1);
    assert_eq!(
        e.count("order-3"),
        0,
        "idempotent methods are not executions"
    );
    assert_eq!(e.by_id.len(), 2);
    assert_eq!(e.without_id, 2, "a body without a JSON id, and no body");
    assert_eq!(e.untracked, 0);
    assert_eq!(e.repeated().collect::<Vec<_>>(), vec![("order-1", 2)]);
    assert_eq!(e.total(), 5);
    assert_eq!(o.requests(), 8);

    o.reset_counters();
    assert_eq!(o.executions().total(), 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_an_execution_without_id() {
    let o = origin("northeurope", "ne-big").await;
    let padding = "x".repeat(EXECUTION_BODY_LIMIT);
    let body = format!(r#"{{"id":"big","pad":"{padding}"}}"#);
    let reply = support::send(o.addr(), with_body("POST", &body))
        .await
        .unwrap();
    assert_eq!(reply.echo().body_bytes, body.len() as u64);
    let e = o.executions();
    assert_eq!((e.count("big"), e.without_id), (0, 1));
}

#[tokio::test]
async fn executed_once_the_body_is_read_even_if_killed_before_answering() {
    let o = origin("northeurope", "ne-hung").await;
    o.hang(true);
    let addr = o.addr();
    let pending =
        tokio::spawn(
            async move { support::send(addr, with_body("POST", r#"{"id":"hung-1"}"#)).await },
        );
    // The origin counts the execution before it hangs: it has the whole request.
    support::wait_until(|| o.executions().count("hung-1") == 1).await;
    o.kill();
    let outcome = pending.await.unwrap();
    assert!(outcome.is_err(), "answered after a kill: {outcome:?}");
    assert_eq!(o.executions().count("hung-1"), 1);
}

#[tokio::test]
async fn a_body_cut_short_is_not_an_execution() {
    let o = origin("northeurope", "ne-cut").await;
    let mut stream = TcpStream::connect(o.addr()).await.unwrap();
    let body = br#"{"id":"cut-1"}"#;
    let head = format!(
        "POST /api/orders HTTP/1.1\r\nHost: sim.test\r\nContent-Length: {}\r\n\r\n",
        body.len() + 10
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream.shutdown().await.unwrap();
    // The origin answers (or closes) once it sees the body end early.
    let mut answer = Vec::new();
    tokio::time::timeout(support::EXCHANGE_TIMEOUT, stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.requests(), 1);
    assert_eq!(o.executions().total(), 0);
}

#[tokio::test]
async fn region_sums_executions_over_its_origins() {
    let region = SimRegion::start("westeurope", 2, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .unwrap();
    let addrs = region.addrs();
    for addr in &addrs {
        support::send(*addr, with_body("POST", r#"{"id":"twice"}"#))
            .await
            .unwrap();
    }
    support::send(addrs[0], with_body("POST", r#"{"id":"once"}"#))
        .await
        .unwrap();
    let e = region.executions();
    assert_eq!((e.count("twice"), e.count("once")), (2, 1));
    assert_eq!(e.repeated().collect::<Vec<_>>(), vec![("twice", 2)]);
    assert_eq!(region.origins[1].executions().count("twice"), 1);
}

#[test]
fn host_sums_executions_over_every_region() {
    let host = SimHost::start_regions(&["eastus", "westus"], 1).unwrap();
    let handle = host.handle();
    for origin in host.origins() {
        let addr = origin.addr();
        handle
            .block_on(support::send(
                addr,
                with_body("POST", r#"{"id":"everywhere"}"#),
            ))
            .unwrap();
    }
    assert_eq!(host.executions().count("everywhere"), 2);
    assert_eq!(host.region("eastus").executions().count("everywhere"), 1);
}
