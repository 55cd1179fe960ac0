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

use super::h2_guard::{GuardState, H2Guard};
use super::wire::{self, ChunkedScanner, HeadLimits};
use crate::request::headers::new_request_id;
use crate::request::problem::{EdgeError, ErrorKind, PROBLEM_CONTENT_TYPE};

/// A problem+json answer written below the HTTP layer (there is no request yet): the same
/// contract as every other answer of the gateway — a request id, HSTS when configured, no
/// `Server` — and `connection: close`.
fn edge_problem(
    kind: ErrorKind,
    detail: &'static str,
    hsts: Option<&http::HeaderValue>,
) -> Vec<u8> {
    let request_id = new_request_id();
    let problem = EdgeError::new(kind, detail).to_problem(&request_id);
    let status =
        http::StatusCode::from_u16(problem.status).unwrap_or(http::StatusCode::BAD_REQUEST);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {PROBLEM_CONTENT_TYPE}\r\ncache-control: no-store\r\n\
         x-request-id: {request_id}\r\nconnection: close\r\ncontent-length: {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        problem.body.len()
    )
    .into_bytes();
    if let Some(v) = hsts {
        out.extend_from_slice(b"strict-transport-security: ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&problem.body);
    out
}

/// How long closing a connection may wait for its refusal (408, 400...) to leave.
const LINGER: Duration = Duration::from_secs(2);

/// Finds the end of a request head (the first empty line after a non-empty one) in bytes
/// that arrive in pieces. Empty lines before the request line are skipped, as RFC 9112 allows,
/// so they cannot be used to end the head early. Bare LF ends a line here too: this only has
/// to find where a head stops; [`wire::check_head`] then refuses the bare LF.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadScanner {
    line_has_content: bool,
    seen_content_line: bool,
}

impl HeadScanner {
    /// Whether anything but CR and LF has been seen.
    pub fn has_content(&self) -> bool {
        self.line_has_content || self.seen_content_line
    }

    /// Feeds the next bytes; returns the offset just past the head's final LF when the head
    /// ends within `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        // Line by line (memchr), not byte by byte: a line has content when any of its bytes is
        // not CR, which its first byte almost always shows.
        let has_content = |line: &[u8]| line.iter().any(|&b| b != b'\r');
        let mut start = 0;
        for lf in memchr::memchr_iter(b'\n', bytes) {
            if has_content(&bytes[start..lf]) {
                self.line_has_content = true;
            }
            if self.line_has_content {
                self.seen_content_line = true;
                self.line_has_content = false;
            } else if self.seen_content_line {
                return Some(lf + 1);
            }
            start = lf + 1;
        }
        if has_content(&bytes[start..]) {
            self.line_has_content = true;
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
    /// Every request starts with a head: each one gets the deadline and the strict check.
    Http1,
    /// Only the connection preface and the header of the first frame (the client's SETTINGS)
    /// get the deadline: until then Pingora's h2 handshake waits with no timeout of its own;
    /// after it, the h2 layer's idle timeout applies. Nothing is answered on expiry: an
    /// HTTP/1 `408` would be garbage to an h2 client. Stream resets are counted (`H2Guard`).
    H2,
}

/// The client's side of an h2 handshake: the 24-byte preface and a 9-byte frame header.
const H2_HANDSHAKE_BYTES: usize = 24 + 9;

/// Why this layer closed (or refused on) a connection, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Part of a request head had arrived (answered `408`), or a new connection sent nothing.
    Header,
    /// A keep-alive connection stayed idle too long.
    Idle,
    /// A request head (or chunked body) was refused, or an h2 client reset too many streams:
    /// the `edge_limit_hits_total` label.
    Refused(&'static str),
}

/// Shared between the stream and whoever drives the requests on it.
#[derive(Debug, Default)]
pub struct HeadClock {
    next: AtomicBool,
    body_framing_error: AtomicBool,
    head_checked: AtomicBool,
}

impl HeadClock {
    /// The current request is done: the next bytes start a new head.
    pub fn next_request(&self) {
        // Cleared here, not when the next head is read: a pipelined request's head may
        // already have gone to the parser unchecked, with the bytes of the one before it.
        self.head_checked.store(false, Ordering::Release);
        self.next.store(true, Ordering::Release);
    }

    /// Whether the current request's head is one this stream held and found well-formed
    /// ([`wire::check_head`]); false for a pipelined head that arrived with the one before it,
    /// and for h2.
    pub fn head_checked(&self) -> bool {
        self.head_checked.load(Ordering::Acquire)
    }

    /// Whether the current request's chunked body broke RFC 9112's chunk grammar (the read
    /// that found it failed).
    pub fn body_framing_error(&self) -> bool {
        self.body_framing_error.load(Ordering::Acquire)
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
    /// The head is read; the body and the response are other layers' business, except that a
    /// chunked body's framing is checked as it passes.
    Message {
        wrote: bool,
        chunked: Option<ChunkedScanner>,
    },
    /// Past the h2 preface, or the connection has expired.
    Off,
}

/// A stream that enforces [`HeadTimeouts`] on the HTTP/1 request heads read from it, checks
/// each head (and chunked body) strictly before Pingora parses it, and guards h2 connections
/// against stream-reset abuse.
pub struct HeadDeadline<S> {
    inner: S,
    phase: Phase,
    timeouts: HeadTimeouts,
    limits: HeadLimits,
    hsts: Option<http::HeaderValue>,
    rearm: Rearm,
    protocol: Protocol,
    clock: Arc<HeadClock>,
    sleep: Option<Pin<Box<Sleep>>>,
    on_expiry: Option<Box<dyn Fn(Expiry) + Send + Sync>>,
    /// The head being read (HTTP/1): held back until it is complete and checked.
    head: Vec<u8>,
    /// A checked head and what came after it, handed to the reader from `held_pos`; bytes
    /// from `held_body` on are body bytes.
    held: Vec<u8>,
    held_pos: usize,
    held_body: usize,
    /// The head being read began with bytes the reader got unchecked: held bytes still
    /// undelivered when it started (a pipelined head behind the last one). Its check then
    /// covers only the rest, so the head is not reported checked ([`HeadClock::head_checked`]).
    unchecked_prefix: bool,
    /// A refusal written below the HTTP layer, and how much of it is still to write.
    refusal: Vec<u8>,
    unsent: usize,
    /// After a refusal: until when the close may wait for it (and TLS's close_notify) to leave.
    linger_until: Option<Instant>,
    h2: Option<H2Guard>,
}

impl<S> fmt::Debug for HeadDeadline<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadDeadline")
            .field("phase", &self.phase)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// The default `[limits]` sizes (tests and callers that set none).
const DEFAULT_LIMITS: HeadLimits = HeadLimits {
    max_uri_bytes: 8 * 1024,
    max_header_bytes: 32 * 1024,
    max_headers: 100,
};

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
            limits: DEFAULT_LIMITS,
            hsts: None,
            rearm,
            protocol,
            clock: Arc::new(HeadClock::default()),
            sleep: None,
            on_expiry: None,
            head: Vec::new(),
            held: Vec::new(),
            held_pos: 0,
            held_body: 0,
            unchecked_prefix: false,
            refusal: Vec::new(),
            unsent: 0,
            linger_until: None,
            h2: (protocol == Protocol::H2).then(|| H2Guard::new(u32::MAX)),
        }
    }

    /// Calls `f` when a deadline closes the connection or a head is refused.
    pub fn on_expiry(mut self, f: impl Fn(Expiry) + Send + Sync + 'static) -> Self {
        self.on_expiry = Some(Box::new(f));
        self
    }

    /// The `[limits]` sizes a head is held to (default: the config's defaults).
    pub fn with_limits(mut self, limits: HeadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The `Strict-Transport-Security` value refusals carry (TLS listeners).
    pub fn with_hsts(mut self, hsts: Option<http::HeaderValue>) -> Self {
        self.hsts = hsts;
        self
    }

    /// Client stream resets an h2 connection may make per window before it is told
    /// `GOAWAY(ENHANCE_YOUR_CALM)` (default: unlimited).
    pub fn with_h2_max_resets(mut self, max: u32) -> Self {
        if self.protocol == Protocol::H2 {
            self.h2 = Some(H2Guard::new(max));
        }
        self
    }

    /// The sizes the heads of this connection are checked against: the `[limits]` of when it
    /// was accepted.
    pub fn limits(&self) -> &HeadLimits {
        &self.limits
    }

    /// The handle that starts the next request head ([`Rearm::Explicit`]).
    pub fn clock(&self) -> &Arc<HeadClock> {
        &self.clock
    }

    fn start_next_head(&mut self) {
        self.clock
            .body_framing_error
            .store(false, Ordering::Release);
        self.unchecked_prefix = self.held_pos < self.held.len();
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

    fn report(&self, e: Expiry) {
        if let Some(f) = &self.on_expiry {
            f(e);
        }
    }
}

fn framing_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the chunked request body is malformed",
    )
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
        self.report(if partial || fresh {
            Expiry::Header
        } else {
            Expiry::Idle
        });
        if !partial || self.protocol == Protocol::H2 {
            // Nothing was asked (or nothing we could answer in the client's protocol): an end
            // of stream closes the connection quietly.
            return Poll::Ready(Ok(()));
        }
        self.answer_and_close(
            cx,
            ErrorKind::RequestTimeout,
            "the request head was not received in time",
        );
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "request head not received in time",
        )))
    }

    /// Refuses the head being read: the problem goes out, the read fails, the connection
    /// closes (what followed the head can no longer be trusted to start a request).
    fn refuse(&mut self, cx: &mut Context<'_>, e: wire::WireError) -> Poll<io::Result<()>> {
        self.phase = Phase::Off;
        self.report(Expiry::Refused(e.limit.unwrap_or("request_head_syntax")));
        self.answer_and_close(cx, e.kind, e.detail);
        Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e.detail)))
    }

    fn answer_and_close(&mut self, cx: &mut Context<'_>, kind: ErrorKind, detail: &'static str) {
        self.refusal = edge_problem(kind, detail, self.hsts.as_ref());
        self.unsent = self.refusal.len();
        self.linger_until = Some(Instant::now() + LINGER);
        self.flush_refusal(cx);
    }

    /// Best effort: writes what the socket takes now; the caller shuts the connection down
    /// next, which flushes what was buffered.
    fn flush_refusal(&mut self, cx: &mut Context<'_>) {
        while self.unsent > 0 {
            let start = self.refusal.len() - self.unsent;
            match Pin::new(&mut self.inner).poll_write(cx, &self.refusal[start..]) {
                Poll::Ready(Ok(n)) if n > 0 => self.unsent -= n,
                _ => break,
            }
        }
        let _ = Pin::new(&mut self.inner).poll_flush(cx);
    }

    /// Hands held bytes (a checked head, and what followed it) to the reader.
    fn deliver_held(&mut self, buf: &mut ReadBuf<'_>) -> io::Result<()> {
        // A chunked body's head alone first: a body that breaks its framing then fails a body
        // read (which the proxy answers with a 400), not the read of the head (which nobody
        // could answer). Anything else goes as it came, as Pingora would have read it.
        let chunked = matches!(
            self.phase,
            Phase::Message {
                chunked: Some(_),
                ..
            }
        );
        let end = if chunked && self.held_pos < self.held_body {
            self.held_body
        } else {
            self.held.len()
        };
        let n = buf.remaining().min(end - self.held_pos);
        let (from, to) = (self.held_pos, self.held_pos + n);
        if to > self.held_body {
            let body = &self.held[from.max(self.held_body)..to];
            if let Phase::Message {
                chunked: Some(scan),
                ..
            } = &mut self.phase
            {
                if scan.feed(body).is_err() {
                    self.clock.body_framing_error.store(true, Ordering::Release);
                    return Err(framing_error());
                }
            }
        }
        buf.put_slice(&self.held[from..to]);
        self.held_pos = to;
        if self.held_pos == self.held.len() {
            self.held.clear();
            self.held_pos = 0;
        }
        Ok(())
    }

    /// An HTTP/1 read while a head is due: the bytes are held back until the head is complete
    /// and checked, so Pingora's parser only ever sees heads the gateway accepted.
    fn poll_read_head(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            // Recomputed each turn: a head's first byte moves it from the idle to the header
            // deadline.
            let Some(deadline) = self.deadline() else {
                return Poll::Ready(Ok(()));
            };
            if Instant::now() >= deadline {
                return self.expire(cx);
            }
            // The reader's buffer is the scratch space: what lands there is moved out.
            let before = buf.filled().len();
            match Pin::new(&mut self.inner).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => {
                    let new = &buf.filled()[before..];
                    if new.is_empty() {
                        // End of stream: a partial head is dropped with the connection.
                        return Poll::Ready(Ok(()));
                    }
                    let Phase::Head {
                        first_byte, scan, ..
                    } = &mut self.phase
                    else {
                        return Poll::Ready(Ok(()));
                    };
                    first_byte.get_or_insert_with(Instant::now);
                    let end = scan.feed(new).map(|k| self.head.len() + k);
                    self.head.extend_from_slice(new);
                    buf.set_filled(before);
                    if let Some(end) = end {
                        return match wire::check_head(&self.head[..end], &self.limits) {
                            Ok(facts) => {
                                if !self.unchecked_prefix {
                                    self.clock.head_checked.store(true, Ordering::Release);
                                }
                                self.phase = Phase::Message {
                                    wrote: false,
                                    chunked: facts.chunked.then(ChunkedScanner::default),
                                };
                                std::mem::swap(&mut self.head, &mut self.held);
                                self.head.clear();
                                self.held_pos = 0;
                                self.held_body = end;
                                Poll::Ready(self.deliver_held(buf))
                            }
                            Err(e) => self.refuse(cx, e),
                        };
                    }
                    if self.head.len() > self.limits.max_head_bytes() {
                        let still_in_request_line = !self.head.contains(&b'\n');
                        return self.refuse(
                            cx,
                            if still_in_request_line {
                                wire::WireError {
                                    kind: ErrorKind::UriTooLong,
                                    detail: "the request line is longer than this gateway accepts",
                                    limit: Some("max_uri_bytes"),
                                }
                            } else {
                                wire::WireError {
                                    kind: ErrorKind::HeadersTooLarge,
                                    detail: "the request head is larger than this gateway accepts",
                                    limit: Some("max_header_bytes"),
                                }
                            },
                        );
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return self.wait_until(cx, deadline),
            }
        }
    }

    /// Pending on the inner stream: the deadline's timer is armed so the read wakes in time.
    fn wait_until(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<io::Result<()>> {
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => self.expire(cx),
            Poll::Pending => Poll::Pending,
        }
    }

    /// An h2 read: the handshake is counted against the deadline, every frame header is fed
    /// to the reset guard, and a `GOAWAY` it asks for goes out as soon as our writes allow.
    fn poll_read_h2(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self
            .h2
            .as_ref()
            .is_some_and(|g| g.state() == GuardState::GoAwaySent)
        {
            return Poll::Ready(Ok(()));
        }
        let deadline = self.deadline();
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return self.expire(cx);
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if let Phase::Head {
                    first_byte,
                    received,
                    ..
                } = &mut self.phase
                {
                    if !new.is_empty() {
                        first_byte.get_or_insert_with(Instant::now);
                        *received += new.len();
                        if *received >= H2_HANDSHAKE_BYTES {
                            self.phase = Phase::Off;
                        }
                    }
                }
                if let Some(guard) = &mut self.h2 {
                    if guard.on_read(new, Instant::now()) {
                        self.report(Expiry::Refused("h2_max_reset_streams"));
                    }
                }
                if self.try_goaway(cx) {
                    // The client is told; the h2 layer sees the end of the stream.
                    buf.set_filled(before);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.try_goaway(cx);
                match deadline {
                    Some(d) => self.wait_until(cx, d),
                    None => Poll::Pending,
                }
            }
        }
    }

    /// Writes the pending `GOAWAY` when our writes are between frames: `Ready(Ok(true))` once
    /// it has left, `Ready(Ok(false))` when there is none to write now.
    fn poll_goaway(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let Some(guard) = &mut self.h2 else {
            return Poll::Ready(Ok(false));
        };
        while guard.can_inject() {
            match Pin::new(&mut self.inner).poll_write(cx, guard.goaway_unsent()) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => guard.goaway_wrote(n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if guard.state() == GuardState::GoAwaySent {
            let _ = Pin::new(&mut self.inner).poll_flush(cx);
            return Poll::Ready(Ok(true));
        }
        Poll::Ready(Ok(false))
    }

    /// Best effort from the read side: a write that would block is retried when the h2 layer
    /// next writes or reads.
    fn try_goaway(&mut self, cx: &mut Context<'_>) -> bool {
        matches!(self.poll_goaway(cx), Poll::Ready(Ok(true)))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.protocol == Protocol::H2 {
            return this.poll_read_h2(cx, buf);
        }
        if this.clock.next.swap(false, Ordering::AcqRel) {
            this.start_next_head();
        }
        if let Phase::Message { wrote: true, .. } = this.phase {
            if this.rearm == Rearm::AfterResponse {
                this.start_next_head();
            }
        }
        if this.held_pos < this.held.len() {
            return Poll::Ready(this.deliver_held(buf));
        }
        if this.deadline().is_some() {
            return this.poll_read_head(cx, buf);
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (
            Poll::Ready(Ok(())),
            Phase::Message {
                chunked: Some(scan),
                ..
            },
        ) = (&read, &mut this.phase)
        {
            if scan.feed(&buf.filled()[before..]).is_err() {
                this.clock.body_framing_error.store(true, Ordering::Release);
                this.report(Expiry::Refused("chunked_body_syntax"));
                buf.set_filled(before);
                return Poll::Ready(Err(framing_error()));
            }
        }
        read
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for HeadDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Phase::Message { wrote, .. } = &mut this.phase {
            *wrote = true;
        }
        if this.h2.is_none() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        // A pending GOAWAY goes before the next frame; after it nothing more is written.
        match this.poll_goaway(cx) {
            Poll::Ready(Ok(true)) => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "connection closed after GOAWAY(ENHANCE_YOUR_CALM)",
                )))
            }
            Poll::Ready(Ok(false)) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let (Poll::Ready(Ok(n)), Some(guard)) = (&written, &mut this.h2) {
            guard.on_write(&buf[..*n]);
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.h2.is_some() {
            // Frame accounting needs to know which bytes went: one slice at a time.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            return Pin::new(this).poll_write(cx, first);
        }
        if let Phase::Message { wrote, .. } = &mut this.phase {
            *wrote = true;
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.h2.is_none() && self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.try_goaway(cx);
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(linger_until) = this.linger_until else {
            return Pin::new(&mut this.inner).poll_shutdown(cx);
        };
        // After a refusal: the answer first, then the close, and a client that stopped reading
        // does not hold the connection (and its slot) beyond the linger.
        if this.unsent > 0 {
            this.flush_refusal(cx);
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

    /// The scanner's rule byte by byte, as a reference for the line-by-line implementation.
    fn reference_end(bytes: &[u8]) -> Option<usize> {
        let (mut line_has_content, mut seen_content_line) = (false, false);
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\n' if line_has_content => {
                    seen_content_line = true;
                    line_has_content = false;
                }
                b'\n' if seen_content_line => return Some(i + 1),
                b'\n' | b'\r' => {}
                _ => line_has_content = true,
            }
        }
        None
    }

    proptest::proptest! {
        #[test]
        fn scanner_agrees_with_the_byte_rule_however_the_head_is_split(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'\r', b'\n', b'a', b' ']), 0..40),
            cuts in proptest::collection::vec(0usize..40, 0..5),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= bytes.len()).collect();
            cuts.push(0);
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let mut s = HeadScanner::default();
            let mut found = None;
            for w in cuts.windows(2) {
                if let Some(k) = s.feed(&bytes[w[0]..w[1]]) {
                    found = Some(w[0] + k);
                    break;
                }
            }
            proptest::prop_assert_eq!(found, reference_end(&bytes));
        }
    }

    #[test]
    fn scanner_skips_leading_empty_lines() {
        let mut s = HeadScanner::default();
        assert_eq!(s.feed(b"\r\n\r\n\n"), None);
        assert_eq!(s.feed(b"GET / HTTP/1.1\r\n\r\n"), Some(18));
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

    #[tokio::test]
    async fn only_a_head_the_stream_checked_is_reported_checked() {
        let (mut server, mut client) = pair(Rearm::Explicit);
        let clock = server.clock().clone();
        assert!(!clock.head_checked());
        // Two pipelined requests in one write: the second reaches the parser with the first,
        // unchecked.
        client
            .write_all(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = server.read(&mut buf).await.unwrap();
        assert!(n > 0);
        assert!(clock.head_checked(), "the first head was held and checked");
        clock.next_request();
        assert!(!clock.head_checked(), "the pipelined head was not");
        // A head that arrives on its own after the request is done is held and checked again.
        client
            .write_all(b"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut total = 0;
        while total < 58 + 29 {
            total += server.read(&mut buf).await.unwrap();
            if clock.head_checked() {
                break;
            }
        }
        assert!(clock.head_checked());
    }

    #[tokio::test]
    async fn a_head_whose_start_was_delivered_unchecked_is_not_reported_checked() {
        let (mut server, mut client) = pair(Rearm::Explicit);
        let clock = server.clock().clone();
        let first = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
        // The start of a smuggling head arrives with the end of the first request. The first
        // head came in two pieces, so it and what followed it are more than the reader's
        // buffer takes in the read that completes it: the rest stays held.
        let prefix = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nX-A: ";
        client.write_all(&first[..10]).await.unwrap();
        let mut buf = vec![0u8; first.len() - 10 + prefix.len()];
        {
            // One poll: the wrapper takes the 10 bytes and waits for the rest of the head.
            let mut read = std::pin::pin!(server.read(&mut buf));
            std::future::poll_fn(|cx| {
                assert!(read.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
        }
        client
            .write_all(&[&first[10..], &prefix[..]].concat())
            .await
            .unwrap();
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(n, buf.len());
        assert_eq!(&buf[..first.len()], first);
        assert!(clock.head_checked());
        clock.next_request();
        let mut held = vec![0u8; first.len() + prefix.len() - n];
        server.read_exact(&mut held).await.unwrap();
        assert_eq!(held, prefix[n - first.len()..]);
        // The rest is a valid head on its own: the edge's check of it passes, but it does not
        // cover the bytes before it, so admission must scan the whole head again.
        let tail = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
        client.write_all(tail).await.unwrap();
        let mut rest = vec![0u8; tail.len()];
        server.read_exact(&mut rest).await.unwrap();
        assert_eq!(rest, tail);
        assert!(!clock.head_checked());
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
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .unwrap();
        assert!(body.contains(&format!("\"request_id\":\"{id}\"")), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_head_stops_the_clock_until_the_next_request() {
        let (mut server, mut client) = pair(Rearm::Explicit);
        client
            .write_all(b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 4\r\n\r\n")
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
        // A partial head is held back (the reader sees nothing of it) until the deadline.
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
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        assert!(server.read(&mut buf).await.unwrap() > 0);
        server.clock().next_request();
        client.write_all(b"\r\n").await.unwrap();
        // A CRLF drip is held like any head, and cut at the head deadline, quietly.
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

    async fn answer_to(head: &[u8]) -> (io::Result<usize>, String) {
        let (a, mut client) = tokio::io::duplex(8192);
        let mut server = HeadDeadline::new(a, T, Rearm::Explicit, Protocol::Http1)
            .with_hsts(Some(http::HeaderValue::from_static("max-age=60")));
        client.write_all(head).await.unwrap();
        let mut buf = [0u8; 256];
        let read = server.read(&mut buf).await;
        AsyncWriteExt::shutdown(&mut server).await.unwrap();
        drop(server);
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        (read, String::from_utf8_lossy(&answer).into_owned())
    }

    #[tokio::test]
    async fn a_malformed_head_is_answered_by_the_gateway_and_never_handed_on() {
        for (head, status) in [
            (&b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"[..], "400"),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "400"),
            (b"GET / HTTP/1.7\r\nHost: a\r\n\r\n", "400"),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", "400"),
            (b"GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n", "400"),
            (b"GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n", "400"),
        ] {
            let (read, answer) = answer_to(head).await;
            assert!(read.is_err(), "{head:?}: the reader got the head");
            let lower = answer.to_ascii_lowercase();
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status} ")),
                "{answer}"
            );
            assert!(
                lower.contains("content-type: application/problem+json"),
                "{answer}"
            );
            assert!(lower.contains("x-request-id: "), "{answer}");
            assert!(
                lower.contains("strict-transport-security: max-age=60"),
                "{answer}"
            );
            assert!(!lower.contains("server:"), "{answer}");
            assert!(lower.contains("connection: close"), "{answer}");
        }
    }

    #[tokio::test]
    async fn a_head_past_the_size_limits_is_refused_before_it_is_buffered_whole() {
        let (a, mut client) = tokio::io::duplex(1 << 20);
        let limits = HeadLimits {
            max_uri_bytes: 64,
            max_header_bytes: 1024,
            max_headers: 10,
        };
        let mut server =
            HeadDeadline::new(a, T, Rearm::Explicit, Protocol::Http1).with_limits(limits);
        let mut head = b"GET /".to_vec();
        head.extend(std::iter::repeat_n(b'a', limits.max_head_bytes() + 10));
        client.write_all(&head).await.unwrap();
        let mut buf = [0u8; 256];
        assert!(server.read(&mut buf).await.is_err());
        AsyncWriteExt::shutdown(&mut server).await.unwrap();
        drop(server);
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 414 "), "{answer:?}");
    }

    #[tokio::test]
    async fn a_good_head_reaches_the_reader_whole_with_what_followed_it() {
        let (mut server, mut client) = pair(Rearm::Explicit);
        let head = b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut sent = head.to_vec();
        sent.extend_from_slice(b"3\r\nabc\r\n0\r\n\r\n");
        // Cut in pieces: the reader gets nothing until the head is complete.
        client.write_all(&sent[..10]).await.unwrap();
        let want = sent.len();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 16];
            while got.len() < want {
                let n = server.read(&mut buf).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        client.write_all(&sent[10..]).await.unwrap();
        assert_eq!(reader.await.unwrap(), sent);
    }

    #[tokio::test]
    async fn a_chunked_body_that_breaks_the_grammar_fails_the_read_and_says_so() {
        let (mut server, mut client) = pair(Rearm::Explicit);
        client
            .write_all(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        assert!(server.read(&mut buf).await.unwrap() > 0);
        client.write_all(b"3;\nabc\r\n0\r\n\r\n").await.unwrap();
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(server.clock().body_framing_error());
    }

    #[tokio::test]
    async fn h2_resets_past_the_budget_get_goaway_enhance_your_calm() {
        let (a, mut client) = tokio::io::duplex(1 << 16);
        let mut server =
            HeadDeadline::new(a, T, Rearm::Explicit, Protocol::H2).with_h2_max_resets(2);
        client.write_all(H2_START).await.unwrap();
        let rst = |id: u8| [0, 0, 4, 3, 0, 0, 0, 0, id, 0, 0, 0, 8];
        for id in [1u8, 3, 5] {
            client.write_all(&rst(id)).await.unwrap();
        }
        let mut buf = [0u8; 256];
        // Whatever was handed on, the stream ends once the GOAWAY has left.
        while server.read(&mut buf).await.unwrap() > 0 {}
        let mut frame = [0u8; 17];
        client.read_exact(&mut frame).await.unwrap();
        assert_eq!(&frame[..4], &[0, 0, 8, 7]);
        assert_eq!(&frame[13..], &[0, 0, 0, 0x0b]);
        assert!(server.write(b"more").await.is_err(), "nothing after GOAWAY");
    }
}
