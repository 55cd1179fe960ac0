//! A total deadline for reading each HTTP/1 request head, and an idle timeout between
//! requests, enforced on the connection's byte stream.
//!
//! Pingora 0.9 bounds each `read` of a request head separately (a client sending one byte
//! every few seconds is never cut: the slowloris attack), and after the first request of a
//! keep-alive connection it waits for the next one with no timeout at all. Both limits are
//! properties of the connection, so they live here, below the HTTP parser: the stream knows
//! when a head starts (its first byte), sees when it ends (the empty line), and fails the read
//! that would go past the deadline. A client that sent part of a head then gets a `408`
//! before the connection closes; a connection that sent nothing is closed quietly.
//!
//! With [`Rearm::Explicit`], every byte read between "request done" and the next head is taken
//! for that head. That holds because Pingora, as configured here, never reads a request's body
//! after its `logging` phase on a connection it reuses: pipelining is off (bytes read past a
//! body prevent reuse) and `close_on_response_before_downstream_finish` is on (a response that
//! starts before the body is read turns keep-alive off). Enabling either would put body bytes
//! under the head deadline.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::{SslDigest, TlsRef};
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, UniqueID, UniqueIDType,
    ALPN,
};
use pingora::protocols::{SocketDigest, TimingDigest};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::request::problem::{EdgeError, ErrorKind, PROBLEM_CONTENT_TYPE};

/// The answer to a client whose request head did not arrive in time. Written below the HTTP
/// layer (there is no request to answer yet), so it is rendered once, with no request id.
static TIMEOUT_RESPONSE: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let problem = EdgeError::new(
        ErrorKind::RequestTimeout,
        "the request head was not received in time",
    )
    .to_problem("");
    let mut out = format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: {PROBLEM_CONTENT_TYPE}\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n",
        problem.body.len()
    )
    .into_bytes();
    out.extend_from_slice(&problem.body);
    out
});

/// How long closing a connection may wait for its 408 to leave.
const LINGER: Duration = Duration::from_secs(2);

/// Finds the end of a request head (the first empty line after a non-empty one) in bytes
/// that arrive in pieces. Empty lines before the request line are skipped, as RFC 9112 allows,
/// so they cannot be used to end the head early. Bare LF ends a line here too: refusing it is
/// the framing checks' job, this only has to find where the parser will stop reading.
///
/// It also notes control bytes in the request line, which only this layer can see: Pingora
/// percent-encodes them before anything above it looks (a NUL in the target reaches the origin
/// as `%00`), so the request would be silently rewritten instead of refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadScanner {
    line_has_content: bool,
    seen_content_line: bool,
    control_in_request_line: bool,
}

impl HeadScanner {
    /// Whether anything but CR and LF has been seen.
    pub fn has_content(&self) -> bool {
        self.line_has_content || self.seen_content_line
    }

    /// Whether the request line seen so far holds a control byte (other than its CR).
    pub fn control_in_request_line(&self) -> bool {
        self.control_in_request_line
    }

    /// Feeds the next bytes; returns the offset just past the head's final LF when the head
    /// ends within `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\n' => {
                    if self.line_has_content {
                        self.seen_content_line = true;
                        self.line_has_content = false;
                    } else if self.seen_content_line {
                        return Some(i + 1);
                    }
                }
                b'\r' => {}
                _ => {
                    if !self.seen_content_line && (b < 0x20 || b == 0x7f) {
                        self.control_in_request_line = true;
                    }
                    self.line_has_content = true;
                }
            }
        }
        None
    }
}

/// The timeouts a connection applies, taken from `[limits]` when it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadTimeouts {
    /// From the first byte of a request head to its end; also how long a new connection may
    /// take to start its first request.
    pub header: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle: Duration,
}

/// When the next request head starts: the proxy says so explicitly (it knows when a request
/// and its body are done); simple apps that read a whole request before answering start the
/// next head at the first read after they wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rearm {
    /// [`HeadClock::next_request`] starts the next head.
    Explicit,
    /// The first read after a write starts the next head.
    AfterResponse,
}

