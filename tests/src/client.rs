//! Clients that trust the topology's private CA.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::Topology;

/// Options for [`https_client`].
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Speak HTTP/1.1 only (no h2 in ALPN).
    pub http1_only: bool,
    /// Extra host names to resolve to the gateway (e.g. `<tenant>.app.test`).
    pub hosts: Vec<String>,
    /// Per-request timeout (default 10 s).
    pub timeout: Option<Duration>,
    /// Source address to connect from (e.g. a loopback address the geo test database places
    /// in a country, or a "proxy" address).
    pub local_address: Option<std::net::IpAddr>,
}

/// A reqwest client that trusts the topology's CA and resolves `gw.test` (and `opts.hosts`)
/// to the gateway's HTTPS listener.
pub fn https_client(topo: &Topology, opts: &ClientOptions) -> reqwest::Client {
    crate::init_crypto();
    let ca = reqwest::Certificate::from_der(&topo.pki.ca_der()).expect("CA cert");
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .resolve("gw.test", topo.https)
        .timeout(opts.timeout.unwrap_or(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none());
    for h in &opts.hosts {
        b = b.resolve(h, topo.https);
    }
    if let Some(ip) = opts.local_address {
        b = b.local_address(ip);
    }
    if opts.http1_only {
        b = b.http1_only();
    }
    b.build().expect("build client")
}

/// A raw TLS connection to `addr` with SNI `name`, trusting `topo`'s CA, offering only the
/// given protocol versions and ALPN protocols.
pub async fn raw_tls_connect(
    topo: &Topology,
    addr: SocketAddr,
    name: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    crate::init_crypto();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(topo.pki.ca_der()).expect("add CA");
    let mut config = rustls::ClientConfig::builder_with_protocol_versions(versions)
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    connector.connect(server_name, tcp).await
}

/// A TLS 1.3 connection to the gateway's HTTPS listener (SNI `gw.test`) offering only
/// `http/1.1`: for raw HTTP/1 bytes.
pub async fn raw_h1(topo: &Topology) -> TlsStream<TcpStream> {
    raw_tls_connect(
        topo,
        topo.https,
        "gw.test",
        &[&rustls::version::TLS13],
        &[b"http/1.1"],
    )
    .await
    .expect("TLS connection to the gateway")
}

/// Like [`raw_h1`], offering only `h2`.
pub async fn raw_h2(topo: &Topology) -> TlsStream<TcpStream> {
    raw_tls_connect(
        topo,
        topo.https,
        "gw.test",
        &[&rustls::version::TLS13],
        &[b"h2"],
    )
    .await
    .expect("TLS connection to the gateway")
}

/// Reads until the peer closes or `idle` passes without a byte; returns (bytes, closed).
pub async fn read_all<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    idle: Duration,
) -> (Vec<u8>, bool) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout(idle, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (buf, true),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (buf, false),
        }
    }
}
