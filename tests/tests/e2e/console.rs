//! The ops console in a real browser: Debian's headless Chromium driven through WebDriver
//! (chromedriver, started per test on a free loopback port and killed with its browser by
//! process group on drop), against the real gateway binary and simulated origins.
//!
//! Set `EDGE_CONSOLE_SCREENSHOT=<dir>` to keep a screenshot of the operator's page
//! (`console.png`; the one in `docs/img/` comes from here).

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_tests::load::send;
use edge_tests::{
    free_addr, https_client, ClientOptions, GatewayProcess, Topology, EU_TENANT, EU_TENANT_2,
    NA_TENANT, UNKNOWN_TENANT,
};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const OPERATOR_TOKEN: &str = "console-operator-token-0123456789";
const VIEWER_TOKEN: &str = "console-viewer-token-0123456789";

/// Generous bound for anything the page shows after its next poll (1 s).
const PAGE_DEADLINE: Duration = Duration::from_secs(15);

// === the gateway ===

struct Gateway {
    topo: Topology,
    _gw: GatewayProcess,
}

impl Gateway {
    /// The standard topology (eu: northeurope 1, westeurope 2; na: eastus 1, westus 2) with an
    /// admin listener, fast health checks (200 ms) and a token file holding an operator and a
    /// viewer.
    async fn start() -> Gateway {
        Self::start_with("\n[health]\ninterval = \"200ms\"\ntimeout = \"200ms\"\n").await
    }

    /// Like [`Gateway::start`], with `extra` config instead of the fast health checks.
    async fn start_with(extra: &str) -> Gateway {
        let mut topo = Topology::standard().await;
        topo.admin = Some(free_addr());
        topo.extra = extra.to_string();
        std::fs::write(
            topo.dir.path().join("tokens"),
            format!("# console test\nolga:operator:{OPERATOR_TOKEN}\nvera:viewer:{VIEWER_TOKEN}\n"),
        )
        .unwrap();
        let config = topo
            .config_toml()
            .replace("[admin]\n", "[admin]\ntoken_file = \"tokens\"\n");
        let path = topo.dir.path().join("edge.toml");
        std::fs::write(&path, config).unwrap();
        let gw = GatewayProcess::start(&path, topo.https);
        Gateway { topo, _gw: gw }
    }

    fn admin(&self) -> SocketAddr {
        self.topo.admin.unwrap()
    }

    fn console_url(&self) -> String {
        format!("http://{}/console/", self.admin())
    }

