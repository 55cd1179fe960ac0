//! Tenant identification: reads the tenant id from the request, trying the configured sources
//! in order. Pure functions over the request's facts, so they are tested (and fuzzed) without
//! a server.

use base64::Engine;
use edge_config::{TenantId, TenantSource};
use http::HeaderMap;

/// Bearer tokens longer than this are not decoded: routing must stay cheap and bounded.
pub const MAX_JWT_LEN: usize = 8 * 1024;

/// The parts of a request that tenant identification looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The host the client asked for (`Host` or `:authority`), possibly with a port.
    pub host: Option<&'a str>,
    /// The request path (no query).
    pub path: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

/// Which kind of source produced a tenant id (for logs and problem details).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The host name.
    Host,
    /// A request header.
    Header,
    /// The path prefix.
    Path,
    /// A bearer token claim.
    JwtClaim,
    /// No tenant: routed by the client's location (`tenancy.unknown = "nearest"`).
    Location,
}

impl SourceKind {
    /// A short label for logs.
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Host => "host",
            SourceKind::Header => "header",
            SourceKind::Path => "path",
            SourceKind::JwtClaim => "jwt-claim",
            SourceKind::Location => "location",
        }
    }
}

/// The outcome of tenant identification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantMatch {
    /// A source yielded a well-formed id.
    Found {
        /// The tenant id.
        id: TenantId,
        /// Where it came from.
        source: SourceKind,
    },
    /// The first source that yielded a value yielded something that is not a tenant id
    /// (or yielded it ambiguously, e.g. the header twice).
    Malformed {
        /// Where it came from.
        source: SourceKind,
    },
    /// No source yielded anything.
    Absent,
}

/// What one source found.
enum Found<'a> {
    Nothing,
    Value(&'a str),
    Owned(String),
    Ambiguous,
}

/// Tries `sources` in order; the first that yields a value decides.
///
/// A source that yields a malformed value decides too (as `Malformed`) rather than falling
/// through to the next: a client must not be able to choose its route by sending garbage in a
/// higher-priority place and a chosen tenant in a lower one.
pub fn identify(sources: &[TenantSource], req: &RequestFacts<'_>) -> TenantMatch {
    for source in sources {
        let (kind, found) = match source {
            TenantSource::Host { prefix, suffix } => {
                (SourceKind::Host, from_host(req.host, prefix, suffix))
            }
            TenantSource::Header { name } => (SourceKind::Header, from_header(req.headers, name)),
            TenantSource::Path { prefix } => (SourceKind::Path, from_path(req.path, prefix)),
            TenantSource::JwtClaim { claim } => {
                (SourceKind::JwtClaim, from_jwt(req.headers, claim))
            }
        };
        let parsed = match found {
            Found::Nothing => continue,
            Found::Ambiguous => return TenantMatch::Malformed { source: kind },
            Found::Value(v) => TenantId::parse(v),
            Found::Owned(v) => TenantId::parse(&v),
        };
        return match parsed {
            Ok(id) => TenantMatch::Found { id, source: kind },
            Err(_) => TenantMatch::Malformed { source: kind },
        };
    }
    TenantMatch::Absent
}

/// The tenant `host` names through the `host` sources alone, tried in their configured order:
/// what the server name (SNI) of a ClientHello says before anything is decrypted. The other
/// kinds of source are only known after decryption and are skipped.
pub fn identify_host(sources: &[TenantSource], host: &str) -> TenantMatch {
    for source in sources {
        let TenantSource::Host { prefix, suffix } = source else {
            continue;
        };
        let parsed = match from_host(Some(host), prefix, suffix) {
            Found::Nothing => continue,
            Found::Value(v) => TenantId::parse(v),
            Found::Owned(v) => TenantId::parse(&v),
            Found::Ambiguous => Err(edge_config::InvalidTenantId),
        };
        return match parsed {
            Ok(id) => TenantMatch::Found {
                id,
                source: SourceKind::Host,
            },
            Err(_) => TenantMatch::Malformed {
                source: SourceKind::Host,
            },
        };
    }
    TenantMatch::Absent
}