/// What the connection speaks, from ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Every request starts with a head: each one gets the deadline.
    Http1,
    /// Only the connection preface and the header of the first frame (the client's SETTINGS)
    /// get the deadline: until then Pingora's h2 handshake waits with no timeout of its own;
    /// after it, the h2 layer's idle timeout applies. Nothing is answered on expiry: an
    /// HTTP/1 `408` would be garbage to an h2 client.
    H2,
}

/// The client's side of an h2 handshake: the 24-byte preface and a 9-byte frame header.
const H2_HANDSHAKE_BYTES: usize = 24 + 9;

/// Why a connection was closed by this layer, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Part of a request head had arrived (answered `408`), or a new connection sent nothing.
    Header,
    /// A keep-alive connection stayed idle too long.
    Idle,
}

/// Shared between the stream and whoever drives the requests on it.
#[derive(Debug, Default)]
pub struct HeadClock {
    next: AtomicBool,
    control_in_request_line: AtomicBool,
}

impl HeadClock {
    /// The current request is done: the next bytes start a new head.
    pub fn next_request(&self) {
        self.next.store(true, Ordering::Release);
    }

    /// Whether the current request's line arrived with control bytes in it.
    pub fn control_in_request_line(&self) -> bool {
        self.control_in_request_line.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
enum Phase {
    /// Waiting for or reading a request head (or the h2 handshake).
    Head {
        since: Instant,
        first_byte: Option<Instant>,
        fresh: bool,
        scan: HeadScanner,
        /// Bytes read in this phase (h2 only counts them).
        received: usize,
    },
    /// The head is read; the body and the response are other layers' business.
    Message { wrote: bool },
    /// Past the h2 preface, or the connection has expired.
    Off,
}

/// A stream that enforces [`HeadTimeouts`] on the HTTP/1 request heads read from it.
pub struct HeadDeadline<S> {
    inner: S,
    phase: Phase,
    timeouts: HeadTimeouts,
    rearm: Rearm,
    protocol: Protocol,
    clock: Arc<HeadClock>,
    sleep: Option<Pin<Box<Sleep>>>,
    on_expiry: Option<Box<dyn Fn(Expiry) + Send + Sync>>,
    /// Bytes of [`TIMEOUT_RESPONSE`] still to write after an expiry.
    unsent: usize,
    /// After a 408: until when the close may wait for it (and TLS's close_notify) to leave.
    linger_until: Option<Instant>,
}

impl<S> fmt::Debug for HeadDeadline<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadDeadline")
            .field("phase", &self.phase)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl<S> HeadDeadline<S> {
    /// Wraps a freshly accepted (and, for TLS, handshaken) connection.
    pub fn new(inner: S, timeouts: HeadTimeouts, rearm: Rearm, protocol: Protocol) -> Self {
        HeadDeadline {
            inner,
            phase: Phase::Head {
                since: Instant::now(),
                first_byte: None,
                fresh: true,
                scan: HeadScanner::default(),
                received: 0,
            },
            timeouts,
            rearm,
            protocol,
            clock: Arc::new(HeadClock::default()),
            sleep: None,
            on_expiry: None,
            unsent: 0,
            linger_until: None,
        }
    }

    /// Calls `f` when a deadline closes the connection.
    pub fn on_expiry(mut self, f: impl Fn(Expiry) + Send + Sync + 'static) -> Self {
        self.on_expiry = Some(Box::new(f));
        self
    }

    /// The handle that starts the next request head ([`Rearm::Explicit`]).
    pub fn clock(&self) -> &Arc<HeadClock> {
        &self.clock
    }

    fn start_next_head(&mut self) {
        self.clock
            .control_in_request_line
            .store(false, Ordering::Release);
        self.phase = Phase::Head {
            since: Instant::now(),
            first_byte: None,
            fresh: false,
            scan: HeadScanner::default(),
            received: 0,
        };
    }

    /// The deadline of the current phase, if it has one.
    fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Head {
                first_byte: Some(t),
                ..
            } => Some(*t + self.timeouts.header),
            Phase::Head {
                since,
                first_byte: None,
                fresh,
                ..
            } => Some(
                *since
                    + if *fresh {
                        self.timeouts.header
                    } else {
                        self.timeouts.idle
                    },
            ),
            Phase::Message { .. } | Phase::Off => None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> HeadDeadline<S> {
    /// The deadline passed: answer 408 if a head was under way, then fail the read.
    fn expire(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Only a request line under way is answered: stray CRLFs between requests (which
        // RFC 9112 tolerates) are not a request, and a 408 would be taken for the answer to
        // the client's next one.
        let (partial, fresh) = match &self.phase {
            Phase::Head {
                first_byte,
                fresh,
                scan,
                ..
            } => (first_byte.is_some() && scan.has_content(), *fresh),
            Phase::Message { .. } | Phase::Off => (false, false),
        };
        self.phase = Phase::Off;
        if let Some(f) = &self.on_expiry {
            f(if partial || fresh {
                Expiry::Header
            } else {
                Expiry::Idle
            });
        }
        if !partial || self.protocol == Protocol::H2 {
            // Nothing was asked (or nothing we could answer in the client's protocol): an end
            // of stream closes the connection quietly.
            return Poll::Ready(Ok(()));
        }
        self.unsent = TIMEOUT_RESPONSE.len();
        self.linger_until = Some(Instant::now() + LINGER);
        self.flush_timeout_response(cx);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "request head not received in time",
        )))
    }

    /// Best effort: writes what the socket takes now; the caller shuts the connection down
    /// next, which flushes what was buffered.
    fn flush_timeout_response(&mut self, cx: &mut Context<'_>) {
        while self.unsent > 0 {
            let start = TIMEOUT_RESPONSE.len() - self.unsent;
            match Pin::new(&mut self.inner).poll_write(cx, &TIMEOUT_RESPONSE[start..]) {
                Poll::Ready(Ok(n)) if n > 0 => self.unsent -= n,
                _ => break,
            }
        }
        let _ = Pin::new(&mut self.inner).poll_flush(cx);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.clock.next.swap(false, Ordering::AcqRel) {
            this.start_next_head();
        }
        if let Phase::Message { wrote: true } = this.phase {
            if this.rearm == Rearm::AfterResponse {
                this.start_next_head();
            }
        }
        let Some(deadline) = this.deadline() else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        if Instant::now() >= deadline {
            return this.expire(cx);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if let Phase::Head {
                    first_byte,
                    scan,
                    received,
                    ..
                } = &mut this.phase
                {
                    if !new.is_empty() {
                        first_byte.get_or_insert_with(Instant::now);
                        *received += new.len();
                        let done = match this.protocol {
                            Protocol::Http1 => {
                                let done = scan.feed(new).is_some();
                                if scan.control_in_request_line() {
                                    this.clock
                                        .control_in_request_line
                                        .store(true, Ordering::Release);
                                }
                                done
                            }
                            Protocol::H2 => *received >= H2_HANDSHAKE_BYTES,
                        };
                        if done {
                            this.phase = match this.protocol {
                                Protocol::Http1 => Phase::Message { wrote: false },
                                Protocol::H2 => Phase::Off,
                            };
                        }
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => this.expire(cx),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for HeadDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Phase::Message { wrote } = &mut this.phase {
            *wrote = true;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Phase::Message { wrote } = &mut this.phase {
            *wrote = true;
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(linger_until) = this.linger_until else {
            return Pin::new(&mut this.inner).poll_shutdown(cx);
        };
        // After a 408: the answer first, then the close, and a client that stopped reading
        // does not hold the connection (and its slot) beyond the linger.
        if this.unsent > 0 {
            this.flush_timeout_response(cx);
        }
        if this.unsent == 0 {
            if let Poll::Ready(r) = Pin::new(&mut this.inner).poll_shutdown(cx) {
                return Poll::Ready(r);
            }
        }
        if Instant::now() >= linger_until {
            return Poll::Ready(Ok(()));
        }
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(linger_until)));
        if sleep.deadline() != linger_until {
            sleep.as_mut().reset(linger_until);
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[async_trait]
impl<S: AsyncWrite + AsyncRead + Unpin + Send> Shutdown for HeadDeadline<S> {
    /// The same ordered, bounded close as `poll_shutdown` (which Pingora's HTTP/1 session
    /// calls through `AsyncWriteExt`).
    async fn shutdown(&mut self) {
        if let Err(e) = tokio::io::AsyncWriteExt::shutdown(self).await {
            tracing::debug!(error = %e, "downstream shutdown failed");
        }
    }
}

impl<S: UniqueID> UniqueID for HeadDeadline<S> {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl<S: Ssl> Ssl for HeadDeadline<S> {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl<S: GetTimingDigest> GetTimingDigest for HeadDeadline<S> {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl<S: GetProxyDigest> GetProxyDigest for HeadDeadline<S> {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl<S: GetSocketDigest> GetSocketDigest for HeadDeadline<S> {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl<S: Peek + Send> Peek for HeadDeadline<S> {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    #[test]
    fn scanner_finds_the_empty_line_across_pieces() {
        let mut s = HeadScanner::default();
        assert_eq!(s.feed(b"GET / HTTP/1.1\r\nHost: a\r"), None);
        assert_eq!(s.feed(b"\n\r"), None);
        assert_eq!(s.feed(b"\nbody"), Some(1));
    }

    #[test]
    fn scanner_skips_leading_empty_lines() {
        let mut s = HeadScanner::default();
        assert_eq!(s.feed(b"\r\n\r\n\n"), None);
        assert_eq!(s.feed(b"GET / HTTP/1.1\r\n\r\n"), Some(18));
    }

    #[test]
    fn scanner_notes_control_bytes_in_the_request_line_only() {
        for line in [
            &b"GET /a\0b HTTP/1.1\r\n"[..],
            b"GET /a\x01b",
            b"GET\t/ HTTP/1.1\r\n",
        ] {
            let mut s = HeadScanner::default();
            s.feed(line);
            assert!(s.control_in_request_line(), "{line:?}");
        }
        let mut s = HeadScanner::default();
        s.feed(b"\r\nGET /a HTTP/1.1\r\nx-h: a\tb\x01\r\n\r\n");
        assert!(!s.control_in_request_line());
    }

    #[test]
    fn scanner_accepts_bare_lf() {
        let mut s = HeadScanner::default();
        assert_eq!(s.feed(b"GET / HTTP/1.1\nHost: a\n\nxyz"), Some(24));
    }

    proptest::proptest! {
        /// The socket delivers a head in arbitrary pieces: the scanner's verdict must not
        /// depend on where they are cut.
        #[test]
        fn scanning_in_pieces_matches_scanning_whole(
            data in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(&b"\r\nGET /a:\t\0 "[..]),
                    proptest::num::u8::ANY,
                ],
                0..200,
            ),
            cut in 0usize..200,
        ) {
            let cut = cut.min(data.len());
            let mut whole = HeadScanner::default();
            let end = whole.feed(&data);
            let mut pieces = HeadScanner::default();
            let end_in_pieces = pieces
                .feed(&data[..cut])
                .or_else(|| pieces.feed(&data[cut..]).map(|e| e + cut));
            proptest::prop_assert_eq!(end, end_in_pieces);
            proptest::prop_assert_eq!(
                whole.control_in_request_line(),
                pieces.control_in_request_line()
            );
        }
    }

    const T: HeadTimeouts = HeadTimeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    fn pair(rearm: Rearm) -> (HeadDeadline<DuplexStream>, DuplexStream) {
        let (a, b) = tokio::io::duplex(4096);
        (HeadDeadline::new(a, T, rearm, Protocol::Http1), b)
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_head_is_cut_at_the_deadline_with_408() {
        let (mut server, mut client) = pair(Rearm::Explicit);
        let started = Instant::now();
        let drip = tokio::spawn(async move {
            for b in b"GET / HTTP/1.1\r\nHost: example\r\n".iter() {
                if client.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let mut answer = Vec::new();
            let _ = client.read_to_end(&mut answer).await;
            answer
        });
        let mut buf = [0u8; 64];
        let err = loop {
            match server.read(&mut buf).await {
                Ok(0) => panic!("unexpected end of stream"),
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // The first byte arrived at t=0, so the head had exactly 10 s.
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        AsyncWriteExt::shutdown(&mut server).await.unwrap();
        drop(server);
        let answer = drip.await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
        let text = String::from_utf8(answer).unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        assert!(text.contains(&format!("content-length: {}\r\n", body.len())));
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_head_stops_the_clock_until_the_next_request() {
        let (mut server, mut client) = pair(Rearm::Explicit);
        client
            .write_all(b"POST / HTTP/1.1\r\ncontent-length: 4\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 128];
        let n = server.read(&mut buf).await.unwrap();
        assert!(n > 0);
        // The body may take longer than the head deadline: not this layer's business.
        tokio::time::sleep(Duration::from_secs(30)).await;
        client.write_all(b"body").await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 4);
        // Next request: idle for up to 60 s, then quietly closed.
        server.clock().next_request();
        let started = Instant::now();
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        assert_eq!(started.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
        let (mut server, _client) = pair(Rearm::Explicit);
        let expired = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = expired.clone();
        server = server.on_expiry(move |e| seen.lock().unwrap().push(e));
        let started = Instant::now();
        let mut buf = [0u8; 16];
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert_eq!(*expired.lock().unwrap(), vec![Expiry::Header]);
    }

    #[tokio::test(start_paused = true)]
    async fn after_response_rearms_on_the_first_read_after_a_write() {
        let (mut server, mut client) = pair(Rearm::AfterResponse);
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 128];
        assert!(server.read(&mut buf).await.unwrap() > 0);
        server
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
        client.write_all(b"GET / HT").await.unwrap();
        let started = Instant::now();
        assert_eq!(server.read(&mut buf).await.unwrap(), 8);
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    /// The preface and an empty SETTINGS frame: what an h2 client sends first.
    const H2_START: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

    #[tokio::test(start_paused = true)]
    async fn h2_gets_the_deadline_for_its_handshake_only() {
        let (a, mut client) = tokio::io::duplex(64);
        let mut server = HeadDeadline::new(a, T, Rearm::Explicit, Protocol::H2);
        client.write_all(H2_START).await.unwrap();
        let mut buf = [0u8; 33];
        server.read_exact(&mut buf).await.unwrap();
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 9];
            server.read_exact(&mut buf).await.map(|_| buf)
        });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        client.write_all(b"\0\0\0\x04\x01\0\0\0\0").await.unwrap();
        assert_eq!(&reader.await.unwrap().unwrap(), b"\0\0\0\x04\x01\0\0\0\0");
    }

    #[tokio::test(start_paused = true)]
    async fn an_h2_preface_cut_after_its_empty_line_is_still_cut() {
        let (a, mut client) = tokio::io::duplex(64);
        let mut server = HeadDeadline::new(a, T, Rearm::Explicit, Protocol::H2);
        // Up to the empty line inside the preface: an HTTP/1 scanner would call it complete.
        client.write_all(&H2_START[..18]).await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(server.read(&mut buf).await.unwrap(), 18);
        let started = Instant::now();
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn stray_crlf_between_requests_gets_no_408() {
        let (mut server, mut client) = pair(Rearm::Explicit);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        assert!(server.read(&mut buf).await.unwrap() > 0);
        server.clock().next_request();
        client.write_all(b"\r\n").await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 2);
        // A CRLF drip is still cut at the head deadline, quietly.
        let started = Instant::now();
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        AsyncWriteExt::shutdown(&mut server).await.unwrap();
        drop(server);
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert!(answer.is_empty(), "{answer:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn closing_after_a_408_is_bounded_when_the_client_reads_nothing() {
        // A pipe too small for the 408: the client never reads it.
        let (a, mut client) = tokio::io::duplex(16);
        let mut server = HeadDeadline::new(a, T, Rearm::Explicit, Protocol::Http1);
        client.write_all(b"GET / HT").await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(server.read(&mut buf).await.unwrap(), 8);
        assert!(server.read(&mut buf).await.is_err());
        let started = Instant::now();
        AsyncWriteExt::shutdown(&mut server).await.unwrap();
        assert!(started.elapsed() <= LINGER, "{:?}", started.elapsed());
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_h2_preface_is_closed_without_an_http1_answer() {
        let (a, mut client) = tokio::io::duplex(64);
        let mut server = HeadDeadline::new(a, T, Rearm::Explicit, Protocol::H2);
        client.write_all(b"PRI * HT").await.unwrap();
        let mut buf = [0u8; 24];
        assert_eq!(server.read(&mut buf).await.unwrap(), 8);
        let started = Instant::now();
        assert_eq!(server.read(&mut buf).await.unwrap(), 0);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        drop(server);
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert!(answer.is_empty());
    }
}
