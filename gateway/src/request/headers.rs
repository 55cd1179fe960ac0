//! Header hygiene between client and origin.
//!
//! The origin trusts what the gateway says about a request (its tenant, its client address,
//! which region served it), so nothing the client sends under those names may reach the origin
//! as sent: the client's copies are removed and the gateway's own are set.
//!
//! Names are compared after folding `_` to `-` (HTTP field names are already case-folded):
//! CGI, WSGI, PHP and Rails map `X-Tenant-Id` and `X_Tenant_Id` to the same variable
//! (`HTTP_X_TENANT_ID`), so an underscore spelling is an alias the origin may read as ours.
//! Such aliases are dropped, not refused: a client cannot make them reach the origin, and a
//! request that merely carries one is still served (Traefik's fix for the same hole; nginx
//! drops every underscore name by default).

use edge_config::HeaderCase;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::request::Parts as ReqParts;
use http::response::Parts as RespParts;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::{ErrorType, OrErr, Result};

/// Headers the gateway owns on the upstream request; client copies (and their `_` aliases)
/// are always removed.
const OWNED_REQUEST_HEADERS: &[&str] = &[
    "x-tenant-id",
    "x-client-country",
    "x-request-id",
    "forwarded",
    "x-real-ip",
];

/// Every header with one of these prefixes belongs to the gateway.
const OWNED_PREFIXES: &[&str] = &["x-edge-", "x-forwarded-"];

// Built once: `insert_header("x-…", …)` parses and allocates a name on every call.
const X_TENANT_ID: HeaderName = HeaderName::from_static("x-tenant-id");
const X_CLIENT_COUNTRY: HeaderName = HeaderName::from_static("x-client-country");
const X_EDGE_REGION: HeaderName = HeaderName::from_static("x-edge-region");
/// The request id, on requests to origins and on responses.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");
/// The `x-edge-route` debug header (`routing.debug_headers`).
pub const X_EDGE_ROUTE: HeaderName = HeaderName::from_static("x-edge-route");

/// The header edits the gateway makes, on Pingora's header types (which keep each name's
/// original spelling in a second map, so every edit parses the name and updates both maps) or
/// on a plain [`HeaderMap`] taken out of them (`routing.header_case = "lowercase"`: one map,
/// names already parsed).
pub trait HeaderEdit {
    /// The headers as they are now.
    fn map(&self) -> &HeaderMap;
    /// Removes every value of `name`.
    fn remove(&mut self, name: &HeaderName);
    /// Sets `name` to `value` alone. Errors: the map would exceed `http`'s 32,768 entries.
    fn set(&mut self, name: HeaderName, value: HeaderValue) -> Result<()>;
    /// Makes room for `additional` more names at once (one rehash instead of several); a
    /// hint, ignored where the map is not reachable.
    fn reserve(&mut self, _additional: usize) {}
}

impl HeaderEdit for HeaderMap {
    fn map(&self) -> &HeaderMap {
        self
    }
    fn remove(&mut self, name: &HeaderName) {
        HeaderMap::remove(self, name);
    }
    fn set(&mut self, name: HeaderName, value: HeaderValue) -> Result<()> {
        self.try_insert(name, value)
            .or_err(ErrorType::InvalidHTTPHeader, "too many headers")?;
        Ok(())
    }
    fn reserve(&mut self, additional: usize) {
        // Beyond `http`'s limit the inserts report the error.
        let _ = self.try_reserve(additional);
    }
}

impl HeaderEdit for RequestHeader {
    fn map(&self) -> &HeaderMap {
        &self.headers
    }
    fn remove(&mut self, name: &HeaderName) {
        self.remove_header(name);
    }
    fn set(&mut self, name: HeaderName, value: HeaderValue) -> Result<()> {
        self.insert_header(name, value)
    }
}

impl HeaderEdit for ResponseHeader {
    fn map(&self) -> &HeaderMap {
        &self.headers
    }
    fn remove(&mut self, name: &HeaderName) {
        self.remove_header(name);
    }
    fn set(&mut self, name: HeaderName, value: HeaderValue) -> Result<()> {
        self.insert_header(name, value)
    }
}

