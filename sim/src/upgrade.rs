//! WebSocket-style upgrades: answer `101` and echo raw bytes on the upgraded stream.
//!
//! No WebSocket framing is spoken: echoing raw bytes is enough to show that a proxy
//! passes an upgraded connection through untouched in both directions.

use base64::Engine as _;
use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use http::{HeaderMap, Request, Response, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::conn::{ConnGuard, Killed};
use crate::echo::{empty, Identity, RespBody};
use crate::sha1;

/// GUID appended to the client key by RFC 6455 §1.3.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Whether header `name` lists `token` (comma-separated, case-insensitive).
fn has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// True for an HTTP/1.1 request asking to switch to WebSocket.
pub(crate) fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    req.version() == Version::HTTP_11
        && has_token(req.headers(), CONNECTION, "upgrade")
        && has_token(req.headers(), UPGRADE, "websocket")
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &[u8]) -> String {
    let mut input = key.to_vec();
    input.extend_from_slice(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1::digest(&input))
}

/// The `101 Switching Protocols` answer to an upgrade request.
pub(crate) fn switching_protocols(id: &Identity, headers: &HeaderMap) -> Response<RespBody> {
    let mut builder = id
        .response(StatusCode::SWITCHING_PROTOCOLS)
        .header(UPGRADE, "websocket")
        .header(CONNECTION, "Upgrade");
    if let Some(key) = headers.get(SEC_WEBSOCKET_KEY) {
        builder = builder.header(SEC_WEBSOCKET_ACCEPT, accept_key(key.as_bytes()));
    }
    id.finish(builder, empty())
}

/// Echoes the upgraded stream until the client closes it or the origin is killed.
///
/// Runs in its own task because hyper hands the socket over only after the `101` has
/// been written, i.e. after the request handler has returned.
pub(crate) async fn echo(on_upgrade: OnUpgrade, mut killed: Killed, guard: ConnGuard) {
    let _guard = guard;
    tokio::select! {
        () = killed.wait() => {}
        result = echo_until_closed(on_upgrade) => {
            if let Err(error) = result {
                tracing::debug!(%error, "upgraded stream ended with an error");
            }
        }
    }
}

async fn echo_until_closed(
    on_upgrade: OnUpgrade,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut io = TokioIo::new(on_upgrade.await?);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        io.write_all(&buf[..n]).await?;
        io.flush().await?;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_example_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn detects_upgrade_tokens_case_insensitively() {
        let req = Request::builder()
            .header(CONNECTION, "keep-alive, Upgrade")
            .header(UPGRADE, "WebSocket")
            .body(())
            .unwrap();
        assert!(is_websocket_upgrade(&req));
        let req = Request::builder()
            .header(CONNECTION, "keep-alive")
            .header(UPGRADE, "websocket")
            .body(())
            .unwrap();
        assert!(!is_websocket_upgrade(&req));
        let req = Request::builder()
            .version(Version::HTTP_10)
            .header(CONNECTION, "upgrade")
            .header(UPGRADE, "websocket")
            .body(())
            .unwrap();
        assert!(!is_websocket_upgrade(&req));
    }
}
