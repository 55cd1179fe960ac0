//! HTTP/1 as the gateway reads it off the wire, before Pingora does: a request head checked
//! strictly against RFC 9112 (§2.2, §3, §5), and a chunked body's framing checked as it
//! streams (§7.1).
//!
//! Pingora's parser (httparse) is lenient where an edge cannot be: it reads a bare LF as a line
//! end, takes a chunk extension up to any LF, and answers what it refuses with a bare `400`
//! of its own (`Server: Pingora`, no problem body, no request id). Reading the bytes here first
//! means every refusal is the gateway's (problem+json, HSTS, request id) and every request
//! Pingora sees has exactly one reading. The rules:
//!
//! - lines end in CRLF; empty lines before the request line are skipped (§2.2);
//! - `method SP request-target SP HTTP/1.x CRLF`, single spaces, a visible-ASCII target, and
//!   HTTP/1.0 or HTTP/1.1 only;
//! - `field-name ":" OWS field-value OWS CRLF`: a token name with no space before the colon,
//!   a value without control bytes (HTAB allowed); no obs-fold (§5.2);
//! - exactly one `Host` for HTTP/1.1 (at most one for 1.0), and an absolute-form target's
//!   authority must match it (§3.2);
//! - chunk lines are `1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
//!   CRLF`, chunk data is followed by CRLF, and the trailer section is field lines (§7.1).
//!
//! Everything else (lengths, codings, sizes by `[limits]`) is `request::framing`'s job once the
//! head is parsed.

use crate::request::problem::ErrorKind;

/// Why a head or a chunk line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireError {
    /// The status kind.
    pub kind: ErrorKind,
    /// A client-safe detail.
    pub detail: &'static str,
    /// The `[limits]` key that refused it, for `edge_limit_hits_total`.
    pub limit: Option<&'static str>,
}

fn bad(detail: &'static str) -> WireError {
    WireError {
        kind: ErrorKind::BadRequest,
        detail,
        limit: None,
    }
}

fn over(kind: ErrorKind, limit: &'static str, detail: &'static str) -> WireError {
    WireError {
        kind,
        detail,
        limit: Some(limit),
    }
}

/// Byte classes, one table lookup per byte (heads are checked byte by byte before Pingora
/// parses them, so this runs for every byte of every request head).
const TCHAR: u8 = 1;
const FIELD: u8 = 2;
static CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        // RFC 9110 §5.6.2 `tchar`.
        if c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
        {
            t[b] |= TCHAR;
        }
        // RFC 9110 §5.5 field-value bytes: VCHAR, obs-text, SP or HTAB.
        if c == b'\t' || c == b' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80 {
            t[b] |= FIELD;
        }
        b += 1;
    }
    t
};

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    CLASSES[b as usize] & TCHAR != 0
}

/// A field-value byte: VCHAR, obs-text, SP or HTAB.
fn is_field_byte(b: u8) -> bool {
    CLASSES[b as usize] & FIELD != 0
}

/// What the gateway needs to know of a head it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadFacts {
    /// The body is chunked (`Transfer-Encoding` whose value is `chunked`): its framing is
    /// checked as it streams. Other codings are refused after parsing (`request::framing`).
    pub chunked: bool,
}

/// Size limits applied while a head is read: `[limits]` plus the parser's own (Pingora
/// parses at most 256 fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Longest request target, in bytes (414 beyond).
    pub max_uri_bytes: usize,
    /// Largest header block, names and values, in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields (431 beyond).
    pub max_headers: usize,
}

/// The most header fields Pingora's parser takes (`MAX_HEADERS` in pingora-core 0.9).
pub const PARSER_MAX_HEADERS: usize = 256;

impl HeadLimits {
    /// The most bytes a head within these limits can take on the wire (request line, fields
    /// with their separators, CRLFs): reading stops with a refusal beyond it.
    pub fn max_head_bytes(&self) -> usize {
        // method + SPs + version + CRLF: 64; per field ": " and CRLF: 4; final CRLF; and up to
        // 4 KiB of empty lines before the request line.
        self.max_uri_bytes + 64 + self.max_header_bytes + 4 * self.fields() + 2 + 4096
    }

    fn fields(&self) -> usize {
        self.max_headers.min(PARSER_MAX_HEADERS)
    }

    /// Whether a head within these limits is within `other` too (each limit no larger).
    pub fn within(&self, other: &HeadLimits) -> bool {
        self.max_uri_bytes <= other.max_uri_bytes
            && self.max_header_bytes <= other.max_header_bytes
            && self.fields() <= other.fields()
    }
}

