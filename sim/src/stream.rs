//! `/stream`: a long-lived response that emits chunks over time.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use serde::Serialize;
use tokio::time::Sleep;

/// Chunks per stream when the query does not say.
const DEFAULT_CHUNKS: u32 = 5;
/// Gap between chunks when the query does not say.
const DEFAULT_INTERVAL_MS: u64 = 100;
/// Caps keep a typo in a test from pinning a connection for hours.
const MAX_CHUNKS: u32 = 100_000;
const MAX_INTERVAL_MS: u64 = 60_000;

/// Parameters of a `/stream` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamSpec {
    pub(crate) chunks: u32,
    pub(crate) interval: Duration,
}

impl StreamSpec {
    /// Reads `chunks` and `interval_ms` from a query string; missing or unparsable
    /// values fall back to the defaults, oversized ones are capped.
    pub(crate) fn from_query(query: Option<&str>) -> Self {
        let mut chunks = DEFAULT_CHUNKS;
        let mut interval_ms = DEFAULT_INTERVAL_MS;
        for pair in query.unwrap_or_default().split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "chunks" => chunks = value.parse().unwrap_or(chunks),
                "interval_ms" => interval_ms = value.parse().unwrap_or(interval_ms),
                _ => {}
            }
        }
        Self {
            chunks: chunks.min(MAX_CHUNKS),
            interval: Duration::from_millis(interval_ms.min(MAX_INTERVAL_MS)),
        }
    }
}

/// One line of the stream.
#[derive(Serialize)]
struct ChunkLine<'a> {
    region: &'a str,
    origin: &'a str,
    chunk: u32,
    of: u32,
}

/// A body that yields one newline-terminated JSON line per chunk, the first at once and
/// each following one `interval` later. Having no length, it goes out chunk-encoded.
pub(crate) struct ChunkStream {
    region: String,
    origin: String,
    spec: StreamSpec,
    sent: u32,
    timer: Option<Pin<Box<Sleep>>>,
}

impl ChunkStream {
    pub(crate) fn new(region: &str, origin: &str, spec: StreamSpec) -> Self {
        Self {
            region: region.to_owned(),
            origin: origin.to_owned(),
            spec,
            sent: 0,
            timer: None,
        }
    }

    fn line(&self) -> Bytes {
        let line = ChunkLine {
            region: &self.region,
            origin: &self.origin,
            chunk: self.sent,
            of: self.spec.chunks,
        };
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.push(b'\n');
        Bytes::from(bytes)
    }
}

impl Body for ChunkStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.sent >= this.spec.chunks {
            return Poll::Ready(None);
        }
        if this.sent > 0 {
            let interval = this.spec.interval;
            let timer = this
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.timer = None;
        }
        let line = this.line();
        this.sent += 1;
        Poll::Ready(Some(Ok(Frame::data(line))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.spec.chunks
    }

    fn size_hint(&self) -> SizeHint {
        // Deliberately unknown: an exact hint would make hyper send Content-Length and
        // the response would no longer exercise chunked pass-through.
        SizeHint::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn query_parsing_defaults_and_caps() {
        assert_eq!(
            StreamSpec::from_query(None),
            StreamSpec {
                chunks: DEFAULT_CHUNKS,
                interval: Duration::from_millis(DEFAULT_INTERVAL_MS)
            }
        );
        let s = StreamSpec::from_query(Some("chunks=3&interval_ms=7&x=y&flag"));
        assert_eq!(s.chunks, 3);
        assert_eq!(s.interval, Duration::from_millis(7));
        let s = StreamSpec::from_query(Some("chunks=999999999&interval_ms=nope"));
        assert_eq!(s.chunks, MAX_CHUNKS);
        assert_eq!(s.interval, Duration::from_millis(DEFAULT_INTERVAL_MS));
    }

    #[tokio::test]
    async fn yields_each_chunk_after_interval() {
        let spec = StreamSpec {
            chunks: 3,
            interval: Duration::from_millis(20),
        };
        let start = std::time::Instant::now();
        let mut body = ChunkStream::new("r", "o", spec);
        let mut lines = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            lines.push(String::from_utf8(data.to_vec()).unwrap());
        }
        assert_eq!(lines.len(), 3);
        assert!(lines[2].contains("\"chunk\":2"));
        assert!(lines.iter().all(|l| l.ends_with('\n')));
        assert!(start.elapsed() >= Duration::from_millis(40));
    }
}
