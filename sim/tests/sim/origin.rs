//! Normal behaviour of one origin: echo, health, status, recording, streaming, upgrade.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use edge_sim::{SimOrigin, HEADER_DELAY, HEADER_ORIGIN, HEADER_REGION};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{self, request, Conn};

pub fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub async fn origin(region: &str, name: &str) -> SimOrigin {
    SimOrigin::start(region, name, localhost()).await.unwrap()
}

#[tokio::test]
async fn normal_response_echoes_request_as_json() {
    let o = origin("westeurope", "we-1").await;
    assert_eq!(o.region(), "westeurope");
    assert_eq!(o.name(), "we-1");
    assert_ne!(o.addr().port(), 0);

    let req = request("POST", "/a/b?c=d&e=f")
        .header("x-edge-region", "client-says-eastus")
        .header("x-multi", "one")
        .header("x-multi", "two")
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(b"hello world")))
        .unwrap();
    let reply = support::send(o.addr(), req).await.unwrap();

    assert_eq!(reply.status, 200);
    assert_eq!(reply.header(HEADER_REGION), "westeurope");
    assert_eq!(reply.header(HEADER_ORIGIN), "we-1");
    assert_eq!(reply.header("content-type"), "application/json");
    let echo = reply.echo();
    assert_eq!(echo.region, "westeurope");
    assert_eq!(echo.origin, "we-1");
    assert_eq!(echo.method, "POST");
    assert_eq!(echo.path, "/a/b?c=d&e=f");
    assert_eq!(echo.body_bytes, 11);
    assert_eq!(echo.headers["x-multi"], "one, two");
    assert_eq!(echo.headers["host"], "sim.test");
    assert_eq!(echo.headers["x-edge-region"], "client-says-eastus");
    assert_eq!(echo.fault, None);

    // The raw JSON uses exactly the documented field names.
    let raw: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    for key in [
        "region",
        "origin",
        "method",
        "path",
        "body_bytes",
        "headers",
    ] {
        assert!(raw.get(key).is_some(), "missing {key} in {raw}");
    }
    assert_eq!(o.requests(), 1);
}

#[tokio::test]
async fn h2c_prior_knowledge_is_served() {
    let o = origin("eastus", "eu-h2").await;
    let reply = support::get_h2(o.addr(), "/over/h2").await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header(HEADER_REGION), "eastus");
    assert_eq!(reply.echo().path, "/over/h2");
}

#[tokio::test]
async fn healthz_is_counted_apart_and_follows_health_status() {
    let o = origin("northeurope", "ne-1").await;
    for _ in 0..3 {
        let reply = support::get(o.addr(), "/healthz").await.unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "ok");
        assert_eq!(reply.header(HEADER_ORIGIN), "ne-1");
    }
    assert_eq!(o.health_probes(), 3);
    assert_eq!(o.requests(), 0);
    assert!(o.recorded().is_empty());

    o.set_health_status(503);
    assert_eq!(o.health_status(), 503);
    let probe = support::get(o.addr(), "/healthz").await.unwrap();
    assert_eq!(probe.status, 503);
    // Failing probes do not stop the origin from serving traffic.
    assert_eq!(support::get(o.addr(), "/").await.unwrap().status, 200);

    o.reset();
    assert_eq!(
        support::get(o.addr(), "/healthz").await.unwrap().status,
        200
    );
    assert_eq!(o.health_probes(), 5);
    assert_eq!(o.requests(), 1);
}

#[tokio::test]
async fn status_route_answers_that_status_with_json() {
    let o = origin("westus", "wu-1").await;
    let reply = support::get(o.addr(), "/status/418?x=1").await.unwrap();
    assert_eq!(reply.status, 418);
    assert_eq!(reply.header(HEADER_REGION), "westus");
    assert_eq!(reply.echo().path, "/status/418?x=1");

    let reply = support::get(o.addr(), "/status/503").await.unwrap();
    assert_eq!(reply.status, 503);
    assert_eq!(reply.echo().fault, None);

    assert_eq!(
        support::get(o.addr(), "/status/abc").await.unwrap().status,
        400
    );
    assert_eq!(
        support::get(o.addr(), "/status/101").await.unwrap().status,
        400
    );
}

