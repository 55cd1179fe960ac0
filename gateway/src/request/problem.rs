//! The gateway's one error type, and the one place errors become HTTP responses.
//!
//! Every refusal the gateway makes on its own (as opposed to relaying an origin's answer) is an
//! [`EdgeError`]; [`EdgeError::to_problem`] renders it as an RFC 9457
//! `application/problem+json` body with the status and headers that go with its kind.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use pingora::{ErrorSource, ErrorType};

/// What went wrong, which fixes the status code and problem type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No tenant could be read from the request, or the id is not in the directory.
    UnknownTenant,
    /// A tenant source matched but its value is not a UUID (or is ambiguous).
    MalformedTenant,
    /// No origin of the tenant's geography can take the request; residency forbids going
    /// elsewhere.
    NoOriginAvailable,
    /// The origin could not be reached or failed mid-request.
    BadGateway,
    /// The origin did not answer in time.
    GatewayTimeout,
    /// A rate limit refused the request.
    RateLimited,
    /// The request target is too long.
    UriTooLong,
    /// Too many header fields, or too large a header block.
    HeadersTooLarge,
    /// The request body is over the limit.
    PayloadTooLarge,
    /// The request head did not arrive within `limits.request_header_timeout`.
    RequestTimeout,
    /// The client's location is not allowed (global deny list or the tenant's geo-fence).
    LocationForbidden,
    /// `Expect` names an expectation other than `100-continue` (RFC 9110 §10.1.1).
    ExpectationFailed,
    /// The request is malformed (or, on the plaintext listener, has no usable Host).
    BadRequest,
    /// The tenant's home geography is not this edge's (`[edge]`): the request must be sent to
    /// an edge of that geography, on a new connection (RFC 9110 §15.5.20).
    MisdirectedRequest,
    /// A bug or an unexpected state inside the gateway.
    Internal,
}

impl ErrorKind {
    /// The HTTP status for this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::UnknownTenant => 404,
            ErrorKind::MalformedTenant | ErrorKind::BadRequest => 400,
            ErrorKind::MisdirectedRequest => 421,
            ErrorKind::NoOriginAvailable => 503,
            ErrorKind::RateLimited => 429,
            ErrorKind::UriTooLong => 414,
            ErrorKind::HeadersTooLarge => 431,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::LocationForbidden => 403,
            ErrorKind::ExpectationFailed => 417,
            ErrorKind::BadGateway => 502,
            ErrorKind::GatewayTimeout => 504,
            ErrorKind::Internal => 500,
        }
    }

    /// The stable, machine-readable problem type (a URN, so it never needs to resolve).
    pub fn problem_type(self) -> &'static str {
        match self {
            ErrorKind::UnknownTenant => "urn:edge-gateway:problem:unknown-tenant",
            ErrorKind::MalformedTenant => "urn:edge-gateway:problem:malformed-tenant-id",
            ErrorKind::NoOriginAvailable => "urn:edge-gateway:problem:no-origin-available",
            ErrorKind::RateLimited => "urn:edge-gateway:problem:rate-limited",
            ErrorKind::UriTooLong => "urn:edge-gateway:problem:uri-too-long",
            ErrorKind::HeadersTooLarge => "urn:edge-gateway:problem:headers-too-large",
            ErrorKind::PayloadTooLarge => "urn:edge-gateway:problem:payload-too-large",
            ErrorKind::RequestTimeout => "urn:edge-gateway:problem:request-timeout",
            ErrorKind::LocationForbidden => "urn:edge-gateway:problem:location-forbidden",
            ErrorKind::ExpectationFailed => "urn:edge-gateway:problem:expectation-failed",
            ErrorKind::BadGateway => "urn:edge-gateway:problem:bad-gateway",
            ErrorKind::GatewayTimeout => "urn:edge-gateway:problem:gateway-timeout",
            ErrorKind::BadRequest => "urn:edge-gateway:problem:bad-request",
            ErrorKind::MisdirectedRequest => "urn:edge-gateway:problem:misdirected-request",
            ErrorKind::Internal => "urn:edge-gateway:problem:internal",
        }
    }

    /// A short, human-readable summary that does not change between occurrences.
    pub fn title(self) -> &'static str {
        match self {
            ErrorKind::UnknownTenant => "Unknown tenant",
            ErrorKind::MalformedTenant => "Malformed tenant id",
            ErrorKind::NoOriginAvailable => "No origin available in the tenant's geography",
            ErrorKind::RateLimited => "Too many requests",
            ErrorKind::UriTooLong => "Request target too long",
            ErrorKind::HeadersTooLarge => "Request header fields too large",
            ErrorKind::PayloadTooLarge => "Request body too large",
            ErrorKind::RequestTimeout => "Request head not received in time",
            ErrorKind::LocationForbidden => "Not available from the client's location",
            ErrorKind::ExpectationFailed => "Expectation not supported",
            ErrorKind::BadGateway => "Origin unreachable or failed",
            ErrorKind::GatewayTimeout => "Origin timed out",
            ErrorKind::BadRequest => "Bad request",
            ErrorKind::MisdirectedRequest => "The tenant is served in another geography",
            ErrorKind::Internal => "Internal gateway error",
        }
    }

    /// A short label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::UnknownTenant => "unknown_tenant",
            ErrorKind::MalformedTenant => "malformed_tenant",
            ErrorKind::NoOriginAvailable => "no_origin",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::UriTooLong => "uri_too_long",
            ErrorKind::HeadersTooLarge => "headers_too_large",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::LocationForbidden => "location_forbidden",
            ErrorKind::ExpectationFailed => "expectation_failed",
            ErrorKind::BadGateway => "bad_gateway",
            ErrorKind::GatewayTimeout => "gateway_timeout",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::MisdirectedRequest => "misdirected_request",
            ErrorKind::Internal => "internal",
        }
    }
}