/// Runs `edit` on the request's headers. With [`HeaderCase::Lowercase`] the headers are
/// taken out of Pingora's [`RequestHeader`] as a plain [`HeaderMap`] and put back without
/// the record of original spellings (names then go out lower-case, but for a dozen standard
/// ones Pingora title-cases, `Host` and `Content-Type` among them), which makes each edit a
/// single map operation. A request-target the URI does not
/// carry as received (absolute-form, CONNECT, a lossily decoded path) would be lost on the
/// way, so such a request is edited in place, as with [`HeaderCase::Preserve`].
pub fn edit_request<R>(
    req: &mut RequestHeader,
    case: HeaderCase,
    edit: impl FnOnce(&mut dyn HeaderEdit) -> R,
) -> R {
    if case == HeaderCase::Preserve || !target_from_uri(req) {
        return edit(req);
    }
    let end_stream = req.send_end_stream();
    let mut parts = ReqParts::from(std::mem::replace(req, empty_request()));
    let out = edit(&mut parts.headers);
    *req = RequestHeader::from(parts);
    if let Some(end_stream) = end_stream {
        req.set_send_end_stream(end_stream);
    }
    out
}

/// [`edit_request`] for a response; a non-standard reason phrase is kept.
pub fn edit_response<R>(
    resp: &mut ResponseHeader,
    case: HeaderCase,
    edit: impl FnOnce(&mut dyn HeaderEdit) -> R,
) -> R {
    if case == HeaderCase::Preserve {
        return edit(resp);
    }
    let reason = resp
        .get_reason_phrase()
        .filter(|r| Some(*r) != resp.status.canonical_reason())
        .map(str::to_owned);
    let mut parts = RespParts::from(std::mem::replace(resp, empty_response()));
    let out = edit(&mut parts.headers);
    *resp = ResponseHeader::from(parts);
    if let Some(reason) = reason {
        // Only a phrase Pingora accepted when it read the response comes back here.
        let _ = resp.set_reason_phrase(Some(&reason));
    }
    out
}

/// Drops the record of the request's original header spellings when `case` says names go
/// out lower-case: the copy Pingora makes of it for each upstream attempt is then cheaper.
pub fn drop_request_case(req: &mut RequestHeader, case: HeaderCase) {
    if case == HeaderCase::Lowercase && req.has_case() {
        edit_request(req, case, |_| ());
    }
}

/// Whether the request-target is the URI's path and query as they are (Pingora keeps
/// separate bytes only for targets the URI cannot carry as received).
fn target_from_uri(req: &RequestHeader) -> bool {
    req.uri
        .path_and_query()
        .is_some_and(|pq| std::ptr::eq(pq.as_str().as_bytes(), req.raw_path()))
}

/// A request header with nothing in it (no allocation), to hold a place while the real
/// one's parts are edited.
fn empty_request() -> RequestHeader {
    RequestHeader::from(http::Request::new(()).into_parts().0)
}

/// [`empty_request`] for a response.
fn empty_response() -> ResponseHeader {
    ResponseHeader::from(http::Response::new(()).into_parts().0)
}

/// Whether a `101 Switching Protocols` answers what the client asked: the request carries
/// `Connection: upgrade` and `Upgrade`, and the response's `Upgrade` names one of the
/// requested protocols (RFC 9110 §7.8; protocol names compared case-insensitively, versions
/// as sent).
pub fn upgrade_requested(req: &RequestHeader, resp: &ResponseHeader) -> bool {
    let has_token = |value: &http::HeaderValue, token: &str| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    let asked_upgrade = req
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .any(|v| has_token(v, "upgrade"));
    let Some(granted) = resp
        .headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    asked_upgrade
        && granted.split(',').all(|g| {
            let g = g.trim();
            !g.is_empty()
                && req
                    .headers
                    .get_all(http::header::UPGRADE)
                    .iter()
                    .any(|v| has_token(v, g))
        })
}

/// Whether `a` equals `b` once `_` is read as `-` in `a` (`b` is a lowercase owned name).
fn eq_folded(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(&x, &y)| x == y || (x == b'_' && y == b'-'))
}

/// Whether the request header `name` (lowercase, as the `http` crate stores it) is one the
/// gateway owns, or an alias of one with `_` for `-`.
pub fn is_owned(name: &str) -> bool {
    let n = name.as_bytes();
    // Every owned name starts with `x` or `f`: most headers are rejected by one comparison.
    if !matches!(n.first(), Some(b'x' | b'f')) {
        return false;
    }
    OWNED_REQUEST_HEADERS
        .iter()
        .any(|o| eq_folded(n, o.as_bytes()))
        || OWNED_PREFIXES
            .iter()
            .any(|p| n.len() > p.len() && eq_folded(&n[..p.len()], p.as_bytes()))
}