/// Splits `bytes` into CRLF-terminated lines (without the CRLF); a bare LF is an error.
fn lines(bytes: &[u8]) -> impl Iterator<Item = Result<&[u8], WireError>> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(lf) = memchr::memchr(b'\n', rest) else {
            let line = rest;
            rest = &[];
            return Some(Ok(line));
        };
        let line = &rest[..lf];
        rest = &rest[lf + 1..];
        Some(match line.strip_suffix(b"\r") {
            Some(l) if !l.contains(&b'\r') => Ok(l),
            _ => Err(bad("a line of the request head does not end in CRLF")),
        })
    })
}

/// Checks a complete request head (up to and including its final empty line).
pub fn check_head(head: &[u8], limits: &HeadLimits) -> Result<HeadFacts, WireError> {
    let mut lines = lines(head).skip_while(|l| matches!(l, Ok(l) if l.is_empty()));
    let request_line = lines.next().unwrap_or(Ok(b""))?;
    let (target, http11) = request_line_parts(request_line, limits)?;
    let mut hosts = 0usize;
    let mut host_value: &[u8] = b"";
    let mut chunked = false;
    let (mut content_length, mut transfer_encoding) = (false, false);
    let mut fields = 0usize;
    let mut field_bytes = 0usize;
    for line in lines {
        let line = line?;
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            return Err(bad("obsolete line folding (obs-fold) in the request head"));
        }
        let colon = memchr::memchr(b':', line).ok_or_else(|| bad("a header line has no colon"))?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(bad(
                "a header name is empty or not a token (whitespace before the colon?)",
            ));
        }
        let value = line[colon + 1..].trim_ascii();
        if !value.iter().all(|&b| is_field_byte(b)) {
            return Err(bad("a header value contains control characters"));
        }
        fields += 1;
        field_bytes += name.len() + value.len() + 4;
        if fields > limits.fields() {
            return Err(over(
                ErrorKind::HeadersTooLarge,
                "max_headers",
                "the request has more header fields than this gateway accepts",
            ));
        }
        if field_bytes > limits.max_header_bytes {
            return Err(over(
                ErrorKind::HeadersTooLarge,
                "max_header_bytes",
                "the header block is larger than this gateway accepts",
            ));
        }
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            host_value = value;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            chunked = value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"content-length") {
            content_length = true;
        }
    }
    // Pingora's parser keeps Transfer-Encoding and drops Content-Length; a server behind
    // another proxy may do the opposite (RFC 9112 §6.3: request smuggling).
    if content_length && transfer_encoding {
        return Err(bad(
            "Content-Length together with Transfer-Encoding makes the body length ambiguous",
        ));
    }
    match (hosts, http11) {
        (0, true) => return Err(bad("an HTTP/1.1 request must carry a Host header")),
        (2.., _) => return Err(bad("the request carries more than one Host header")),
        _ => {}
    }
    if let Some(authority) = absolute_form_authority(target) {
        if hosts == 1 && !authority.eq_ignore_ascii_case(host_value) {
            return Err(bad(
                "the request target's authority differs from the Host header",
            ));
        }
    }
    Ok(HeadFacts { chunked })
}

/// The target and whether the version is HTTP/1.1, from a request line.
fn request_line_parts<'a>(
    line: &'a [u8],
    limits: &HeadLimits,
) -> Result<(&'a [u8], bool), WireError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(
            "the request line is not `method SP target SP version` (single spaces)",
        ));
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(bad("the request method is not a token"));
    }
    if target.len() > limits.max_uri_bytes {
        return Err(over(
            ErrorKind::UriTooLong,
            "max_uri_bytes",
            "the request target is longer than this gateway accepts",
        ));
    }
    if target.is_empty() || !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(bad(
            "the request target is empty or holds bytes other than visible ASCII",
        ));
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        _ => return Err(bad("the HTTP version is not HTTP/1.0 or HTTP/1.1")),
    };
    Ok((target, http11))
}

