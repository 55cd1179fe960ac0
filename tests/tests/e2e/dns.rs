//! The DNS responder (`[dns]`): the real gateway on loopback ports, queried with `dig` from
//! Debian's bind9-dnsutils, edges stood in for by TCP listeners on 127.0.0.x (an edge is up
//! while its listener is open), and hostile packets written byte by byte.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use edge_tests::dns::{dig, header, named_checkzone, qtype, query, Dig, EdgeListeners};
use edge_tests::gateway::gateway_bin;
use edge_tests::gateway::run_cli;
use edge_tests::metrics::{metric, metric_value};
use edge_tests::ports::free_port;
use edge_tests::{free_addr, GatewayProcess, Topology, ADMIN_TOKEN, EU_TENANT, NA_TENANT};
use serde_json::Value;

const EU: [&str; 2] = ["127.0.0.11", "127.0.0.12"];
const NA: [&str; 2] = ["127.0.0.21", "127.0.0.22"];
const ZONE: &str = "app.test";

/// A gateway with `[dns]` on a loopback port, and the listeners that make its edges healthy.
struct DnsGateway {
    topo: Topology,
    gw: GatewayProcess,
    dns: SocketAddr,
    edges: EdgeListeners,
    probe_port: u16,
}

/// The `[dns]` section: EU and NA edges (plus `more`, TOML appended to the section), probed
/// every 200 ms, one verdict deciding.
fn dns_section(dns: SocketAddr, probe_port: u16, settings: &str, more: &str) -> String {
    format!(
        r#"
[dns]
listen = ["{dns}"]
zone = "{ZONE}"
nameservers = ["ns1.example.net", "ns2.example.net"]
{settings}

[dns.health]
port = {probe_port}
interval = "200ms"
timeout = "200ms"
rise = 1
fall = 1

[[dns.edges]]
geography = "eu"
addresses = ["{}", "{}"]

[[dns.edges]]
geography = "na"
addresses = ["{}", "{}"]
{more}"#,
        EU[0], EU[1], NA[0], NA[1]
    )
}

impl DnsGateway {
    /// Starts the standard topology with `[dns]`; `up` lists the edges listening at start.
    async fn start(up: &[&str], settings: &str, more: &str) -> DnsGateway {
        let mut topo = Topology::standard().await;
        topo.admin = Some(free_addr());
        let dns = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let probe_port = free_port();
        topo.extra = dns_section(dns, probe_port, settings, more);
        let edges = EdgeListeners::start(probe_port, up);
        let gw = GatewayProcess::start_full(
            &topo.write_config(),
            topo.https,
            &[],
            &[("EDGE_ADMIN_TOKEN", ADMIN_TOKEN)],
        );
        DnsGateway {
            topo,
            gw,
            dns,
            edges,
            probe_port,
        }
    }

    fn dig(&self, name: &str, args: &[&str]) -> Dig {
        let mut all = vec![name];
        all.extend_from_slice(args);
        dig(self.dns, &all)
    }

    async fn admin(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        self.try_admin(method, path)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    async fn try_admin(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<(u16, Value), reqwest::Error> {
        let resp = reqwest::Client::new()
            .request(method, format!("http://{}{path}", self.topo.admin.unwrap()))
            .bearer_auth(ADMIN_TOKEN)
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }

    /// The probe verdict of every edge, by address (from the admin API); `None` while the
    /// admin listener is not up yet (it opens after the HTTPS one the harness waits for).
    async fn statuses(&self) -> Option<BTreeMap<String, String>> {
        let (status, v) = self
            .try_admin(reqwest::Method::GET, "/api/v1/dns/edges")
            .await
            .ok()?;
        assert_eq!(status, 200, "{v}");
        Some(
            v["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["address"].as_str().unwrap().to_string(),
                        e["status"].as_str().unwrap().to_string(),
                    )
                })
                .collect(),
        )
    }

