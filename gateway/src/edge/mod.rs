//! The edge: a client connection before a request exists — how many may be open, the TLS
//! handshake and its deadline ([`tls`] chooses the certificate by SNI), how long a request head
//! and an idle keep-alive connection may take, and the plaintext listener's redirect
//! ([`redirect`]).
//!
//! Pingora bounds none of these the way an edge needs: it accepts every connection, gives a
//! TLS handshake 60 s, a request head a fresh timeout per `read`, and a keep-alive connection
//! forever. [`Guarded`] wraps a Pingora app (the proxy, the redirect, the admin API) and owns
//! each connection from `accept` on: it takes a slot (or closes the connection at once when
//! none is left), runs the TLS handshake itself under `limits.tls_handshake_timeout`, and
//! hands the app a [`HeadDeadline`] stream. The limits are read from the current snapshot for
//! each new connection, so a reload changes them for new connections.
//!
//! With `[edge]` (residency at the edge), the handshake is preceded by [`client_hello`]: an
//! optional PROXY v2 header from a trusted peer edge ([`proxy_protocol`]), then the
//! ClientHello, recorded. [`residency::decide`] then terminates here (the recorded bytes are
//! given back to the stream and the handshake runs as without `[edge]`), passes the connection
//! still encrypted to an edge of the tenant's geography ([`passthrough`], [`peers`]), or closes
//! it. Without `[edge]` none of this runs.

pub(crate) mod client_hello;
pub(crate) mod h2_guard;
pub(crate) mod head_deadline;
pub(crate) mod passthrough;
pub(crate) mod peers;
pub(crate) mod proxy_protocol;
pub(crate) mod redirect;
pub(crate) mod residency;
pub(crate) mod slots;
pub(crate) mod tls;
pub mod wire;

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::listeners::tls::Acceptor;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::tls::TlsStream;
use pingora::protocols::{GetSocketDigest, SocketDigest, Ssl, Stream, ALPN};
use pingora::server::ShutdownWatch;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

pub use head_deadline::{
    Expiry, HeadClock, HeadDeadline, HeadScanner, HeadTimeouts, Protocol, Rearm,
};
pub use slots::Slots;
pub use wire::HeadLimits;

use crate::state::GatewayState;

/// The stream type the HTTPS proxy sees: a TLS connection under the head deadline.
pub type ProxyStream = HeadDeadline<TlsStream<L4Stream>>;

/// The head-deadline handle of the connection a proxied request arrived on, when it has one
/// (HTTP/1 connections accepted by [`Guarded`] on the HTTPS listeners).
pub fn head_clock(stream: Option<&Stream>) -> Option<&Arc<HeadClock>> {
    (**stream?)
        .as_any()
        .downcast_ref::<ProxyStream>()
        .map(HeadDeadline::clock)
}

/// The limits the edge held the current request's HTTP/1 head to, when it held and checked it
/// ([`wire::check_head`]); `None` for h2, for other connections, and for a head that reached
/// the parser unchecked (see [`HeadClock::head_checked`]).
pub fn checked_head_limits(stream: Option<&Stream>) -> Option<&HeadLimits> {
    let stream = (**stream?).as_any().downcast_ref::<ProxyStream>()?;
    stream.clock().head_checked().then(|| stream.limits())
}

/// Whether the peer edge at `addr` takes connections (for requests proxied to a foreign
/// tenant's geography).
pub fn peer_is_healthy(peers: &peers::PeerHealth, addr: std::net::SocketAddr) -> bool {
    use residency::PeerHealthView;
    peers.is_healthy(addr)
}

/// Which limits a [`Guarded`] app applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counts against `limits.max_connections` (client-facing listeners).
    Capped,
    /// Always admitted: the admin listener must stay reachable while clients flood the others.
    Uncapped,
}

/// A Pingora app behind connection limits. Listen with plain TCP: [`Guarded`] does TLS.
pub struct Guarded<A> {
    inner: Arc<A>,
    state: Arc<GatewayState>,
    slots: Arc<Slots>,
    tls: Option<Acceptor>,
    admission: Admission,
    rearm: Rearm,
}