/// An error the gateway answers itself: a kind plus the detail of this occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// What went wrong this time, safe to show to the client (no internal addresses).
    pub detail: Cow<'static, str>,
    /// For 503: how long the client should wait before retrying.
    pub retry_after: Option<Duration>,
    /// What refused the request, for the metrics: the `[limits]` key
    /// (`edge_limit_hits_total{limit}`), or the rate-limit scope for
    /// [`ErrorKind::RateLimited`] (`edge_rate_limited_total{scope}`).
    pub limit: Option<&'static str>,
}

impl EdgeError {
    /// A new error of `kind` with a client-safe `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<Cow<'static, str>>) -> Self {
        EdgeError {
            kind,
            detail: detail.into(),
            retry_after: None,
            limit: None,
        }
    }

    /// Marks the error as a refusal by the `[limits]` key `limit`.
    #[must_use]
    pub fn by_limit(mut self, limit: &'static str) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The geography has no origin that can serve: a 503 that must not fail over elsewhere.
    pub fn no_origin(geography: &str, retry_after: Duration) -> Self {
        EdgeError {
            kind: ErrorKind::NoOriginAvailable,
            detail: Cow::Owned(format!(
                "no origin in geography \"{geography}\" can serve this request right now; \
                 data residency forbids sending it to another geography"
            )),
            retry_after: Some(retry_after),
            limit: None,
        }
    }

    /// The tenant is served by the edges of `geography`, not this one: 421, naming the host
    /// that reaches them when a `host` tenant source gives one.
    pub fn misdirected(
        tenant: &edge_config::TenantId,
        geography: &str,
        host: Option<&str>,
    ) -> Self {
        let go = match host {
            Some(h) => format!("send its requests to https://{h}/"),
            None => format!("send its requests to an edge in geography \"{geography}\""),
        };
        EdgeError::new(
            ErrorKind::MisdirectedRequest,
            format!(
                "tenant {tenant} is served in geography \"{geography}\", and its requests are \
                 decrypted only there: {go}"
            ),
        )
    }

    /// No edge of `geography` can take a foreign tenant's request: 503, never served here.
    pub fn no_edge(geography: &str, retry_after: Duration) -> Self {
        EdgeError {
            kind: ErrorKind::NoOriginAvailable,
            detail: Cow::Owned(format!(
                "no edge in geography \"{geography}\" can take this request right now; data \
                 residency forbids serving it from another geography"
            )),
            retry_after: Some(retry_after),
            limit: None,
        }
    }

    /// A rate limit of `scope` refused the request; retry after `retry_after`.
    pub fn rate_limited(scope: &'static str, retry_after: Duration) -> Self {
        EdgeError {
            kind: ErrorKind::RateLimited,
            detail: Cow::Owned(format!(
                "the {scope} rate limit is exhausted; retry after {} s",
                retry_after.as_secs().max(1)
            )),
            retry_after: Some(retry_after),
            limit: Some(scope),
        }
    }

    /// Classifies a Pingora error raised while talking to an origin.
    pub fn from_upstream(e: &pingora::Error) -> Self {
        match e.etype() {
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                EdgeError::new(
                    ErrorKind::GatewayTimeout,
                    "the origin did not answer within the configured timeout",
                )
            }
            ErrorType::HTTPStatus(503) => EdgeError::new(
                ErrorKind::NoOriginAvailable,
                "no origin can serve this request right now",
            ),
            _ => EdgeError::new(
                ErrorKind::BadGateway,
                "the origin could not be reached or failed while answering",
            ),
        }
    }

    /// Renders the RFC 9457 problem document for this error.
    pub fn to_problem(&self, request_id: &str) -> Problem {
        let status = self.kind.status();
        let body = serde_json::json!({
            "type": self.kind.problem_type(),
            "title": self.kind.title(),
            "status": status,
            "detail": self.detail,
            "request_id": request_id,
        });
        // Serialising a json! literal of strings and integers cannot fail; an empty body
        // would still carry the right status if it somehow did.
        let body = serde_json::to_vec(&body).unwrap_or_default();
        Problem {
            status,
            // Rounded up: a client that waits exactly this long must not be refused again.
            retry_after_secs: self
                .retry_after
                .map(|d| (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)),
            body,
        }
    }
}

