//! Header editing on the request path (`routing.header_case`), tried as an attacker and as an
//! unlucky operator would: how names and values reach the origin and the client in both modes,
//! what the gateway owns, targets the URI does not carry, interim and bodiless answers, hot
//! reload between the modes, and heads that try to get past the edge's checks.

use std::net::SocketAddr;
use std::time::Duration;

use edge_tests::gateway::run_cli;
use edge_tests::raw_origin::{Answer, RawOrigin, RawRequest};
use edge_tests::{
    free_addr, raw_h1, raw_h2, read_all, GatewayProcess, Topology, ADMIN_TOKEN, EU_TENANT,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A recording origin (the head kept byte for byte) answering every request with what
/// `answer` makes of it; a `HEAD` gets the same head without the body it announces.
async fn recording_origin(
    answer: impl Fn(&RawRequest) -> Vec<u8> + Send + Sync + 'static,
) -> RawOrigin {
    RawOrigin::start(move |req| {
        let mut out = answer(req);
        if req.method == "HEAD" {
            let end = out
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(out.len(), |p| p + 4);
            out.truncate(end);
        }
        Answer::Write(out)
    })
    .await
}

/// Reads one response with a `content-length` body (or none); returns its head and body.
async fn read_response<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..p + 4]).into_owned();
            let len = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while buf.len() < p + 4 + len {
                let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
                    .await
                    .expect("response body in time")
                    .unwrap();
                assert!(n > 0, "closed mid-body: {head}");
                buf.extend_from_slice(&chunk[..n]);
            }
            return (head, buf[p + 4..p + 4 + len].to_vec());
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .expect("response in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads one response head (an answer to HEAD: no body follows, whatever it announces).
async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut byte))
            .await
            .expect("response head in time")
            .unwrap();
        buf.push(byte[0]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn status_of(head: &[u8]) -> u16 {
    String::from_utf8_lossy(head)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A response head's header lines as sent, in order.
fn response_fields(head: &str) -> Vec<(&str, &str)> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n, v.trim()))
        .collect()
}

const ANSWER: &[u8] = b"HTTP/1.1 200 Fine Thanks\r\n\
    Set-Cookie: a=1; Path=/\r\n\
    X-Origin-Thing: yes\r\n\
    Server: origin/1.0\r\n\
    set-cookie: b=2\r\n\
    Content-Length: 2\r\n\
    \r\nok";

/// A request that spells names in several ways, repeats some, and carries copies of what the
/// gateway owns under their names and aliases.
fn mixed_request(host: &str) -> String {
    format!(
        "GET /mixed?q=1 HTTP/1.1\r\n\
         Host: {host}\r\n\
         X-Tenant-Id: {EU_TENANT}\r\n\
         Cookie: c1=1\r\n\
         Accept: text/html\r\n\
         X-Custom-Header: One\r\n\
         cookie: c2=2\r\n\
         ACCEPT: application/json\r\n\
         X-Forwarded-For: 6.6.6.6\r\n\
         x_forwarded_for: 6.6.6.7\r\n\
         X_Tenant_Id: 00000000-0000-4000-8000-000000000000\r\n\
         Forwarded: for=6.6.6.6\r\n\
         X-Edge-Region: westus\r\n\
         X-Real-IP: 6.6.6.6\r\n\
         X-Request-Id: client-id-1\r\n\
         \r\n"
    )
}