#[tokio::test]
async fn requests_are_recorded_in_order() {
    let o = origin("eastus", "eu-1").await;
    let mut conn = Conn::open(o.addr()).await.unwrap();
    for i in 0..3 {
        let req = request("GET", &format!("/r/{i}?q={i}"))
            .header("x-edge-region", "forged")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(conn.send(req).await.unwrap().status, 200);
    }
    support::get(o.addr(), "/healthz").await.unwrap();

    let log = o.recorded();
    assert_eq!(
        log.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        vec!["/r/0?q=0", "/r/1?q=1", "/r/2?q=2"]
    );
    assert!(log.iter().all(|r| r.method == "GET"));
    assert_eq!(log[0].header("X-Edge-Region"), Some("forged"));
    assert_eq!(log[0].header("host"), Some("sim.test"));

    o.clear_recorded();
    assert!(o.recorded().is_empty());
    assert_eq!(o.requests(), 3);
    o.reset_counters();
    assert_eq!((o.requests(), o.health_probes()), (0, 0));
}

#[tokio::test]
async fn stream_yields_chunks_over_time() {
    let o = origin("westeurope", "we-stream").await;
    let mut conn = Conn::open(o.addr()).await.unwrap();
    let start = Instant::now();
    let resp = tokio::time::timeout(
        support::EXCHANGE_TIMEOUT,
        conn.send_streaming(support::empty("GET", "/stream?chunks=5&interval_ms=50")),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[HEADER_REGION], "westeurope");
    assert_eq!(resp.headers()["transfer-encoding"], "chunked");

    let mut body = resp.into_body();
    let mut text = String::new();
    let mut first_chunk_at = None;
    while let Some(frame) = tokio::time::timeout(support::EXCHANGE_TIMEOUT, body.frame())
        .await
        .unwrap()
    {
        if let Ok(data) = frame.unwrap().into_data() {
            first_chunk_at.get_or_insert_with(|| start.elapsed());
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    let total = start.elapsed();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4]["chunk"], 4);
    assert_eq!(lines[4]["origin"], "we-stream");
    assert!(total >= Duration::from_millis(200), "took {total:?}");
    // Streamed, not buffered: the first chunk arrived well before the last.
    assert!(first_chunk_at.unwrap() + Duration::from_millis(150) <= total);
}

/// Sends a WebSocket-style upgrade on `stream` and returns the response head.
async fn upgrade(stream: &mut TcpStream) -> String {
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: sim.test\r\nConnection: Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(support::EXCHANGE_TIMEOUT, stream.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "closed during handshake: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

async fn read_exact_bounded(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(support::EXCHANGE_TIMEOUT, stream.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    buf
}

#[tokio::test]
async fn upgrade_switches_protocols_and_echoes_bytes() {
    let o = origin("northeurope", "ne-ws").await;
    let mut stream = TcpStream::connect(o.addr()).await.unwrap();
    let head = upgrade(&mut stream).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("connection: upgrade"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(head.contains("x-sim-region: northeurope"), "{head}");

    stream.write_all(b"hello").await.unwrap();
    assert_eq!(read_exact_bounded(&mut stream, 5).await, b"hello");
    stream.write_all(b"second message").await.unwrap();
    assert_eq!(read_exact_bounded(&mut stream, 14).await, b"second message");
    support::wait_until(|| o.open_connections() == 1).await;
    assert_eq!(o.recorded()[0].header("upgrade"), Some("websocket"));

    // A kill cuts upgraded streams too.
    o.kill();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(support::EXCHANGE_TIMEOUT, stream.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    support::wait_until(|| o.open_connections() == 0).await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let o = origin("westus", "wu-drop").await;
    let clone = o.clone();
    let addr = o.addr();
    drop(o);
    assert_eq!(support::get(addr, "/").await.unwrap().status, 200);
    drop(clone);
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn start_rejects_names_that_cannot_be_headers() {
    let err = SimOrigin::start("eastus", "bad\r\nname", localhost())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn delay_header_answers_later_and_bad_values_are_refused() {
    let o = origin("westeurope", "we-delay").await;
    let slow = |value: &str| {
        request("POST", "/api/orders")
            .header(HEADER_DELAY, value)
            .body(Full::new(Bytes::from_static(br#"{"id":"slow-1"}"#)))
            .unwrap()
    };
    let started = Instant::now();
    let reply = support::send(o.addr(), slow("150")).await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(o.executions().count("slow-1"), 1);

    for bad in ["10001", "soon", "-5"] {
        let reply = support::send(o.addr(), slow(bad)).await.unwrap();
        assert_eq!(reply.status, 400, "{bad}");
        assert!(reply.text().contains("x-sim-delay-ms"), "{bad}");
    }
    assert_eq!(
        o.executions().count("slow-1"),
        1,
        "a refused request is not executed"
    );
}