/// The authority (`host[:port]`) of an absolute-form target (`scheme://authority/...`).
fn absolute_form_authority(target: &[u8]) -> Option<&[u8]> {
    let at = target.windows(3).position(|w| w == b"://")?;
    if target[..at].is_empty() || !target[..at].iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let rest = &target[at + 3..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    // Userinfo is not part of the host the request is for.
    let authority = &rest[..end];
    Some(
        authority
            .iter()
            .rposition(|&b| b == b'@')
            .map_or(authority, |i| &authority[i + 1..]),
    )
}

/// Longest chunk-size line (size and extensions), in bytes: a line that never ends is refused
/// rather than buffered.
pub const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section, in bytes.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Hex digits of the size (`digits` read so far).
    Size {
        digits: u8,
    },
    /// After the size or an extension: BWS, `;`, or the CR.
    AfterSize,
    /// After `;`: BWS, then a name.
    ExtName {
        started: bool,
    },
    /// After a name: BWS, `=`, `;` or CR.
    AfterName,
    /// After `=`: BWS, then a token or a quoted string.
    ExtValue {
        started: bool,
    },
    /// Inside a quoted string; `escaped` after a backslash.
    Quoted {
        escaped: bool,
    },
    /// The LF ending a chunk line.
    LineLf,
    /// Chunk data: this many bytes left.
    Data {
        left: u64,
    },
    /// The CR, then the LF, after chunk data.
    DataCr,
    DataLf,
    /// A trailer line starts (or the CRLF ending the trailer section).
    TrailerStart,
    /// Inside a trailer field name, value, or at its LF.
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// The final LF of the body.
    EndLf,
    /// The body is complete; what follows is not ours to read.
    Done,
}

/// Checks a chunked body's framing as its bytes arrive (RFC 9112 §7.1), in pieces of any size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedScanner {
    state: Chunk,
    size: u64,
    /// Bytes of the current chunk line (size + extensions) or of the trailer section.
    line: usize,
    trailer: usize,
    /// The size line is the last chunk's (`0`).
    last: bool,
}

impl Default for ChunkedScanner {
    fn default() -> Self {
        ChunkedScanner {
            state: Chunk::Size { digits: 0 },
            size: 0,
            line: 0,
            trailer: 0,
            last: false,
        }
    }
}

fn chunk_err(detail: &'static str) -> WireError {
    bad(detail)
}