    /// Waits (polling the admin API, at most 10 s) until every edge in `expected` has that
    /// verdict.
    async fn wait_for(&self, expected: &[(&str, &str)]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.statuses().await.unwrap_or_default();
            if expected
                .iter()
                .all(|(a, s)| now.get(*a).map(String::as_str) == Some(*s))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "edges never reached {expected:?}: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn name(label: &str) -> String {
    format!("{label}.{ZONE}")
}

fn set(addrs: &[&str]) -> BTreeSet<String> {
    addrs.iter().map(|a| a.to_string()).collect()
}

fn all_healthy() -> Vec<(&'static str, &'static str)> {
    EU.iter().chain(&NA).map(|a| (*a, "healthy")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_resolves_to_its_own_geographys_edges_only() {
    let all: Vec<&str> = EU.iter().chain(&NA).copied().collect();
    let g = DnsGateway::start(&all, "", "").await;
    g.wait_for(&all_healthy()).await;

    let eu = g.dig(&name(EU_TENANT), &["A"]);
    assert_eq!(
        (eu.status.as_str(), eu.addresses()),
        ("NOERROR", set(&EU)),
        "{}",
        eu.text
    );
    assert!(eu.has_flag("aa"), "{}", eu.text);
    let na = g.dig(&name(NA_TENANT), &["A"]);
    assert_eq!(
        (na.status.as_str(), na.addresses()),
        ("NOERROR", set(&NA)),
        "{}",
        na.text
    );
    // The same over TCP.
    let tcp = g.dig(&name(NA_TENANT), &["A", "+tcp"]);
    assert_eq!(tcp.addresses(), set(&NA), "{}", tcp.text);
    // Geography names answer their edges.
    assert_eq!(g.dig(&name("eu"), &["A"]).addresses(), set(&EU));

    // An unknown tenant: NXDOMAIN, authoritative, the SOA in the authority section.
    let unknown = g.dig(&name("00000000-0000-4000-8000-000000000000"), &["A"]);
    assert_eq!(unknown.status, "NXDOMAIN", "{}", unknown.text);
    assert!(unknown.has_flag("aa") && unknown.answers.is_empty());
    assert_eq!(unknown.authority[0].1, "SOA", "{}", unknown.text);
    // Other types of a name that exists: NODATA (NOERROR, no answer, the SOA).
    for t in ["MX", "TXT", "AAAA"] {
        let d = g.dig(&name(EU_TENANT), &[t]);
        assert_eq!(d.status, "NOERROR", "{t}: {}", d.text);
        assert!(d.answers.is_empty(), "{t}: {}", d.text);
        assert_eq!(d.authority[0].1, "SOA", "{t}: {}", d.text);
    }
    // The apex, and a name outside the zone.
    let soa = g.dig(ZONE, &["SOA"]);
    assert!(
        soa.answers[0]
            .2
            .starts_with("ns1.example.net. hostmaster.app.test. "),
        "{}",
        soa.text
    );
    let ns: BTreeSet<String> = g
        .dig(ZONE, &["NS"])
        .answers
        .into_iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(ns, set(&["ns1.example.net.", "ns2.example.net."]));
    assert_eq!(g.dig("example.org", &["A"]).status, "REFUSED");

    let count = metric(&g.topo, "edge_dns_queries_total", ("rcode", "NXDOMAIN")).await;
    assert!(
        count >= 1.0,
        "edge_dns_queries_total{{rcode=NXDOMAIN}} = {count}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_both_na_edges_down_the_answer_still_names_only_na_edges() {
    let mut g = DnsGateway::start(&[EU[0], EU[1], NA[0]], "", "").await;
    g.wait_for(&[(NA[0], "healthy"), (NA[1], "unhealthy")])
        .await;
    // One NA edge down: the other one.
    assert_eq!(g.dig(&name(NA_TENANT), &["A"]).addresses(), set(&[NA[0]]));

    g.edges.down(NA[0]);
    g.wait_for(&[(NA[0], "unhealthy"), (NA[1], "unhealthy")])
        .await;
    for _ in 0..3 {
        let d = g.dig(&name(NA_TENANT), &["A"]);
        assert_eq!(
            (d.status.as_str(), d.addresses()),
            ("NOERROR", set(&NA)),
            "{}",
            d.text
        );
    }
    // The EU tenant is not affected, and NA's answers are counted as failing static.
    assert_eq!(g.dig(&name(EU_TENANT), &["A"]).addresses(), set(&EU));
    let fail_static = metric(&g.topo, "edge_dns_fail_static_total", ("geography", "na")).await;
    assert!(fail_static >= 3.0, "fail static counted {fail_static}");
    let eu = metric(&g.topo, "edge_dns_fail_static_total", ("geography", "eu")).await;
    assert_eq!(eu, 0.0);

    // Back up: answered again without failing static.
    g.edges.up(NA[1]);
    g.wait_for(&[(NA[1], "healthy")]).await;
    assert_eq!(g.dig(&name(NA_TENANT), &["A"]).addresses(), set(&[NA[1]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_and_drains_are_answered_at_once() {
    let mut all: Vec<&str> = EU.iter().chain(&NA).copied().collect();
    all.push("127.0.0.23");
    let mut g = DnsGateway::start(&all, "", "").await;
    g.wait_for(&all_healthy()).await;
    let newcomer = "5b1d6c2e-7f3a-4b8c-9d0e-1f2a3b4c5d6e";
    assert_eq!(g.dig(&name(newcomer), &["A"]).status, "NXDOMAIN");

    // Reload with a new NA tenant and a third NA edge.
    g.topo.tenants.push((newcomer.into(), "na".into()));
    g.topo.extra = dns_section(
        g.dns,
        g.probe_port,
        "",
        "\n[[dns.edges]]\ngeography = \"na\"\naddresses = [\"127.0.0.23\"]\n",
    );
    g.topo.write_config();
    let (status, report) = g
        .admin(reqwest::Method::POST, "/api/v1/config/reload")
        .await;
    assert_eq!(status, 200, "{report}");
    // The tenant is answered from the first query after the reload.
    let d = g.dig(&name(newcomer), &["A"]);
    assert_eq!(d.status, "NOERROR", "{}", d.text);
    assert!(
        d.addresses().is_subset(&set(&[NA[0], NA[1], "127.0.0.23"])),
        "{}",
        d.text
    );
    // The new edge after its first probe (a new edge is not answered unprobed).
    g.wait_for(&[("127.0.0.23", "healthy")]).await;
    assert_eq!(
        g.dig(&name(newcomer), &["A"]).addresses(),
        set(&[NA[0], NA[1], "127.0.0.23"])
    );

    // An operator's drain applies from the next query on; undrain restores it.
    let (status, v) = g
        .admin(reqwest::Method::POST, "/api/v1/dns/edges/127.0.0.21/drain")
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        g.dig(&name(NA_TENANT), &["A"]).addresses(),
        set(&[NA[1], "127.0.0.23"])
    );
    let ctl = |args: &[&str]| {
        let out = std::process::Command::new(gateway_bin())
            .args([
                "ctl",
                "--admin",
                &format!("http://{}", g.topo.admin.unwrap()),
            ])
            .args(args)
            .env("EDGE_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = ctl(&["dns", "edges"]);
    let drained: Vec<&str> = table.lines().filter(|l| l.contains("true")).collect();
    assert!(
        drained.len() == 1 && drained[0].contains("127.0.0.21"),
        "{table}"
    );
    assert!(ctl(&["dns", "undrain", "127.0.0.21"]).contains("dns edge 127.0.0.21 undrain"));
    assert_eq!(g.dig(&name(NA_TENANT), &["A"]).addresses().len(), 3);
    // Unknown edges and non-addresses are refused.
    let (status, _) = g
        .admin(reqwest::Method::POST, "/api/v1/dns/edges/192.0.2.99/drain")
        .await;
    assert_eq!(status, 404);
    let (status, _) = g
        .admin(reqwest::Method::POST, "/api/v1/dns/edges/eu/drain")
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_answer_too_large_is_truncated_and_tcp_carries_it_whole() {
    // 50 IPv6 edges (documentation addresses: their probes fail, so the answer fails static
    // to all of them): about 1.5 KB of AAAA records.
    let v6: Vec<String> = (1..=50).map(|i| format!("\"2001:db8::{i:x}\"")).collect();
    let more = format!(
        "\n[[dns.edges]]\ngeography = \"eu\"\naddresses = [{}]\n",
        v6.join(", ")
    );
    let all: Vec<&str> = EU.iter().chain(&NA).copied().collect();
    let g = DnsGateway::start(&all, "max_answers = 64", &more).await;
    let n = name(EU_TENANT);
    // No EDNS: 512 bytes at most, so TC and no records (+ignore: dig would retry over TCP).
    let udp = g.dig(&n, &["AAAA", "+noedns", "+ignore"]);
    assert!(udp.has_flag("tc"), "{}", udp.text);
    assert!(udp.answers.is_empty(), "{}", udp.text);
    // EDNS 4096 asked, the server's 1232 applies: truncated too.
    let udp = g.dig(&n, &["AAAA", "+bufsize=4096", "+ignore"]);
    assert!(udp.has_flag("tc"), "{}", udp.text);
    // Over TCP, complete.
    let tcp = g.dig(&n, &["AAAA", "+tcp"]);
    assert!(!tcp.has_flag("tc"), "{}", tcp.text);
    assert_eq!(tcp.addresses().len(), 50, "{}", tcp.text);
    // dig's default: retry over TCP after TC, and get everything.
    assert_eq!(g.dig(&n, &["AAAA"]).addresses().len(), 50);
    let truncated = metric_value(&g.topo, "edge_dns_truncated_total").await;
    assert!(truncated >= 3.0, "truncated answers counted: {truncated}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_export_passes_named_checkzone() {
    let mut topo = Topology::standard().await;
    let dns = SocketAddr::from(([127, 0, 0, 1], free_port()));
    topo.extra = dns_section(dns, 443, "", "");
    let config = topo.write_config();
    let path = config.to_str().unwrap();
    let out = run_cli(&["dns", "export", "--config", path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let file = topo.dir.path().join("app.test.zone");
    std::fs::write(&file, &text).unwrap();
    let (ok, report) = named_checkzone(ZONE, &file);
    assert!(ok, "named-checkzone refused the zone:\n{report}\n{text}");
    assert!(
        text.contains(&format!("{EU_TENANT}\tIN\tCNAME\teu")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{NA_TENANT}\tIN\tCNAME\tna")),
        "{text}"
    );
    assert!(text.contains("na\tIN\tA\t127.0.0.21"), "{text}");

    let addresses = topo.dir.path().join("address.zone");
    let out = run_cli(&[
        "dns",
        "export",
        "--config",
        path,
        "--tenants",
        "address",
        "--output",
        addresses.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, report) = named_checkzone(ZONE, &addresses);
    assert!(ok, "{report}");
    let text = std::fs::read_to_string(&addresses).unwrap();
    assert!(
        text.contains(&format!("{NA_TENANT}\tIN\tA\t127.0.0.22")),
        "{text}"
    );

    // Without [dns] there is nothing to export.
    topo.extra = String::new();
    let out = run_cli(&[
        "dns",
        "export",
        "--config",
        topo.write_config().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [dns] section"));
}

/// A small deterministic generator (xorshift64*) for the hostile packets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One hostile packet of kind `i % 6`, with its id, and the RCODE a reply must carry (`None`:
/// any, for random bytes).
fn hostile(i: u64, rng: &mut Rng) -> (Vec<u8>, Option<u8>) {
    let id = (i & 0x7fff) as u16;
    let good = query(id, &name(EU_TENANT), qtype::A, None);
    let header = |rest: &[u8]| {
        let mut b = good[..12].to_vec();
        b.extend_from_slice(rest);
        b
    };
    match i % 6 {
        // Truncated: a valid query cut short (still a whole header).
        0 => {
            let cut = 12 + (rng.next() as usize) % (good.len() - 12);
            (good[..cut].to_vec(), Some(1))
        }
        // Wrong counts: none, two, or far more than the packet holds.
        1 => {
            let mut b = good.clone();
            let counts: [[u8; 2]; 3] = [[0, 0], [0, 2], [0xff, 0xff]];
            b[4..6].copy_from_slice(&counts[(rng.next() % 3) as usize]);
            if rng.next() % 2 == 0 {
                b[10..12].copy_from_slice(&[0xff, 0xff]);
                b[4..6].copy_from_slice(&[0, 1]);
            }
            (b, Some(1))
        }
        // A label longer than 63 bytes.
        2 => {
            let len = 64 + (rng.next() % 128) as u8;
            let mut rest = vec![len];
            rest.extend(std::iter::repeat_n(b'a', usize::from(len)));
            rest.extend_from_slice(&[0, 0, 1, 0, 1]);
            (header(&rest), Some(1))
        }
        // Compression loops: a pointer to itself, or two pointing at each other.
        3 => {
            let rest: &[u8] = if rng.next() % 2 == 0 {
                &[0xc0, 12, 0, 1, 0, 1]
            } else {
                &[1, b'x', 0xc0, 16, 0xc0, 12, 0, 1, 0, 1]
            };
            (header(rest), Some(1))
        }
        // Shorter than a header: no answer at all.
        4 => {
            let n = (rng.next() % 12) as usize;
            (rng.bytes(n), None)
        }
        // Random bytes after a query header.
        _ => {
            let n = (rng.next() % 300) as usize;
            (header(&rng.bytes(n)), None)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_get_formerr_or_nothing_and_never_stop_the_responder() {
    let all: Vec<&str> = EU.iter().chain(&NA).copied().collect();
    let mut g = DnsGateway::start(&all, "", "").await;
    g.wait_for(&all_healthy()).await;
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    udp.connect(g.dns).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    let (mut sent, mut answered) = (0u64, 0u64);
    let mut buf = [0u8; 2048];
    // Bounded in count and in time.
    for i in 0..6_000u64 {
        if start.elapsed() > Duration::from_secs(8) {
            break;
        }
        let (packet, rcode) = hostile(i, &mut rng);
        udp.send(&packet).unwrap();
        sent += 1;
        // Every packet with a header that is not a response gets an answer; the others none.
        if packet.len() < 12 || packet[2] & 0x80 != 0 {
            continue;
        }
        let n = udp
            .recv(&mut buf)
            .expect("an answer to a packet with a header");
        let h = header(&buf[..n]).expect("a header");
        assert!(h.response, "{i}: {:?}", &buf[..n]);
        assert_eq!(h.id, u16::from_be_bytes([packet[0], packet[1]]), "{i}");
        if let Some(rcode) = rcode {
            assert_eq!(h.rcode, rcode, "{i}: packet {packet:?}");
        }
        answered += 1;
    }
    assert!(
        sent >= 600 && answered > 0,
        "sent {sent}, answered {answered}"
    );

    // Over TCP: zero and oversized lengths close the connection; a malformed query gets
    // FORMERR and the connection goes on; a client that stops mid-query is let go.
    let tcp = |bytes: &[u8]| {
        let mut s = TcpStream::connect(g.dns).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(bytes).unwrap();
        s
    };
    for len in [[0u8, 0], [0xff, 0xff]] {
        let mut s = tcp(&len);
        assert_eq!(s.read(&mut buf).unwrap(), 0, "closed after length {len:?}");
    }
    let framed = |p: &[u8]| {
        let mut b = (p.len() as u16).to_be_bytes().to_vec();
        b.extend_from_slice(p);
        b
    };
    let mut s = tcp(&[]);
    for i in 0..600u64 {
        let (packet, rcode) = hostile(i, &mut rng);
        if packet.len() < 12 || packet[2] & 0x80 != 0 {
            continue;
        }
        s.write_all(&framed(&packet)).unwrap();
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut answer).unwrap();
        let h = header(&answer).unwrap();
        assert!(h.response && h.id == u16::from_be_bytes([packet[0], packet[1]]));
        if let Some(rcode) = rcode {
            assert_eq!(h.rcode, rcode, "{i}");
        }
    }
    drop(tcp(&[0, 100, 1, 2, 3]));

    // Still answering, over both transports, and still running.
    assert_eq!(g.dig(&name(EU_TENANT), &["A"]).addresses(), set(&EU));
    assert_eq!(
        g.dig(&name(EU_TENANT), &["A", "+tcp"]).addresses(),
        set(&EU)
    );
    assert_eq!(g.gw.wait_exit(Duration::ZERO), None, "the gateway exited");
    let formerr = metric(&g.topo, "edge_dns_queries_total", ("rcode", "FORMERR")).await;
    assert!(formerr >= 100.0, "FORMERR answers counted: {formerr}");
    let dropped = metric(&g.topo, "edge_dns_dropped_total", ("reason", "no_header")).await;
    assert!(dropped >= 1.0, "dropped: {dropped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_are_bounded_in_number_and_idle_time() {
    let all: Vec<&str> = EU.iter().chain(&NA).copied().collect();
    let g = DnsGateway::start(
        &all,
        "max_tcp_connections = 2\ntcp_idle_timeout = \"2s\"",
        "",
    )
    .await;
    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(g.dns).unwrap()).collect();
    // Both slots are taken: the third connection is closed at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut third = TcpStream::connect(g.dns).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(third.read(&mut buf).unwrap_or(0), 0);
    assert!(Instant::now() < deadline);
    // The idle ones are closed after the idle timeout (2 s; 10 s allowed).
    let start = Instant::now();
    for mut s in held {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    }
    let idle = start.elapsed();
    assert!(idle >= Duration::from_millis(1500), "closed after {idle:?}");
    // Then a new connection is served.
    let d = g.dig(&name(EU_TENANT), &["A", "+tcp"]);
    assert_eq!(d.status, "NOERROR", "{}", d.text);
    let limited = metric(&g.topo, "edge_dns_dropped_total", ("reason", "tcp_limit")).await;
    assert!(limited >= 1.0);
}