/// Checks what the origin and the client saw of [`mixed_request`] in `mode`.
fn check_mixed(origin_saw: &RawRequest, client_saw: &str, host: &str, preserve: bool) {
    let mode = if preserve { "preserve" } else { "lowercase" };
    assert_eq!(origin_saw.line(), "GET /mixed?q=1 HTTP/1.1", "{mode}");
    assert_eq!(origin_saw.values("cookie"), ["c1=1", "c2=2"], "{mode}");
    assert_eq!(
        origin_saw.values("accept"),
        ["text/html", "application/json"],
        "{mode}"
    );
    assert_eq!(origin_saw.values("x-custom-header"), ["One"], "{mode}");
    assert_eq!(origin_saw.values("x-tenant-id"), [EU_TENANT], "{mode}");
    assert_eq!(
        origin_saw.values("x-forwarded-for"),
        ["127.0.0.1"],
        "{mode}"
    );
    assert_eq!(origin_saw.values("x-forwarded-host"), [host], "{mode}");
    assert_eq!(origin_saw.values("x-forwarded-proto"), ["https"], "{mode}");
    assert_eq!(origin_saw.values("x-request-id"), ["client-id-1"], "{mode}");
    assert_eq!(
        origin_saw.values("x-edge-region"),
        ["northeurope"],
        "{mode}"
    );
    for gone in ["x_forwarded_for", "x_tenant_id", "forwarded", "x-real-ip"] {
        assert!(
            origin_saw.values(gone).is_empty(),
            "{mode}: {gone} reached the origin"
        );
    }
    let names: Vec<&str> = origin_saw.fields().iter().map(|(n, _)| *n).collect();
    if preserve {
        for spelled in ["X-Custom-Header", "Cookie", "ACCEPT", "Host"] {
            assert!(
                names.contains(&spelled),
                "{mode}: {spelled} not in {names:?}"
            );
        }
    } else {
        for n in &names {
            // Pingora title-cases a handful of standard names (Host, Content-Type, ...).
            assert!(
                *n == n.to_ascii_lowercase() || *n == "Host",
                "{mode}: {n} in {names:?}"
            );
        }
    }
    // The client's side: the origin's reason phrase, both cookies in order, no Server.
    assert!(
        client_saw.starts_with("HTTP/1.1 200 Fine Thanks\r\n"),
        "{mode}: {client_saw}"
    );
    let fields = response_fields(client_saw);
    let cookies: Vec<&str> = fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2"], "{mode}: {client_saw}");
    assert!(
        !fields.iter().any(|(n, _)| n.eq_ignore_ascii_case("server")),
        "{mode}: {client_saw}"
    );
    let ids: Vec<&str> = fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-request-id"))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(ids, ["client-id-1"], "{mode}: {client_saw}");
    let thing = fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-origin-thing"))
        .map(|(n, _)| *n);
    assert_eq!(
        thing,
        Some(if preserve {
            "X-Origin-Thing"
        } else {
            "x-origin-thing"
        }),
        "{mode}: {client_saw}"
    );
}

