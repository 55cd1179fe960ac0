//! Fixtures for the crate's unit tests: a validated config with two geographies, a live
//! generation whose origins are all healthy, and a Pingora session on a real loopback socket.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use edge_config::Config;
use pingora::proxy::Session;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::health::HealthRegistry;
use crate::metrics::Metrics;
use crate::state::{GatewayState, Live};
use crate::topology::Snapshot;

/// An EU tenant of [`config`].
pub const EU_TENANT: &str = "11111111-1111-4111-8111-111111111111";
/// An NA tenant of [`config`].
pub const NA_TENANT: &str = "22222222-2222-4222-8222-222222222222";

/// A config with `eu` (northeurope, westeurope) and `na` (eastus), one tenant each, the tenant
/// read from `x-tenant-id`; `extra` is appended (more sections).
pub fn config(extra: &str) -> Config {
    // Kept: the certificate files are read again when a test loads them into a resolver.
    let dir = tempfile::tempdir().unwrap().keep();
    let cert = rcgen::generate_simple_self_signed(vec!["gw.test".to_string()]).unwrap();
    std::fs::write(dir.join("edge.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("edge.key"), cert.signing_key.serialize_pem()).unwrap();
    let text = format!(
        r#"
[listeners]
https = ["127.0.0.1:8443"]

[[tls.certificates]]
cert = "edge.pem"
key = "edge.key"

[tenancy]
sources = [{{ kind = "header", name = "x-tenant-id" }}]
unknown = "reject"

[[tenants]]
id = "{EU_TENANT}"
geography = "eu"

[[tenants]]
id = "{NA_TENANT}"
geography = "na"

[[geographies]]
name = "eu"

[[geographies]]
name = "na"

[[regions]]
name = "northeurope"
geography = "eu"
priority = 1
origins = [{{ address = "127.0.0.1:1" }}]

[[regions]]
name = "westeurope"
geography = "eu"
priority = 2
origins = [{{ address = "127.0.0.1:2" }}]

[[regions]]
name = "eastus"
geography = "na"
priority = 1
origins = [{{ address = "127.0.0.1:3" }}]
{extra}"#
    );
    edge_config::parse(&text, "test.toml", &dir).unwrap()
}

/// A live generation of `config` in which every origin is healthy.
pub fn live(config: Config) -> Live {
    let live = Live::bind(
        Snapshot::build(Arc::new(config), 1),
        &Arc::new(HealthRegistry::new()),
        &Metrics::new(),
    );
    for (_, h) in live.health.iter() {
        for _ in 0..5 {
            h.record_probe(true, Duration::from_millis(1), live.health.now_ms(), 1, 1);
        }
    }
    live
}

/// Gateway state serving `config`, every origin healthy.
pub fn state(config: Config) -> GatewayState {
    let certs = Arc::new(crate::edge::tls::CertResolver::new(
        crate::edge::tls::CertStore::load(&config.tls.certificates).unwrap(),
    ));
    let state = GatewayState::new(
        Snapshot::build(Arc::new(config), 1),
        Arc::new(HealthRegistry::new()),
        certs,
    );
    let live = state.live();
    for (_, h) in live.health.iter() {
        h.record_probe(true, Duration::from_millis(1), live.health.now_ms(), 1, 1);
    }
    state
}

/// A server-side HTTP/1 session that has read `request` from a real loopback connection, and
/// the client's end of that connection (to read what the session writes).
pub async fn session(request: &[u8]) -> (Session, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    client.write_all(request).await.unwrap();
    use pingora::protocols::GetSocketDigest;
    use std::os::fd::AsRawFd;
    // The digest is what Pingora's listener attaches (the peer address comes from it).
    let digest = pingora::protocols::SocketDigest::from_raw_fd(server.as_raw_fd());
    let mut stream = pingora::protocols::l4::stream::Stream::from(server);
    stream.set_socket_digest(digest);
    let mut session = Session::new_h1(Box::new(stream));
    assert!(session.read_request().await.unwrap(), "no request read");
    (session, client)
}