impl<A> Guarded<A> {
    /// Wraps `inner`. `tls`: the acceptor for TLS listeners (`None`: plaintext). `rearm`: how
    /// the app's connections mark the start of their next request.
    pub fn new(
        inner: A,
        state: Arc<GatewayState>,
        slots: Arc<Slots>,
        tls: Option<Acceptor>,
        admission: Admission,
        rearm: Rearm,
    ) -> Self {
        Guarded {
            inner: Arc::new(inner),
            state,
            slots,
            tls,
            admission,
            rearm,
        }
    }

    fn hit(&self, limit: &str) {
        self.state
            .metrics
            .limit_hits
            .with_label_values(&[limit])
            .inc();
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Guarded<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // Copied out, so that the connection does not keep this snapshot alive after a reload.
        let (
            max_connections,
            handshake_timeout,
            timeouts,
            head_limits,
            max_resets,
            hsts,
            residency,
        ) = {
            let live = self.state.live();
            let l = &live.snapshot.config.limits;
            (
                l.max_connections.get(),
                l.tls_handshake_timeout,
                HeadTimeouts {
                    header: l.request_header_timeout,
                    idle: l.idle_timeout,
                },
                HeadLimits {
                    max_uri_bytes: l.max_uri_bytes,
                    max_header_bytes: l.max_header_bytes,
                    max_headers: l.max_headers,
                },
                l.h2_max_reset_streams,
                live.snapshot.hsts.clone(),
                live.snapshot.config.edge.is_some(),
            )
        };
        let _slot = match self.admission {
            Admission::Capped => match self.slots.try_take(max_connections) {
                Some(slot) => Some(slot),
                None => {
                    // Closing before the handshake costs the least; the client sees a closed
                    // connection and may retry elsewhere.
                    self.hit("max_connections");
                    return None;
                }
            },
            Admission::Uncapped => None,
        };
        let metrics = self.state.metrics.clone();
        let on_expiry = move |e: Expiry| {
            let limit = match e {
                Expiry::Header => "request_header_timeout",
                Expiry::Idle => "idle_timeout",
                Expiry::Refused(limit) => limit,
            };
            metrics.limit_hits.with_label_values(&[limit]).inc();
        };
        let Ok(mut l4) = stream.into_any().downcast::<L4Stream>() else {
            tracing::error!("listener did not hand over a TCP stream; closing the connection");
            return None;
        };
        let wrapped: Stream = match &self.tls {
            None => Box::new(
                HeadDeadline::new(*l4, timeouts, self.rearm, Protocol::Http1)
                    .with_limits(head_limits)
                    .on_expiry(on_expiry),
            ),
            Some(acceptor) => {
                let deadline = Instant::now() + handshake_timeout;
                if residency && self.before_handshake(&mut l4, deadline).await.is_none() {
                    // Passed through to a peer edge (and finished), or closed.
                    return None;
                }
                let handshake =
                    tokio::time::timeout_at(deadline, acceptor.tls_handshake(*l4)).await;
                let tls = match handshake {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        self.state
                            .metrics
                            .tls_handshake_failures
                            .with_label_values(&["error"])
                            .inc();
                        return None;
                    }
                    Err(_) => {
                        self.hit("tls_handshake_timeout");
                        self.state
                            .metrics
                            .tls_handshake_failures
                            .with_label_values(&["timeout"])
                            .inc();
                        return None;
                    }
                };
                let protocol = match tls.selected_alpn_proto() {
                    Some(ALPN::H2) => Protocol::H2,
                    _ => Protocol::Http1,
                };
                Box::new(
                    HeadDeadline::new(tls, timeouts, self.rearm, protocol)
                        .with_limits(head_limits)
                        .with_hsts(hsts)
                        .with_h2_max_resets(max_resets)
                        .on_expiry(on_expiry),
                )
            }
        };
        // The slot lives until the app is done with the connection.
        self.inner.process_new(wrapped, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// A fatal `internal_error` alert (RFC 8446 §6): tells a client whose handshake is refused at
/// the ClientHello that the edge, not the network, closed it.
const INTERNAL_ERROR_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50];

impl<A> Guarded<A> {
    /// Residency at the ClientHello (`[edge]`): reads the preface, then terminates here
    /// (`Some`: the stream has its recorded bytes back, the handshake may run), or passes the
    /// connection through to a peer edge, or closes it (`None`: nothing more to do).
    async fn before_handshake(&self, l4: &mut L4Stream, deadline: Instant) -> Option<()> {
        let live = self.state.live();
        let config = &live.snapshot.config;
        let edge = config.edge.as_ref()?;
        let socket_peer = l4
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).copied());
        let read = client_hello::read_preface(l4, socket_peer.map(|a| a.ip()), &edge.trusted_peers);
        let preface = match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(preface)) => preface,
            Ok(Err(e)) => {
                self.preface_failed(&e, socket_peer);
                return None;
            }
            Err(_) => {
                self.hit("tls_handshake_timeout");
                self.handshake_failed("timeout");
                return None;
            }
        };
        let from_peer = preface.proxy.is_some();
        if let Some(client) = preface.proxy.and_then(|h| h.source) {
            // The request plane reads the client from the socket digest (rate limits,
            // location, access log): make it say what the peer edge saw.
            let digest = SocketDigest::from_raw_fd(l4.as_raw_fd());
            let _ = digest.peer_addr.set(Some(PingoraAddr::Inet(client)));
            l4.set_socket_digest(digest);
        }
        let decision = residency::decide(
            preface.sni.as_deref(),
            from_peer,
            edge,
            &config.tenancy.sources,
            &config.tenants,
            &*self.state.peers,
        );
        match decision {
            residency::Decision::Terminate => {
                l4.rewind(&preface.recorded);
                Some(())
            }
            residency::Decision::Refuse { geography, reason } => {
                self.refuse_handshake(l4, geography.as_str(), reason).await;
                None
            }
            residency::Decision::Passthrough { geography, peers } => {
                let (connect_timeout, health) = (config.routing.connect_timeout, edge.peer_health);
                // Not kept for the life of the splice: a reload must be able to free it.
                drop(live);
                let (Some(client), Some(local)) = (
                    socket_peer,
                    l4.get_socket_digest()
                        .and_then(|d| d.local_addr().and_then(|a| a.as_inet()).copied()),
                ) else {
                    tracing::warn!("no socket addresses for a passthrough; closing");
                    return None;
                };
                let start = rand::random::<u32>() as usize;
                let connected = passthrough::connect(
                    &peers,
                    start,
                    connect_timeout,
                    client,
                    local,
                    &preface.recorded,
                    |addr| {
                        self.state
                            .peers
                            .state(addr)
                            .record(false, health.rise, health.fall);
                    },
                )
                .await;
                let Ok((mut upstream, addr)) = connected else {
                    let reason = residency::RefuseReason::PeerUnreachable;
                    self.refuse_handshake(l4, geography.as_str(), reason).await;
                    return None;
                };
                self.state
                    .metrics
                    .residency_passthrough
                    .with_label_values(&[geography.as_str()])
                    .inc();
                tracing::debug!(%client, peer = %addr, %geography, "passing the connection through");
                passthrough::splice(l4, &mut upstream).await;
                None
            }
        }
    }

    fn preface_failed(&self, e: &client_hello::PrefaceError, peer: Option<std::net::SocketAddr>) {
        use client_hello::PrefaceError;
        match e {
            PrefaceError::Closed => {}
            PrefaceError::UntrustedProxy | PrefaceError::BadProxy(_) => {
                tracing::info!(peer = ?peer, error = %e, "refused a PROXY protocol header");
                self.state
                    .metrics
                    .proxy_protocol_refusals
                    .with_label_values(&[e.label()])
                    .inc();
            }
            PrefaceError::BadHello(_) | PrefaceError::Io(_) => {
                tracing::debug!(error = %e, "no usable ClientHello");
                self.handshake_failed("error");
            }
        }
    }

    fn handshake_failed(&self, reason: &str) {
        self.state
            .metrics
            .tls_handshake_failures
            .with_label_values(&[reason])
            .inc();
    }

    async fn refuse_handshake(
        &self,
        l4: &mut L4Stream,
        geography: &str,
        reason: residency::RefuseReason,
    ) {
        tracing::info!(
            geography,
            reason = reason.label(),
            "refused a foreign tenant's handshake"
        );
        self.state
            .metrics
            .residency_handshake_refusals
            .with_label_values(&[geography, reason.label()])
            .inc();
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            l4.write_all(&INTERNAL_ERROR_ALERT).await?;
            l4.flush().await
        })
        .await;
    }
}
