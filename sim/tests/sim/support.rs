//! Minimal HTTP clients for driving simulated origins in tests.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use edge_sim::EchoBody;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// Any error a test helper can hit.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Upper bound for any single exchange, so a broken origin fails a test instead of
/// hanging it.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// A fully read response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn echo(&self) -> EchoBody {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A request builder with the Host header set, as HTTP/1.1 requires.
pub fn request(method: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "sim.test")
}

/// An empty-bodied request.
pub fn empty(method: &str, path: &str) -> Request<Full<Bytes>> {
    request(method, path).body(Full::new(Bytes::new())).unwrap()
}

/// One HTTP/1.1 keep-alive connection.
pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Self, BoxError> {
        let stream = TcpStream::connect(addr).await?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    /// Sends `req` and returns the response with its body still streaming.
    pub async fn send_streaming(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, BoxError> {
        self.sender.ready().await?;
        Ok(self.sender.send_request(req).await?)
    }

    /// Sends `req` and reads the whole response.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Reply, BoxError> {
        let resp = self.send_streaming(req).await?;
        read_reply(resp).await
    }
}

async fn read_reply(resp: Response<Incoming>) -> Result<Reply, BoxError> {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// Sends `req` on a fresh connection, bounded by `timeout`.
pub async fn send_within(
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<Reply, BoxError> {
    tokio::time::timeout(timeout, async { Conn::open(addr).await?.send(req).await }).await?
}

/// Sends `req` on a fresh connection.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<Reply, BoxError> {
    send_within(addr, req, EXCHANGE_TIMEOUT).await
}

/// `GET path` on a fresh connection.
pub async fn get(addr: SocketAddr, path: &str) -> Result<Reply, BoxError> {
    send(addr, empty("GET", path)).await
}

/// `GET path` over h2c with prior knowledge.
pub async fn get_h2(addr: SocketAddr, path: &str) -> Result<Reply, BoxError> {
    tokio::time::timeout(EXCHANGE_TIMEOUT, async {
        let stream = TcpStream::connect(addr).await?;
        let (mut sender, connection) =
            http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let req = Request::get(format!("http://sim.test{path}")).body(Full::new(Bytes::new()))?;
        let resp = sender.send_request(req).await?;
        read_reply(resp).await
    })
    .await?
}

/// Polls `condition` until it holds, for state that has no readiness signal (counters
/// updated by server tasks).
pub async fn wait_until(mut condition: impl FnMut() -> bool) {
    tokio::time::timeout(EXCHANGE_TIMEOUT, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition not reached in time");
}

/// A blocking `GET` for tests without a runtime; returns the raw response text.
pub fn blocking_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(EXCHANGE_TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: sim.test\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}
