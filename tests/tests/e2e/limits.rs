//! Connection-level limits, over real sockets: the total deadline for a request head
//! (slowloris), the keep-alive idle timeout, the connection cap, HTTP/2 stream concurrency,
//! and the memory 2,000 idle connections cost.

use std::future::Future;
use std::time::{Duration, Instant};

use edge_tests::metrics::{metric, metric_value, wait_metric};
use edge_tests::{
    free_addr, https_client, raw_h1, raw_h2, raw_tls_connect, ClientOptions, GatewayProcess,
    Topology, ADMIN_TOKEN, EU_TENANT,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn topology(limits: &str) -> Topology {
    let mut topo = Topology::standard().await;
    topo.admin = Some(free_addr());
    topo.extra = format!("[limits]\n{limits}\n");
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

type H2Conn = h2::client::Connection<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// An h2 connection with one GET for an EU tenant answered; returns the answer's status, the
/// request handle (the client closes the connection once it is dropped) and the connection
/// (to inspect the server's settings or watch it end).
async fn h2_get(
    topo: &Topology,
) -> (
    http::StatusCode,
    h2::client::SendRequest<bytes::Bytes>,
    H2Conn,
) {
    let (mut h2, mut conn) = h2::client::handshake(raw_h2(topo).await).await.unwrap();
    let req = http::Request::builder()
        .uri(format!("https://gw.test:{}/x", topo.https.port()))
        .header("x-tenant-id", EU_TENANT)
        .body(())
        .unwrap();
    let (resp, _) = h2.send_request(req, true).unwrap();
    let mut resp = Box::pin(resp);
    // Drive the connection until the answer arrives; the server's SETTINGS came first.
    let resp = std::future::poll_fn(|cx| {
        let _ = std::pin::Pin::new(&mut conn).poll(cx);
        resp.as_mut().poll(cx)
    })
    .await
    .unwrap();
    (resp.status(), h2, conn)
}

fn get(tenant: &str) -> String {
    format!("GET /x HTTP/1.1\r\nHost: gw.test\r\nx-tenant-id: {tenant}\r\n\r\n")
}

/// Reads until the peer closes (or `limit` passes); returns what was read and whether the
/// connection was closed.
async fn read_until_closed<S: AsyncReadExt + Unpin>(s: &mut S, limit: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// Reads one response whose head says `content-length`; returns its status.
async fn read_response<S: AsyncReadExt + Unpin>(s: &mut S) -> u16 {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("response in time")
            .unwrap();
        assert!(n > 0, "closed before a full response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text.split_whitespace().nth(1).unwrap().parse().unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_at_the_head_deadline_while_others_are_served() {
    let topo = topology("request_header_timeout = \"3s\"").await;
    let _gw = start(&topo);
    let client = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());

    // The gateway cuts the head at 3 s; the client notices when its next write fails (measured:
    // after 4 bytes, at 4.1 s). The upper bound is 5× that: a connection never cut fails.
    let cut_within = Duration::from_secs(21);
    let mut slow = raw_h1(&topo).await;
    let head = get(EU_TENANT).into_bytes();
    let first_byte = Instant::now();
    let mut sent = 0;
    let mut served = 0;
    let mut closed_after = None;
    // One header byte per second; between bytes, other clients are served.
    for b in &head {
        if slow.write_all(&[*b]).await.is_err() {
            closed_after = Some(first_byte.elapsed());
            break;
        }
        sent += 1;
        let tick = Instant::now() + Duration::from_secs(1);
        while Instant::now() < tick {
            let r = client
                .get(&url)
                .header("x-tenant-id", EU_TENANT)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            served += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if first_byte.elapsed() > cut_within {
            break;
        }
    }
    let (answer, closed) = read_until_closed(&mut slow, Duration::from_secs(3)).await;
    let closed_after = closed_after.unwrap_or_else(|| first_byte.elapsed());
    eprintln!(
        "slowloris: cut after {sent} bytes, noticed at {closed_after:?}; \
         {served} other requests served meanwhile"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(closed, "the slow connection is still open");
    assert!(
        text.starts_with("HTTP/1.1 408 "),
        "expected a 408, got {text:?}"
    );
    assert!(
        sent < head.len(),
        "the whole head was sent ({sent} bytes): the deadline did not apply"
    );
    assert!(
        sent >= 3,
        "cut after {sent} bytes: before the 3 s deadline (one byte per second)"
    );
    assert!(
        closed_after < cut_within,
        "cut at {closed_after:?}, deadline 3 s"
    );
    // Each of them got its 200 (asserted above); measured 40 in the ~4 s, 5× fewer suffice.
    assert!(served >= 8, "only {served} other requests served meanwhile");
    assert_eq!(
        metric(
            &topo,
            "edge_limit_hits_total",
            ("limit", "request_header_timeout")
        )
        .await,
        1.0
    );
    // The slow request never reached an origin.
    assert_eq!(topo.total_requests(), served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keepalive_connection_is_closed_after_the_idle_timeout() {
    let topo = topology("idle_timeout = \"2s\"\nrequest_header_timeout = \"2s\"").await;
    let _gw = start(&topo);
    let mut conn = raw_h1(&topo).await;
    // Two requests on one connection: keep-alive works...
    for _ in 0..2 {
        conn.write_all(get(EU_TENANT).as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut conn).await, 200);
    }
    // ...and an idle one is closed quietly (nothing was asked, nothing is answered).
    // Measured: closed 2.0 s after the last answer. Not before the timeout; at most 5× the
    // measured time after it; and read longer than that, so a connection never closed fails.
    let idle_from = Instant::now();
    let (answer, closed) = read_until_closed(&mut conn, Duration::from_secs(12)).await;
    let idle = idle_from.elapsed();
    eprintln!("idle keep-alive connection closed after {idle:?}");
    assert!(closed, "an idle keep-alive connection stayed open for 12 s");
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    assert!(
        idle >= Duration::from_millis(1900) && idle < Duration::from_secs(11),
        "closed after {idle:?}, idle_timeout is 2 s"
    );
    assert_eq!(
        wait_metric(
            &topo,
            "edge_limit_hits_total",
            ("limit", "idle_timeout"),
            1.0
        )
        .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_refused_and_the_admin_api_stays_reachable() {
    let topo = topology("max_connections = 20\nrequest_header_timeout = \"30s\"").await;
    let _gw = start(&topo);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(raw_h1(&topo).await);
    }
    // A connection holds its slot from accept on, so all 20 count by now.
    let open = metric_value(&topo, "edge_downstream_connections_open").await;
    assert_eq!(open, 20.0);
    // The 21st: accepted by the kernel, closed by the gateway before any TLS.
    let refused = raw_tls_connect(
        &topo,
        topo.https,
        "gw.test",
        &[&rustls::version::TLS13],
        &[b"http/1.1"],
    )
    .await;
    assert!(refused.is_err(), "a connection beyond the cap was served");
    // The admin listener is not capped: the scrape above and below went through.
    assert!(metric(&topo, "edge_limit_hits_total", ("limit", "max_connections")).await >= 1.0);
    // Held connections still work, and a freed slot admits a new connection.
    held[0].write_all(get(EU_TENANT).as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut held[0]).await, 200);
    drop(held.pop());
    let mut admitted = None;
    for _ in 0..50 {
        if let Ok(c) = raw_tls_connect(
            &topo,
            topo.https,
            "gw.test",
            &[&rustls::version::TLS13],
            &[b"http/1.1"],
        )
        .await
        {
            admitted = Some(c);
            break;
        }
        // The gateway notices the close asynchronously; retrying is the only signal.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut conn = admitted.expect("a freed slot admits a new connection");
    conn.write_all(get(EU_TENANT).as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut conn).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_concurrent_streams_are_capped_as_configured() {
    let topo = topology("h2_max_concurrent_streams = 7").await;
    let _gw = start(&topo);
    let (status, _h2, conn) = h2_get(&topo).await;
    assert_eq!(status, 200);
    assert_eq!(conn.max_concurrent_send_streams(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_cost_bounded_memory() {
    const CONNECTIONS: usize = 2_000;
    let topo = topology("request_header_timeout = \"120s\"").await;
    let gw = start(&topo);
    let client = https_client(&topo, &ClientOptions::default());
    let url = format!("{}/x", topo.base_url());
    let ok = |r: reqwest::Response| assert_eq!(r.status(), 200);
    ok(client
        .get(&url)
        .header("x-tenant-id", EU_TENANT)
        .send()
        .await
        .unwrap());
    // The client above keeps its connection: it counts too.
    let baseline = metric_value(&topo, "edge_downstream_connections_open").await;
    let before = gw.rss_kib();

    let mut conns = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let mut conn = raw_h1(&topo).await;
        // Half of them also start a request head and stall: a parked parser holds more.
        if i % 2 == 0 {
            conn.write_all(b"GET /x HTTP/1.1\r\nHost: gw")
                .await
                .unwrap();
            conn.flush().await.unwrap();
        }
        conns.push(conn);
    }
    let open = metric_value(&topo, "edge_downstream_connections_open").await;
    assert_eq!(open, baseline + CONNECTIONS as f64);
    let after = gw.rss_kib();
    let per_conn = (after.saturating_sub(before)) as f64 / CONNECTIONS as f64;
    eprintln!(
        "RSS {before} KiB -> {after} KiB with {CONNECTIONS} idle TLS connections: {per_conn:.1} KiB each"
    );
    // Served while they are all open.
    ok(client
        .get(&url)
        .header("x-tenant-id", EU_TENANT)
        .send()
        .await
        .unwrap());
    // Pingora's default 64 KiB socket read buffer alone would make this ~124 KiB.
    assert!(
        per_conn < 100.0,
        "{per_conn:.1} KiB per idle connection (RSS {before} -> {after} KiB)"
    );
    drop(conns);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = metric_value(&topo, "edge_downstream_connections_open").await;
        if open <= baseline {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections still counted open"
        );
        // The gateway notices closes asynchronously; the gauge is the only signal.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_is_dropped_at_its_timeout() {
    let topo = topology("tls_handshake_timeout = \"2s\"").await;
    let _gw = start(&topo);
    // The harness's readiness probe was a bare TCP connect: it counts as a failed handshake.
    let mut tcp = tokio::net::TcpStream::connect(topo.https).await.unwrap();
    // Measured: dropped after 2.0 s. Bounds as for the idle keep-alive connection.
    let from = Instant::now();
    let (_, closed) = read_until_closed(&mut tcp, Duration::from_secs(12)).await;
    let took = from.elapsed();
    eprintln!("stalled TLS handshake dropped after {took:?}");
    assert!(closed, "a silent TCP connection was kept for 12 s");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(11),
        "dropped after {took:?}, tls_handshake_timeout is 2 s"
    );
    assert_eq!(
        wait_metric(
            &topo,
            "edge_limit_hits_total",
            ("limit", "tls_handshake_timeout"),
            1.0
        )
        .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_h2_connections_are_closed() {
    let topo = topology("request_header_timeout = \"2s\"\nidle_timeout = \"3s\"").await;
    let _gw = start(&topo);
    // Each close was measured at the 2 s or 3 s timeout (+ 10 ms); the upper bounds are 5×
    // that, and each read lasts longer, so a connection never closed fails.
    // Negotiates h2, then never sends the connection preface.
    let mut silent = raw_h2(&topo).await;
    let from = Instant::now();
    let (answer, closed) = read_until_closed(&mut silent, Duration::from_secs(12)).await;
    let took = from.elapsed();
    eprintln!("silent h2 connection closed after {took:?}");
    assert!(closed, "a silent h2 connection was kept for 12 s");
    // The server's own preface (SETTINGS) may have been sent; an HTTP/1 answer must not.
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
        "an h2 client got {answer:?}"
    );
    assert!(took < Duration::from_secs(11), "closed after {took:?}");

    // Sends the preface up to its empty line (where an HTTP/1 head would end), then stalls.
    let mut partial = raw_h2(&topo).await;
    partial.write_all(b"PRI * HTTP/2.0\r\n\r\n").await.unwrap();
    let from = Instant::now();
    let (_, closed) = read_until_closed(&mut partial, Duration::from_secs(12)).await;
    let took = from.elapsed();
    eprintln!("half-sent h2 preface closed after {took:?}");
    assert!(closed, "a half-sent h2 preface was kept for 12 s");
    assert!(took < Duration::from_secs(11), "closed after {took:?}");

    // A working h2 connection that goes idle is closed by the h2 idle timeout.
    // Keeps the request handle: without it the client itself would close the connection.
    let (status, _h2, conn) = h2_get(&topo).await;
    assert_eq!(status, 200);
    let idle_from = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(17), conn).await;
    let idle = idle_from.elapsed();
    eprintln!("idle h2 connection closed after {idle:?}");
    assert!(ended.is_ok(), "an idle h2 connection stayed open for 17 s");
    assert!(
        idle >= Duration::from_millis(2900) && idle < Duration::from_secs(16),
        "closed after {idle:?}, idle_timeout is 3 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http1_connection_is_closed_after_keepalive_requests() {
    let topo = topology("keepalive_requests = 3").await;
    let _gw = start(&topo);
    let mut conn = raw_h1(&topo).await;
    for _ in 0..3 {
        conn.write_all(get(EU_TENANT).as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut conn).await, 200);
    }
    let (rest, closed) = read_until_closed(&mut conn, Duration::from_secs(3)).await;
    assert!(closed, "the connection outlived keepalive_requests");
    assert!(rest.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limits_are_configurable_and_per_route() {
    let topo = topology(
        "max_uri_bytes = 100\nmax_headers = 10\nmax_header_bytes = 2048\nmax_body_bytes = 100\n\
         [[limits.routes]]\npath_prefix = \"/upload\"\nmax_body_bytes = 1000\n",
    )
    .await;
    let _gw = start(&topo);
    let client = https_client(
        &topo,
        &ClientOptions {
            http1_only: true,
            ..ClientOptions::default()
        },
    );
    let base = topo.base_url();
    let post = |path: &str, size: usize| {
        client
            .post(format!("{base}{path}"))
            .header("x-tenant-id", EU_TENANT)
            .body(vec![b'a'; size])
            .send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(post("/x", 100).await.unwrap()), 200);
    assert_eq!(status(post("/x", 101).await.unwrap()), 413);
    assert_eq!(status(post("/upload/a", 1000).await.unwrap()), 200);
    assert_eq!(status(post("/upload/a", 1001).await.unwrap()), 413);
    // A segment boundary: `/uploads` is not under `/upload`.
    assert_eq!(status(post("/uploads", 101).await.unwrap()), 413);
    let long = format!("{base}/{}", "a".repeat(120));
    let r = client
        .get(&long)
        .header("x-tenant-id", EU_TENANT)
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 414);
    let mut many = client
        .get(format!("{base}/x"))
        .header("x-tenant-id", EU_TENANT);
    for i in 0..12 {
        many = many.header(format!("x-h{i}"), "v");
    }
    assert_eq!(status(many.send().await.unwrap()), 431);
    let big = client
        .get(format!("{base}/x"))
        .header("x-tenant-id", EU_TENANT)
        .header("x-big", "b".repeat(3000))
        .send()
        .await
        .unwrap();
    assert_eq!(status(big), 431);
    for (limit, want) in [
        ("max_body_bytes", 3.0),
        ("max_uri_bytes", 1.0),
        ("max_headers", 1.0),
        ("max_header_bytes", 1.0),
    ] {
        assert_eq!(
            metric(&topo, "edge_limit_hits_total", ("limit", limit)).await,
            want,
            "{limit}"
        );
    }
    // Only the two requests within their limits reached an origin.
    assert_eq!(topo.total_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_read_timeout_is_counted_and_the_request_fails_over() {
    let topo = topology("[routing]\nread_timeout = \"300ms\"").await;
    let _gw = start(&topo);
    topo.region("northeurope").origins[0].hang(true);
    let client = https_client(&topo, &ClientOptions::default());
    let r = client
        .get(format!("{}/x", topo.base_url()))
        .header("x-tenant-id", EU_TENANT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-edge-region"], "westeurope");
    assert_eq!(
        metric(
            &topo,
            "edge_limit_hits_total",
            ("limit", "upstream_read_timeout")
        )
        .await,
        1.0
    );
}