async fn admin_reload(admin: SocketAddr) {
    let r = reqwest::Client::new()
        .post(format!("http://{admin}/api/v1/config/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "reload: {body}");
}

/// Both modes, switched by hot reload on a running gateway (and back): every value of every
/// header reaches the origin, in order; what the gateway owns never does; names are spelled
/// as the mode says; the origin's reason phrase and cookies reach the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_header_cases_forward_every_value_and_strip_what_the_gateway_owns() {
    let mut topo = Topology::standard().await;
    let admin = free_addr();
    topo.admin = Some(admin);
    let origin = recording_origin(|_| ANSWER.to_vec()).await;
    let host = format!("gw.test:{}", topo.https.port());
    let config = topo.config_with_primary(origin.addr(), "");
    let _gw = GatewayProcess::start_full(
        &config,
        topo.https,
        &[],
        &[("EDGE_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let mut seen = 0;
    for (step, preserve) in [(0, false), (1, true), (2, false)] {
        if step > 0 {
            let extra = if preserve {
                "\n[routing]\nheader_case = \"preserve\"\n"
            } else {
                "\n[routing]\nheader_case = \"lowercase\"\n"
            };
            topo.config_with_primary(origin.addr(), extra);
            admin_reload(admin).await;
        }
        // Two requests on one connection: the second reuses what the first left behind.
        let mut tls = raw_h1(&topo).await;
        for _ in 0..2 {
            tls.write_all(mixed_request(&host).as_bytes())
                .await
                .unwrap();
            let (head, body) = read_response(&mut tls).await;
            assert_eq!(body, b"ok");
            let reqs = origin.requests();
            assert_eq!(reqs.len(), seen + 1, "step {step}");
            check_mixed(&reqs[seen], &head, &host, preserve);
            seen += 1;
        }
    }
}

/// `OPTIONS *` (a target the URI carries as `*`), a HEAD with an upper-case Host, an odd but
/// valid path, and a chunked upload with a trailer, in the default mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_targets_heads_and_chunked_uploads_reach_the_origin_intact() {
    let topo = Topology::standard().await;
    let origin = recording_origin(|_| ANSWER.to_vec()).await;
    let port = topo.https.port();
    let _gw = GatewayProcess::start(&topo.config_with_primary(origin.addr(), ""), topo.https);
    let t = EU_TENANT;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "OPTIONS *",
            format!(
                "OPTIONS * HTTP/1.1\r\nHost: gw.test:{port}\r\nX-Tenant-Id: {t}\r\n\
                 X-Forwarded-For: 6.6.6.6\r\n\r\n"
            ),
            "*",
        ),
        (
            "HEAD",
            format!(
                "HEAD /h HTTP/1.1\r\nhost: GW.TEST:{port}\r\nX-Tenant-Id: {t}\r\n\
                 X-Forwarded-For: 6.6.6.6\r\n\r\n"
            ),
            "/h",
        ),
        (
            "odd but valid path",
            format!(
                "GET /a;b=c/%7e/~x/!$&'()*+,;=:@/?q=%20&r=a/b?c HTTP/1.1\r\nHost: gw.test:{port}\r\n\
                 X-Tenant-Id: {t}\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
            ),
            "/a;b=c/%7e/~x/!$&'()*+,;=:@/?q=%20&r=a/b?c",
        ),
        (
            // RFC 9112 §3.2.2: a server must accept absolute-form; the path tenant source and
            // the dot-segment check read its path.
            "absolute-form",
            format!(
                "GET https://gw.test:{port}/abs?q=1 HTTP/1.1\r\nHost: gw.test:{port}\r\n\
                 X-Tenant-Id: {t}\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
            ),
            "ABSOLUTE",
        ),
    ];
    let mut tls = raw_h1(&topo).await;
    for (i, (name, req, target)) in cases.iter().enumerate() {
        tls.write_all(req.as_bytes()).await.unwrap();
        let (head, body) = if *name == "HEAD" {
            (read_head(&mut tls).await, Vec::new())
        } else {
            read_response(&mut tls).await
        };
        assert!(
            head.starts_with("HTTP/1.1 200 Fine Thanks"),
            "{name}: {head}{}",
            String::from_utf8_lossy(&body)
        );
        let reqs = origin.requests();
        assert_eq!(reqs.len(), i + 1, "{name}: {head}");
        let saw = &reqs[i];
        let line_target = saw.line().split(' ').nth(1).unwrap_or("");
        if *target == "ABSOLUTE" {
            // Passed on as received (an origin must accept absolute-form too).
            let expected = format!("https://gw.test:{port}/abs?q=1");
            assert!(line_target == expected, "{name}: {}", saw.head);
        } else {
            assert!(line_target == *target, "{name}: {}", saw.head);
        }
        assert_eq!(saw.values("x-forwarded-for"), ["127.0.0.1"], "{name}");
        assert_eq!(saw.values("x-tenant-id"), [EU_TENANT], "{name}");
        assert!(saw.values("x_tenant_id").is_empty(), "{name}");
        assert_eq!(saw.values("x-forwarded-host").len(), 1, "{name}");
    }
    // A chunked upload with a trailer.
    let upload = format!(
        "POST /up HTTP/1.1\r\nHost: gw.test:{port}\r\nX-Tenant-Id: {t}\r\n\
         Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n\
         3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"
    );
    tls.write_all(upload.as_bytes()).await.unwrap();
    let (head, _) = read_response(&mut tls).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let last = origin.requests().pop().unwrap();
    assert_eq!(last.body, b"abcde", "{}", last.head);
}

/// h2 clients send no `Host` (the authority is `:authority`): `x-forwarded-host` still names
/// it, and every response on one connection carries its own request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_requests_without_host_get_forwarded_host_and_their_own_ids() {
    let topo = Topology::standard().await;
    let origin = recording_origin(|_| ANSWER.to_vec()).await;
    let _gw = GatewayProcess::start(&topo.config_with_primary(origin.addr(), ""), topo.https);
    let tls = raw_h2(&topo).await;
    let (client, conn) = h2::client::handshake(tls).await.unwrap();
    let conn = tokio::spawn(conn);
    let mut ids = std::collections::HashSet::new();
    let authority = format!("gw.test:{}", topo.https.port());
    let n = 200;
    for i in 0..n {
        let mut client = client.clone().ready().await.unwrap();
        let req = http::Request::get(format!("https://{authority}/h2/{i}"))
            .header("x-tenant-id", EU_TENANT)
            .header("x-forwarded-host", "evil.test")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(())
            .unwrap();
        let (resp, _) = client.send_request(req, true).unwrap();
        let resp = resp.await.unwrap();
        assert_eq!(resp.status(), 200, "request {i}");
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(!resp.headers().contains_key("server"));
        let cookies: Vec<_> = resp.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
        assert!(ids.insert(id), "request {i}: a request id came back twice");
        let mut body = resp.into_body();
        while let Some(chunk) = body.data().await {
            chunk.unwrap();
        }
    }
    conn.abort();
    let reqs = origin.requests();
    assert_eq!(reqs.len(), n);
    for r in &reqs {
        assert_eq!(
            r.values("x-forwarded-host"),
            [authority.as_str()],
            "{}",
            r.head
        );
        let cookies = r.values("cookie").join("; ");
        assert_eq!(cookies, "a=1; b=2", "{}", r.head);
    }
}

