//! Hostile HTTP/1 input over raw TLS sockets: every ambiguous framing is refused with 400 and
//! the connection closed, without contacting any origin; oversized parts get 414/431/413.

use std::time::Duration;

use edge_tests::{raw_h1, GatewayProcess, Topology, EU_TENANT, NA_TENANT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `raw` on a fresh TLS connection; returns (status, connection closed afterwards).
async fn exchange(topo: &Topology, raw: &[u8]) -> (u16, bool) {
    let mut tls = raw_h1(topo).await;
    // The peer may close while we are still writing an oversized request: that is a refusal
    // too, and the answer (if any) is still readable.
    let _ = tls.write_all(raw).await;
    let _ = tls.flush().await;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(3), tls.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break false,
        }
    };
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, closed)
}

fn request(extra_headers: &str, body: &str) -> Vec<u8> {
    format!("POST /x HTTP/1.1\r\nHost: gw.test\r\nx-tenant-id: {EU_TENANT}\r\n{extra_headers}\r\n{body}")
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_is_refused_and_the_connection_closed() {
    let topo = Topology::standard().await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "CL and TE",
            request(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
        ),
        (
            "duplicate CL",
            request("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
        ),
        (
            "conflicting CL",
            request("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
        ),
        ("CL list", request("Content-Length: 5, 5\r\n", "hello")),
        ("TE gzip", request("Transfer-Encoding: gzip\r\n", "")),
        (
            "TE chunked, gzip",
            request("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"),
        ),
        (
            "TE twice",
            request(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
        ),
        (
            "TE identity",
            request("Transfer-Encoding: identity\r\n", ""),
        ),
        (
            "space before colon",
            request("Content-Length : 5\r\n", "hello"),
        ),
        ("obs-fold", request("X-Folded: a\r\n b\r\n", "")),
        ("bare LF in header", request("X-Bad: a\nX-Other: b\r\n", "")),
        ("NUL in header", request("X-Bad: a\0b\r\n", "")),
        ("control char in header", request("X-Bad: a\x01b\r\n", "")),
        (
            "bad chunk size",
            request("Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n"),
        ),
        ("negative CL", request("Content-Length: -1\r\n", "")),
        (
            "NUL in request line",
            format!("GET /a\0b HTTP/1.1\r\nHost: gw.test\r\nx-tenant-id: {EU_TENANT}\r\n\r\n")
                .into_bytes(),
        ),
        (
            "control char in request target",
            format!("GET /a\x01b HTTP/1.1\r\nHost: gw.test\r\nx-tenant-id: {EU_TENANT}\r\n\r\n")
                .into_bytes(),
        ),
        (
            "bare CR in request line",
            format!("GET /a HTTP/1.1\rHost: gw.test\r\nx-tenant-id: {EU_TENANT}\r\n\r\n")
                .into_bytes(),
        ),
        (
            "bare LF ending the request line",
            format!("GET /a HTTP/1.1\nHost: gw.test\r\nx-tenant-id: {EU_TENANT}\r\n\r\n")
                .into_bytes(),
        ),
        ("CL with sign", request("Content-Length: +5\r\n", "hello")),
    ];
    let mut wrong = Vec::new();
    for (name, raw) in &cases {
        let (status, closed) = exchange(&topo, raw).await;
        if status != 400 || !closed {
            wrong.push(format!("{name}: status {status}, closed {closed}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused as expected:\n{}",
        wrong.join("\n")
    );
    let seen: Vec<_> = topo
        .regions
        .iter()
        .flat_map(|(_, r)| r.origins.iter().flat_map(|o| o.recorded()))
        .collect();
    assert!(seen.is_empty(), "an origin saw a hostile request: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_parts_get_their_own_status() {
    let topo = Topology::standard().await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: gw.test\r\nx-tenant-id: {EU_TENANT}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: gw.test\r\nx-tenant-id: {EU_TENANT}\r\n{}\r\n",
        (0..150)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect::<String>()
    );
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: gw.test\r\nx-tenant-id: {EU_TENANT}\r\nx-big: {}\r\n\r\n",
        "b".repeat(40 * 1024)
    );
    let big_body = request("Content-Length: 20000000\r\n", "");
    let cases = [
        ("long request line", long_uri.into_bytes(), 414),
        ("too many headers", many_headers.into_bytes(), 431),
        ("header block too large", big_header.into_bytes(), 431),
        ("declared body too large", big_body, 413),
    ];
    let mut wrong = Vec::new();
    for (name, raw, want) in &cases {
        let (status, _) = exchange(&topo, raw).await;
        if status != *want {
            wrong.push(format!("{name}: status {status}, wanted {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(topo.total_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_well_formed_request_on_the_same_path_still_works() {
    let topo = Topology::standard().await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let (status, _) = exchange(
        &topo,
        &request("Content-Length: 5\r\nConnection: close\r\n", "hello"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = exchange(
        &topo,
        &request(
            "Transfer-Encoding: chunked\r\nConnection: close\r\n",
            "5\r\nhello\r\n0\r\n\r\n",
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(topo.total_requests(), 2);
}

/// An upgrade the origin declines is not a tunnel: what the client sends after it is read as
/// HTTP by the gateway (and routed by its own tenant), never passed raw to the first origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_upgrade_opens_no_tunnel() {
    let topo = Topology::standard().await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let mut tls = raw_h1(&topo).await;
    // The simulated origins switch protocols for WebSocket only: `Upgrade: foo` gets a 200.
    let raw = format!(
        "GET /first HTTP/1.1\r\nHost: gw.test\r\nx-tenant-id: {EU_TENANT}\r\n\
         Connection: Upgrade\r\nUpgrade: foo\r\n\r\n\
         GET /smuggled HTTP/1.1\r\nHost: gw.test\r\nx-tenant-id: {NA_TENANT}\r\n\
         Connection: close\r\n\r\n"
    );
    let _ = tls.write_all(raw.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.contains(" 101 "), "{text}");
    let eu: Vec<String> = topo
        .origins_in("eu")
        .iter()
        .flat_map(|o| o.recorded())
        .map(|r| r.path)
        .collect();
    assert_eq!(eu, vec!["/first".to_string()], "the EU origin saw {eu:?}");
    // If the second request was served at all, it went where its own tenant lives.
    let na: Vec<String> = topo
        .origins_in("na")
        .iter()
        .flat_map(|o| o.recorded())
        .map(|r| r.path)
        .collect();
    assert!(na.iter().all(|p| p == "/smuggled"), "{na:?}");
}
