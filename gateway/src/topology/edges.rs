//! The peer edges of `[edge]` as upstreams: one prebuilt TLS `HttpPeer` per address, for
//! requests of foreign tenants found after decryption (`foreign_tenants = "proxy"`).
//!
//! Built with the snapshot (at start and on reload), never per request: the peer's CA file is
//! read and parsed here. A CA that cannot be used is logged and left out, so the peer is
//! verified against the system's roots and, for a private CA, fails closed (502), never open.

use std::net::SocketAddr;
use std::sync::Arc;

use edge_config::{Edge, EdgePeer, GeographyName, Routing};
use pingora::upstreams::peer::HttpPeer;
use pingora::utils::tls::{parse_x509, WrappedX509};

/// One peer edge address, ready to be connected to.
#[derive(Debug, Clone)]
pub struct EdgeUpstream {
    /// Its address.
    pub addr: SocketAddr,
    /// The address as text (access log).
    pub address: String,
    /// The prebuilt peer (TLS, verified); its SNI is set per request to the request's host.
    pub peer: Box<HttpPeer>,
}

/// Every peer edge of `[edge]`, by geography.
#[derive(Debug, Clone, Default)]
pub struct EdgeUpstreams {
    by_geography: Vec<(GeographyName, Vec<EdgeUpstream>)>,
}

impl EdgeUpstreams {
    /// The upstreams of `edge`'s peers, with `routing`'s timeouts.
    pub fn build(edge: &Edge, routing: &Routing) -> Self {
        let by_geography = edge
            .peers
            .iter()
            .map(|p| (p.geography.clone(), upstreams(p, routing)))
            .collect();
        EdgeUpstreams { by_geography }
    }

    /// The peer edges of `geography` (empty when none is configured).
    pub fn of(&self, geography: &GeographyName) -> &[EdgeUpstream] {
        self.by_geography
            .iter()
            .find(|(g, _)| g == geography)
            .map_or(&[], |(_, u)| u.as_slice())
    }
}

fn upstreams(p: &EdgePeer, routing: &Routing) -> Vec<EdgeUpstream> {
    let ca = p.ca.as_deref().and_then(load_ca);
    p.addresses
        .iter()
        .map(|&addr| {
            let mut peer = HttpPeer::new(addr, true, String::new());
            peer.options.connection_timeout = Some(routing.connect_timeout);
            peer.options.total_connection_timeout = Some(routing.connect_timeout);
            peer.options.read_timeout = Some(routing.read_timeout);
            peer.options.write_timeout = Some(routing.write_timeout);
            peer.options.idle_timeout = Some(routing.idle_timeout);
            peer.options.ca = ca.clone();
            EdgeUpstream {
                addr,
                address: addr.to_string(),
                peer: Box::new(peer),
            }
        })
        .collect()
}

/// The CA certificates of a PEM file, each checked by the parser Pingora will use (which
/// panics on what it cannot parse, so nothing unparsed reaches it).
fn load_ca(path: &std::path::Path) -> Option<Arc<[WrappedX509]>> {
    let pem = match std::fs::read(path) {
        Ok(pem) => pem,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read a peer edge CA");
            return None;
        }
    };
    let certs: Vec<WrappedX509> = rustls_pemfile::certs(&mut pem.as_slice())
        .filter_map(Result::ok)
        .filter(|der| x509_parser::parse_x509_certificate(der.as_ref()).is_ok())
        .map(|der| WrappedX509::new(der.to_vec(), parse_x509))
        .collect();
    if certs.is_empty() {
        tracing::error!(path = %path.display(), "no usable CA certificate in a peer edge CA file");
        return None;
    }
    Some(certs.into())
}