    async fn api(&self, token: &str, method: reqwest::Method, path: &str) -> (u16, String, Value) {
        let resp = reqwest::Client::new()
            .request(method, format!("http://{}{path}", self.admin()))
            .bearer_auth(token)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ctype, resp.json().await.unwrap_or(Value::Null))
    }

    async fn region(&self, name: &str) -> Value {
        let (_, _, v) = self
            .api(OPERATOR_TOKEN, reqwest::Method::GET, "/api/v1/regions")
            .await;
        v["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    }

    /// Sends `n` requests of EU tenants; returns the regions that answered.
    async fn eu_traffic(&self, n: usize) -> Vec<String> {
        let c = https_client(&self.topo, &ClientOptions::default());
        let mut served = Vec::new();
        for i in 0..n {
            let tenant = if i % 2 == 0 { EU_TENANT } else { EU_TENANT_2 };
            let o = send(
                i,
                c.get(format!("{}/orders/{i}", self.topo.base_url()))
                    .header("x-tenant-id", tenant),
            )
            .await;
            assert_eq!(o.status, 200, "{o:?}");
            served.push(o.served_by);
        }
        served
    }
}

// === the browser ===

/// chromedriver and the Chromium it starts, in one process group killed on drop.
struct Browser {
    driver: Child,
    client: Option<Client>,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn open() -> Browser {
        Self::open_sized(1280, 1000).await
    }

    async fn open_sized(width: u32, height: u32) -> Browser {
        use std::os::unix::process::CommandExt;
        let port = free_addr().port();
        let profile = tempfile::tempdir().unwrap();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that drop ends chromedriver and every browser
            // process it started, whatever state the test left them in.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {CHROMEDRIVER} ({e}): `cargo xtask deps` installs it")
            });
        let mut browser = Browser {
            driver,
            client: None,
            _profile: profile,
        };
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver's readiness signal: `GET /status` answers `ready: true`.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = reqwest::get(format!("{url}/status")).await;
            if let Ok(r) = ready {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if v["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    // Without these, Chromium on a machine with no internet waits on network
                    // attempts (updates, sync, QUIC probes) and the session hangs.
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", browser._profile.path().display()),
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a WebDriver session in headless Chromium");
        browser.client = Some(client);
        browser
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Opens the console and signs in with `token`.
    async fn sign_in(&self, gw: &Gateway, token: &str) {
        self.c().goto(&gw.console_url()).await.unwrap();
        let input = self
            .c()
            .wait()
            .at_most(PAGE_DEADLINE)
            .for_element(Locator::Id("token"))
            .await
            .unwrap();
        input.send_keys(token).await.unwrap();
        self.c()
            .find(Locator::Id("sign-in"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Runs `script` (a function body returning a value) in the page.
    async fn js(&self, script: &str) -> Value {
        self.c().execute(script, vec![]).await.unwrap()
    }

    /// Waits until `script` returns `true` in the page; panics with `what` after `within`.
    async fn until(&self, what: &str, within: Duration, script: &str) -> Duration {
        let start = Instant::now();
        loop {
            if self.js(script).await == Value::Bool(true) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "{what}: not within {within:?}; page text:\n{}",
                self.js("return document.body.innerText;").await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn click(&self, css: &str) {
        self.c()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.c()
            .find(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group id is chromedriver's PID (process_group(0)).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The page shows every region and origin with a health word.
async fn wait_for_topology(b: &Browser, gw: &Gateway) {
    let origins: Vec<String> = gw
        .topo
        .regions
        .iter()
        .flat_map(|(_, r)| r.addrs())
        .map(|a| a.to_string())
        .collect();
    let script = format!(
        "const want = {};
         return want.every(a => {{
           const td = document.querySelector(`tr.origin-row[data-origin=\"${{a}}\"] td.health`);
           return td !== null && td.dataset.health === 'healthy' && td.textContent.includes('healthy');
         }}) && document.querySelectorAll('tr.region-row').length === 4;",
        json!(origins)
    );
    b.until("every origin shown healthy", PAGE_DEADLINE, &script)
        .await;
}

// === the tests ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_every_region_and_origin_and_cannot_change_anything() {
    let gw = Gateway::start().await;
    let b = Browser::open().await;
    b.sign_in(&gw, VIEWER_TOKEN).await;
    wait_for_topology(&b, &gw).await;
    for region in ["northeurope", "westeurope", "eastus", "westus"] {
        let row = b
            .text(&format!("tr.region-row[data-region=\"{region}\"]"))
            .await;
        assert!(
            row.contains(region) && row.contains("1/1 origins usable"),
            "{row}"
        );
    }
    assert!(b.text("#whoami").await.contains("vera (viewer"));
    let controls = b
        .c()
        .find_all(Locator::Css(
            "button[data-action], input.weight-input, #config-actions button",
        ))
        .await
        .unwrap();
    assert!(
        controls.is_empty(),
        "a viewer sees {} change controls",
        controls.len()
    );
    assert_eq!(
        b.js("return sessionStorage.getItem('edge-console-token');")
            .await,
        json!(VIEWER_TOKEN)
    );
    assert!(!b
        .c()
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("token"));

    // The API refuses a viewer's change: 403 problem+json, audited, nothing changed.
    let (status, ctype, body) = gw
        .api(
            VIEWER_TOKEN,
            reqwest::Method::POST,
            "/api/v1/regions/northeurope/drain",
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(ctype, "application/problem+json");
    assert!(
        body["detail"].as_str().unwrap().contains("viewer"),
        "{body}"
    );
    for (method, path) in [
        (reqwest::Method::PUT, "/api/v1/regions/westus/weight"),
        (reqwest::Method::DELETE, "/api/v1/overrides"),
        (reqwest::Method::POST, "/api/v1/config/reload"),
    ] {
        let (status, _, _) = gw.api(VIEWER_TOKEN, method.clone(), path).await;
        assert_eq!(status, 403, "{method} {path}");
    }
    assert_eq!(gw.region("northeurope").await["drained"], false);
    let (_, _, audit) = gw
        .api(VIEWER_TOKEN, reqwest::Method::GET, "/api/v1/audit")
        .await;
    let denied = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["who"] == "vera" && e["outcome"] == "denied")
        .count();
    assert_eq!(denied, 4, "{audit}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_shows_an_error_and_no_data() {
    let gw = Gateway::start().await;
    let b = Browser::open().await;
    b.sign_in(&gw, "not-a-valid-token-0123456789").await;
    b.until(
        "the login error",
        PAGE_DEADLINE,
        "const e = document.getElementById('login-error'); return !e.hidden && e.textContent.includes('401');",
    )
    .await;
    assert!(b.text("#login-error").await.contains("refused"));
    assert_eq!(
        b.js("return document.getElementById('app').hidden;").await,
        json!(true)
    );
    assert_eq!(
        b.js("return document.querySelectorAll('tr.region-row, tr.origin-row, #audit-list tr').length;")
            .await,
        json!(0)
    );
    assert_eq!(
        b.js("return sessionStorage.getItem('edge-console-token');")
            .await,
        Value::Null
    );
    let page = b.js("return document.body.innerText;").await;
    for region in ["northeurope", "westeurope", "eastus", "westus"] {
        assert!(!page.as_str().unwrap().contains(region), "{page}");
    }
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_drains_northeurope_through_the_page_and_traffic_moves_to_westeurope() {
    let gw = Gateway::start().await;
    let north = gw.topo.region("northeurope");
    let west = gw.topo.region("westeurope");
    let b = Browser::open_sized(1280, 1700).await;
    b.sign_in(&gw, OPERATOR_TOKEN).await;
    wait_for_topology(&b, &gw).await;
    assert!(b.text("#whoami").await.contains("olga (operator)"));

    // Traffic first, so the confirmation can state northeurope's share.
    assert!(gw.eu_traffic(20).await.iter().all(|r| r == "northeurope"));
    b.until(
        "northeurope's share of the last minute",
        PAGE_DEADLINE,
        "const r = document.querySelector('tr.region-row[data-region=\"northeurope\"]');
         return r !== null && r.textContent.includes('100 %');",
    )
    .await;

    b.click("button[data-action=\"drain\"][data-region=\"northeurope\"]")
        .await;
    let impact = b.text("#confirm-text").await;
    assert!(
        impact.contains("northeurope now serves 100 % of eu traffic")
            && impact.contains("sends it to westeurope, the only other healthy region of eu"),
        "{impact}"
    );
    b.click("#confirm-ok").await;
    b.until(
        "the drain's confirmation",
        PAGE_DEADLINE,
        "const e = document.getElementById('banner'); return !e.hidden && e.textContent.includes('Drained northeurope');",
    )
    .await;

    // Checked through the API and by the origins' request counts.
    assert_eq!(gw.region("northeurope").await["drained"], true);
    north.reset_counters();
    west.reset_counters();
    assert!(gw.eu_traffic(20).await.iter().all(|r| r == "westeurope"));
    assert_eq!((north.requests(), west.requests()), (0, 20));

    // The page shows the drain and the audit entry with the token's name.
    b.until(
        "the audit entry",
        PAGE_DEADLINE,
        "return [...document.querySelectorAll('#audit-list tr')].some(tr =>
           tr.textContent.includes('olga') && tr.textContent.includes('region northeurope drain')
           && tr.dataset.outcome === 'applied');",
    )
    .await;
    b.until(
        "northeurope shown drained",
        PAGE_DEADLINE,
        "const r = document.querySelector('tr.region-row[data-region=\"northeurope\"]');
         return r.textContent.includes('drained') && r.querySelector('button[data-action=\"undrain\"]') !== null;",
    )
    .await;

    // Draining westeurope now would leave eu without a usable origin: the page blocks it...
    b.click("button[data-action=\"drain\"][data-region=\"westeurope\"]")
        .await;
    let blocked = b.text("#confirm-text").await;
    assert!(
        blocked.contains("would leave eu without a usable origin") && blocked.contains("503"),
        "{blocked}"
    );
    assert_eq!(
        b.js("return document.getElementById('confirm-ok').hidden;")
            .await,
        json!(true)
    );
    b.click("#confirm-cancel").await;
    // ...and the API refuses it (409 problem+json) unless forced.
    let (status, ctype, body) = gw
        .api(
            OPERATOR_TOKEN,
            reqwest::Method::POST,
            "/api/v1/regions/westeurope/drain",
        )
        .await;
    assert_eq!(
        (status, ctype.as_str()),
        (409, "application/problem+json"),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("force=true"),
        "{body}"
    );
    assert_eq!(gw.region("westeurope").await["drained"], false);
    assert!(gw.eu_traffic(4).await.iter().all(|r| r == "westeurope"));
    let ctl = |args: &[&str]| {
        let admin = format!("http://{}", gw.admin());
        let out = Command::new(edge_tests::gateway_bin())
            .args(["ctl", "--admin", &admin])
            .args(args)
            .env("EDGE_ADMIN_TOKEN", OPERATOR_TOKEN)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = ctl(&["drain", "westeurope"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("409") && err.contains("--force"), "{err}");
    let (code, err) = ctl(&["drain", "westeurope", "--force"]);
    assert_eq!(code, Some(0), "{err}");
    let o = send(
        0,
        https_client(&gw.topo, &ClientOptions::default())
            .get(format!("{}/x", gw.topo.base_url()))
            .header("x-tenant-id", EU_TENANT),
    )
    .await;
    assert_eq!(o.status, 503, "{o:?}");

    // Undrain both through the page, then keep a screenshot of a page with traffic on it.
    for region in ["westeurope", "northeurope"] {
        b.until(
            "the undrain button",
            PAGE_DEADLINE,
            &format!(
                "return document.querySelector('button[data-action=\"undrain\"][data-region=\"{region}\"]') !== null;"
            ),
        )
        .await;
        b.click(&format!(
            "button[data-action=\"undrain\"][data-region=\"{region}\"]"
        ))
        .await;
        b.click("#confirm-ok").await;
        b.until(
            "the undrain's confirmation",
            PAGE_DEADLINE,
            &format!(
                "const e = document.getElementById('banner'); return e.textContent.includes('Undrained {region}');"
            ),
        )
        .await;
    }
    assert_eq!(gw.region("northeurope").await["drained"], false);
    if let Some(dir) = std::env::var_os("EDGE_CONSOLE_SCREENSHOT") {
        screenshots(&gw, &b, std::path::PathBuf::from(dir)).await;
    }
    b.close().await;
}

/// About 40 s of traffic with an incident in it (northeurope drained, then westeurope
/// answering some 5xx), a route explanation, then `console.png` (laptop) and
/// `console-phone.png` in `dir`.
async fn screenshots(gw: &Gateway, b: &Browser, dir: std::path::PathBuf) {
    let c = https_client(&gw.topo, &ClientOptions::default());
    let west = gw.topo.region("westeurope");
    for round in 0..80 {
        match round {
            30 => {
                gw.api(
                    OPERATOR_TOKEN,
                    reqwest::Method::POST,
                    "/api/v1/regions/northeurope/drain",
                )
                .await;
            }
            45 => west.set_error_rate(0.2),
            60 => {
                west.set_error_rate(0.0);
                gw.api(
                    OPERATOR_TOKEN,
                    reqwest::Method::POST,
                    "/api/v1/regions/northeurope/undrain",
                )
                .await;
            }
            _ => {}
        }
        let mut requests = Vec::new();
        for i in 0..(8 + round % 5) {
            let (tenant, path) = match i % 4 {
                0 | 1 => (EU_TENANT, "orders"),
                2 => (NA_TENANT, "invoices"),
                _ => (UNKNOWN_TENANT, "x"),
            };
            requests.push(
                c.get(format!("{}/{path}/{round}", gw.topo.base_url()))
                    .header("x-tenant-id", tenant)
                    .send(),
            );
        }
        for r in requests {
            let _ = r.await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    b.until(
        "charts with traffic",
        PAGE_DEADLINE,
        "return document.querySelectorAll('polyline.l-req').length >= 4;",
    )
    .await;
    b.c()
        .find(Locator::Id("tenant-id"))
        .await
        .unwrap()
        .send_keys(EU_TENANT)
        .await
        .unwrap();
    b.click("#tenant-form button").await;
    b.until(
        "the route explanation",
        PAGE_DEADLINE,
        "return document.getElementById('tenant-result').textContent.includes('Candidates');",
    )
    .await;
    std::fs::create_dir_all(&dir).unwrap();
    b.js("window.scrollTo(0, 0); return true;").await;
    std::fs::write(dir.join("console.png"), b.c().screenshot().await.unwrap()).unwrap();
    b.c().set_window_size(390, 1600).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.js("window.scrollTo(0, 0); return true;").await;
    std::fs::write(
        dir.join("console-phone.png"),
        b.c().screenshot().await.unwrap(),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_killed_while_the_page_is_open_turns_unhealthy_on_it_within_3_s() {
    let gw = Gateway::start().await;
    let b = Browser::open().await;
    b.sign_in(&gw, VIEWER_TOKEN).await;
    wait_for_topology(&b, &gw).await;
    // A marker that a reload of the page would lose.
    b.js("window.__sameDocument = 'yes'; return true;").await;
    let westus = gw.topo.region("westus");
    let addr = westus.addrs()[0].to_string();
    westus.kill();
    let took = b
        .until(
            "the killed origin shown unhealthy",
            Duration::from_secs(3),
            &format!(
                "const td = document.querySelector('tr.origin-row[data-origin=\"{addr}\"] td.health');
                 return td.dataset.health === 'unhealthy' && td.textContent.includes('unhealthy');"
            ),
        )
        .await;
    assert_eq!(b.js("return window.__sameDocument;").await, json!("yes"));
    let region = b.text("tr.region-row[data-region=\"westus\"]").await;
    assert!(region.contains("0/1 origins usable"), "{region}");
    eprintln!("the page showed the killed origin unhealthy after {took:?}");
    b.close().await;
}

/// Serves `window.__foreign = 1` as JavaScript on another loopback port and counts the
/// requests it gets (a script from anywhere but the gateway must never be fetched).
fn foreign_script_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let body = "window.__foreign = 1;";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/javascript\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_content_security_policy_blocks_inline_and_foreign_scripts() {
    let gw = Gateway::start().await;
    let resp = reqwest::get(gw.console_url()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");

    let (foreign, hits) = foreign_script_server();
    let b = Browser::open().await;
    b.c().goto(&gw.console_url()).await.unwrap();
    b.until(
        "the console's own script ran",
        PAGE_DEADLINE,
        "return document.getElementById('clock').textContent.includes('UTC');",
    )
    .await;
    b.js(&format!(
        "window.__violations = [];
         document.addEventListener('securitypolicyviolation',
           e => window.__violations.push(e.effectiveDirective + ' ' + e.blockedURI));
         const inline = document.createElement('script');
         inline.textContent = 'window.__inline = 1;';
         document.head.append(inline);
         const foreign = document.createElement('script');
         foreign.src = 'http://{foreign}/evil.js';
         document.head.append(foreign);
         const handler = document.createElement('img');
         handler.setAttribute('onerror', 'window.__handler = 1');
         handler.src = '/console/no-such-image.png';
         document.body.append(handler);
         return true;"
    ))
    .await;
    b.until(
        "three CSP violations",
        PAGE_DEADLINE,
        "return window.__violations.length >= 3;",
    )
    .await;
    let violations = b.js("return window.__violations;").await;
    let v = violations.to_string();
    assert!(v.contains("script-src-elem inline"), "{v}");
    assert!(
        v.contains(&format!("script-src-elem http://{foreign}/evil.js")),
        "{v}"
    );
    assert!(v.contains("script-src-attr inline"), "{v}");
    assert_eq!(
        b.js("return [window.__inline, window.__foreign, window.__handler];")
            .await,
        json!([null, null, null])
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the foreign script was fetched"
    );
    b.close().await;
}

// === measurement (run by hand; numbers in docs/console.md) ===

/// CPU time (user + system) the process has used, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after `) `.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// The gateway's CPU use over `secs` seconds, in percent of one core.
async fn cpu_percent(pid: u32, secs: u64) -> f64 {
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let used = cpu_ticks(pid) - before;
    used as f64 / ticks_per_s / secs as f64 * 100.0
}

/// One bounded h2load run against the gateway: (requests/s, mean latency in ms).
fn h2load(gw: &Gateway) -> (f64, f64) {
    let out = Command::new("h2load")
        .args(["-n", "20000", "-c", "16", "-m", "4", "-t", "1"])
        .args(["-H", &format!("x-tenant-id: {EU_TENANT}")])
        .arg(format!("https://127.0.0.1:{}/orders", gw.topo.https.port()))
        .output()
        .expect("h2load (apt-get install nghttp2-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no rate in h2load output:\n{text}"));
    let mean_ms = text
        .lines()
        .find(|l| l.starts_with("time for request:"))
        .and_then(|l| l.split_whitespace().nth(5))
        .map(|v| {
            let (n, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap());
            let n: f64 = n.parse().unwrap();
            match unit {
                "us" => n / 1000.0,
                "ms" => n,
                "s" => n * 1000.0,
                _ => panic!("unit {unit}"),
            }
        })
        .unwrap_or_else(|| panic!("no latency in h2load output:\n{text}"));
    assert!(text.contains("20000 succeeded"), "{text}");
    (rps, mean_ms)
}

/// CPU ticks used by every process of process group `pgrp` (the browser: chromedriver's group).
fn group_cpu_ticks(pgrp: u32) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(end) = stat.rfind(')') else { continue };
        let f: Vec<&str> = stat[end + 2..].split_whitespace().collect();
        if f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgrp) {
            total += f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        }
    }
    total
}

/// What 5 console tabs ask the gateway every second, replayed without a browser (so the data
/// path can be measured with the console's API load but without Chromium's own CPU use).
fn replay_five_consoles(
    gw: &Gateway,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<u64>,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let admin = gw.admin();
    let done = stop.clone();
    let task = tokio::spawn(async move {
        let c = reqwest::Client::new();
        let mut since = [(0u64, 0u64); 5];
        let mut calls = 0;
        while !done.load(Ordering::SeqCst) {
            for s in since.iter_mut() {
                let get = |path: String| {
                    c.get(format!("http://{admin}{path}"))
                        .bearer_auth(VIEWER_TOKEN)
                        .send()
                };
                let (o, r, h, a, cfg) = tokio::join!(
                    get("/api/v1/origins".into()),
                    get("/api/v1/regions".into()),
                    get(format!("/api/v1/history?since={}", s.0)),
                    get(format!("/api/v1/audit?since={}", s.1)),
                    get("/api/v1/config/status".into()),
                );
                for x in [o, r, cfg] {
                    let _ = x.unwrap().bytes().await;
                }
                let h: Value = h.unwrap().json().await.unwrap();
                let a: Value = a.unwrap().json().await.unwrap();
                *s = (
                    h["last_seq"].as_u64().unwrap(),
                    a["last_seq"].as_u64().unwrap(),
                );
                calls += 5;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        calls
    });
    (stop, task)
}

fn median(mut v: Vec<(f64, f64)>) -> (f64, f64) {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v[v.len() / 2]
}

/// The console's cost: the gateway's CPU at idle without and with 5 console tabs open, and
/// h2load throughput without tabs, with them, and with their API calls replayed without a
/// browser. Prints the numbers for docs/console.md:
/// `cargo test -p edge-tests --test e2e -- --ignored --nocapture console::measure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (about 5 minutes), not a check: run by hand, see docs/console.md"]
async fn measure_five_console_tabs() {
    // Default health checks: the idle baseline is what a production gateway does.
    let gw = Gateway::start_with("").await;
    let pid = gw._gw.pid();
    const SECS: u64 = 60;
    const ROUNDS: usize = 5;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap();
    let idle = cpu_percent(pid, SECS).await;

    let b = Browser::open().await;
    b.sign_in(&gw, VIEWER_TOKEN).await;
    wait_for_topology(&b, &gw).await;
    for _ in 0..4 {
        let w = b.c().new_window(true).await.unwrap();
        b.c().switch_to_window(w.handle).await.unwrap();
        // sessionStorage is per tab: each signs in.
        b.sign_in(&gw, VIEWER_TOKEN).await;
        wait_for_topology(&b, &gw).await;
    }
    let windows = b.c().windows().await.unwrap();
    assert_eq!(windows.len(), 5);
    let mut visibility = Vec::new();
    for w in &windows {
        b.c().switch_to_window(w.clone()).await.unwrap();
        visibility.push(b.js("return document.visibilityState;").await);
    }
    let browser_before = group_cpu_ticks(b.driver.id());
    let busy = cpu_percent(pid, SECS).await;
    let browser = (group_cpu_ticks(b.driver.id()) - browser_before) as f64 / SECS as f64;

    // The data path, interleaved so that the machine's other load hits every arm alike:
    // the tabs on a blank page (browser open, idle), the tabs on the console (sessionStorage
    // survives the navigation: they sign in again by themselves), and the tabs' API calls
    // replayed without a browser.
    let (mut blank, mut console, mut replayed) = (Vec::new(), Vec::new(), Vec::new());
    let mut calls = 0;
    for _ in 0..ROUNDS {
        for w in &windows {
            b.c().switch_to_window(w.clone()).await.unwrap();
            b.c().goto("about:blank").await.unwrap();
        }
        blank.push(h2load(&gw));
        let (stop, task) = replay_five_consoles(&gw);
        replayed.push(h2load(&gw));
        stop.store(true, Ordering::SeqCst);
        calls += task.await.unwrap();
        for w in &windows {
            b.c().switch_to_window(w.clone()).await.unwrap();
            b.c().goto(&gw.console_url()).await.unwrap();
            wait_for_topology(&b, &gw).await;
        }
        console.push(h2load(&gw));
    }
    b.close().await;
    let (ra, la) = median(blank.clone());
    let (rb, lb) = median(console.clone());
    let (rc, lc) = median(replayed.clone());
    eprintln!(
        "load average before: {load}\
         gateway CPU at idle over {SECS} s: no console {idle:.2} %, 5 console tabs {busy:.2} % \
         (tabs: {visibility:?}); the browser itself used {browser:.1} % of a core\n\
         h2load, 20000 requests, 16 connections x 4 streams, median of {ROUNDS} interleaved runs:\n  \
         5 tabs on a blank page:     {ra:.0} req/s, mean {la:.2} ms   (all: {blank:.0?})\n  \
         5 tabs on the console:      {rb:.0} req/s, mean {lb:.2} ms   (all: {console:.0?})\n  \
         their API calls replayed:   {rc:.0} req/s, mean {lc:.2} ms   (all: {replayed:.0?}; {calls} admin calls)"
    );
}