/// Longest client-supplied `X-Request-Id` kept as is.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// What the gateway asserts about a request to its origin.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamFacts<'a> {
    /// The tenant, as a hyphenated UUID (none for a request routed by location).
    pub tenant: Option<&'a str>,
    /// The client's country (ISO 3166-1 alpha-2), when located.
    pub client_country: Option<&'a str>,
    /// The region chosen for this attempt (its name as a header value).
    pub region: &'a http::HeaderValue,
    /// The client's address (socket peer).
    pub client_ip: Option<std::net::IpAddr>,
    /// The host the client asked for: its `Host` header, else the URI's authority (h2).
    pub host: Option<Host<'a>>,
    /// The request id (validated or generated).
    pub request_id: &'a str,
    /// `Host` to send instead of the client's, when the origin is configured with one.
    pub host_override: Option<&'a str>,
}

/// The host the client asked for, as the gateway repeats it in `x-forwarded-host`.
#[derive(Debug, Clone, Copy)]
pub enum Host<'a> {
    /// The request's `Host` header (cloning it shares its bytes).
    Header(&'a HeaderValue),
    /// The URI's authority (an h2 request without `Host`).
    Authority(&'a str),
}

/// Removes client-supplied gateway-owned headers and sets the gateway's own.
pub fn prepare_upstream_request(req: &mut dyn HeaderEdit, facts: &UpstreamFacts<'_>) -> Result<()> {
    // One pass over the names; nothing is allocated when the client sent none of ours.
    let owned: Vec<HeaderName> = req
        .map()
        .keys()
        .filter(|k| is_owned(k.as_str()))
        .cloned()
        .collect();
    for name in &owned {
        req.remove(name);
    }
    req.reserve(8);
    if let Some(tenant) = facts.tenant {
        req.set(X_TENANT_ID, value(tenant)?)?;
    }
    if let Some(country) = facts.client_country {
        req.set(X_CLIENT_COUNTRY, country_value(country)?)?;
    }
    req.set(X_EDGE_REGION, facts.region.clone())?;
    req.set(X_REQUEST_ID, value(facts.request_id)?)?;
    req.set(X_FORWARDED_PROTO, HeaderValue::from_static("https"))?;
    if let Some(ip) = facts.client_ip {
        req.set(X_FORWARDED_FOR, ip_value(ip)?)?;
    }
    match facts.host {
        Some(Host::Header(h)) => req.set(X_FORWARDED_HOST, h.clone())?,
        Some(Host::Authority(a)) => req.set(X_FORWARDED_HOST, value(a)?)?,
        None => {}
    }
    if let Some(host) = facts.host_override {
        req.set(http::header::HOST, value(host)?)?;
    }
    Ok(())
}

/// Sets the request headers a request passed on to the tenant's own edge carries: the
/// client's address and the request id (the rest is the client's, as sent).
pub fn prepare_peer_request(
    req: &mut dyn HeaderEdit,
    client_ip: Option<std::net::IpAddr>,
    request_id: &str,
) -> Result<()> {
    if let Some(ip) = client_ip {
        req.set(X_FORWARDED_FOR, ip_value(ip)?)?;
    }
    req.set(X_REQUEST_ID, value(request_id)?)
}

/// `s` as a header value (copied). Errors: a byte a header value may not hold.
fn value(s: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(s).or_err(ErrorType::InvalidHTTPHeader, "invalid header value")
}

/// An IP address as a header value, formatted on the stack (IPv4 without `fmt`).
fn ip_value(ip: std::net::IpAddr) -> Result<HeaderValue> {
    // The longest text form, an IPv4-mapped IPv6 address, is 45 bytes.
    let mut buf = [0u8; 48];
    let n = match ip {
        std::net::IpAddr::V4(v4) => {
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                let mut digits = itoa::Buffer::new();
                let d = digits.format(octet).as_bytes();
                buf[n..n + d.len()].copy_from_slice(d);
                n += d.len();
            }
            n
        }
        std::net::IpAddr::V6(v6) => {
            use std::io::Write;
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            let _ = write!(cursor, "{v6}");
            cursor.position() as usize
        }
    };
    HeaderValue::from_bytes(&buf[..n]).or_err(ErrorType::InternalError, "an IP address as text")
}

