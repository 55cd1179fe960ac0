//! The gateway's spine, end to end over real sockets: TLS in, tenant identified, home
//! geography out.

use std::time::Duration;

use base64::Engine;
use edge_tests::{
    https_client, raw_h1, raw_tls_connect, ClientOptions, GatewayProcess, Topology, EU_TENANT,
    NA_TENANT, UNKNOWN_TENANT,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start() -> (Topology, GatewayProcess) {
    let topo = Topology::standard().await;
    let gw = GatewayProcess::start(&topo.write_config(), topo.https);
    (topo, gw)
}

/// Sends `req` and returns (status, x-edge-region, JSON body or Null).
async fn fetch(req: reqwest::RequestBuilder) -> (u16, String, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let region = resp
        .headers()
        .get("x-edge-region")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.bytes().await.expect("body");
    (
        status,
        region,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn jwt_with_tid(tid: &str) -> String {
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        e.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        e.encode(format!(r#"{{"sub":"user-1","tid":"{tid}"}}"#)),
        e.encode("not-verified-here")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_source_routes_to_the_home_geography() {
    let (topo, _gw) = start().await;
    let eu_host = format!("{EU_TENANT}.app.test");
    let na_host = format!("{NA_TENANT}.app.test");
    let c = https_client(
        &topo,
        &ClientOptions {
            hosts: vec![eu_host.clone(), na_host.clone()],
            ..Default::default()
        },
    );
    let port = topo.https.port();
    let base = topo.base_url();
    let cases = [
        (
            "host",
            c.get(format!("https://{eu_host}:{port}/x")),
            "northeurope",
        ),
        (
            "host",
            c.get(format!("https://{na_host}:{port}/x")),
            "eastus",
        ),
        (
            "header",
            c.get(format!("{base}/x")).header("x-tenant-id", NA_TENANT),
            "eastus",
        ),
        (
            "path",
            c.get(format!("{base}/t/{EU_TENANT}/orders?id=1")),
            "northeurope",
        ),
        (
            "jwt",
            c.get(format!("{base}/x"))
                .bearer_auth(jwt_with_tid(NA_TENANT)),
            "eastus",
        ),
    ];
    for (source, req, want) in cases {
        let (status, region, body) = fetch(req).await;
        assert_eq!(status, 200, "{source}: {body}");
        assert_eq!(region, want, "{source}");
        assert_eq!(body["region"], want, "{source}: origin's own answer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eu_and_na_tenants_never_reach_the_other_geography() {
    let (topo, _gw) = start().await;
    let c = https_client(&topo, &ClientOptions::default());
    let base = topo.base_url();
    for _ in 0..40 {
        let (s, r, _) = fetch(c.get(format!("{base}/eu")).header("x-tenant-id", EU_TENANT)).await;
        assert_eq!((s, r.as_str()), (200, "northeurope"));
        let (s, r, _) = fetch(c.get(format!("{base}/na")).header("x-tenant-id", NA_TENANT)).await;
        assert_eq!((s, r.as_str()), (200, "eastus"));
    }
    for o in topo.origins_in("eu") {
        assert!(o
            .recorded()
            .iter()
            .all(|r| r.header("x-tenant-id") == Some(EU_TENANT)));
    }
    for o in topo.origins_in("na") {
        assert!(o
            .recorded()
            .iter()
            .all(|r| r.header("x-tenant-id") == Some(NA_TENANT)));
    }
    assert_eq!(topo.region("northeurope").requests(), 40);
    assert_eq!(topo.region("eastus").requests(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_missing_and_malformed_tenants_are_refused_without_contacting_origins() {
    let (topo, _gw) = start().await;
    let c = https_client(&topo, &ClientOptions::default());
    let base = topo.base_url();
    let cases = [
        (
            c.get(format!("{base}/"))
                .header("x-tenant-id", UNKNOWN_TENANT),
            404,
            "unknown-tenant",
        ),
        (c.get(format!("{base}/")), 404, "unknown-tenant"),
        (
            c.get(format!("{base}/")).header("x-tenant-id", "acme"),
            400,
            "malformed-tenant-id",
        ),
        (
            c.post(format!("{base}/t/not-a-uuid/x")).body("payload"),
            400,
            "malformed-tenant-id",
        ),
    ];
    for (req, want_status, want_type) in cases {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), want_status, "{want_type}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        assert!(resp.headers().contains_key("strict-transport-security"));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], want_status);
        assert!(
            body["type"].as_str().unwrap().ends_with(want_type),
            "{body}"
        );
        assert!(!body["detail"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        topo.total_requests(),
        0,
        "no origin may see a refused request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_internal_headers_neither_route_nor_reach_the_origin() {
    let (topo, _gw) = start().await;
    let eu_host = format!("{EU_TENANT}.app.test");
    let c = https_client(
        &topo,
        &ClientOptions {
            hosts: vec![eu_host.clone()],
            ..Default::default()
        },
    );
    let resp = c
        .get(format!("https://{eu_host}:{}/x", topo.https.port()))
        .header("x-tenant-id", NA_TENANT)
        .header("x-edge-region", "eastus")
        .header("x-edge-debug", "1")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-request-id", "client-chosen-id-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-edge-region"], "northeurope");
    assert_eq!(resp.headers()["x-request-id"], "client-chosen-id-1");
    let seen = topo.region("northeurope").origins[0].recorded();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(
        r.header_values("x-tenant-id").collect::<Vec<_>>(),
        [EU_TENANT]
    );
    assert_eq!(
        r.header_values("x-edge-region").collect::<Vec<_>>(),
        ["northeurope"]
    );
    assert_eq!(r.header("x-edge-debug"), None);
    assert_eq!(
        r.header_values("x-forwarded-for").collect::<Vec<_>>(),
        ["127.0.0.1"]
    );
    assert_eq!(r.header("x-forwarded-proto"), Some("https"));
    assert_eq!(r.header("x-request-id"), Some("client-chosen-id-1"));
    assert_eq!(topo.region("eastus").requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_12_and_13_are_accepted_with_h2_and_http1_alpn() {
    let (topo, _gw) = start().await;
    for (version, want) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        for alpn in [&b"h2"[..], &b"http/1.1"[..]] {
            let tls = raw_tls_connect(&topo, topo.https, "gw.test", &[version], &[alpn])
                .await
                .expect("handshake");
            let (_, conn) = tls.get_ref();
            assert_eq!(conn.protocol_version(), Some(want));
            assert_eq!(conn.alpn_protocol(), Some(alpn));
        }
    }
}

/// Runs `openssl s_client` offering exactly one protocol version; true if the handshake
/// completed.
fn openssl_handshake(addr: std::net::SocketAddr, flag: &str) -> bool {
    let out = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "gw.test",
            flag,
        ])
        // Lets the client really offer TLS 1.0/1.1 (OpenSSL 3 disables them at level 1+), so
        // that a refusal is the server's doing.
        .args(["-cipher", "DEFAULT@SECLEVEL=0"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl is installed (cargo xtask deps)");
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && !text.contains("Cipher is (NONE)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_10_and_11_are_refused_to_a_real_openssl_client() {
    let (topo, _gw) = start().await;
    let addr = topo.https;
    let results = tokio::task::spawn_blocking(move || {
        ["-tls1", "-tls1_1", "-tls1_2", "-tls1_3"].map(|f| (f, openssl_handshake(addr, f)))
    })
    .await
    .unwrap();
    assert_eq!(
        results,
        [
            ("-tls1", false),
            ("-tls1_1", false),
            ("-tls1_2", true),
            ("-tls1_3", true)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_http_is_redirected_to_https() {
    let (topo, _gw) = start().await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = c
        .post(format!("http://{}/a/b?c=d&e=f", topo.http))
        .header("host", "shop.example.com")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(
        resp.headers()["location"],
        format!("https://shop.example.com:{}/a/b?c=d&e=f", topo.https.port()).as_str()
    );
    assert_eq!(topo.total_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_request_id_and_h2() {
    let (topo, _gw) = start().await;
    let h2 = https_client(&topo, &ClientOptions::default());
    let h1 = https_client(
        &topo,
        &ClientOptions {
            http1_only: true,
            ..Default::default()
        },
    );
    for (client, version) in [
        (h2, reqwest::Version::HTTP_2),
        (h1, reqwest::Version::HTTP_11),
    ] {
        let resp = client
            .get(format!("{}/v", topo.base_url()))
            .header("x-tenant-id", EU_TENANT)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.version(), version);
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["strict-transport-security"],
            "max-age=31536000"
        );
        let rid = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(
            uuid::Uuid::parse_str(&rid).is_ok(),
            "generated request id {rid}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["headers"]["x-request-id"], rid.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_pooled() {
    let (topo, _gw) = start().await;
    let c = https_client(&topo, &ClientOptions::default());
    for _ in 0..50 {
        let (s, _, _) = fetch(
            c.get(format!("{}/p", topo.base_url()))
                .header("x-tenant-id", EU_TENANT),
        )
        .await;
        assert_eq!(s, 200);
    }
    let origin = &topo.region("northeurope").origins[0];
    assert_eq!(origin.requests(), 50);
    let open = origin.open_connections();
    // An idle pooled connection stays open (>= 1); reuse means no more than one per gateway
    // worker thread was ever needed (<= 2).
    assert!((1..=2).contains(&open), "open upstream connections: {open}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_passes_through() {
    let (topo, _gw) = start().await;
    let mut tls = raw_h1(&topo).await;
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: gw.test\r\nx-tenant-id: {EU_TENANT}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut byte))
            .await
            .expect("response head in time")
            .unwrap();
        assert_eq!(n, 1, "connection closed before the response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("x-edge-region: northeurope"), "{head}");
    tls.write_all(b"ping-through-the-tunnel").await.unwrap();
    let mut echo = [0u8; 23];
    tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut echo))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(&echo, b"ping-through-the-tunnel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_primary_is_retried_on_the_secondary_in_the_same_request() {
    let (topo, _gw) = start().await;
    topo.region("northeurope").kill();
    let c = https_client(&topo, &ClientOptions::default());
    for _ in 0..20 {
        let (s, r, _) = fetch(
            c.post(format!("{}/orders", topo.base_url()))
                .header("x-tenant-id", EU_TENANT)
                .body("{}"),
        )
        .await;
        assert_eq!((s, r.as_str()), (200, "westeurope"));
    }
    assert_eq!(
        topo.region("eastus").requests() + topo.region("westus").requests(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_geography_answers_503_and_never_crosses_the_border() {
    let (topo, _gw) = start().await;
    topo.region("northeurope").kill();
    topo.region("westeurope").kill();
    let c = https_client(&topo, &ClientOptions::default());
    let resp = c
        .get(format!("{}/x", topo.base_url()))
        .header("x-tenant-id", EU_TENANT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = resp.json().await.unwrap();
    assert!(body["type"]
        .as_str()
        .unwrap()
        .ends_with("no-origin-available"));
    assert!(body["detail"].as_str().unwrap().contains("\"eu\""));
    assert_eq!(
        topo.region("eastus").requests() + topo.region("westus").requests(),
        0
    );
    // NA is unaffected.
    let (s, r, _) = fetch(
        c.get(format!("{}/x", topo.base_url()))
            .header("x-tenant-id", NA_TENANT),
    )
    .await;
    assert_eq!((s, r.as_str()), (200, "eastus"));
}