impl fmt::Display for EdgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.title(), self.detail)
    }
}

impl std::error::Error for EdgeError {}

/// A rendered `application/problem+json` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// HTTP status code.
    pub status: u16,
    /// `Retry-After` in whole seconds, when set.
    pub retry_after_secs: Option<u64>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// The media type of problem documents (RFC 9457).
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// What [`classify_failure`] needs to know about the request that failed.
#[derive(Debug, Clone, Copy)]
pub struct FailureFacts<'a> {
    /// What a phase already decided to answer (e.g. the body limit): it knows best.
    pub decided: Option<&'a EdgeError>,
    /// Every candidate origin of the route has been tried.
    pub route_exhausted: bool,
    /// The route's geography, when the request was routed.
    pub geography: Option<&'a str>,
    /// `Retry-After` of a residency 503: the health-check interval.
    pub retry_after: Duration,
}

/// Decides what a request that failed while proxying answers: `None` when the client
/// connection is already gone (nobody to answer). Connect failures on the last candidate and
/// an exhausted route are the residency 503; other origin failures are 502/504.
pub fn classify_failure(e: &pingora::Error, facts: &FailureFacts<'_>) -> Option<EdgeError> {
    if let Some(decided) = facts.decided {
        return Some(decided.clone());
    }
    let no_origin = || EdgeError::no_origin(facts.geography.unwrap_or_default(), facts.retry_after);
    match e.esource() {
        ErrorSource::Upstream => {
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
            if facts.route_exhausted && connect_failure {
                Some(no_origin())
            } else {
                Some(EdgeError::from_upstream(e))
            }
        }
        // A client that closes or resets (h2 `RST_STREAM`) its stream is gone: nobody to answer.
        ErrorSource::Downstream => match e.etype() {
            ErrorType::WriteError
            | ErrorType::ReadError
            | ErrorType::ConnectionClosed
            | ErrorType::H2Error => None,
            _ => Some(EdgeError::new(
                ErrorKind::BadRequest,
                "the request could not be read",
            )),
        },
        ErrorSource::Internal | ErrorSource::Unset => match e.etype() {
            ErrorType::HTTPStatus(503) => Some(no_origin()),
            _ => Some(EdgeError::new(
                ErrorKind::Internal,
                "the gateway failed to handle this request",
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_kinds() {
        assert_eq!(ErrorKind::UnknownTenant.status(), 404);
        assert_eq!(ErrorKind::MalformedTenant.status(), 400);
        assert_eq!(ErrorKind::NoOriginAvailable.status(), 503);
        assert_eq!(ErrorKind::BadGateway.status(), 502);
        assert_eq!(ErrorKind::GatewayTimeout.status(), 504);
    }

    #[test]
    fn problem_body_is_rfc9457() {
        let p = EdgeError::no_origin("eu", Duration::from_millis(1500)).to_problem("req-1");
        assert_eq!(p.status, 503);
        assert_eq!(p.retry_after_secs, Some(2));
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["status"], 503);
        assert_eq!(v["type"], "urn:edge-gateway:problem:no-origin-available");
        assert_eq!(v["request_id"], "req-1");
        assert!(v["detail"].as_str().unwrap().contains("\"eu\""));
        assert!(v["title"].is_string());
    }

    #[test]
    fn upstream_errors_map_to_502_and_504() {
        let timeout = pingora::Error::new(ErrorType::ReadTimedout);
        assert_eq!(
            EdgeError::from_upstream(&timeout).kind,
            ErrorKind::GatewayTimeout
        );
        let refused = pingora::Error::new(ErrorType::ConnectRefused);
        assert_eq!(
            EdgeError::from_upstream(&refused).kind,
            ErrorKind::BadGateway
        );
    }

    fn facts(route_exhausted: bool) -> FailureFacts<'static> {
        FailureFacts {
            decided: None,
            route_exhausted,
            geography: Some("eu"),
            retry_after: Duration::from_secs(2),
        }
    }

    fn err(etype: ErrorType, source: ErrorSource) -> Box<pingora::Error> {
        pingora::Error::create(etype, source, None, None)
    }

    #[test]
    fn failures_are_classified_by_source_and_type() {
        use ErrorSource::{Downstream, Internal, Upstream};
        // (type, source, route exhausted) -> answer
        let table: &[(ErrorType, ErrorSource, bool, Option<ErrorKind>)] = &[
            (
                ErrorType::ConnectRefused,
                Upstream,
                true,
                Some(ErrorKind::NoOriginAvailable),
            ),
            (
                ErrorType::ConnectTimedout,
                Upstream,
                true,
                Some(ErrorKind::NoOriginAvailable),
            ),
            (
                ErrorType::TLSHandshakeFailure,
                Upstream,
                true,
                Some(ErrorKind::NoOriginAvailable),
            ),
            (
                ErrorType::ConnectRefused,
                Upstream,
                false,
                Some(ErrorKind::BadGateway),
            ),
            (
                ErrorType::ConnectTimedout,
                Upstream,
                false,
                Some(ErrorKind::GatewayTimeout),
            ),
            (
                ErrorType::ReadTimedout,
                Upstream,
                true,
                Some(ErrorKind::GatewayTimeout),
            ),
            (
                ErrorType::ConnectionClosed,
                Upstream,
                true,
                Some(ErrorKind::BadGateway),
            ),
            (ErrorType::ReadError, Downstream, false, None),
            (ErrorType::WriteError, Downstream, false, None),
            (ErrorType::ConnectionClosed, Downstream, false, None),
            (ErrorType::H2Error, Downstream, false, None),
            (
                ErrorType::InvalidHTTPHeader,
                Downstream,
                false,
                Some(ErrorKind::BadRequest),
            ),
            (
                ErrorType::HTTPStatus(503),
                Internal,
                true,
                Some(ErrorKind::NoOriginAvailable),
            ),
            (
                ErrorType::InternalError,
                Internal,
                false,
                Some(ErrorKind::Internal),
            ),
        ];
        for (etype, source, exhausted, want) in table {
            let got = classify_failure(&err(etype.clone(), source.clone()), &facts(*exhausted));
            assert_eq!(got.map(|e| e.kind), *want, "{etype:?} from {source:?}");
        }
    }

    #[test]
    fn a_decided_answer_wins_and_residency_503s_name_the_geography() {
        let decided = EdgeError::new(ErrorKind::PayloadTooLarge, "too big");
        let f = FailureFacts {
            decided: Some(&decided),
            ..facts(true)
        };
        let e = err(ErrorType::ConnectRefused, ErrorSource::Upstream);
        assert_eq!(classify_failure(&e, &f), Some(decided.clone()));
        let got = classify_failure(&e, &facts(true)).unwrap();
        assert!(got.detail.contains("\"eu\""), "{}", got.detail);
        assert_eq!(got.retry_after, Some(Duration::from_secs(2)));
    }
}