/// A country code: two letters from the location database are shared static values (no
/// allocation); anything else is copied.
fn country_value(country: &str) -> Result<HeaderValue> {
    static LETTERS: [u8; 2 * 26 * 26] = {
        let mut t = [0u8; 2 * 26 * 26];
        let mut i = 0;
        while i < 26 * 26 {
            t[2 * i] = b'A' + (i / 26) as u8;
            t[2 * i + 1] = b'A' + (i % 26) as u8;
            i += 1;
        }
        t
    };
    match country.as_bytes() {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => {
            let i = 2 * ((a - b'A') as usize * 26 + (b - b'A') as usize);
            match std::str::from_utf8(&LETTERS[i..i + 2]) {
                Ok(code) => Ok(HeaderValue::from_static(code)),
                Err(_) => value(country),
            }
        }
        _ => value(country),
    }
}

/// The client's `X-Request-Id` when it is safe to propagate (short, plain characters).
pub fn valid_request_id(value: Option<&http::HeaderValue>) -> Option<&str> {
    let v = value?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= MAX_REQUEST_ID_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then_some(v)
}

/// A new request id: a random (v4) UUID drawn from the thread's CSPRNG. `Uuid::new_v4` asks
/// the kernel for every id (one `getrandom` syscall per request, the largest single cost the
/// gateway added per request in profiles); ids need uniqueness, which this keeps.
pub fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// Adds the gateway's response headers: HSTS, the serving region and the request id.
pub fn decorate_response(
    resp: &mut dyn HeaderEdit,
    hsts: Option<&HeaderValue>,
    region: Option<&HeaderValue>,
    request_id: &str,
) -> Result<()> {
    if let Some(v) = hsts {
        resp.set(http::header::STRICT_TRANSPORT_SECURITY, v.clone())?;
    }
    // An origin must not be able to claim a region it is not in, and software versions help
    // nobody but an attacker.
    // Looked up first: origins rarely send them, and a lookup hashes the name once where a
    // removal through Pingora's types hashes it for both of its maps (values and case).
    for name in [&X_EDGE_REGION, &http::header::SERVER, &X_POWERED_BY] {
        if resp.map().contains_key(name) {
            resp.remove(name);
        }
    }
    if let Some(r) = region {
        resp.set(X_EDGE_REGION, r.clone())?;
    }
    let mut id = value(request_id)?;
    // Unique per response: HPACK must not index it (RFC 7541 §7.1.3). Indexed, every h2
    // response would add an entry to the connection's table that no later response matches,
    // evicting useful ones, and the encoder would compare the value against every earlier id
    // still in the table.
    id.set_sensitive(true);
    resp.set(X_REQUEST_ID, id)
}