impl ChunkedScanner {
    /// Whether the whole body (last chunk and trailer section) has been seen.
    #[cfg(test)]
    pub fn is_done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// Feeds the next bytes of the body; bytes after its end are ignored.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let mut i = 0;
        while i < bytes.len() {
            if let Chunk::Data { left } = self.state {
                let take = left.min((bytes.len() - i) as u64);
                i += take as usize;
                self.state = if left == take {
                    Chunk::DataCr
                } else {
                    Chunk::Data { left: left - take }
                };
                continue;
            }
            if self.state == Chunk::Done {
                return Ok(());
            }
            self.step(bytes[i])?;
            i += 1;
        }
        Ok(())
    }

    fn step(&mut self, b: u8) -> Result<(), WireError> {
        use Chunk::*;
        if matches!(
            self.state,
            Size { .. } | AfterSize | ExtName { .. } | AfterName | ExtValue { .. } | Quoted { .. }
        ) {
            self.line += 1;
            if self.line > MAX_CHUNK_LINE {
                return Err(chunk_err("a chunk-size line is too long"));
            }
        }
        if matches!(
            self.state,
            TrailerStart | TrailerName | TrailerValue | TrailerLf
        ) {
            self.trailer += 1;
            if self.trailer > MAX_TRAILER_BYTES {
                return Err(chunk_err("the chunked trailer section is too large"));
            }
        }
        self.state = match (self.state, b) {
            (Size { digits }, b) if b.is_ascii_hexdigit() => {
                if digits >= 16 {
                    return Err(chunk_err("a chunk size is out of range"));
                }
                let v = u64::from((b as char).to_digit(16).unwrap_or(0));
                self.size = self.size * 16 + v;
                Size { digits: digits + 1 }
            }
            (Size { digits: 0 }, _) => {
                return Err(chunk_err("a chunk line does not start with a size"))
            }
            (Size { .. } | AfterSize, b' ' | b'\t') => AfterSize,
            (Size { .. } | AfterSize | AfterName, b';') => ExtName { started: false },
            (Size { .. } | AfterSize | AfterName, b'\r') => LineLf,
            (ExtName { started: false }, b' ' | b'\t') => ExtName { started: false },
            (ExtName { .. }, b) if is_tchar(b) => ExtName { started: true },
            (ExtName { started: true }, b' ' | b'\t') => AfterName,
            (ExtName { started: true }, b';') => ExtName { started: false },
            (ExtName { started: true }, b'=') | (AfterName, b'=') => ExtValue { started: false },
            (ExtName { started: true }, b'\r') => LineLf,
            (AfterName, b' ' | b'\t') => AfterName,
            (ExtValue { started: false }, b' ' | b'\t') => ExtValue { started: false },
            (ExtValue { started: false }, b'"') => Quoted { escaped: false },
            (ExtValue { .. }, b) if is_tchar(b) => ExtValue { started: true },
            (ExtValue { started: true }, b' ' | b'\t') => AfterSize,
            (ExtValue { started: true }, b';') => ExtName { started: false },
            (ExtValue { started: true }, b'\r') => LineLf,
            (Quoted { escaped: true }, b) if b == b'\t' || b == b' ' || b >= 0x21 && b != 0x7f => {
                Quoted { escaped: false }
            }
            (Quoted { escaped: false }, b'\\') => Quoted { escaped: true },
            (Quoted { escaped: false }, b'"') => AfterSize,
            (Quoted { escaped: false }, b)
                if b == b'\t' || b == b' ' || (b >= 0x21 && b != 0x7f) =>
            {
                Quoted { escaped: false }
            }
            (LineLf, b'\n') => {
                self.line = 0;
                let size = std::mem::take(&mut self.size);
                if size == 0 {
                    self.last = true;
                    TrailerStart
                } else {
                    Data { left: size }
                }
            }
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size { digits: 0 },
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart | TrailerName, b) if is_tchar(b) => TrailerName,
            (TrailerName, b':') => TrailerValue,
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerValue, b) if is_field_byte(b) => TrailerValue,
            (TrailerLf, b'\n') => TrailerStart,
            (EndLf, b'\n') => Done,
            (DataCr | DataLf, _) => return Err(chunk_err("chunk data is not followed by CRLF")),
            (LineLf | TrailerLf | EndLf, _) => {
                return Err(chunk_err("a chunk line does not end in CRLF"))
            }
            (TrailerStart | TrailerName | TrailerValue, _) => {
                return Err(chunk_err("the chunked trailer section is malformed"))
            }
            _ => return Err(chunk_err("a chunk extension is malformed")),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_uri_bytes: 8192,
        max_header_bytes: 32 * 1024,
        max_headers: 100,
    };

    fn head(s: &str) -> Result<HeadFacts, WireError> {
        check_head(s.as_bytes(), &LIMITS)
    }

    #[test]
    fn well_formed_heads_pass() {
        for ok in [
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "\r\n\r\nGET /x?y=1 HTTP/1.1\r\nHost: a:8443\r\nAccept:   */*  \r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET https://a.test/x HTTP/1.1\r\nHost: A.test\r\n\r\n",
            "GET https://u@a.test:8443 HTTP/1.1\r\nHost: a.test:8443\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Obs: caf\u{e9}\r\n\r\n",
        ] {
            assert!(head(ok).is_ok(), "{ok:?}: {:?}", head(ok));
        }
        assert_eq!(
            head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(HeadFacts { chunked: true })
        );
    }

    #[test]
    fn every_kind_of_malformed_head_is_refused_by_us() {
        for (what, bad) in [
            (
                "two Host fields",
                "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            ),
            (
                "two identical Host fields",
                "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
            ),
            ("no Host in 1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"),
            (
                "Content-Length with Transfer-Encoding",
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
            (
                "Transfer-Encoding with Content-Length",
                "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: gzip\r\ncontent-length: 3\r\n\r\n",
            ),
            (
                "obs-fold",
                "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
            ),
            (
                "obs-fold with tab",
                "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n",
            ),
            ("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
            ("tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"),
            (
                "absolute-form authority differs",
                "GET http://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
            ),
            ("HTTP/1.7", "GET / HTTP/1.7\r\nHost: a\r\n\r\n"),
            ("HTTP/2.0 on h1", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
            ("lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n"),
            ("bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n"),
            ("bare CR", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"),
            ("two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("tab in request line", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("no version", "GET /\r\nHost: a\r\n\r\n"),
            ("NUL in target", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"),
            (
                "non-ASCII target",
                "GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n",
            ),
            ("method not a token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("no colon", "GET / HTTP/1.1\r\nHost: a\r\nJunk\r\n\r\n"),
            ("empty name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n"),
            (
                "control byte in value",
                "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
            ),
            (
                "DEL in value",
                "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n",
            ),
        ] {
            let got = head(bad);
            assert!(
                matches!(
                    got,
                    Err(WireError {
                        kind: ErrorKind::BadRequest,
                        ..
                    })
                ),
                "{what}: {got:?}"
            );
        }
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        assert_eq!(head(&long).unwrap_err().limit, Some("max_uri_bytes"));
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        assert_eq!(head(&many).unwrap_err().limit, Some("max_headers"));
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "v".repeat(33 * 1024)
        );
        assert_eq!(head(&big).unwrap_err().limit, Some("max_header_bytes"));
    }

    fn body(bytes: &[u8]) -> Result<bool, WireError> {
        let mut s = ChunkedScanner::default();
        s.feed(bytes)?;
        Ok(s.is_done())
    }

    #[test]
    fn well_formed_chunked_bodies_pass() {
        for ok in [
            &b"0\r\n\r\n"[..],
            b"3\r\nabc\r\n0\r\n\r\n",
            b"A\r\n0123456789\r\n0\r\n\r\n",
            b"3;name\r\nabc\r\n0\r\n\r\n",
            b"3;name=value\r\nabc\r\n0\r\n\r\n",
            b"3 ; a = b ; c\r\nabc\r\n0;last\r\n\r\n",
            b"3;q=\"a \\\" ; b\"\r\nabc\r\n0\r\n\r\n",
            b"3\r\nabc\r\n0\r\nX-Trailer: v\r\nY: w\r\n\r\n",
            b"000003\r\nabc\r\n0\r\n\r\n",
        ] {
            assert_eq!(body(ok), Ok(true), "{:?}", String::from_utf8_lossy(ok));
        }
        assert_eq!(body(b"3\r\nab"), Ok(false));
    }

    #[test]
    fn malformed_chunk_lines_are_refused() {
        for bad in [
            &b"3;\nabc\r\n0\r\n\r\n0\r\n\r\n"[..],
            b"3\nabc\r\n0\r\n\r\n",
            b"3;\r\nabc\r\n0\r\n\r\n",
            b"3;a\nabc\r\n0\r\n\r\n",
            b"3;a=\r\nabc\r\n0\r\n\r\n",
            b"3;a=\"unterminated\r\nabc\r\n0\r\n\r\n",
            b"3;a=b c\r\nabc\r\n0\r\n\r\n",
            b"3;a\x00b\r\nabc\r\n0\r\n\r\n",
            b"3;(a)\r\nabc\r\n0\r\n\r\n",
            b"3;a=\"\x01\"\r\nabc\r\n0\r\n\r\n",
            b"3\rabc\r\n0\r\n\r\n",
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"3\r\nabc\n0\r\n\r\n",
            b"-3\r\nabc\r\n0\r\n\r\n",
            b"0x3\r\nabc\r\n0\r\n\r\n",
            b" 3\r\nabc\r\n0\r\n\r\n",
            b"\r\n3\r\nabc\r\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"3\r\nabc\r\n0\r\nBad Name: v\r\n\r\n",
            b"3\r\nabc\r\n0\r\n: v\r\n\r\n",
            b"3\r\nabc\r\n0\r\nX: \x01\r\n\r\n",
            b"3\r\nabc\r\n0\r\n\n",
        ] {
            assert!(body(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let long = format!("3;{}\r\nabc\r\n0\r\n\r\n", "a".repeat(MAX_CHUNK_LINE));
        assert!(body(long.as_bytes()).is_err());
    }

    proptest! {
        /// Feeding a body in pieces gives the same verdict as feeding it whole.
        #[test]
        fn chunked_scanning_in_pieces_matches_whole(
            bytes in proptest::collection::vec(prop_oneof![
                Just(b'\r'), Just(b'\n'), Just(b';'), Just(b'='), Just(b'"'), Just(b'\\'),
                Just(b'0'), Just(b'3'), Just(b'a'), Just(b' '), Just(b'\t'), any::<u8>(),
            ], 0..64),
            cuts in proptest::collection::vec(0usize..64, 0..6),
        ) {
            let whole = body(&bytes);
            let mut s = ChunkedScanner::default();
            let mut pieces = cuts.clone();
            pieces.sort_unstable();
            let mut at = 0;
            let mut result = Ok(());
            for cut in pieces.into_iter().chain([bytes.len()]) {
                let cut = cut.min(bytes.len()).max(at);
                result = result.and_then(|()| s.feed(&bytes[at..cut]));
                at = cut;
            }
            prop_assert_eq!(whole.map(|_| ()).is_ok(), result.is_ok());
        }

        /// The head check never panics, whatever the bytes.
        #[test]
        fn head_checking_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = check_head(&bytes, &LIMITS);
        }
    }
}
