//! One structured access-log line per request (tracing target `access`).

use std::time::Duration;

use edge_config::TenantId;
use pingora::proxy::Session;

/// What the access log records about a finished request.
#[derive(Debug, Clone, Copy)]
pub struct RequestSummary<'a> {
    /// The request id (propagated or generated).
    pub request_id: &'a str,
    /// The client as rate limits and location saw it: the socket peer, or the address a
    /// trusted proxy or peer edge forwarded (`None` before admission read it).
    pub client_ip: Option<std::net::IpAddr>,
    /// The tenant, when identified.
    pub tenant: Option<TenantId>,
    /// The tenant's geography.
    pub geography: Option<&'a str>,
    /// The region of the last origin tried.
    pub region: Option<&'a str>,
    /// The last origin tried.
    pub origin: Option<&'a str>,
    /// Upstream attempts made.
    pub attempts: usize,
    /// The gateway error that ended the request, if any.
    pub error: Option<&'a str>,
    /// Time since the request was read.
    pub duration: Duration,
}

/// Emits the access-log line for a finished request.
pub fn log_request(session: &Session, e: Option<&pingora::Error>, s: RequestSummary<'_>) {
    let req = session.req_header();
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .unwrap_or(0);
    let client = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_string());
    tracing::info!(
        target: "access",
        request_id = s.request_id,
        method = req.method.as_str(),
        path = req.uri.path(),
        client = client.as_deref().unwrap_or("-"),
        client_ip = s.client_ip.map(|ip| ip.to_string()).as_deref().unwrap_or("-"),
        tenant = s.tenant.map(|t| t.to_string()).as_deref().unwrap_or("-"),
        geography = s.geography.unwrap_or("-"),
        region = s.region.unwrap_or("-"),
        origin = s.origin.unwrap_or("-"),
        status,
        attempts = s.attempts,
        duration_ms = s.duration.as_secs_f64() * 1000.0,
        error = s.error.unwrap_or("-"),
        cause = e.map(|e| e.etype().as_str()).unwrap_or("-"),
    );
}