/// `host` without a trailing `:port` (IPv6 literals keep their brackets).
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn from_host<'a>(host: Option<&'a str>, prefix: &str, suffix: &str) -> Found<'a> {
    let Some(host) = host else {
        return Found::Nothing;
    };
    let host = strip_port(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.len() < prefix.len() + suffix.len() {
        return Found::Nothing;
    }
    // `get` rather than slicing: a non-ASCII host must not split inside a character.
    let (Some(head), Some(rest)) = (host.get(..prefix.len()), host.get(prefix.len()..)) else {
        return Found::Nothing;
    };
    if !head.eq_ignore_ascii_case(prefix) {
        return Found::Nothing;
    }
    let cut = rest.len() - suffix.len();
    let (Some(value), Some(tail)) = (rest.get(..cut), rest.get(cut..)) else {
        return Found::Nothing;
    };
    if !tail.eq_ignore_ascii_case(suffix) || value.is_empty() {
        return Found::Nothing;
    }
    // A tenant id is one DNS label; `a.b.app.example.com` is not tenant `a.b`.
    if value.contains('.') {
        return Found::Ambiguous;
    }
    Found::Value(value)
}

fn from_header<'a>(headers: &'a HeaderMap, name: &str) -> Found<'a> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Found::Nothing;
    };
    if values.next().is_some() {
        return Found::Ambiguous;
    }
    match first.to_str() {
        Ok(v) if !v.trim().is_empty() => Found::Value(v.trim()),
        Ok(_) => Found::Nothing,
        Err(_) => Found::Ambiguous,
    }
}

fn from_path<'a>(path: &'a str, prefix: &str) -> Found<'a> {
    let Some(rest) = path.strip_prefix(prefix) else {
        return Found::Nothing;
    };
    let end = rest.find(['/', '?', ';']).unwrap_or(rest.len());
    if end == 0 {
        return Found::Nothing;
    }
    Found::Value(&rest[..end])
}

fn from_jwt(headers: &HeaderMap, claim: &str) -> Found<'static> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(auth) = values.next() else {
        return Found::Nothing;
    };
    if values.next().is_some() {
        return Found::Ambiguous;
    }
    let Ok(auth) = auth.to_str() else {
        return Found::Nothing;
    };
    let Some((scheme, token)) = auth.trim().split_once(' ') else {
        return Found::Nothing;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Found::Nothing;
    }
    match jwt_claim(token.trim(), claim) {
        Some(v) => Found::Owned(v),
        // A bearer token that is not a JWT (an opaque token) simply has no claim to route by.
        None => Found::Nothing,
    }
}

