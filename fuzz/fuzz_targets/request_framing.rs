//! The request-framing checks never panic on arbitrary header blocks, and a head they accept
//! has no bare LF and not both Content-Length and Transfer-Encoding. The head scanner (which
//! sees bytes in whatever pieces the socket delivers) finds the same end however the bytes are
//! split; the edge's strict head check accepts no bare LF and no obs-fold; and the chunked-body
//! scanner (chunk sizes, extensions, trailers) gives the same verdict however the body is cut.
#![no_main]

use edge_gateway::wire::{check_head, ChunkedScanner, HeadLimits};
use edge_gateway::HeadScanner;
use edge_gateway::framing::{check, check_raw_head, Limits};
use libfuzzer_sys::fuzz_target;
use pingora::http::RequestHeader;

fuzz_target!(|data: &[u8]| {
    let mut whole = HeadScanner::default();
    let end = whole.feed(data);
    let split = data.first().map_or(0, |&b| usize::from(b)) % (data.len() + 1);
    let mut pieces = HeadScanner::default();
    let end_in_pieces = pieces
        .feed(&data[..split])
        .or_else(|| pieces.feed(&data[split..]).map(|e| e + split));
    assert_eq!(end, end_in_pieces);
    let limits = HeadLimits {
        max_uri_bytes: 8192,
        max_header_bytes: 32 * 1024,
        max_headers: 100,
    };
    if let Some(end) = end {
        if check_head(&data[..end], &limits).is_ok() {
            let head = &data[..end];
            for (i, &b) in head.iter().enumerate() {
                if b == b'\n' {
                    assert!(i > 0 && head[i - 1] == b'\r', "bare LF accepted by the edge");
                    assert!(
                        !matches!(head.get(i + 1), Some(b' ' | b'\t')),
                        "obs-fold accepted by the edge"
                    );
                }
            }
        }
    }
    // The same bytes as a chunked body: whole and in two pieces agree.
    let mut body_whole = ChunkedScanner::default();
    let verdict = body_whole.feed(data).is_ok();
    let mut body_pieces = ChunkedScanner::default();
    let verdict_pieces =
        body_pieces.feed(&data[..split]).is_ok() && body_pieces.feed(&data[split..]).is_ok();
    assert_eq!(verdict, verdict_pieces);
    let accepted = check_raw_head(data).is_ok();
    if accepted {
        for (i, &b) in data.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && data[i - 1] == b'\r', "bare LF accepted");
            }
        }
    }
    // The parsed-head checks, over every `name: value` line that makes a valid header.
    if let Ok(mut req) = RequestHeader::build("POST", b"/", None) {
        for line in data.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let (name, value) = (&line[..colon], &line[colon + 1..]);
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(name),
                    http::HeaderValue::from_bytes(value),
                ) {
                    let _ = req.append_header(n, v);
                }
            }
        }
        let _ = check(&req, true, &Limits::default());
    }
});
