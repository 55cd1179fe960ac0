//! The one place a request the gateway answers itself is written: [`refuse`] for admission
//! refusals, [`write_problem`] (which it calls) for failures while proxying too.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::admit::Refusal;
use super::ctx::RequestCtx;
use super::headers;
use super::problem::{EdgeError, PROBLEM_CONTENT_TYPE};

/// Answers a refused request: closes the connection after the answer when the refusal says
/// so, records the refusal in `ctx` (the access log and the metrics read it when the request
/// ends), and writes the problem. Returns `Ok(true)`: Pingora's "response already sent".
pub async fn refuse(
    session: &mut Session,
    ctx: &mut RequestCtx,
    refusal: Refusal,
) -> pingora::Result<bool> {
    if refusal.close {
        // Whatever follows on this connection can no longer be trusted to start a request.
        session.set_keepalive(None);
    }
    let error = ctx.failure.insert(refusal.error).clone();
    write_problem(session, &error, ctx).await?;
    Ok(true)
}

fn may_have_body(req: &pingora::http::RequestHeader) -> bool {
    req.headers.contains_key(http::header::TRANSFER_ENCODING)
        || req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Writes `err` as an `application/problem+json` response (RFC 9457) with the gateway's
/// response headers (HSTS, request id, rate-limit state); returns the status written.
pub async fn write_problem(
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
        if name != http::header::RETRY_AFTER {
            resp.insert_header(name.clone(), value.as_str())?;
        }
    }
    headers::decorate_response(
        &mut resp,
        ctx.live.snapshot.hsts.as_ref(),
        None,
        &ctx.request_id,
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::problem::ErrorKind;
    use crate::testing;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    async fn answer(request: &[u8], refusal: Refusal) -> (String, RequestCtx, bool) {
        let live = Arc::new(testing::live(testing::config("")));
        let (mut session, mut client) = testing::session(request).await;
        let mut ctx = RequestCtx::new(live);
        ctx.request_id = "rid-7".into();
        ctx.ratelimit_headers = vec![(
            http::HeaderName::from_static("ratelimit-policy"),
            "\"tenant\";q=1;w=1".into(),
        )];
        assert!(refuse(&mut session, &mut ctx, refusal).await.unwrap());
        let reused = session.get_keepalive().is_some();
        drop(session);
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        (String::from_utf8(out).unwrap(), ctx, reused)
    }

    #[tokio::test]
    async fn a_refusal_is_a_problem_document_with_the_gateway_headers() {
        let err = EdgeError::new(ErrorKind::UnknownTenant, "no tenant");
        let (text, ctx, keepalive) = answer(
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Refusal::answer(err.clone()),
        )
        .await;
        let lower = text.to_ascii_lowercase();
        assert!(text.starts_with("HTTP/1.1 404"), "{text}");
        assert!(
            lower.contains("content-type: application/problem+json"),
            "{text}"
        );
        assert!(
            lower.contains("strict-transport-security: max-age="),
            "{text}"
        );
        assert!(lower.contains("x-request-id: rid-7"), "{text}");
        assert!(lower.contains("ratelimit-policy:"), "{text}");
        assert!(!lower.contains("\r\nserver:"), "{text}");
        assert!(text.contains("\"request_id\":\"rid-7\""), "{text}");
        assert_eq!(ctx.failure, Some(err));
        assert!(keepalive, "an answerable refusal keeps the connection");
    }

    #[tokio::test]
    async fn a_closing_refusal_or_an_unread_body_closes_the_connection() {
        let err = EdgeError::new(ErrorKind::BadRequest, "bad");
        let (text, _, keepalive) = answer(
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Refusal::closing(err.clone()),
        )
        .await;
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
        assert!(!keepalive);
        let (_, _, keepalive) = answer(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
            Refusal::answer(err),
        )
        .await;
        assert!(
            !keepalive,
            "the unread body would be read as the next request"
        );
    }

    #[tokio::test]
    async fn a_head_request_gets_the_status_without_a_body() {
        let err = EdgeError::new(ErrorKind::UnknownTenant, "no tenant");
        let (text, _, _) =
            answer(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", Refusal::answer(err)).await;
        assert!(text.starts_with("HTTP/1.1 404"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
    }
}
