//! The Pingora `ProxyHttp` implementation. Deliberately thin: each phase loads what it needs
//! and calls the named, separately tested functions in [`crate::tenancy`],
//! [`crate::routing`], [`crate::headers`] and [`crate::error`].

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{ErrorSource, ErrorType};

use crate::error::{EdgeError, ErrorKind, PROBLEM_CONTENT_TYPE};
use crate::framing;
use crate::headers::{self, UpstreamFacts};
use crate::health::log_transition;
use crate::ratelimit::Decision;
use crate::retry_budget::RetryPermit;
use crate::routing::{self, OriginId, Route};
use crate::snapshot::Snapshot;
use crate::state::GatewayState;
use crate::tenancy::{self, RequestFacts};
use edge_geo::mmdb::ClientLocation;

/// The edge proxy: one per process, shared by every listener of the HTTPS service.
pub struct EdgeProxy {
    state: Arc<GatewayState>,
}

impl EdgeProxy {
    /// A proxy reading its configuration from `state`.
    pub fn new(state: Arc<GatewayState>) -> Self {
        EdgeProxy { state }
    }
}

/// Per-request state carried across phases.
pub struct RequestCtx {
    snapshot: Arc<Snapshot>,
    request_id: String,
    route: Option<Route>,
    /// Upstream attempts made so far (each `upstream_peer` call is one).
    attempts: usize,
    current: Option<OriginId>,
    failure: Option<EdgeError>,
    started: Instant,
    /// Retry permits held until the request ends (they count in-flight retries).
    permits: Vec<RetryPermit>,
    /// A permit taken when an origin's 5xx answer was turned into a retry.
    pending_permit: Option<RetryPermit>,
    /// The client's address (socket peer, or from X-Forwarded-For behind a trusted proxy).
    client_ip: Option<std::net::IpAddr>,
    /// Where the client is, when a location database is configured and knows the address.
    location: Option<ClientLocation>,
    /// Request body bytes read so far.
    body_bytes: u64,
    /// `[limits]` for this request's path.
    limits: framing::Limits,
    /// `RateLimit-Policy` / `RateLimit` (and `Retry-After` when limited) for the response.
    ratelimit_headers: Vec<(&'static str, String)>,
}

impl RequestCtx {
    fn has_more_candidates(&self) -> bool {
        self.route
            .as_ref()
            .is_some_and(|r| self.attempts < r.candidates.len())
    }

    /// Feeds a failed attempt to passive health (outlier detection).
    fn origin_failed(&self) {
        let Some(origin) = self.current else { return };
        let health = self.snapshot.origin_health(origin);
        let now = self.snapshot.registry().now_ms();
        if let Some(t) = health.record_live_failure(now, &self.snapshot.config.outlier_detection) {
            log_transition(health, &t, Some("live traffic"));
        }
    }

    fn origin_succeeded(&self) {
        if let Some(origin) = self.current {
            self.snapshot.origin_health(origin).record_live_success();
        }
    }

    /// Whether a request that already reached an origin may be sent again: an idempotent
    /// (configured) method, a body that still fits the retry buffer, another candidate.
    fn may_resend(&self, session: &Session) -> bool {
        let method = session.req_header().method.as_str();
        self.has_more_candidates()
            && !session.as_ref().retry_buffer_truncated()
            && self
                .snapshot
                .config
                .routing
                .retry_methods
                .iter()
                .any(|m| m == method)
    }

