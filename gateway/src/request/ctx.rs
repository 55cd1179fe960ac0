//! The per-request context Pingora carries across phases: what admission decided (request id,
//! client, route, limits), what the upstream attempts did, and how the request ended.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use edge_geo::mmdb::ClientLocation;
use pingora::proxy::Session;

use super::framing;
use super::problem::EdgeError;
use super::retry::RetryPermit;
use super::routing::Route;
use crate::health::log_transition;
use crate::state::Live;
use crate::topology::{GeoId, OriginId};
use edge_config::GeographyName;
use pingora::upstreams::peer::HttpPeer;

/// A foreign tenant's request proxied to edges of its geography (`[edge] foreign_tenants =
/// "proxy"`), instead of a route to origins.
#[derive(Debug)]
pub struct ViaEdge {
    /// The tenant's geography.
    pub geography: GeographyName,
    /// Its id in the request's snapshot (metrics).
    pub geo: GeoId,
    /// The healthy peer edges to try, in order: (address for the log, peer with the
    /// request's host as SNI).
    pub peers: Vec<(String, Box<HttpPeer>)>,
}

/// Per-request state carried across phases.
pub struct RequestCtx {
    /// The routing generation this request started on (kept until it ends).
    pub(crate) live: Arc<Live>,
    pub(crate) request_id: String,
    pub(crate) route: Option<Route>,
    /// Upstream attempts made so far (each `upstream_peer` call is one).
    pub(crate) attempts: usize,
    pub(crate) current: Option<OriginId>,
    /// What the gateway answered on its own, when it did (the refusal or failure).
    pub(crate) failure: Option<EdgeError>,
    pub(crate) started: Instant,
    /// Retry permits held until the request ends (they count in-flight retries).
    pub(crate) permits: Vec<RetryPermit>,
    /// A permit taken when an origin's 5xx answer was turned into a retry.
    pub(crate) pending_permit: Option<RetryPermit>,
    /// The client's address (socket peer, or from X-Forwarded-For behind a trusted proxy).
    pub(crate) client_ip: Option<IpAddr>,
    /// Where the client is, when a location database is configured and knows the address.
    pub(crate) location: Option<ClientLocation>,
    /// Request body bytes read so far.
    pub(crate) body_bytes: u64,
    /// `[limits]` for this request's path.
    pub(crate) limits: framing::Limits,
    /// `RateLimit-Policy` / `RateLimit` (and `Retry-After` when limited) for the response.
    pub(crate) ratelimit_headers: Vec<(http::HeaderName, String)>,
    /// The gateway answered `Expect: 100-continue` itself (the origin is not asked again).
    pub(crate) continue_sent: bool,
    /// With `[edge]`: the request goes to a peer edge instead of an origin (`route` is `None`).
    pub(crate) via_edge: Option<ViaEdge>,
}

impl RequestCtx {
    /// A context for a request starting on generation `live`.
    pub fn new(live: Arc<Live>) -> Self {
        RequestCtx {
            live,
            request_id: String::new(),
            route: None,
            attempts: 0,
            current: None,
            failure: None,
            started: Instant::now(),
            permits: Vec::new(),
            pending_permit: None,
            client_ip: None,
            location: None,
            body_bytes: 0,
            limits: framing::Limits::default(),
            ratelimit_headers: Vec::new(),
            continue_sent: false,
            via_edge: None,
        }
    }

    /// Whether the client has received a final response head (not only a `1xx`).
    pub(crate) fn response_started(session: &Session) -> bool {
        session
            .response_written()
            .is_some_and(|r| !r.status.is_informational())
    }

    /// Whether the route has a candidate not tried yet.
    pub(crate) fn has_more_candidates(&self) -> bool {
        self.candidates().is_some_and(|n| self.attempts < n)
    }

    /// How many upstreams the request may try: the route's origins, or the peer edges.
    fn candidates(&self) -> Option<usize> {
        match (&self.route, &self.via_edge) {
            (Some(r), _) => Some(r.candidates.len()),
            (None, Some(v)) => Some(v.peers.len()),
            (None, None) => None,
        }
    }

    /// Whether every candidate of the route has been tried.
    pub(crate) fn route_exhausted(&self) -> bool {
        self.candidates().is_some_and(|n| self.attempts >= n)
    }

    /// Feeds a failed attempt to passive health (outlier detection).
    pub(crate) fn origin_failed(&self) {
        let Some(origin) = self.current else { return };
        let health = self.live.origin_health(origin);
        let now = self.live.health.now_ms();
        let od = &self.live.snapshot.config.outlier_detection;
        if let Some(t) = health.record_live_failure(now, od) {
            log_transition(health, &t, Some("live traffic"));
        }
    }

    /// Feeds a successful attempt to passive health.
    pub(crate) fn origin_succeeded(&self) {
        if let Some(origin) = self.current {
            self.live.origin_health(origin).record_live_success();
        }
    }

    /// Whether the request may be executed twice: a method of `routing.retry_methods`, or an
    /// `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header: the client asks
    /// the origin to deduplicate).
    pub(crate) fn idempotent(&self, session: &Session) -> bool {
        let req = session.req_header();
        let method = req.method.as_str();
        self.live
            .snapshot
            .config
            .routing
            .retry_methods
            .iter()
            .any(|m| m == method)
            || req.headers.contains_key("idempotency-key")
    }

    /// Whether a request that already reached an origin may be sent again: idempotent, a body
    /// that still fits the retry buffer, another candidate.
    pub(crate) fn may_resend(&self, session: &Session) -> bool {
        self.has_more_candidates()
            && !session.as_ref().retry_buffer_truncated()
            && self.idempotent(session)
    }

    /// The name of the region of the origin tried last.
    pub(crate) fn region_name(&self) -> Option<&str> {
        let s = &self.live.snapshot;
        let origin = s.origin(self.current?);
        Some(s.region(origin.region).name.as_str())
    }

    /// The `x-edge-region` value of the region of the origin tried last.
    pub(crate) fn region_header(&self) -> Option<&http::HeaderValue> {
        let s = &self.live.snapshot;
        Some(&s.region(s.origin(self.current?).region).header)
    }

    /// The name of the route's geography.
    pub(crate) fn geography_name(&self) -> Option<&str> {
        let s = &self.live.snapshot;
        match (&self.route, &self.via_edge) {
            (Some(r), _) => Some(s.geography(r.geography).name.as_str()),
            (None, Some(v)) => Some(v.geography.as_str()),
            (None, None) => None,
        }
    }

    /// The peer edge tried last, for a request proxied to its tenant's geography.
    pub(crate) fn edge_tried(&self) -> Option<&str> {
        let v = self.via_edge.as_ref()?;
        v.peers
            .get(self.attempts.checked_sub(1)?)
            .map(|(a, _)| a.as_str())
    }
}