/// `value` as a header value, without a copy. Errors: a byte a header value may not hold.
pub fn owned_value(value: String) -> Result<HeaderValue> {
    HeaderValue::try_from(value).or_err(ErrorType::InvalidHTTPHeader, "invalid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_request_ids_are_distinct_v4_uuids_we_would_propagate() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(10) {
            let u = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version(), Some(uuid::Version::Random));
            let value = http::HeaderValue::from_str(id).unwrap();
            assert_eq!(valid_request_id(Some(&value)), Some(id.as_str()));
        }
    }

    #[test]
    fn client_owned_headers_are_replaced() {
        let mut req = RequestHeader::build("GET", b"/x", None).unwrap();
        req.insert_header("x-tenant-id", "spoofed").unwrap();
        req.append_header("x-edge-region", "westus").unwrap();
        req.append_header("X-Edge-Whatever", "1").unwrap();
        req.insert_header("x-forwarded-for", "6.6.6.6").unwrap();
        req.insert_header("forwarded", "for=6.6.6.6").unwrap();
        req.insert_header("x-client-country", "US").unwrap();
        req.insert_header("accept", "*/*").unwrap();
        prepare_upstream_request(
            &mut req,
            &UpstreamFacts {
                tenant: Some("t"),
                client_country: Some("DE"),
                region: &http::HeaderValue::from_static("northeurope"),
                client_ip: Some("127.0.0.1".parse().unwrap()),
                host: Some(Host::Authority("app.example.com")),
                request_id: "rid",
                host_override: None,
            },
        )
        .unwrap();
        let get = |n: &str| {
            req.headers
                .get_all(n)
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("x-tenant-id"), ["t"]);
        assert_eq!(get("x-edge-region"), ["northeurope"]);
        assert!(get("x-edge-whatever").is_empty());
        assert_eq!(get("x-forwarded-for"), ["127.0.0.1"]);
        assert!(get("forwarded").is_empty());
        assert_eq!(get("x-client-country"), ["DE"]);
        assert_eq!(get("x-forwarded-proto"), ["https"]);
        assert_eq!(get("accept"), ["*/*"]);
    }

    #[test]
    fn owned_names_and_their_underscore_aliases_are_recognised() {
        for owned in [
            "x-tenant-id",
            "x_tenant_id",
            "x_tenant-id",
            "x-client-country",
            "x_client_country",
            "x-request-id",
            "x_request_id",
            "forwarded",
            "x-real-ip",
            "x_real_ip",
            "x-forwarded-for",
            "x_forwarded_for",
            "x-forwarded-proto",
            "x_forwarded_host",
            "x-forwarded-anything",
            "x_forwarded_server",
            "x-edge-region",
            "x_edge_region",
            "x_edge-route",
        ] {
            assert!(is_owned(owned), "{owned}");
        }
        for other in [
            "accept",
            "x-tenant",
            "x-tenant-idx",
            "x-forwarded-",
            "x-edge-",
            "x-forwardedfor",
            "forwarded_",
            "xx-tenant-id",
            "x_custom",
        ] {
            assert!(!is_owned(other), "{other}");
        }
    }

    #[test]
    fn aliases_never_reach_the_origin() {
        let mut req = RequestHeader::build("GET", b"/x", None).unwrap();
        for alias in [
            "x_tenant_id",
            "X_Client_Country",
            "x_forwarded_for",
            "x_real_ip",
            "x_edge_region",
            "x_request_id",
            "x_forwarded_proto",
        ] {
            req.append_header(alias.to_string(), "spoofed").unwrap();
        }
        req.append_header("x_custom_thing", "kept").unwrap();
        prepare_upstream_request(
            &mut req,
            &UpstreamFacts {
                tenant: Some("t"),
                client_country: None,
                region: &http::HeaderValue::from_static("northeurope"),
                client_ip: None,
                host: None,
                request_id: "rid",
                host_override: None,
            },
        )
        .unwrap();
        let values: Vec<String> = req
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
            .collect();
        assert!(!values.iter().any(|v| v.contains("spoofed")), "{values:?}");
        assert!(
            values.contains(&"x_custom_thing: kept".to_string()),
            "{values:?}"
        );
        assert!(values.contains(&"x-tenant-id: t".to_string()), "{values:?}");
    }

    fn wire(req: &RequestHeader) -> String {
        let mut buf = Vec::new();
        req.header_to_h1_wire(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    fn facts(region: &HeaderValue) -> UpstreamFacts<'_> {
        UpstreamFacts {
            tenant: Some("7c1a0b3e-0000-4000-8000-000000000001"),
            client_country: Some("DE"),
            region,
            client_ip: Some("2001:db8::1".parse().unwrap()),
            host: Some(Host::Authority("app.example.com:8443")),
            request_id: "rid",
            host_override: None,
        }
    }

    #[test]
    fn both_header_cases_send_the_same_headers_spelled_differently() {
        let region = HeaderValue::from_static("northeurope");
        let client = || {
            let mut r = RequestHeader::build("POST", b"/a/b?c=d", None).unwrap();
            r.append_header("X-Custom", "1").unwrap();
            r.append_header("User-Agent", "t/1").unwrap();
            r.append_header("X-Tenant-Id", "spoofed").unwrap();
            r
        };
        let mut lower = client();
        let mut kept = client();
        for (req, case) in [
            (&mut lower, HeaderCase::Lowercase),
            (&mut kept, HeaderCase::Preserve),
        ] {
            edit_request(req, case, |h| prepare_upstream_request(h, &facts(&region))).unwrap();
            assert_eq!(req.method, http::Method::POST);
            assert_eq!(req.raw_path(), b"/a/b?c=d");
        }
        assert_eq!(lower.headers, kept.headers);
        assert!(!lower.has_case());
        assert!(wire(&lower).contains("x-custom: 1\r\n"), "{}", wire(&lower));
        assert!(wire(&kept).contains("X-Custom: 1\r\n"), "{}", wire(&kept));
        let get = |n: &str| lower.headers.get(n).unwrap().to_str().unwrap().to_owned();
        assert_eq!(get("x-tenant-id"), "7c1a0b3e-0000-4000-8000-000000000001");
        assert_eq!(get("x-client-country"), "DE");
        assert_eq!(get("x-forwarded-for"), "2001:db8::1");
        assert_eq!(get("x-forwarded-host"), "app.example.com:8443");
        assert_eq!(lower.headers.get_all("x-tenant-id").iter().count(), 1);
    }

    #[test]
    fn a_target_the_uri_does_not_carry_is_edited_in_place() {
        let region = HeaderValue::from_static("northeurope");
        let mut req = RequestHeader::build("GET", b"http://app.example.com/x", None).unwrap();
        req.append_header("X-Custom", "1").unwrap();
        edit_request(&mut req, HeaderCase::Lowercase, |h| {
            prepare_upstream_request(h, &facts(&region))
        })
        .unwrap();
        assert_eq!(req.raw_path(), b"http://app.example.com/x");
        assert!(req.has_case());
        assert!(req.headers.contains_key("x-request-id"));
    }

    #[test]
    fn h2_end_stream_and_reason_phrases_survive_the_edit() {
        let mut req = RequestHeader::build_no_case("GET", b"/", None).unwrap();
        req.set_version(http::Version::HTTP_2);
        req.set_send_end_stream(false);
        edit_request(&mut req, HeaderCase::Lowercase, |h| {
            prepare_peer_request(h, None, "rid")
        })
        .unwrap();
        assert_eq!(req.send_end_stream(), Some(false));

        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.set_reason_phrase(Some("Fine Thanks")).unwrap();
        resp.append_header("Server", "origin/1.0").unwrap();
        edit_response(&mut resp, HeaderCase::Lowercase, |h| {
            decorate_response(h, None, None, "rid")
        })
        .unwrap();
        assert_eq!(resp.get_reason_phrase(), Some("Fine Thanks"));
        assert!(!resp.has_case());
        assert!(!resp.headers.contains_key("server"));
        assert_eq!(resp.headers.get("x-request-id").unwrap(), "rid");
        assert!(resp.headers.get("x-request-id").unwrap().is_sensitive());
    }

    #[test]
    fn ip_values_match_the_standard_text_form() {
        for ip in [
            "0.0.0.0",
            "9.10.100.255",
            "255.255.255.255",
            "::1",
            "2001:db8::ff00:42:8329",
            "::ffff:255.255.255.255",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_value(ip).unwrap(), ip.to_string().as_str());
        }
    }

    #[test]
    fn country_codes_are_static_values_or_copies() {
        for c in ["AA", "DE", "US", "ZZ", "de", "XK1", ""] {
            assert_eq!(country_value(c).unwrap(), c);
        }
        assert!(country_value("D\u{7f}").is_err());
    }

    #[test]
    fn a_101_must_answer_the_upgrade_the_client_asked_for() {
        let req = |h: &[(&str, &str)]| {
            let mut r = RequestHeader::build("GET", b"/ws", None).unwrap();
            for (n, v) in h {
                r.append_header(n.to_string(), *v).unwrap();
            }
            r
        };
        let resp = |upgrade: Option<&str>| {
            let mut r = ResponseHeader::build(101, None).unwrap();
            if let Some(u) = upgrade {
                r.insert_header("upgrade", u).unwrap();
            }
            r
        };
        let ws = req(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert!(upgrade_requested(&ws, &resp(Some("websocket"))));
        assert!(upgrade_requested(&ws, &resp(Some("WebSocket"))));
        assert!(!upgrade_requested(&ws, &resp(Some("h2c"))));
        assert!(!upgrade_requested(&ws, &resp(None)));
        assert!(!upgrade_requested(&req(&[]), &resp(Some("websocket"))));
        let no_connection = req(&[("upgrade", "websocket")]);
        assert!(!upgrade_requested(&no_connection, &resp(Some("websocket"))));
    }

    #[test]
    fn request_ids_are_validated() {
        let v = |s: &str| http::HeaderValue::from_str(s).unwrap();
        assert_eq!(
            valid_request_id(Some(&v("abc-123_x.y:z"))),
            Some("abc-123_x.y:z")
        );
        assert_eq!(valid_request_id(Some(&v("has space"))), None);
        assert_eq!(valid_request_id(Some(&v(&"a".repeat(129)))), None);
        assert_eq!(valid_request_id(None), None);
    }
}
