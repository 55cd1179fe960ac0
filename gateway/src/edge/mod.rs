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

pub(crate) mod h2_guard;
pub(crate) mod head_deadline;
pub(crate) mod redirect;
pub(crate) mod slots;
pub(crate) mod tls;
pub mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::listeners::tls::Acceptor;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::tls::TlsStream;
use pingora::protocols::{Ssl, Stream, ALPN};
use pingora::server::ShutdownWatch;

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
        let (max_connections, handshake_timeout, timeouts, head_limits, max_resets, hsts) = {
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
        let Ok(l4) = stream.into_any().downcast::<L4Stream>() else {
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
                let handshake =
                    tokio::time::timeout(handshake_timeout, acceptor.tls_handshake(*l4)).await;
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