/// Reads a string claim from a JWT's payload. The signature is NOT verified: the value only
/// picks a route inside the tenant's own geography and grants no access; the origin still
/// authenticates the token.
pub fn jwt_claim(token: &str, claim: &str) -> Option<String> {
    if token.len() > MAX_JWT_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let payload = payload.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get(claim)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    const T1: &str = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b";
    const T2: &str = "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";

    fn sources() -> Vec<TenantSource> {
        vec![
            TenantSource::Host {
                prefix: String::new(),
                suffix: ".app.example.com".into(),
            },
            TenantSource::Header {
                name: "x-tenant-id".into(),
            },
            TenantSource::Path {
                prefix: "/t/".into(),
            },
            TenantSource::JwtClaim {
                claim: "tid".into(),
            },
        ]
    }

    fn jwt(payload: &str) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.{}",
            e.encode(r#"{"alg":"none"}"#),
            e.encode(payload),
            e.encode("sig")
        )
    }

    fn run(host: Option<&str>, path: &str, headers: &[(&str, &str)]) -> TenantMatch {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        identify(
            &sources(),
            &RequestFacts {
                host,
                path,
                headers: &map,
            },
        )
    }

    fn found(id: &str, source: SourceKind) -> TenantMatch {
        TenantMatch::Found {
            id: TenantId::parse(id).unwrap(),
            source,
        }
    }

    #[test]
    fn host_source_matches_case_insensitively_and_ignores_port() {
        let host = format!("{}.APP.example.com:8443", T1.to_uppercase());
        assert_eq!(run(Some(&host), "/", &[]), found(T1, SourceKind::Host));
    }

    #[test]
    fn host_wins_over_a_spoofed_header() {
        let host = format!("{T1}.app.example.com");
        assert_eq!(
            run(Some(&host), "/", &[("x-tenant-id", T2)]),
            found(T1, SourceKind::Host)
        );
    }

    #[test]
    fn header_then_path_then_jwt() {
        assert_eq!(
            run(Some("api.example.net"), "/", &[("x-tenant-id", T2)]),
            found(T2, SourceKind::Header)
        );
        assert_eq!(
            run(None, &format!("/t/{T1}/orders"), &[]),
            found(T1, SourceKind::Path)
        );
        assert_eq!(
            run(None, &format!("/t/{T1}"), &[]),
            found(T1, SourceKind::Path)
        );
        let token = jwt(&format!(r#"{{"sub":"u","tid":"{T2}"}}"#));
        assert_eq!(
            run(None, "/", &[("authorization", &format!("Bearer {token}"))]),
            found(T2, SourceKind::JwtClaim)
        );
    }

    #[test]
    fn malformed_values_decide_and_do_not_fall_through() {
        assert_eq!(
            run(Some("www.app.example.com"), "/", &[("x-tenant-id", T2)]),
            TenantMatch::Malformed {
                source: SourceKind::Host
            }
        );
        assert_eq!(
            run(None, "/", &[("x-tenant-id", "not-a-uuid")]),
            TenantMatch::Malformed {
                source: SourceKind::Header
            }
        );
        assert_eq!(
            run(None, "/", &[("x-tenant-id", T1), ("x-tenant-id", T2)]),
            TenantMatch::Malformed {
                source: SourceKind::Header
            }
        );
        assert_eq!(
            run(Some(&format!("a.{T1}.app.example.com")), "/", &[]),
            TenantMatch::Malformed {
                source: SourceKind::Host
            }
        );
    }

    #[test]
    fn absent_when_nothing_matches() {
        assert_eq!(run(Some("example.org"), "/x", &[]), TenantMatch::Absent);
        assert_eq!(run(None, "/t/", &[]), TenantMatch::Absent);
        // An opaque bearer token has no claim to route by.
        assert_eq!(
            run(None, "/", &[("authorization", "Bearer opaque-token")]),
            TenantMatch::Absent
        );
        assert_eq!(
            run(None, "/", &[("authorization", "Basic dXNlcjpwdw==")]),
            TenantMatch::Absent
        );
    }

    #[test]
    fn jwt_claim_edge_cases() {
        assert_eq!(jwt_claim(&jwt(r#"{"tid":42}"#), "tid"), None);
        assert_eq!(jwt_claim("a.b", "tid"), None);
        assert_eq!(jwt_claim("a.b.c.d", "tid"), None);
        assert_eq!(jwt_claim(&"a".repeat(MAX_JWT_LEN + 1), "tid"), None);
        assert_eq!(
            jwt_claim(&jwt(r#"{"tid":"x"}"#), "tid"),
            Some("x".to_string())
        );
    }

    #[test]
    fn a_server_name_is_read_by_the_host_sources_only() {
        let host = format!("{T1}.app.example.com");
        assert_eq!(
            identify_host(&sources(), &host),
            found(T1, SourceKind::Host)
        );
        assert_eq!(
            identify_host(&sources(), "www.app.example.com"),
            TenantMatch::Malformed {
                source: SourceKind::Host
            }
        );
        assert_eq!(
            identify_host(&sources(), "api.example.net"),
            TenantMatch::Absent
        );
        // The same answer as full identification of a request carrying only that host.
        let empty = HeaderMap::new();
        for h in [host.as_str(), "x.app.example.com", "example.org"] {
            let facts = RequestFacts {
                host: Some(h),
                path: "",
                headers: &empty,
            };
            assert_eq!(identify_host(&sources(), h), identify(&sources(), &facts));
        }
    }

    #[test]
    fn strip_port_handles_ipv6() {
        assert_eq!(strip_port("[::1]:8443"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("example.com:80"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Identification never panics, and a `Found` id always came from the request text.
        #[test]
        fn identify_is_total(host in "\\PC{0,80}", path in "\\PC{0,80}", hv in "[ -~]{0,80}", auth in "[ -~]{0,200}") {
            let mut map = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&hv) { map.insert("x-tenant-id", v); }
            if let Ok(v) = HeaderValue::from_str(&auth) { map.insert("authorization", v); }
            let r = identify(&sources(), &RequestFacts { host: Some(&host), path: &path, headers: &map });
            if let TenantMatch::Found { id, source: SourceKind::Header } = r {
                prop_assert_eq!(id, TenantId::parse(hv.trim()).unwrap());
            }
        }
    }
}
