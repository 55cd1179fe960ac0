//! Per-request behaviour: health probes, faults, and the routes of a simulated origin.

use std::sync::Arc;
use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::conn::{ConnGuard, Killed};
use crate::echo::{EchoBody, Identity, RespBody};
use crate::execution::{self, EXECUTION_BODY_LIMIT};
use crate::faults::Faults;
use crate::record::{RecordedRequest, Stats};
use crate::stream::{ChunkStream, StreamSpec};
use crate::upgrade;
use crate::wire::{HEADER_DELAY, HEALTH_PATH, MAX_REQUEST_DELAY};

/// What a request sees of its origin: who answers, which faults are set, and where it is
/// counted. The listener and the kill switch stay with the origin, so requests cannot reach
/// them.
#[derive(Debug)]
pub(crate) struct Responder {
    pub(crate) identity: Identity,
    pub(crate) faults: Faults,
    pub(crate) stats: Arc<Stats>,
}

/// Returned to hyper when the origin is killed mid-request, so that it tears the
/// connection down instead of answering.
#[derive(Debug, thiserror::Error)]
#[error("simulated origin was killed")]
pub(crate) struct OriginKilled;

/// Serves one request, or gives up when the origin is killed.
///
/// The connection task already stops on a kill; racing here as well covers HTTP/2,
/// where hyper runs each request in a task of its own.
pub(crate) async fn serve(
    origin: Arc<Responder>,
    killed: Killed,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, OriginKilled> {
    let mut kill_signal = killed.clone();
    tokio::select! {
        () = kill_signal.wait() => Err(OriginKilled),
        resp = respond(&origin, killed, req) => Ok(resp),
    }
}

async fn respond(origin: &Responder, killed: Killed, req: Request<Incoming>) -> Response<RespBody> {
    if is_health_probe(&req) {
        return health(origin).await;
    }

    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path(), |pq| pq.as_str())
        .to_owned();
    // Recorded on arrival, before any fault, because tests ask what reached the origin,
    // not what it answered.
    origin
        .stats
        .record(RecordedRequest::new(req.method(), &path, req.headers()));

    // Refused before the body is read, so a bad value is never an execution.
    let Ok(asked_delay) = requested_delay(req.headers()) else {
        return origin.identity.text(
            StatusCode::BAD_REQUEST,
            "x-sim-delay-ms must be 0..=10000\n",
        );
    };

    let wants_upgrade = upgrade::is_websocket_upgrade(&req);
    let (parts, body) = req.into_parts();
    let counted = execution::is_counted(&parts.method);
    let body_bytes = if wants_upgrade {
        0
    } else {
        // One byte over the limit is enough to tell a body too large for an id.
        let keep = if counted { EXECUTION_BODY_LIMIT + 1 } else { 0 };
        match read_body(body, keep).await {
            Ok((n, head)) => {
                if counted {
                    // Executed from here on: the origin has the whole request, whatever
                    // faults delay or replace its answer.
                    let complete = u64::try_from(head.len()).is_ok_and(|kept| kept == n);
                    let id = execution::execution_id(&head, complete);
                    origin.stats.record_execution(id);
                }
                n
            }
            Err(error) => {
                tracing::debug!(%error, "request body failed");
                return origin
                    .identity
                    .text(StatusCode::BAD_REQUEST, "unreadable request body\n");
            }
        }
    };

    apply_delay_faults(origin).await;
    if !asked_delay.is_zero() {
        tokio::time::sleep(asked_delay).await;
    }

    let id = &origin.identity;
    let mut echo = EchoBody::new(
        &id.region,
        &id.name,
        &parts.method,
        &path,
        &parts.headers,
        body_bytes,
    );
    if origin.faults.roll_error() {
        echo.fault = Some("error_rate".to_owned());
        return id.json(StatusCode::SERVICE_UNAVAILABLE, &echo);
    }

    if wants_upgrade {
        let mut req = Request::from_parts(parts, ());
        let on_upgrade = hyper::upgrade::on(&mut req);
        let guard = ConnGuard::new(origin.stats.clone());
        tokio::spawn(upgrade::echo(on_upgrade, killed, guard));
        return upgrade::switching_protocols(id, req.headers());
    }

    let uri_path = parts.uri.path();
    if let Some(code) = uri_path.strip_prefix("/status/") {
        return match parse_status(code) {
            Some(status) => id.json(status, &echo),
            None => id.text(StatusCode::BAD_REQUEST, "status must be 200..=599\n"),
        };
    }
    if uri_path == "/stream" {
        let spec = StreamSpec::from_query(parts.uri.query());
        let body = ChunkStream::new(&id.region, &id.name, spec).boxed_unsync();
        return id.finish(
            id.response(StatusCode::OK)
                .header(CONTENT_TYPE, "application/x-ndjson"),
            body,
        );
    }
    id.json(StatusCode::OK, &echo)
}

