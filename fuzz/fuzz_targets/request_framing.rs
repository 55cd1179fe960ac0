//! The request-framing checks never panic on arbitrary header blocks, and a head they accept
//! has no bare LF and not both Content-Length and Transfer-Encoding. The head scanner (which
//! sees bytes in whatever pieces the socket delivers) finds the same end and the same
//! request-line verdict however the bytes are split.
#![no_main]

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
    assert_eq!(
        whole.control_in_request_line(),
        pieces.control_in_request_line()
    );
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