    fn region_name(&self) -> Option<&str> {
        let origin = self.snapshot.origin(self.current?);
        Some(self.snapshot.region(origin.region).name.as_str())
    }
}

/// The host the client addressed: `Host` for HTTP/1, `:authority` for h2.
fn request_host(req: &pingora::http::RequestHeader) -> Option<&str> {
    req.headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
}

fn may_have_body(req: &pingora::http::RequestHeader) -> bool {
    req.headers.contains_key(http::header::TRANSFER_ENCODING)
        || req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Writes `err` as an `application/problem+json` response: the one place gateway errors
/// reach the client.
async fn respond_problem(
    session: &mut Session,
    err: &EdgeError,
    ctx: &RequestCtx,
) -> pingora::Result<u16> {
    let problem = err.to_problem(&ctx.request_id);
    let mut resp = ResponseHeader::build(problem.status, Some(8))?;
    resp.insert_header(http::header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)?;
    resp.insert_header(http::header::CONTENT_LENGTH, problem.body.len())?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    if let Some(secs) = problem.retry_after_secs {
        resp.insert_header(http::header::RETRY_AFTER, secs)?;
    }
    for (name, value) in &ctx.ratelimit_headers {
        if *name != "retry-after" {
            resp.insert_header(*name, value.as_str())?;
        }
    }
    headers::decorate_response(&mut resp, ctx.snapshot.hsts.as_ref(), None, &ctx.request_id)?;
    // An unread request body would be taken for the next request on this connection.
    if may_have_body(session.req_header()) {
        session.set_keepalive(None);
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session
            .write_response_body(Some(Bytes::from(problem.body)), true)
            .await?;
    }
    Ok(problem.status)
}

#[async_trait]
impl ProxyHttp for EdgeProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            snapshot: self.state.snapshot(),
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
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let line_ok = match crate::downstream::head_clock(session.as_downstream().stream()) {
            Some(clock) if clock.control_in_request_line() => Err(EdgeError::new(
                ErrorKind::BadRequest,
                "the request line contains control characters",
            )),
            _ => Ok(()),
        };
        let raw_ok = line_ok.and_then(|()| match session.as_downstream().as_http1() {
            Some(h1) => framing::check_raw_head(&h1.get_headers_raw_bytes()),
            None => Ok(()),
        });
        ctx.limits = framing::Limits::for_request(
            &ctx.snapshot.config.limits,
            session.req_header().uri.path(),
        );
        let checked = raw_ok
            .and_then(|()| framing::check(session.req_header(), !session.is_http2(), &ctx.limits));
        if let Err(err) = checked {
            ctx.request_id = headers::new_request_id();
            // Whatever follows on this connection can no longer be trusted to start a request.
            session.set_keepalive(None);
            respond_problem(session, &err, ctx).await?;
            ctx.failure = Some(err);
            return Ok(true);
        }
        let req = session.req_header();
        ctx.request_id = headers::valid_request_id(req.headers.get("x-request-id"))
            .map(str::to_owned)
            .unwrap_or_else(headers::new_request_id);
        let facts = RequestFacts {
            host: request_host(req),
            path: req.uri.path(),
            headers: &req.headers,
        };
        let found = tenancy::identify(&ctx.snapshot.config.tenancy.sources, &facts);
        ctx.client_ip = session.client_addr().and_then(|a| a.as_inet()).map(|a| {
            edge_geo::client_ip(
                a.ip(),
                &req.headers,
                &ctx.snapshot.config.client_ip.trusted_proxies,
            )
        });
        ctx.location = self.locate(ctx.client_ip);
        let health = ctx.snapshot.live_health();
        let decided = crate::geofence::check_deny_list(&ctx.snapshot.config, ctx.location.as_ref())
            .and_then(|()| {
                routing::route_request(
                    &ctx.snapshot,
                    &found,
                    ctx.location.as_ref(),
                    &health,
                    rand::random(),
                )
            })
            .and_then(|route| {
                crate::geofence::check_tenant(&ctx.snapshot.config, &route, ctx.location.as_ref())
                    .map(|()| route)
            })
            .and_then(|route| self.admit(session, ctx, route));
        match decided {
            Ok(route) => {
                ctx.route = Some(route);
                if let Err(err) = self.prebuffer_chunked_body(session, ctx).await {
                    session.set_keepalive(None);
                    respond_problem(session, &err, ctx).await?;
                    ctx.failure = Some(err);
                    return Ok(true);
                }
                self.state.retry_budget.record_request();
                Ok(false)
            }
            Err(err) => {
                respond_problem(session, &err, ctx).await?;
                ctx.failure = Some(err);
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let next = ctx
            .route
            .as_ref()
            .and_then(|r| r.candidates.get(ctx.attempts).copied());
        let Some(origin) = next else {
            return Error::e_explain(
                ErrorType::HTTPStatus(503),
                "every candidate origin of the geography has been tried",
            );
        };
        ctx.attempts += 1;
        ctx.current = Some(origin);
        let m = &self.state.metrics;
        m.upstream_attempts.inc();
        if ctx.attempts > 1 {
            m.retries.inc();
        }
        Ok(ctx.snapshot.origin(origin).peer.clone())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(chunk) = body {
            ctx.body_bytes += chunk.len() as u64;
            if ctx.body_bytes > ctx.limits.max_body_bytes {
                ctx.failure = Some(framing::body_too_large(&ctx.limits));
                return Error::e_explain(ErrorType::HTTPStatus(413), "request body over the limit");
            }
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.origin_failed();
        self.count_upstream_timeout(&e);
        if let Some(origin) = ctx.current {
            let o = ctx.snapshot.origin(origin);
            let region = ctx.snapshot.region(o.region).name.as_str();
            self.state
                .metrics
                .connect_failures
                .with_label_values(&[region, o.address.as_str()])
                .inc();
        }
        // Nothing reached the origin, so another candidate is safe for any method, and costs
        // no retry budget.
        if ctx.has_more_candidates() {
            e.set_retry(true);
        }
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("origin {peer}"));
        // Pingora marks errors that are safe to retry only because they hit a pooled
        // connection the origin had already closed (nothing was processed): any method may go
        // to the next candidate then, like a refused connection.
        e.retry.decide_reuse(client_reused);
        let stale_pooled_connection = e.retry();
        // Only the origin's own failures count against it: a client that goes away mid-request
        // says nothing about the origin's health.
        if e.esource() == &ErrorSource::Upstream {
            ctx.origin_failed();
        }
        self.count_upstream_timeout(&e);
        let retry = if let Some(permit) = ctx.pending_permit.take() {
            ctx.permits.push(permit);
            true
        } else if stale_pooled_connection && ctx.has_more_candidates() {
            true
        } else if ctx.may_resend(session) {
            match self.state.retry_budget.try_acquire() {
                Some(permit) => {
                    ctx.permits.push(permit);
                    true
                }
                None => false,
            }
        } else {
            false
        };
        e.set_retry(retry);
        e
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let status = upstream_response.status.as_u16();
        if status >= 500 && ctx.snapshot.config.outlier_detection.count_5xx {
            // An overloaded or broken origin: try another one of the geography if this
            // request may be sent again and the budget allows; the origin's answer is dropped.
            if matches!(status, 502..=504) && ctx.may_resend(session) {
                if let Some(permit) = self.state.retry_budget.try_acquire() {
                    ctx.pending_permit = Some(permit);
                    return Error::e_explain(
                        ErrorType::HTTPStatus(status),
                        "origin answered with a retryable status",
                    );
                }
            }
            ctx.origin_failed();
        } else {
            ctx.origin_succeeded();
        }
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut pingora::http::RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let (Some(route), Some(origin)) = (ctx.route.as_ref(), ctx.current) else {
            return Error::e_explain(ErrorType::InternalError, "no route at upstream phase");
        };
        let entry = ctx.snapshot.origin(origin);
        let region = ctx.snapshot.region(entry.region).name.as_str();
        let tenant = route.tenant.map(|t| t.to_string());
        let country = ctx.location.and_then(|l| l.country).map(|c| c.to_string());
        let host = request_host(session.req_header()).map(str::to_owned);
        let client_ip = ctx.client_ip;
        headers::prepare_upstream_request(
            upstream_request,
            &UpstreamFacts {
                tenant: tenant.as_deref(),
                client_country: country.as_deref(),
                region,
                client_ip,
                host: host.as_deref(),
                request_id: &ctx.request_id,
                host_override: entry.host.as_deref(),
            },
        )
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        headers::decorate_response(
            upstream_response,
            ctx.snapshot.hsts.as_ref(),
            ctx.region_name(),
            &ctx.request_id,
        )?;
        for (name, value) in &ctx.ratelimit_headers {
            upstream_response.insert_header(*name, value.as_str())?;
        }
        if ctx.snapshot.config.routing.debug_headers {
            if let Some(route) = &ctx.route {
                let value = crate::explain::route_header(&ctx.snapshot, route, ctx.attempts);
                upstream_response.insert_header("x-edge-route", value)?;
            }
        }
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let err = classify_failure(e, ctx);
        let code = match err {
            // The client went away or broke the protocol mid-stream: nobody to answer.
            None => 0,
            Some(err) => {
                let code = respond_problem(session, &err, ctx)
                    .await
                    .unwrap_or_else(|write_err| {
                        tracing::debug!(error = %write_err, "could not send error response");
                        0
                    });
                ctx.failure = Some(err);
                code
            }
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, error: &Error) -> bool {
        // A client that goes away is routine at the edge; the access log still records it.
        error.esource() == &ErrorSource::Downstream
            && matches!(
                error.etype(),
                ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
            )
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        // This request is done; what the connection reads next is the next request's head.
        if let Some(clock) = crate::downstream::head_clock(session.as_downstream().stream()) {
            clock.next_request();
        }
        if let Some(limit) = ctx.failure.as_ref().and_then(|f| f.limit) {
            self.state
                .metrics
                .limit_hits
                .with_label_values(&[limit])
                .inc();
        }
        self.record_metrics(session, ctx);
        crate::access_log::log_request(session, e, ctx_view(ctx));
    }
}

/// Chunked bodies up to this size are read whole before any origin is contacted (Pingora's
/// retry buffer holds them and replays them upstream).
const PREBUFFER_BYTES: u64 = 64 * 1024;

/// The `edge_limit_hits_total` label of an upstream timeout (`[routing]` timeouts, per attempt).
fn upstream_timeout_label(e: &Error) -> Option<&'static str> {
    match e.etype() {
        ErrorType::ConnectTimedout | ErrorType::TLSHandshakeTimedout => {
            Some("upstream_connect_timeout")
        }
        ErrorType::ReadTimedout => Some("upstream_read_timeout"),
        ErrorType::WriteTimedout => Some("upstream_write_timeout"),
        _ => None,
    }
}

impl EdgeProxy {
    fn count_upstream_timeout(&self, e: &Error) {
        if let Some(label) = upstream_timeout_label(e) {
            self.state
                .metrics
                .limit_hits
                .with_label_values(&[label])
                .inc();
        }
    }

    /// Reads a chunked HTTP/1 request body (up to [`PREBUFFER_BYTES`]) before any origin is
    /// contacted, so that malformed chunk framing is refused (400) instead of half-forwarded —
    /// nginx's request buffering, bounded. Larger bodies stream on from there; their framing
    /// errors abort the upstream request.
    async fn prebuffer_chunked_body(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> std::result::Result<(), EdgeError> {
        let chunked = !session.is_http2()
            && session
                .req_header()
                .headers
                .contains_key(http::header::TRANSFER_ENCODING);
        if !chunked {
            return Ok(());
        }
        session.as_downstream_mut().enable_retry_buffering();
        while ctx.body_bytes < PREBUFFER_BYTES {
            match session.as_downstream_mut().read_request_body().await {
                Ok(Some(chunk)) => {
                    ctx.body_bytes += chunk.len() as u64;
                    if ctx.body_bytes > ctx.limits.max_body_bytes {
                        return Err(framing::body_too_large(&ctx.limits));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "malformed chunked request body");
                    return Err(EdgeError::new(
                        ErrorKind::BadRequest,
                        "the chunked request body is malformed",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Looks the client up in the location database, when one is configured; a damaged
    /// database answers "unknown" rather than failing the request.
    fn locate(&self, ip: Option<std::net::IpAddr>) -> Option<ClientLocation> {
        let ip = ip?;
        let db = self.state.geo.load();
        let found = db.as_ref()?.lookup(ip).ok().flatten();
        let continent = found.and_then(|l| l.continent).map(|c| c.to_string());
        self.state
            .metrics
            .requests_by_continent
            .with_label_values(&[continent.as_deref().unwrap_or("unknown")])
            .inc();
        found
    }

    /// Applies the rate limits once the tenant is known, before any upstream work.
    fn admit(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        route: Route,
    ) -> Result<Route, EdgeError> {
        let (Some(ip), Some(tenant)) = (
            ctx.client_ip,
            route
                .tenant
                .and_then(|t| ctx.snapshot.config.tenants.by_id.get(&t)),
        ) else {
            return Ok(route);
        };
        let req = session.req_header();
        let decision = self
            .state
            .ratelimiter
            .check(ip, tenant, &req.method, req.uri.path());
        ctx.ratelimit_headers = decision.response_headers();
        match decision {
            Decision::Allowed { .. } => Ok(route),
            Decision::Limited {
                scope, retry_after, ..
            } => {
                self.state
                    .metrics
                    .rate_limited
                    .with_label_values(&[scope.label()])
                    .inc();
                // The 429 is attributed to the tenant's geography in the request metrics.
                ctx.route = Some(route);
                Err(EdgeError::rate_limited(scope.label(), retry_after))
            }
        }
    }

    /// Counts a finished request: by the region that answered, else by the tenant's geography,
    /// else as unrouted.
    fn record_metrics(&self, session: &Session, ctx: &RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let seconds = ctx.started.elapsed().as_secs_f64();
        let answered_by_origin = ctx.failure.is_none() && ctx.current.is_some();
        let handles = match (&ctx.route, ctx.current) {
            (Some(_), Some(origin)) if answered_by_origin => {
                let region = ctx.snapshot.origin(origin).region;
                ctx.snapshot.region_metrics(region)
            }
            (Some(route), _) => ctx.snapshot.geo_metrics(route.geography),
            _ => None,
        };
        handles
            .unwrap_or(&self.state.unrouted)
            .observe(status, seconds);
        let m = &self.state.metrics;
        if answered_by_origin && ctx.attempts > 1 {
            m.failovers.inc();
        }
        if let (Some(err), Some(route)) = (&ctx.failure, &ctx.route) {
            if err.kind == ErrorKind::NoOriginAvailable {
                let geo = ctx.snapshot.geography(route.geography).name.as_str();
                m.residency_refusals.with_label_values(&[geo]).inc();
            }
        }
    }
}

/// What the access log reads from a finished request.
fn ctx_view(ctx: &RequestCtx) -> crate::access_log::RequestSummary<'_> {
    let origin = ctx.current.map(|o| ctx.snapshot.origin(o));
    crate::access_log::RequestSummary {
        request_id: &ctx.request_id,
        tenant: ctx.route.as_ref().and_then(|r| r.tenant),
        geography: ctx
            .route
            .as_ref()
            .map(|r| ctx.snapshot.geography(r.geography).name.as_str()),
        region: ctx.region_name(),
        origin: origin.map(|o| o.address.as_str()),
        attempts: ctx.attempts,
        error: ctx.failure.as_ref().map(|f| f.kind.label()),
        duration: ctx.started.elapsed(),
    }
}

/// Decides what a failed request answers: `None` when the client connection is already gone.
fn classify_failure(e: &Error, ctx: &RequestCtx) -> Option<EdgeError> {
    // A phase that already decided (e.g. the body limit) knows best.
    if let Some(decided) = &ctx.failure {
        return Some(decided.clone());
    }
    match e.esource() {
        ErrorSource::Upstream => {
            let route_exhausted = ctx
                .route
                .as_ref()
                .is_some_and(|r| ctx.attempts >= r.candidates.len());
            let connect_failure = matches!(
                e.etype(),
                ErrorType::ConnectTimedout
                    | ErrorType::ConnectRefused
                    | ErrorType::ConnectNoRoute
                    | ErrorType::ConnectError
                    | ErrorType::BindError
                    | ErrorType::TLSHandshakeFailure
                    | ErrorType::TLSHandshakeTimedout
                    | ErrorType::InvalidCert
                    | ErrorType::HandshakeError
            );
            if route_exhausted && connect_failure {
                let geo = ctx
                    .route
                    .as_ref()
                    .map(|r| ctx.snapshot.geography(r.geography).name.to_string())
                    .unwrap_or_default();
                Some(EdgeError::no_origin(
                    &geo,
                    ctx.snapshot.config.health.interval,
                ))
            } else {
                Some(EdgeError::from_upstream(e))
            }
        }
        ErrorSource::Downstream => match e.etype() {
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => None,
            _ => Some(EdgeError::new(
                ErrorKind::BadRequest,
                "the request could not be read",
            )),
        },
        ErrorSource::Internal | ErrorSource::Unset => match e.etype() {
            ErrorType::HTTPStatus(503) => {
                let geo = ctx
                    .route
                    .as_ref()
                    .map(|r| ctx.snapshot.geography(r.geography).name.to_string())
                    .unwrap_or_default();
                Some(EdgeError::no_origin(
                    &geo,
                    ctx.snapshot.config.health.interval,
                ))
            }
            _ => Some(EdgeError::new(
                ErrorKind::Internal,
                "the gateway failed to handle this request",
            )),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn upstream_timeouts_have_their_own_labels() {
        let label = |t| upstream_timeout_label(&Error::new(t));
        assert_eq!(
            label(ErrorType::ConnectTimedout),
            Some("upstream_connect_timeout")
        );
        assert_eq!(
            label(ErrorType::ReadTimedout),
            Some("upstream_read_timeout")
        );
        assert_eq!(
            label(ErrorType::WriteTimedout),
            Some("upstream_write_timeout")
        );
        assert_eq!(label(ErrorType::ConnectRefused), None);
    }
}
