//! `[edge]` and `[[edge.peers]]`: where this gateway stands, who may send it PROXY protocol
//! headers, and the edges of the other geographies (with their TCP probe).
//!
//! Runs after `[[geographies]]` and `[listeners]`: the edge's geography and each peer's must be
//! defined, and a peer address must not be one of this gateway's own HTTPS listeners (a
//! connection passed to itself would loop until the connection limit).

use std::collections::HashMap;
use std::net::SocketAddr;

use super::listeners::PemKind;
use super::schema::{Elements, Piece};
use super::spans::KeyPath;
use super::topology::defined_names;
use super::validator::Validator;
use super::values::MinDuration;
use crate::defaults::{
    DEFAULT_PEER_PROBE_INTERVAL, DEFAULT_PEER_PROBE_TIMEOUT, DEFAULT_RISE_FALL, MAX_PEER_RISE_FALL,
    MIN_PEER_PROBE_INTERVAL,
};
use crate::file::{EdgeFile, EdgePeerFile, PeerHealthFile};
use crate::model::{Cidr, Edge, EdgePeer, ForeignTenants, Geography, GeographyName, PeerHealth};

const PEER_EXAMPLE: &str = "[[edge.peers]]\ngeography = \"na\"\naddresses = [\"10.20.1.10:443\"]";

impl<'a> Validator<'a> {
    /// `[edge]`; `None` when absent, or when it is broken or names no usable geography
    /// (reported).
    pub(super) fn edge(
        &mut self,
        piece: &Piece<EdgeFile>,
        peers: &Elements<EdgePeerFile>,
        geographies: &[Geography],
        geographies_complete: bool,
        https: &[SocketAddr],
    ) -> Option<Edge> {
        let file = piece.parsed()?;
        let path = KeyPath::default().key("edge");
        let geography = self.edge_geography(file, geographies, geographies_complete)?;
        let mut trusted_peers = Vec::with_capacity(file.trusted_peers.len());
        for (i, text) in file.trusted_peers.iter().enumerate() {
            match Cidr::parse(text) {
                Ok(cidr) => trusted_peers.push(cidr),
                Err(e) => self.error(&path.key("trusted_peers").index(i), e.0),
            }
        }
        let foreign_tenants = match file.foreign_tenants.as_deref() {
            None | Some("proxy") => ForeignTenants::Proxy,
            Some("refuse") => ForeignTenants::Refuse,
            Some(other) => {
                self.error(
                    &path.key("foreign_tenants"),
                    format!(
                        "{other:?} is not a choice: \"proxy\" (decrypt here, proxy to the \
                         tenant's geography) or \"refuse\" (answer 421 naming the tenant's host)"
                    ),
                );
                ForeignTenants::Proxy
            }
        };
        let peers = self.edge_peers(peers, &geography, geographies, geographies_complete, https);
        let peer_health = self.peer_health(&path.key("peer_health"), file.peer_health.as_ref());
        Some(Edge {
            geography,
            trusted_peers,
            foreign_tenants,
            peers,
            peer_health,
        })
    }

    fn edge_geography(
        &mut self,
        file: &EdgeFile,
        geographies: &[Geography],
        geographies_complete: bool,
    ) -> Option<GeographyName> {
        let path = KeyPath::default().key("edge");
        let Some(name) = file.geography.as_deref() else {
            self.error(
                &path,
                format!(
                    "geography is required in [edge]: the geography this gateway stands in, \
                     e.g. geography = \"eu\" (defined: {})",
                    defined_names(geographies)
                ),
            );
            return None;
        };
        let p = path.key("geography");
        if !self.name(&p, name, "geography") {
            return None;
        }
        let known = geographies.iter().any(|g| g.name.as_str() == name);
        if !known {
            // A geography that failed to parse may be the one meant: not blamed here.
            if geographies_complete {
                self.error(
                    &p,
                    format!(
                        "geography {name:?} is not defined (defined: {})",
                        defined_names(geographies)
                    ),
                );
            }
            return None;
        }
        Some(GeographyName::new(name))
    }

