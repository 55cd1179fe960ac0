//! Two edges of one fleet (`[edge]`): an EU edge on 127.0.0.10 and an NA edge on 127.0.0.20,
//! each with its own private CA and certificate, in front of the same simulated regions (the
//! standard topology's), each naming the other as its peer.
//!
//! Both edges trust `127.0.0.1` as a peer (the source address loopback connections between
//! them get); test clients connect from other loopback addresses (see [`CLIENT`]), so that
//! what an edge logs as the client is the test's choice, not the peer's.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use edge_gateway::certs::{write_pair, DemoPki, Leaf};

use crate::ports::free_port;
use crate::{free_addr, GatewayProcess, Topology, ADMIN_TOKEN};

/// Where test clients connect from: an address neither edge trusts as a peer.
pub const CLIENT: &str = "127.0.3.5";

/// The host-less API name both edges serve (tenancy by header, path or JWT).
pub const API_HOST: &str = "api.test";

/// One edge: where it listens, its CA, its config.
pub struct EdgeSpec {
    /// Its geography.
    pub geography: &'static str,
    /// Its HTTPS listener.
    pub https: SocketAddr,
    /// Its admin listener (metrics).
    pub admin: SocketAddr,
    /// The CA its certificate chains to.
    pub pki: DemoPki,
    /// Its certificate.
    pub leaf: Leaf,
    /// Its config file.
    pub config: PathBuf,
}

/// Two edges and the regions behind them.
pub struct TwoEdges {
    /// The simulated regions, tenants and temporary directory (its `https`, `http`, `admin`
    /// and certificate are not used).
    pub topo: Topology,
    /// The EU edge.
    pub eu: EdgeSpec,
    /// The NA edge.
    pub na: EdgeSpec,
}

impl TwoEdges {
    /// Writes both configs. `edit(geography, text)` may change an edge's config text before it
    /// is written (e.g. to misconfigure it).
    pub async fn new(edit: impl Fn(&str, String) -> String) -> TwoEdges {
        let topo = Topology::standard().await;
        let eu = spec(&topo, "eu", [127, 0, 0, 10]);
        let na = spec(&topo, "na", [127, 0, 0, 20]);
        for (me, other) in [(&eu, &na), (&na, &eu)] {
            let text = edit(me.geography, config_text(&topo, me, other));
            std::fs::write(&me.config, text).expect("write edge config");
        }
        TwoEdges { topo, eu, na }
    }

    /// Starts one edge.
    pub fn start(&self, edge: &EdgeSpec) -> GatewayProcess {
        GatewayProcess::start_full(
            &edge.config,
            edge.https,
            &[],
            &[("EDGE_ADMIN_TOKEN", ADMIN_TOKEN)],
        )
    }

    /// A reqwest client trusting both edges' CAs, connecting from [`CLIENT`], resolving every
    /// name in `hosts` to `to`, and keeping the peer certificate of each response.
    pub fn client(&self, to: SocketAddr, hosts: &[&str]) -> reqwest::Client {
        crate::init_crypto();
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .tls_info(true)
            .local_address(CLIENT.parse::<IpAddr>().expect("client address"))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none());
        for pki in [&self.eu.pki, &self.na.pki] {
            b = b.add_root_certificate(
                reqwest::Certificate::from_der(&pki.ca_der()).expect("CA certificate"),
            );
        }
        for h in hosts {
            b = b.resolve(h, to);
        }
        b.build().expect("build client")
    }
}

fn spec(topo: &Topology, geography: &'static str, ip: [u8; 4]) -> EdgeSpec {
    let pki = DemoPki::generate().expect("generate CA");
    let own = format!("{geography}-edge.test");
    let leaf = pki
        .leaf(&["*.app.test", API_HOST, &own])
        .expect("leaf certificate");
    let dir = topo.dir.path();
    write_pair(dir, &format!("{geography}-edge"), &leaf).expect("write certificate");
    std::fs::write(dir.join(format!("{geography}-ca.pem")), pki.ca_pem()).expect("write CA");
    EdgeSpec {
        geography,
        https: SocketAddr::from((ip, free_port())),
        admin: free_addr(),
        pki,
        leaf,
        config: dir.join(format!("{geography}.toml")),
    }
}

/// The standard topology's config with this edge's listeners and certificate, and `[edge]`.
fn config_text(topo: &Topology, me: &EdgeSpec, other: &EdgeSpec) -> String {
    let base = topo.config_toml();
    let listeners = format!(
        "[listeners]\nhttps = [\"{}\"]\nadmin = \"{}\"\n",
        me.https, me.admin
    );
    let start = base
        .find("[listeners]")
        .expect("listeners in the base config");
    let end = base[start..]
        .find("\n\n")
        .map(|i| start + i)
        .expect("end of [listeners]");
    let mut text = format!("{}{}{}", &base[..start], listeners, &base[end..]);
    text = text
        .replace(
            "cert = \"edge.pem\"",
            &format!("cert = \"{}-edge.pem\"", me.geography),
        )
        .replace(
            "key = \"edge.key\"",
            &format!("key = \"{}-edge.key\"", me.geography),
        );
    text.push_str(&format!(
        "\n[edge]\ngeography = \"{}\"\ntrusted_peers = [\"127.0.0.1/32\"]\n\
         peer_health = {{ interval = \"100ms\", timeout = \"200ms\", rise = 1, fall = 1 }}\n\n\
         [[edge.peers]]\ngeography = \"{}\"\naddresses = [\"{}\"]\nca = \"{}-ca.pem\"\n",
        me.geography, other.geography, other.https, other.geography
    ));
    text
}

/// Every sample the gateway with admin listener `admin` exports now.
pub async fn scrape(admin: SocketAddr) -> prometheus_parse::Scrape {
    let text = reqwest::Client::new()
        .get(format!("http://{admin}/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("read /metrics");
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("valid Prometheus text")
}

/// The sum of `name`'s samples whose labels include every pair of `labels` (0 when none).
pub async fn sum(admin: SocketAddr, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape(admin)
        .await
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}
