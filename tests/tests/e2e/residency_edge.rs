//! Residency at the edge (`[edge]`): two real gateway processes, an EU edge on 127.0.0.10 and
//! an NA edge on 127.0.0.20, each with its own CA, in front of the same simulated regions.
//!
//! - A connection to the EU edge naming an NA tenant's host is passed through still encrypted:
//!   the client gets the NA edge's certificate, an NA origin answers, the EU edge performs no
//!   handshake and counts a passthrough, the NA edge logs the client's own address.
//! - With the NA edge down, the EU edge refuses that handshake and nothing is served.
//! - A PROXY header from an untrusted address closes the connection; from a trusted one, its
//!   client address is the request's client.
//! - Two edges pointing at each other for a tenant cannot loop.
//! - Host-less tenancy: a foreign tenant found after decryption is proxied to its edge
//!   (counted) by default, and refused with 421 naming its host in `refuse` mode.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_tests::edges::{sum, TwoEdges, API_HOST, CLIENT};
use edge_tests::{GatewayProcess, EU_TENANT, NA_TENANT};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn na_host() -> String {
    format!("{NA_TENANT}.app.test")
}

fn eu_host() -> String {
    format!("{EU_TENANT}.app.test")
}

async fn handshakes(admin: SocketAddr) -> f64 {
    sum(admin, "edge_tls_handshakes_total", &[]).await
}

/// Polls `name{labels}` on `admin` until it reaches `at_least` (10 s at most); returns it.
async fn wait_for(admin: SocketAddr, name: &str, labels: &[(&str, &str)], at_least: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = sum(admin, name, labels).await;
        if v >= at_least || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `text` without ANSI colour sequences (the text log colours its keys).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Waits until the gateway's log has a line containing every one of `needles` (colours
/// removed, so `key="value"` matches).
async fn wait_log(gw: &GatewayProcess, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = plain(&gw.log_text());
        if let Some(line) = log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needles:?} in:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP connection to `to` from `from`.
async fn tcp_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    socket.connect(to).await.unwrap()
}

/// A TLS handshake over `tcp` for `name`, trusting both edges' CAs.
async fn tls(
    edges: &TwoEdges,
    tcp: TcpStream,
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    edge_tests::init_crypto();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(edges.eu.pki.ca_der()).unwrap();
    roots.add(edges.na.pki.ca_der()).unwrap();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), connector.connect(server_name, tcp))
        .await
        .map_err(|_| std::io::Error::other("handshake timed out"))?
}

