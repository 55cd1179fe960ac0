//! Request framing and size checks: ambiguity is refused, never interpreted.
//!
//! Request smuggling lives in the gap between how two HTTP parsers read the same bytes. The
//! edge refuses every request whose length could be read two ways (Content-Length with
//! Transfer-Encoding, repeated or malformed lengths, any coding but a single `chunked`) and
//! closes the connection, before any origin is contacted. Pure function over the parsed head.

use pingora::http::RequestHeader;

use crate::request::problem::{EdgeError, ErrorKind};

/// Size limits on one request's head and body: `[limits]` resolved for its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request target (path and query), in bytes: 414 beyond.
    pub max_uri_bytes: usize,
    /// Largest header block (names + values), in bytes: 431 beyond.
    pub max_header_bytes: usize,
    /// Most header fields: 431 beyond.
    pub max_headers: usize,
    /// Largest request body, in bytes: 413 beyond (declared or streamed).
    pub max_body_bytes: u64,
}

impl Limits {
    /// The limits for a request to `path`: the body limit of the longest matching
    /// `[[limits.routes]]` entry, the global values otherwise.
    pub fn for_request(limits: &edge_config::Limits, path: &str) -> Self {
        Limits {
            max_uri_bytes: limits.max_uri_bytes,
            max_header_bytes: limits.max_header_bytes,
            max_headers: limits.max_headers,
            max_body_bytes: limits.max_body_bytes_for(path),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::for_request(&edge_config::Limits::default(), "/")
    }
}

fn bad(detail: &'static str) -> EdgeError {
    EdgeError::new(ErrorKind::BadRequest, detail)
}

/// A header value may hold visible ASCII, obs-text, spaces and tabs; no other control bytes.
fn has_control_bytes(value: &[u8]) -> bool {
    value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// Checks one request head. `http1` enables the Content-Length / Transfer-Encoding rules
/// (HTTP/2 frames its bodies itself).
pub fn check(req: &RequestHeader, http1: bool, limits: &Limits) -> Result<(), EdgeError> {
    check_fields(req, limits)?;
    check_body_framing(req, http1, limits)
}

/// The target's length, the number and size of the header fields and their bytes against
/// `limits`: what the edge's own HTTP/1 head check (`edge::wire`) has already enforced on a
/// head it held.
pub fn check_fields(req: &RequestHeader, limits: &Limits) -> Result<(), EdgeError> {
    if req.raw_path().len() > limits.max_uri_bytes {
        return Err(EdgeError::new(
            ErrorKind::UriTooLong,
            format!(
                "the request target is longer than {} bytes",
                limits.max_uri_bytes
            ),
        )
        .by_limit("max_uri_bytes"));
    }
    if req.headers.len() > limits.max_headers {
        return Err(EdgeError::new(
            ErrorKind::HeadersTooLarge,
            format!("more than {} header fields", limits.max_headers),
        )
        .by_limit("max_headers"));
    }
    let mut size = 0usize;
    for (name, value) in &req.headers {
        size += name.as_str().len() + value.len() + 4;
        if has_control_bytes(value.as_bytes()) {
            return Err(bad("a header value contains control characters"));
        }
    }
    if size > limits.max_header_bytes {
        return Err(EdgeError::new(
            ErrorKind::HeadersTooLarge,
            format!(
                "the header block is larger than {} bytes",
                limits.max_header_bytes
            ),
        )
        .by_limit("max_header_bytes"));
    }
    // The edge refuses this in a head it held; a head it did not hold whole is checked here.
    if req
        .headers
        .get_all(http::header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(bad("the request carries more than one Host header"));
    }
    Ok(())
}

/// `Transfer-Encoding` and `Content-Length` as this gateway accepts them (HTTP/1 only: h2
/// frames its bodies itself) and the declared length against the body limit.
pub fn check_body_framing(
    req: &RequestHeader,
    http1: bool,
    limits: &Limits,
) -> Result<(), EdgeError> {
    if !http1 {
        return declared_length(req, limits).map(|_| ());
    }
    let te: Vec<&[u8]> = req
        .headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let has_cl = req.headers.contains_key(http::header::CONTENT_LENGTH);
    match te.as_slice() {
        [] => {}
        [one] if one.trim_ascii().eq_ignore_ascii_case(b"chunked") => {
            if has_cl {
                return Err(bad(
                    "Content-Length together with Transfer-Encoding makes the body length ambiguous",
                ));
            }
        }
        [_] => {
            return Err(bad(
                "only `Transfer-Encoding: chunked` (a single, final chunked coding) is accepted",
            ))
        }
        _ => return Err(bad("Transfer-Encoding sent more than once")),
    }
    declared_length(req, limits).map(|_| ())
}

/// The `Expect` expectation the gateway meets: `100-continue` (RFC 9110 §10.1.1), answered by
/// the gateway before it reads a body it buffers, else by the origin.
pub fn expects_continue(req: &RequestHeader) -> Result<bool, EdgeError> {
    let mut values = req.headers.get_all(http::header::EXPECT).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(false),
        (Some(v), None)
            if v.as_bytes()
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue") =>
        {
            Ok(true)
        }
        _ => Err(EdgeError::new(
            ErrorKind::ExpectationFailed,
            "the only expectation supported is a single `Expect: 100-continue`",
        )),
    }
}

/// Whether a path segment is a dot-segment (`.` or `..`), in any spelling: `%2e`/`%2E` decode
/// to `.`, so `%2e%2E` is `..` to a normalising origin.
fn is_dot_segment(seg: &[u8]) -> bool {
    let mut dots = 0;
    let mut i = 0;
    while i < seg.len() {
        if seg[i] == b'.' {
            i += 1;
        } else if seg.len() >= i + 3
            && seg[i] == b'%'
            && seg[i + 1] == b'2'
            && seg[i + 2].eq_ignore_ascii_case(&b'e')
        {
            i += 3;
        } else {
            return false;
        }
        dots += 1;
    }
    matches!(dots, 1 | 2)
}

/// Whether `seg` hides a separator: an encoded slash or backslash, or a raw backslash (which
/// Windows servers and some frameworks read as `/`).
fn hides_separator(seg: &[u8]) -> bool {
    seg.contains(&b'\\')
        || seg.windows(3).any(|w| {
            w[0] == b'%'
                && (w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f')
                    || w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c'))
        })
}

/// Refuses a path that an origin could read as another path than the gateway routed
/// (RFC 3986 §5.2.4 normalisation):
///
/// - a dot-segment anywhere (`/a/../b`, `/%2e%2E/`, `/.`): browsers and curl remove them
///   before sending, so only a client that wants two readings sends one;
/// - when the tenant is read from the path, an empty segment (`//`) or a hidden separator
///   (`%2F`, `%5C`, `\`) in the first `tenant_depth` segments (the prefix's and the tenant's
///   own): `/t//<a>` or `/t/<a>%2F..` would route by one tenant and be served as another.
///
/// Refused rather than normalised: forwarding a path other than the client sent would change
/// what the origin signs, caches and logs. Encoded slashes deeper in the path (GitLab-style
/// `group%2Fproject` ids) stay allowed.
pub fn check_path(path: &[u8], tenant_depth: usize) -> Result<(), EdgeError> {
    let path = target_path(path);
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    let mut segments = path.split(|&b| b == b'/');
    // The empty segment before the leading `/` (origin-form always starts with one).
    if path.first() == Some(&b'/') {
        segments.next();
    }
    let mut segments = segments.enumerate().peekable();
    while let Some((depth, seg)) = segments.next() {
        if is_dot_segment(seg) {
            return Err(bad(
                "the path contains a dot-segment (`.` or `..`, possibly percent-encoded)",
            ));
        }
        // An empty segment is `//` unless it is the last one (a trailing `/`).
        let empty_inside = seg.is_empty() && segments.peek().is_some();
        if depth < tenant_depth && (empty_inside || hides_separator(seg)) {
            return Err(bad(
                "the path segments that carry the tenant contain an empty segment or an encoded separator",
            ));
        }
    }
    Ok(())
}

/// The path (and query) of a request-target: the target itself in origin-form, what follows
/// the authority in absolute-form (`https://host/path`, which servers must accept: RFC 9112
/// §3.2.2), nothing in authority-form (CONNECT).
fn target_path(target: &[u8]) -> &[u8] {
    if matches!(target.first(), Some(b'/' | b'*')) {
        return target;
    }
    let Some(scheme_end) = target.windows(3).position(|w| w == b"://") else {
        return &[];
    };
    let rest = &target[scheme_end + 3..];
    match rest.iter().position(|&b| matches!(b, b'/' | b'?')) {
        Some(i) => &rest[i..],
        None => &[],
    }
}

/// How many leading path segments carry the tenant: the prefix's segments plus the tenant's
/// own, for the deepest `path` tenant source (0 when the tenant is not read from the path).
pub fn tenant_depth(sources: &[edge_config::TenantSource]) -> usize {
    sources
        .iter()
        .filter_map(|s| match s {
            edge_config::TenantSource::Path { prefix } => {
                Some(prefix.split('/').filter(|p| !p.is_empty()).count() + 1)
            }
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// Checks the raw HTTP/1 header block as received. Pingora's parser is lenient in two ways
/// that matter at the edge, so this looks at the bytes themselves: it accepts a bare LF as a
/// line end (another parser behind us may not), and when Content-Length and
/// Transfer-Encoding are both present it silently drops Content-Length — interpreting the
/// ambiguity instead of refusing it.
pub fn check_raw_head(raw: &[u8]) -> Result<(), EdgeError> {
    let mut has_cl = false;
    let mut has_te = false;
    let mut line_start = 0;
    for i in memchr::memchr_iter(b'\n', raw) {
        if i == 0 || raw[i - 1] != b'\r' {
            return Err(bad(
                "a header line ends with a bare LF; lines must end with CRLF",
            ));
        }
        let line = &raw[line_start..i - 1];
        has_cl |= starts_with_name(line, b"content-length");
        has_te |= starts_with_name(line, b"transfer-encoding");
        line_start = i + 1;
    }
    if has_cl && has_te {
        return Err(bad(
            "Content-Length together with Transfer-Encoding makes the body length ambiguous",
        ));
    }
    Ok(())
}

fn starts_with_name(line: &[u8], name: &[u8]) -> bool {
    line.len() > name.len()
        && line[..name.len()].eq_ignore_ascii_case(name)
        && matches!(line[name.len()], b':' | b' ' | b'\t')
}

/// The declared Content-Length: exactly one field of digits only, within the body limit.
fn declared_length(req: &RequestHeader, limits: &Limits) -> Result<Option<u64>, EdgeError> {
    let mut values = req.headers.get_all(http::header::CONTENT_LENGTH).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad("Content-Length sent more than once"));
    }
    let text = first.as_bytes().trim_ascii();
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) || text.len() > 19 {
        return Err(bad(
            "Content-Length must be a single non-negative decimal number",
        ));
    }
    let n: u64 = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| bad("Content-Length must be a single non-negative decimal number"))?;
    if n > limits.max_body_bytes {
        return Err(body_too_large(limits));
    }
    Ok(Some(n))
}

/// The error for a body over the limit (declared or counted while streaming).
pub fn body_too_large(limits: &Limits) -> EdgeError {
    EdgeError::new(
        ErrorKind::PayloadTooLarge,
        format!(
            "the request body is larger than {} bytes",
            limits.max_body_bytes
        ),
    )
    .by_limit("max_body_bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/x", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn kind(headers: &[(&str, &str)]) -> Option<ErrorKind> {
        check(&req(headers), true, &Limits::default())
            .err()
            .map(|e| e.kind)
    }

    #[test]
    fn unambiguous_requests_pass() {
        assert_eq!(kind(&[("content-length", "5")]), None);
        assert_eq!(kind(&[("transfer-encoding", "chunked")]), None);
        assert_eq!(kind(&[("transfer-encoding", " Chunked ")]), None);
        assert_eq!(kind(&[]), None);
    }

    #[test]
    fn two_hosts_are_refused() {
        assert_eq!(kind(&[("host", "a")]), None);
        assert_eq!(
            kind(&[("host", "a"), ("host", "a")]),
            Some(ErrorKind::BadRequest)
        );
    }

    #[test]
    fn ambiguity_is_refused() {
        let b = Some(ErrorKind::BadRequest);
        assert_eq!(
            kind(&[("content-length", "5"), ("transfer-encoding", "chunked")]),
            b
        );
        assert_eq!(kind(&[("content-length", "5"), ("content-length", "5")]), b);
        assert_eq!(kind(&[("content-length", "5, 5")]), b);
        assert_eq!(kind(&[("content-length", "+5")]), b);
        assert_eq!(kind(&[("content-length", "-1")]), b);
        assert_eq!(kind(&[("content-length", "99999999999999999999")]), b);
        assert_eq!(kind(&[("transfer-encoding", "gzip, chunked")]), b);
        assert_eq!(kind(&[("transfer-encoding", "chunked, gzip")]), b);
        assert_eq!(kind(&[("transfer-encoding", "identity")]), b);
        assert_eq!(
            kind(&[
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked")
            ]),
            b
        );
    }

    #[test]
    fn raw_heads_are_checked_for_bare_lf_and_both_lengths() {
        let ok = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n";
        assert!(check_raw_head(ok).is_ok());
        let both = b"POST / HTTP/1.1\r\ncontent-length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(check_raw_head(both).is_err());
        let lf = b"POST / HTTP/1.1\r\nX-A: 1\nX-B: 2\r\n\r\n";
        assert!(check_raw_head(lf).is_err());
        // A header that merely starts like one of the names is not it.
        let other = b"POST / HTTP/1.1\r\nContent-Length-X: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(check_raw_head(other).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// The raw-head check never panics, and what it accepts has no bare LF and not both
        /// length headers (the same property the `request_framing` fuzz target checks).
        #[test]
        fn raw_head_check_is_total(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if check_raw_head(&data).is_ok() {
                for (i, &b) in data.iter().enumerate() {
                    if b == b'\n' {
                        proptest::prop_assert!(i > 0 && data[i - 1] == b'\r');
                    }
                }
            }
        }
    }

    #[test]
    fn sizes_have_their_own_statuses() {
        let l = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        let r = req(&[("content-length", "11")]);
        assert_eq!(
            check(&r, true, &l).unwrap_err().kind,
            ErrorKind::PayloadTooLarge
        );
        let many: Vec<(String, &str)> = (0..101).map(|i| (format!("x-{i}"), "v")).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(kind(&many), Some(ErrorKind::HeadersTooLarge));
        let long = RequestHeader::build("GET", "/".repeat(9000).as_bytes(), None).unwrap();
        assert_eq!(
            check(&long, true, &Limits::default()).unwrap_err().kind,
            ErrorKind::UriTooLong
        );
    }

    #[test]
    fn dot_segments_are_refused_in_every_spelling() {
        for path in [
            "/t/a/../b",
            "/..",
            "/.",
            "/a/.",
            "/a/./b",
            "/%2e%2e/x",
            "/%2E%2e/x",
            "/.%2e/x",
            "/%2e./x",
            "/%2e/x",
            "/a/%2E",
            "/a/..?q=1",
        ] {
            assert!(check_path(path.as_bytes(), 0).is_err(), "{path}");
        }
        for path in [
            "/",
            "/a",
            "/a.b/c",
            "/.well-known/x",
            "/a/...",
            "/a/..b",
            "/%2e%2e%2e",
            "/a?x=/../",
            "/v1/projects/group%2Fproject",
        ] {
            assert!(check_path(path.as_bytes(), 0).is_ok(), "{path}");
        }
    }

    #[test]
    fn absolute_form_targets_are_checked_by_their_path() {
        for (target, depth, ok) in [
            ("https://a.test/t/acme/x", 2, true),
            ("https://a.test:8443/t/acme/x?q=1", 2, true),
            ("http://u@a.test/", 2, true),
            ("https://a.test", 2, true),
            ("https://a.test?q=/../", 0, true),
            ("https://a.test/t/a/../b", 0, false),
            ("https://a.test//t/a", 2, false),
            ("https://a.test/t/a%2Fb/x", 2, false),
            ("a.test:443", 2, true),
        ] {
            assert_eq!(check_path(target.as_bytes(), depth).is_ok(), ok, "{target}");
        }
    }

    #[test]
    fn the_tenant_segments_admit_no_empty_segment_or_hidden_separator() {
        let depth = tenant_depth(&[edge_config::TenantSource::Path {
            prefix: "/t/".into(),
        }]);
        assert_eq!(depth, 2);
        for path in [
            "//t/a/x",
            "/t//a/x",
            "/t/a%2Fb/x",
            "/t/a%2fb",
            "/t/a%5Cb",
            "/t/a\\b",
            "/%2Ft/a",
        ] {
            assert!(check_path(path.as_bytes(), depth).is_err(), "{path}");
        }
        for path in [
            "/t/a/x",
            "/t/a/x//y",
            "/t/a/b%2Fc",
            "/t/a",
            "/t/a/",
            "/",
            "/t/",
        ] {
            assert!(check_path(path.as_bytes(), depth).is_ok(), "{path}");
        }
    }

    #[test]
    fn only_one_100_continue_is_an_expectation_we_meet() {
        let req = |values: &[&str]| {
            let mut r = RequestHeader::build("POST", b"/", None).unwrap();
            for v in values {
                r.append_header("expect", *v).unwrap();
            }
            r
        };
        assert_eq!(expects_continue(&req(&[])), Ok(false));
        assert_eq!(expects_continue(&req(&["100-continue"])), Ok(true));
        assert_eq!(expects_continue(&req(&["100-Continue "])), Ok(true));
        for bad in [&["200-ok"][..], &["100-continue", "100-continue"], &[""]] {
            let e = expects_continue(&req(bad)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::ExpectationFailed, "{bad:?}");
        }
    }
}