/// Heads that would make the gateway and the origin disagree about where a request ends,
/// first on a connection or pipelined behind a harmless one in the same write: each is
/// refused with a 400 and the connection closed, and none reaches the origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_heads_are_refused_first_or_pipelined() {
    let topo = Topology::standard().await;
    let origin = recording_origin(|_| ANSWER.to_vec()).await;
    let _gw = GatewayProcess::start(&topo.config_with_primary(origin.addr(), ""), topo.https);
    let port = topo.https.port();
    let t = EU_TENANT;
    let start = |extra: &str| {
        format!("POST /smuggle HTTP/1.1\r\nHost: gw.test:{port}\r\nX-Tenant-Id: {t}\r\n{extra}")
    };
    let bad: Vec<(&str, String)> = vec![
        (
            "CL then TE",
            start("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ),
        (
            "TE then CL",
            start("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        ),
        (
            "lower-case, no space",
            start("content-length:5\r\ntransfer-encoding:chunked\r\n\r\n0\r\n\r\n"),
        ),
        (
            "space before colon",
            start("Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        ),
        (
            "tab in value",
            start("Transfer-Encoding:\tchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        ),
        (
            "duplicate CL",
            start("Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        ),
        (
            "TE not chunked",
            start("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello"),
        ),
        ("bare LF", start("Content-Length: 5\nX-A: 1\r\n\r\nhello")),
        (
            "TE chunked twice",
            start("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ),
    ];
    let harmless =
        format!("GET /first HTTP/1.1\r\nHost: gw.test:{port}\r\nX-Tenant-Id: {t}\r\n\r\n");
    for (name, req) in &bad {
        // First on the connection.
        let mut tls = raw_h1(&topo).await;
        tls.write_all(req.as_bytes()).await.unwrap();
        let (bytes, closed) = read_all(&mut tls, Duration::from_secs(3)).await;
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(status_of(&bytes), 400, "{name}: {text}");
        assert!(closed, "{name}: connection left open");
        assert_eq!(origin.requests().len(), 0, "{name} reached the origin");
    }
    for (name, req) in &bad {
        // Behind a harmless request, in the same write.
        let before = origin.requests().len();
        let mut tls = raw_h1(&topo).await;
        tls.write_all(format!("{harmless}{req}").as_bytes())
            .await
            .unwrap();
        let (bytes, closed) = read_all(&mut tls, Duration::from_secs(3)).await;
        let text = String::from_utf8_lossy(&bytes);
        assert!(closed, "pipelined {name}: connection left open: {text}");
        let reqs = origin.requests();
        let reached: Vec<&str> = reqs[before..].iter().map(|r| r.line()).collect();
        assert!(
            reached.iter().all(|l| l.starts_with("GET /first ")),
            "pipelined {name} reached the origin: {reached:?}"
        );
    }
}

/// The edge holds a head until it is whole and checks it once; a request whose head starts in
/// the bytes held past the one before (the client sent its next request early) must never reach
/// the origin checked only from where a later read happened to begin. The first head is 4096
/// bytes (Pingora's first read buffer) and arrives in two pieces, the second bringing the start
/// of a head that breaks every rule (bare LF, second Host, Content-Length with
/// Transfer-Encoding); its end, sent after the first answer, looks like a head of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_began_with_the_request_before_it_is_checked_whole() {
    let topo = Topology::standard().await;
    let origin = recording_origin(|_| ANSWER.to_vec()).await;
    let _gw = GatewayProcess::start(&topo.config_with_primary(origin.addr(), ""), topo.https);
    let port = topo.https.port();
    let t = EU_TENANT;
    let mut first =
        format!("GET /one HTTP/1.1\r\nHost: gw.test:{port}\r\nX-Tenant-Id: {t}\r\nX-Pad: ");
    let pad = 4096 - first.len() - 4;
    first.push_str(&"p".repeat(pad));
    first.push_str("\r\n\r\n");
    assert_eq!(first.len(), 4096);
    // Everything the edge refuses in a head: a bare LF, Content-Length with Transfer-Encoding,
    // a second Host.
    let second_start = format!(
        "POST /two HTTP/1.1\nHost: other.test\r\nTransfer-Encoding: chunked\r\n\
         Content-Length: 5\r\nX-Tenant-Id: {t}\r\nX-Hide: "
    );
    let second_end = format!("GET /decoy HTTP/1.1\r\nHost: gw.test:{port}\r\n\r\n0\r\n\r\n");
    let mut tls = raw_h1(&topo).await;
    // The first head in two writes, so the edge reads it in two pieces and the second piece
    // brings the start of the next head along. No signal tells the client when the edge has
    // read the first piece: the pause stands in for an attacker's timing.
    tls.write_all(&first.as_bytes()[..1000]).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tls.write_all(format!("{}{second_start}", &first[1000..]).as_bytes())
        .await
        .unwrap();
    tls.flush().await.unwrap();
    // Gateway built from 984e386: the first request is answered 400 ("the request could not be
    // read"), not 200. What matters here is that nothing after it reaches the origin.
    let (first_answer, _) = read_all(&mut tls, Duration::from_secs(1)).await;
    let _ = tls.write_all(second_end.as_bytes()).await;
    let (bytes, _) = read_all(&mut tls, Duration::from_secs(2)).await;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<String> = origin
        .requests()
        .iter()
        .map(|r| r.line().to_owned())
        .collect();
    assert!(
        lines.iter().all(|l| l == "GET /one HTTP/1.1"),
        "{lines:?}; first answer {}; then {text}",
        String::from_utf8_lossy(&first_answer)
    );
    assert!(
        !text.contains(" 200 "),
        "the second head was answered: {text}"
    );
}

/// A misspelt `header_case` is named with its key path and line by `edge-gateway check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_header_case_is_a_config_error_with_key_and_line() {
    let topo = Topology::standard().await;
    let text = topo.config_toml() + "\n[routing]\nheader_case = \"Preserve\"\n";
    let line = text
        .lines()
        .position(|l| l.starts_with("header_case"))
        .unwrap()
        + 1;
    let path = topo.dir.path().join("bad.toml");
    std::fs::write(&path, &text).unwrap();
    let out = run_cli(&["check", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("routing.header_case"), "{all}");
    assert!(
        all.contains(&format!("line {line}")) || all.contains(&format!(":{line}")),
        "{all}"
    );
    assert!(all.contains("\"Preserve\""), "{all}");
}

/// A reload applies to the next request (docs/configuration.md, "What a reload applies"),
/// also on a keep-alive connection accepted before it: a lowered header limit is enforced on
/// the next head, though the edge checked that head against the limits of the connection's
/// start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_header_limit_applies_to_open_connections_after_reload() {
    let mut topo = Topology::standard().await;
    let admin = free_addr();
    topo.admin = Some(admin);
    let origin = recording_origin(|_| ANSWER.to_vec()).await;
    let config = topo.config_with_primary(origin.addr(), "");
    let _gw = GatewayProcess::start_full(
        &config,
        topo.https,
        &[],
        &[("EDGE_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    let port = topo.https.port();
    let request = |fields: usize, pad: usize| {
        let extra: String = (0..fields)
            .map(|i| format!("x-f{i}: {}\r\n", "v".repeat(pad)))
            .collect();
        format!(
            "GET /l HTTP/1.1\r\nHost: gw.test:{port}\r\nX-Tenant-Id: {EU_TENANT}\r\n{extra}\r\n"
        )
    };
    // Two connections accepted before the reload, each with one request served.
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut tls = raw_h1(&topo).await;
        tls.write_all(request(40, 1).as_bytes()).await.unwrap();
        let (head, _) = read_response(&mut tls).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        open.push(tls);
    }
    topo.config_with_primary(
        origin.addr(),
        "\n[limits]\nmax_headers = 20\nmax_header_bytes = 2048\n",
    );
    admin_reload(admin).await;
    for ((name, req), mut tls) in [
        ("max_headers", request(40, 1)),
        ("max_header_bytes", request(10, 400)),
    ]
    .into_iter()
    .zip(open)
    {
        let mut fresh = raw_h1(&topo).await;
        fresh.write_all(req.as_bytes()).await.unwrap();
        let (bytes, _) = read_all(&mut fresh, Duration::from_secs(3)).await;
        assert_eq!(status_of(&bytes), 431, "new connection, {name}");
        tls.write_all(req.as_bytes()).await.unwrap();
        let (bytes, _) = read_all(&mut tls, Duration::from_secs(3)).await;
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(status_of(&bytes), 431, "open connection, {name}: {text}");
    }
    assert_eq!(
        origin.requests().len(),
        2,
        "only the requests before the reload"
    );
}

/// Answers without a body (204, 304) keep their framing after the headers are edited: the
/// client reads each answer and the next one on the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodiless_answers_keep_the_connection_usable() {
    let topo = Topology::standard().await;
    let origin = recording_origin(|req| {
        let path = req.line().split(' ').nth(1).unwrap_or("");
        match path {
            "/204" => b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n".to_vec(),
            "/304" => b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nX-A: 1\r\n\r\n".to_vec(),
            _ => ANSWER.to_vec(),
        }
    })
    .await;
    let _gw = GatewayProcess::start(&topo.config_with_primary(origin.addr(), ""), topo.https);
    let port = topo.https.port();
    let t = EU_TENANT;
    let mut tls = raw_h1(&topo).await;
    for (path, status) in [("/204", 204), ("/304", 304), ("/after", 200)] {
        tls.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: gw.test:{port}\r\nX-Tenant-Id: {t}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let (head, body) = read_response(&mut tls).await;
        assert_eq!(status_of(head.as_bytes()), status, "{path}: {head}");
        assert!(
            head.contains("x-a: 1\r\n") || status == 200,
            "{path}: {head}"
        );
        assert_eq!(body.is_empty(), status != 200, "{path}");
    }
}