/// One HTTP/1.1 GET over an established TLS stream; the raw response.
async fn get_over(
    stream: &mut tokio_rustls::client::TlsStream<TcpStream>,
    host: &str,
    path: &str,
) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_tenants_connection_is_passed_through_to_its_edge() {
    let edges = TwoEdges::new(|_, t| t).await;
    let na = edges.start(&edges.na);
    let eu = edges.start(&edges.eu);
    let (eu_admin, na_admin) = (edges.eu.admin, edges.na.admin);
    let na_origin_requests = edges.topo.region("eastus").requests();
    let eu_before = handshakes(eu_admin).await;
    let na_before = handshakes(na_admin).await;

    // reqwest, asking the EU edge for an NA tenant's host.
    let client = edges.client(edges.eu.https, &[&na_host()]);
    let resp = client
        .get(format!(
            "https://{}:{}/orders",
            na_host(),
            edges.eu.https.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let info = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("TLS info")
        .peer_certificate()
        .expect("peer certificate")
        .to_vec();
    assert_eq!(
        info,
        edges.na.leaf.chain[0].to_vec(),
        "the handshake completed with the NA edge's certificate"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["region"], "eastus", "{body}");
    assert_eq!(
        edges.topo.region("eastus").requests(),
        na_origin_requests + 1
    );
    // The EU edge decrypted nothing: no handshake there, one passthrough; the NA edge did it.
    assert_eq!(handshakes(eu_admin).await, eu_before);
    assert_eq!(
        sum(
            eu_admin,
            "edge_residency_passthrough_total",
            &[("geography", "na")]
        )
        .await,
        1.0
    );
    assert_eq!(handshakes(na_admin).await, na_before + 1.0);
    // The NA edge logs, rate-limits and locates the client, not the EU edge.
    let line = wait_log(
        &na,
        &[
            "\"request_id\"",
            "/orders",
            &format!("\"client\":\"{CLIENT}\""),
        ],
    )
    .await;
    assert!(line.contains("\"region\":\"eastus\""), "{line}");
    // An EU tenant's host on the EU edge is terminated there, as always.
    let client = edges.client(edges.eu.https, &[&eu_host()]);
    let resp = client
        .get(format!("https://{}:{}/x", eu_host(), edges.eu.https.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(handshakes(eu_admin).await, eu_before + 1.0);
    drop(eu);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_na_edge_down_the_eu_edge_refuses_and_nothing_is_served() {
    let edges = TwoEdges::new(|_, t| t).await;
    let na = edges.start(&edges.na);
    let eu = edges.start(&edges.eu);
    let eu_admin = edges.eu.admin;
    // Up: passed through.
    let tcp = tcp_from(CLIENT, edges.eu.https).await;
    let mut stream = tls(&edges, tcp, &na_host())
        .await
        .expect("handshake via the EU edge");
    assert!(get_over(&mut stream, &na_host(), "/up")
        .await
        .starts_with("HTTP/1.1 200"));
    drop(stream);
    drop(na);
    let before = handshakes(eu_admin).await;
    let served = edges.topo.total_requests();
    // Down, whether or not the probe has noticed yet: refused, never terminated here.
    let tcp = tcp_from(CLIENT, edges.eu.https).await;
    assert!(
        tls(&edges, tcp, &na_host()).await.is_err(),
        "the handshake must not complete"
    );
    let refusals = wait_for(
        eu_admin,
        "edge_residency_handshake_refusals_total",
        &[("geography", "na")],
        1.0,
    )
    .await;
    assert_eq!(refusals, 1.0);
    // Once the probe knows, the refusal says why.
    assert!(
        wait_for_zero(eu_admin, edges.na.https).await,
        "the probe marks the NA edge unhealthy"
    );
    let tcp = tcp_from(CLIENT, edges.eu.https).await;
    assert!(tls(&edges, tcp, &na_host()).await.is_err());
    assert!(
        wait_for(
            eu_admin,
            "edge_residency_handshake_refusals_total",
            &[("geography", "na"), ("reason", "no_healthy_peer")],
            1.0
        )
        .await
            >= 1.0
    );
    assert_eq!(handshakes(eu_admin).await, before, "nothing was decrypted");
    assert_eq!(edges.topo.total_requests(), served, "nothing was served");
    drop(eu);
}

/// Waits until `edge_peer_healthy{address}` is 0 on `admin` (10 s at most).
async fn wait_for_zero(admin: SocketAddr, peer: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    let address = peer.to_string();
    loop {
        let scrape = edge_tests::edges::scrape(admin).await;
        let zero = scrape.samples.iter().any(|s| {
            s.metric == "edge_peer_healthy"
                && s.labels.get("address") == Some(address.as_str())
                && matches!(s.value, prometheus_parse::Value::Gauge(v) if v == 0.0)
        });
        if zero {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A PROXY v2 header for a TCP/IPv4 connection from `client` to `to`.
fn proxy_v2(client: SocketAddr, to: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(c), SocketAddr::V4(t)) = (client, to) else {
        panic!("IPv4 only")
    };
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&c.ip().octets());
    h.extend_from_slice(&t.ip().octets());
    h.extend_from_slice(&c.port().to_be_bytes());
    h.extend_from_slice(&t.port().to_be_bytes());
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_headers_are_taken_from_trusted_peers_only() {
    let edges = TwoEdges::new(|_, t| t).await;
    let na = edges.start(&edges.na);
    let na_admin = edges.na.admin;
    let claimed: SocketAddr = "198.51.100.7:40000".parse().unwrap();

    // From an untrusted address: closed before any handshake.
    let mut tcp = tcp_from("127.0.0.99", edges.na.https).await;
    tcp.write_all(&proxy_v2(claimed, edges.na.https))
        .await
        .unwrap();
    let refused = tls(&edges, tcp, &na_host()).await;
    assert!(
        refused.is_err(),
        "an untrusted PROXY header must close the connection"
    );
    assert_eq!(
        wait_for(
            na_admin,
            "edge_proxy_protocol_refusals_total",
            &[("reason", "untrusted")],
            1.0
        )
        .await,
        1.0
    );

    // From a trusted peer (127.0.0.1): the header's client is the request's client.
    let mut tcp = tcp_from("127.0.0.1", edges.na.https).await;
    tcp.write_all(&proxy_v2(claimed, edges.na.https))
        .await
        .unwrap();
    let mut stream = tls(&edges, tcp, &na_host()).await.expect("handshake");
    let resp = get_over(&mut stream, &na_host(), "/via-proxy-header").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let line = wait_log(&na, &["\"request_id\"", "/via-proxy-header"]).await;
    assert!(line.contains("\"client\":\"198.51.100.7\""), "{line}");
    assert!(line.contains("\"client_ip\":\"198.51.100.7\""), "{line}");
    // The origin is told the same client.
    assert!(resp.contains("198.51.100.7"), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_edges_pointing_at_each_other_cannot_loop() {
    // The NA edge is misconfigured: it believes the NA tenant lives in the EU.
    let misplace = format!("id = \"{NA_TENANT}\"\ngeography = \"na\"");
    let edges = TwoEdges::new(|geo, text| {
        if geo == "na" {
            text.replace(
                &misplace,
                &format!("id = \"{NA_TENANT}\"\ngeography = \"eu\""),
            )
        } else {
            text
        }
    })
    .await;
    let na = edges.start(&edges.na);
    let eu = edges.start(&edges.eu);
    let served = edges.topo.total_requests();
    let tcp = tcp_from(CLIENT, edges.eu.https).await;
    assert!(tls(&edges, tcp, &na_host()).await.is_err());
    // EU passed it to NA once; NA refused to pass it back.
    assert_eq!(
        wait_for(
            edges.na.admin,
            "edge_residency_handshake_refusals_total",
            &[("reason", "loop")],
            1.0
        )
        .await,
        1.0
    );
    assert_eq!(
        sum(
            edges.eu.admin,
            "edge_residency_passthrough_total",
            &[("geography", "na")]
        )
        .await,
        1.0
    );
    assert_eq!(
        sum(edges.na.admin, "edge_residency_passthrough_total", &[]).await,
        0.0
    );
    assert_eq!(handshakes(edges.eu.admin).await, 0.0);
    assert_eq!(handshakes(edges.na.admin).await, 0.0);
    assert_eq!(edges.topo.total_requests(), served);
    drop((na, eu));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostless_foreign_tenants_are_proxied_and_counted_by_default() {
    let edges = TwoEdges::new(|_, t| t).await;
    let na = edges.start(&edges.na);
    let eu = edges.start(&edges.eu);
    let client = edges.client(edges.eu.https, &[API_HOST]);
    let resp = client
        .get(format!(
            "https://{API_HOST}:{}/hostless",
            edges.eu.https.port()
        ))
        .header("x-tenant-id", NA_TENANT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cert = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate().map(<[u8]>::to_vec))
        .unwrap();
    assert_eq!(
        cert,
        edges.eu.leaf.chain[0].to_vec(),
        "terminated at the EU edge"
    );
    assert_eq!(
        resp.headers().get("x-edge-region").unwrap(),
        "eastus",
        "served in the NA edge's region"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["region"], "eastus", "{body}");
    assert_eq!(
        sum(
            edges.eu.admin,
            "edge_residency_foreign_terminations_total",
            &[("geography", "na")]
        )
        .await,
        1.0
    );
    // The NA edge believes its peer's X-Forwarded-For: it logs the real client.
    let line = wait_log(
        &na,
        &["\"request_id\"", "/hostless", "\"region\":\"eastus\""],
    )
    .await;
    assert!(
        line.contains(&format!("\"client_ip\":\"{CLIENT}\"")),
        "{line}"
    );
    // An EU tenant on the same host stays here.
    let resp = client
        .get(format!(
            "https://{API_HOST}:{}/hostless-eu",
            edges.eu.https.port()
        ))
        .header("x-tenant-id", EU_TENANT)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["region"], "northeurope", "{body}");
    assert_eq!(
        sum(
            edges.eu.admin,
            "edge_residency_foreign_terminations_total",
            &[]
        )
        .await,
        1.0
    );
    drop(eu);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostless_foreign_tenants_get_421_naming_their_host_in_refuse_mode() {
    let edges = TwoEdges::new(|_, t| {
        t.replace(
            "trusted_peers = [",
            "foreign_tenants = \"refuse\"\ntrusted_peers = [",
        )
    })
    .await;
    let eu = edges.start(&edges.eu);
    let client = edges.client(edges.eu.https, &[API_HOST]);
    let served = edges.topo.total_requests();
    let resp = client
        .get(format!(
            "https://{API_HOST}:{}/strict",
            edges.eu.https.port()
        ))
        .header("x-tenant-id", NA_TENANT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 421);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "urn:edge-gateway:problem:misdirected-request");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(&na_host()), "{detail}");
    assert_eq!(edges.topo.total_requests(), served);
    assert_eq!(
        sum(
            edges.eu.admin,
            "edge_residency_foreign_terminations_total",
            &[("geography", "na")]
        )
        .await,
        1.0
    );
    drop(eu);
}
