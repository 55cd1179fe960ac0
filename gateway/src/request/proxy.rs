//! The Pingora `ProxyHttp` implementation: the phases of one request, calling the named,
//! separately tested functions of this plane — [`admit`](super::admit) (the
//! admission pipeline), [`routing`](super::routing) (already decided by admission),
//! [`retry`](super::retry), [`headers`](super::headers), [`problem`](super::problem) and
//! [`respond`](super::respond).
//!
//! Phase order (Pingora's): `request_filter` → (`upstream_peer` → `upstream_request_filter` →
//! `request_body_filter` → `upstream_response_filter` → `response_filter`), the parenthesis
//! repeated per attempt on `fail_to_connect` / `error_while_proxy` retries; `fail_to_proxy`
//! when no attempt answered; `logging` always, last.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{ErrorSource, ErrorType};

use super::admit;
use super::ctx::RequestCtx;
use super::framing;
use super::headers::{self, Host, UpstreamFacts};
use super::problem::{classify_failure, EdgeError, ErrorKind, FailureFacts};
use super::respond;
use super::retry::{self, FailedAttempt, RetryDecision};
use crate::state::GatewayState;

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

#[async_trait]
impl ProxyHttp for EdgeProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.state.live())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let case = ctx.live.snapshot.config.routing.header_case;
        headers::drop_request_case(session.req_header_mut(), case);
        match admit::admit(&self.state, session, ctx).await {
            Ok(()) => Ok(false),
            Err(refusal) => respond::refuse(session, ctx, refusal).await,
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        if let Some(via) = &ctx.via_edge {
            let Some((_, peer)) = via.peers.get(ctx.attempts) else {
                return Error::e_explain(
                    ErrorType::HTTPStatus(503),
                    "every healthy edge of the tenant's geography has been tried",
                );
            };
            let peer = peer.clone();
            ctx.attempts += 1;
            self.state.metrics.upstream_attempts.inc();
            return Ok(peer);
        }
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
        Ok(ctx.live.snapshot.origin(origin).peer.clone())
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
            let s = &ctx.live.snapshot;
            let o = s.origin(origin);
            let region = s.region(o.region).name.as_str();
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
        // Pingora marks the errors of a pooled connection the origin had already closed
        // ("reused only"); whether the request may have been processed is decided below.
        e.retry.decide_reuse(client_reused);
        let stale_pooled_connection = e.retry();
        // A failure while writing the request: the origin never had all of it.
        let cut_while_writing = e.esource() == &ErrorSource::Upstream
            && matches!(e.etype(), ErrorType::WriteError | ErrorType::WriteTimedout);
        // Only the origin's own failures count against it: a client that goes away mid-request
        // says nothing about the origin's health.
        if e.esource() == &ErrorSource::Upstream {
            ctx.origin_failed();
        }
        self.count_upstream_timeout(&e);
        let decision = retry::decide(FailedAttempt {
            answer_decided: ctx.failure.is_some(),
            response_started: RequestCtx::response_started(session),
            retry_granted: ctx.pending_permit.is_some(),
            stale_pooled_connection,
            request_fully_sent: !cut_while_writing,
            more_candidates: ctx.has_more_candidates(),
            body_replayable: !session.as_ref().retry_buffer_truncated(),
            idempotent: ctx.idempotent(session),
        });
        let permit = match decision {
            RetryDecision::Granted => ctx.pending_permit.take(),
            RetryDecision::IfBudgetAllows => self.state.retry_budget.try_acquire(),
            RetryDecision::Free | RetryDecision::No => None,
        };
        let retry = match decision {
            RetryDecision::Free => true,
            RetryDecision::Granted | RetryDecision::IfBudgetAllows => permit.is_some(),
            RetryDecision::No => false,
        };
        ctx.permits.extend(permit);
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
        if status == 101 && !headers::upgrade_requested(session.req_header(), upstream_response) {
            // A tunnel the client never asked for would carry whatever the origin sends next
            // on a connection the client may reuse: a bad gateway answer, not a response.
            ctx.failure = Some(EdgeError::new(
                ErrorKind::BadGateway,
                "the origin switched protocols without being asked to",
            ));
            ctx.origin_failed();
            return Error::e_explain(ErrorType::HTTPStatus(502), "unsolicited 101 from origin");
        }
        if status >= 500 && ctx.live.snapshot.config.outlier_detection.count_5xx {
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
        let case = ctx.live.snapshot.config.routing.header_case;
        if ctx.via_edge.is_some() {
            // The request goes on as the client sent it (the tenant's edge identifies the
            // tenant again), with the client's address and the request id.
            return headers::edit_request(upstream_request, case, |h| {
                headers::prepare_peer_request(h, ctx.client_ip, &ctx.request_id)
            });
        }
        let (Some(route), Some(origin)) = (ctx.route.as_ref(), ctx.current) else {
            return Error::e_explain(ErrorType::InternalError, "no route at upstream phase");
        };
        let snapshot = &ctx.live.snapshot;
        let entry = snapshot.origin(origin);
        let region = &snapshot.region(entry.region).header;
        // Formatted on the stack: nothing here allocates but the header map itself.
        let mut tenant_buf = [0u8; 36];
        let tenant = route
            .tenant
            .map(|t| &*t.0.hyphenated().encode_lower(&mut tenant_buf));
        let country = ctx.location.and_then(|l| l.country);
        let req = session.req_header();
        let host = match req.headers.get(http::header::HOST) {
            Some(h) => Some(Host::Header(h)),
            None => req.uri.authority().map(|a| Host::Authority(a.as_str())),
        };
        let facts = UpstreamFacts {
            tenant,
            client_country: country.as_ref().map(|c| c.as_str()),
            region,
            client_ip: ctx.client_ip,
            host,
            request_id: &ctx.request_id,
            host_override: entry.host.as_deref(),
        };
        let continue_sent = ctx.continue_sent;
        headers::edit_request(upstream_request, case, |h| {
            if continue_sent {
                // The client already has its `100 Continue` (the origin gets the body at once).
                h.remove(&http::header::EXPECT);
            }
            headers::prepare_upstream_request(h, &facts)
        })
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // An interim answer (`100 Continue` relayed from the origin) is passed as it came.
        if upstream_response.status.is_informational() && upstream_response.status != 101 {
            return Ok(());
        }
        // A request proxied to its tenant's edge was served in the region that edge named.
        let edge_region = ctx
            .via_edge
            .as_ref()
            .and_then(|_| upstream_response.headers.get("x-edge-region"))
            .cloned();
        // Moved, not copied: a response's headers are decorated once (interim answers return
        // above), and a `String` becomes a header value without a copy.
        let ratelimit = std::mem::take(&mut ctx.ratelimit_headers);
        let snapshot = &ctx.live.snapshot;
        let region = ctx.region_header().or(edge_region.as_ref());
        let route = ctx
            .route
            .as_ref()
            .filter(|_| snapshot.config.routing.debug_headers)
            .map(|route| super::explain::route_header(&ctx.live, route, ctx.attempts));
        let case = snapshot.config.routing.header_case;
        headers::edit_response(upstream_response, case, |h| {
            headers::decorate_response(h, snapshot.hsts.as_ref(), region, &ctx.request_id)?;
            for (name, value) in ratelimit {
                h.set(name, headers::owned_value(value)?)?;
            }
            if let Some(value) = route {
                h.set(headers::X_EDGE_ROUTE, headers::owned_value(value)?)?;
            }
            Ok(())
        })
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let bad_chunks = crate::edge::head_clock(session.as_downstream().stream())
            .is_some_and(|clock| clock.body_framing_error());
        if bad_chunks && ctx.failure.is_none() {
            // The edge found the chunked body breaking RFC 9112's grammar mid-stream.
            ctx.failure = Some(EdgeError::new(
                ErrorKind::BadRequest,
                "the chunked request body is malformed",
            ));
        }
        if let Some(sent) = session
            .response_written()
            .filter(|_| RequestCtx::response_started(session))
        {
            // The client already has this response's head (and maybe part of its body): the
            // only honest end is an abort it can detect. No problem document is appended and
            // no framing is completed: HTTP/1.1 closes the connection mid-body, h2 resets the
            // stream with INTERNAL_ERROR.
            let status = sent.status.as_u16();
            // What went wrong, for the log and metrics (nothing when the client left).
            ctx.failure = classify_failure(
                e,
                &FailureFacts {
                    decided: ctx.failure.as_ref(),
                    route_exhausted: ctx.route_exhausted(),
                    geography: ctx.geography_name(),
                    retry_after: ctx.live.snapshot.config.health.interval,
                },
            );
            session.set_keepalive(None);
            session
                .as_downstream_mut()
                .shutdown_with_reason(h2::Reason::INTERNAL_ERROR);
            return FailToProxy {
                error_code: status,
                can_reuse_downstream: false,
            };
        }
        let err = classify_failure(
            e,
            &FailureFacts {
                decided: ctx.failure.as_ref(),
                route_exhausted: ctx.route_exhausted(),
                geography: ctx.geography_name(),
                retry_after: ctx.live.snapshot.config.health.interval,
            },
        );
        let code = match err {
            // The client went away or broke the protocol mid-stream: nobody to answer.
            None => 0,
            Some(err) => {
                let code = respond::write_problem(session, &err, ctx)
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
        if let Some(clock) = crate::edge::head_clock(session.as_downstream().stream()) {
            clock.next_request();
        }
        self.record_metrics(session, ctx);
        self.state.access_log.log(session, e, &ctx_view(ctx));
    }
}

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

    /// Counts a finished request: by the region that answered, else by the tenant's geography,
    /// else as unrouted; and what refused it, when the gateway did.
    fn record_metrics(&self, session: &Session, ctx: &RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let seconds = ctx.started.elapsed().as_secs_f64();
        let answered_by_origin = ctx.failure.is_none() && ctx.current.is_some();
        let live = &ctx.live;
        let handles = match (&ctx.route, ctx.current, &ctx.via_edge) {
            (Some(_), Some(origin), _) if answered_by_origin => {
                live.metrics.region(live.snapshot.origin(origin).region)
            }
            (Some(route), _, _) => live.metrics.geography(route.geography),
            (None, _, Some(via)) => live.metrics.geography(via.geo),
            _ => None,
        };
        handles
            .unwrap_or(&self.state.unrouted)
            .observe(status, seconds);
        let m = &self.state.metrics;
        if answered_by_origin && ctx.attempts > 1 {
            m.failovers.inc();
        }
        let Some(err) = &ctx.failure else { return };
        match (err.kind, err.limit, ctx.geography_name()) {
            (ErrorKind::RateLimited, Some(scope), _) => {
                m.rate_limited.with_label_values(&[scope]).inc();
            }
            (_, Some(limit), _) => m.limit_hits.with_label_values(&[limit]).inc(),
            (ErrorKind::NoOriginAvailable, None, Some(geo)) => {
                m.residency_refusals.with_label_values(&[geo]).inc();
            }
            _ => {}
        }
    }
}

/// What the access log reads from a finished request.
fn ctx_view(ctx: &RequestCtx) -> super::access_log::RequestSummary<'_> {
    let origin = ctx.current.map(|o| ctx.live.snapshot.origin(o));
    super::access_log::RequestSummary {
        request_id: &ctx.request_id,
        client_ip: ctx.client_ip,
        tenant: ctx.route.as_ref().and_then(|r| r.tenant),
        geography: ctx.geography_name(),
        region: ctx.region_name(),
        origin: origin.map(|o| o.address.as_str()).or(ctx.edge_tried()),
        attempts: ctx.attempts,
        error: ctx.failure.as_ref().map(|f| f.kind.label()),
        duration: ctx.started.elapsed(),
    }
}

#[cfg(test)]
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
