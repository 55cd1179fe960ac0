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

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::Result;

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
    /// The host the client asked for.
    pub host: Option<&'a str>,
    /// The request id (validated or generated).
    pub request_id: &'a str,
    /// `Host` to send instead of the client's, when the origin is configured with one.
    pub host_override: Option<&'a str>,
}

/// Removes client-supplied gateway-owned headers and sets the gateway's own.
pub fn prepare_upstream_request(req: &mut RequestHeader, facts: &UpstreamFacts<'_>) -> Result<()> {
    // One pass over the names; nothing is allocated when the client sent none of ours.
    let owned: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|k| is_owned(k.as_str()))
        .cloned()
        .collect();
    for name in owned {
        req.remove_header(&name);
    }
    if let Some(tenant) = facts.tenant {
        req.insert_header("x-tenant-id", tenant)?;
    }
    if let Some(country) = facts.client_country {
        req.insert_header("x-client-country", country)?;
    }
    req.insert_header("x-edge-region", facts.region.clone())?;
    req.insert_header("x-request-id", facts.request_id)?;
    req.insert_header("x-forwarded-proto", http::HeaderValue::from_static("https"))?;
    if let Some(ip) = facts.client_ip {
        req.insert_header("x-forwarded-for", ip.to_string())?;
    }
    if let Some(host) = facts.host {
        req.insert_header("x-forwarded-host", host)?;
    }
    if let Some(host) = facts.host_override {
        req.insert_header(http::header::HOST, host)?;
    }
    Ok(())
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

const X_EDGE_REGION: http::HeaderName = http::HeaderName::from_static("x-edge-region");
const X_POWERED_BY: http::HeaderName = http::HeaderName::from_static("x-powered-by");

/// Adds the gateway's response headers: HSTS, the serving region and the request id.
pub fn decorate_response(
    resp: &mut ResponseHeader,
    hsts: Option<&http::HeaderValue>,
    region: Option<&http::HeaderValue>,
    request_id: &str,
) -> Result<()> {
    if let Some(v) = hsts {
        resp.insert_header(http::header::STRICT_TRANSPORT_SECURITY, v.clone())?;
    }
    // An origin must not be able to claim a region it is not in, and software versions help
    // nobody but an attacker.
    // Looked up first: origins rarely send them, and a lookup hashes the name once where a
    // removal hashes it for both of Pingora's maps (values and original case).
    for name in [&X_EDGE_REGION, &http::header::SERVER, &X_POWERED_BY] {
        if resp.headers.contains_key(name) {
            resp.remove_header(name);
        }
    }
    if let Some(r) = region {
        resp.insert_header("x-edge-region", r.clone())?;
    }
    resp.insert_header("x-request-id", request_id)?;
    Ok(())
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
                host: Some("app.example.com"),
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