    fn edge_peers(
        &mut self,
        elements: &Elements<EdgePeerFile>,
        own: &GeographyName,
        geographies: &[Geography],
        geographies_complete: bool,
        https: &[SocketAddr],
    ) -> Vec<EdgePeer> {
        let path = KeyPath::default().key("edge").key("peers");
        let mut peers: Vec<EdgePeer> = Vec::new();
        let mut first_of_geography: HashMap<String, usize> = HashMap::new();
        let mut first_of_address: HashMap<SocketAddr, KeyPath> = HashMap::new();
        for (i, peer) in elements.parsed() {
            let p = path.index(i);
            let geo = peer.geography.as_str();
            let gp = p.key("geography");
            let mut ok = self.name(&gp, geo, "geography");
            if ok && geo == own.as_str() {
                self.error(
                    &gp,
                    format!(
                        "{geo:?} is this edge's own geography ([edge] geography): peers are the \
                         edges of the other geographies; remove this entry"
                    ),
                );
                ok = false;
            } else if ok && !geographies.iter().any(|g| g.name.as_str() == geo) {
                if geographies_complete {
                    self.error(
                        &gp,
                        format!(
                            "geography {geo:?} is not defined (defined: {})",
                            defined_names(geographies)
                        ),
                    );
                }
                ok = false;
            } else if let Some(first) = first_of_geography.get(geo) {
                self.error(
                    &gp,
                    format!(
                        "geography {geo:?} already has an entry (edge.peers[{first}]); list all \
                         its edges in one entry's addresses"
                    ),
                );
                ok = false;
            }
            first_of_geography.entry(geo.to_owned()).or_insert(i);
            let addresses =
                self.peer_addresses(&p.key("addresses"), peer, https, &mut first_of_address);
            let ca = peer
                .ca
                .as_deref()
                .and_then(|written| self.pem_file(&p.key("ca"), written, PemKind::Certificate));
            let ca_ok = peer.ca.is_none() || ca.is_some();
            if ok && ca_ok && !addresses.is_empty() {
                peers.push(EdgePeer {
                    geography: GeographyName::new(geo),
                    addresses,
                    ca,
                });
            }
        }
        if elements.complete() && geographies_complete {
            let missing: Vec<&str> = geographies
                .iter()
                .map(|g| g.name.as_str())
                .filter(|g| *g != own.as_str() && !first_of_geography.contains_key(*g))
                .collect();
            if !missing.is_empty() {
                let at = if elements.is_empty() {
                    KeyPath::default().key("edge")
                } else {
                    path
                };
                self.error(
                    &at,
                    format!(
                        "no [[edge.peers]] entry for geography {}: connections for its tenants \
                         would have nowhere to go and every one would be refused; add one per \
                         geography, e.g.\n{PEER_EXAMPLE}",
                        missing
                            .iter()
                            .map(|g| format!("{g:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        peers
    }

    fn peer_addresses(
        &mut self,
        path: &KeyPath,
        peer: &EdgePeerFile,
        https: &[SocketAddr],
        first_of_address: &mut HashMap<SocketAddr, KeyPath>,
    ) -> Vec<SocketAddr> {
        if peer.addresses.is_empty() {
            self.error(
                path,
                "at least one address is required: the TLS listeners (ip:port) of that \
                 geography's edges, e.g. addresses = [\"10.20.1.10:443\"]",
            );
            return Vec::new();
        }
        let mut out = Vec::with_capacity(peer.addresses.len());
        for (i, text) in peer.addresses.iter().enumerate() {
            let p = path.index(i);
            let Ok(addr) = text.parse::<SocketAddr>() else {
                self.error(
                    &p,
                    format!(
                        "{text:?} is not ip:port; write e.g. \"10.20.1.10:443\" or \
                         \"[2001:db8::10]:443\" (names are not resolved: a connection must not \
                         wait on DNS)"
                    ),
                );
                continue;
            };
            if addr.port() == 0 || addr.ip().is_unspecified() {
                self.error(
                    &p,
                    format!("{addr} cannot be connected to: name a peer's address and port"),
                );
                continue;
            }
            if https.contains(&addr) {
                self.error(
                    &p,
                    format!(
                        "{addr} is one of this gateway's own HTTPS listeners: a connection \
                         passed to it would come back here"
                    ),
                );
                continue;
            }
            if let Some(first) = first_of_address.get(&addr) {
                self.error(
                    &p,
                    format!("{addr} is listed twice (first at {first}); list it once"),
                );
                continue;
            }
            first_of_address.insert(addr, p);
            out.push(addr);
        }
        out
    }

    fn peer_health(&mut self, path: &KeyPath, file: Option<&PeerHealthFile>) -> PeerHealth {
        let file = file.cloned().unwrap_or_default();
        let interval = self.duration(
            &path.key("interval"),
            file.interval,
            DEFAULT_PEER_PROBE_INTERVAL,
            MinDuration::AtLeast(MIN_PEER_PROBE_INTERVAL),
        );
        let timeout = self.duration(
            &path.key("timeout"),
            file.timeout,
            DEFAULT_PEER_PROBE_TIMEOUT,
            MinDuration::Positive,
        );
        let rise = self.int(
            &path.key("rise"),
            file.rise,
            DEFAULT_RISE_FALL,
            1,
            MAX_PEER_RISE_FALL,
        );
        let fall = self.int(
            &path.key("fall"),
            file.fall,
            DEFAULT_RISE_FALL,
            1,
            MAX_PEER_RISE_FALL,
        );
        PeerHealth {
            interval,
            timeout,
            rise,
            fall,
        }
    }
}