fn is_health_probe<B>(req: &Request<B>) -> bool {
    (req.method() == Method::GET || req.method() == Method::HEAD) && req.uri().path() == HEALTH_PATH
}

async fn health(origin: &Responder) -> Response<RespBody> {
    origin.stats.count_health_probe();
    apply_delay_faults(origin).await;
    let status = origin.faults.next_health_status();
    let text = if status.is_success() {
        "ok"
    } else {
        "unhealthy"
    };
    origin.identity.text(status, text)
}

/// Hang, then latency: a hung origin that is released still answers late, like a real
/// one recovering from a stall.
async fn apply_delay_faults(origin: &Responder) {
    origin.faults.wait_unhung().await;
    let delay = origin.faults.sample_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// The delay the request asks for with [`HEADER_DELAY`] (zero without the header); `Err` for
/// a value that is not a number of milliseconds up to [`MAX_REQUEST_DELAY`].
fn requested_delay(headers: &http::HeaderMap) -> Result<Duration, ()> {
    let Some(value) = headers.get(HEADER_DELAY) else {
        return Ok(Duration::ZERO);
    };
    let ms: u64 = value
        .to_str()
        .map_err(|_| ())?
        .trim()
        .parse()
        .map_err(|_| ())?;
    let delay = Duration::from_millis(ms);
    if delay <= MAX_REQUEST_DELAY {
        Ok(delay)
    } else {
        Err(())
    }
}

/// Drains the body counting bytes and keeps its first `keep` bytes, without buffering
/// large uploads.
async fn read_body(mut body: Incoming, keep: usize) -> Result<(u64, Vec<u8>), hyper::Error> {
    let mut total = 0u64;
    let mut head = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            total = total.saturating_add(data.len() as u64);
            let room = keep.saturating_sub(head.len());
            head.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok((total, head))
}

/// `/status/NNN` accepts only final statuses: informational ones would break HTTP/1.1
/// framing rather than simulate an origin.
fn parse_status(code: &str) -> Option<StatusCode> {
    code.parse::<u16>()
        .ok()
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn status_parsing() {
        assert_eq!(parse_status("418"), Some(StatusCode::IM_A_TEAPOT));
        assert_eq!(parse_status("599").map(|s| s.as_u16()), Some(599));
        assert_eq!(parse_status("101"), None);
        assert_eq!(parse_status("600"), None);
        assert_eq!(parse_status("abc"), None);
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn requested_delay_parsing() {
        let with = |v: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(HEADER_DELAY, v.parse().unwrap());
            requested_delay(&h)
        };
        assert_eq!(requested_delay(&http::HeaderMap::new()), Ok(Duration::ZERO));
        assert_eq!(with("50"), Ok(Duration::from_millis(50)));
        assert_eq!(with("10000"), Ok(MAX_REQUEST_DELAY));
        assert_eq!(with("10001"), Err(()));
        assert_eq!(with("-1"), Err(()));
        assert_eq!(with("1.5"), Err(()));
    }

    #[test]
    fn health_probe_detection() {
        let get = Request::get("/healthz").body(()).unwrap();
        assert!(is_health_probe(&get));
        let with_query = Request::get("/healthz?x=1").body(()).unwrap();
        assert!(is_health_probe(&with_query));
        let post = Request::post("/healthz").body(()).unwrap();
        assert!(!is_health_probe(&post));
        let other = Request::get("/healthz/x").body(()).unwrap();
        assert!(!is_health_probe(&other));
    }
}
