//! Admission: the ordered checks a request passes before any origin is contacted.
//!
//! [`admit`] runs the steps in order; each step returns the next value or a [`Refusal`], and
//! the first refusal ends admission (it is written by `respond::refuse`, the one place a
//! refused request is answered):
//!
//! 1. [`check_framing`]: the request line, raw head and parsed head (smuggling, sizes);
//! 2. [`identify_tenant`]: the configured tenant sources, first match decides;
//! 3. [`locate_client`]: the client's address (behind trusted proxies) and location;
//!    - with `[edge]` only, [`check_residency`]: a tenant of another geography, found only
//!      now (header, path or JWT tenancy), is proxied to an edge of its geography (the steps
//!      below are then that edge's) or refused with 421;
//! 4. [`decide_route`]: the global deny list, the route in the tenant's home geography, the
//!    tenant's geo-fence;
//! 5. [`rate_limit`]: per tenant, client and route; in fleet mode then [`fleet_limit`]: the
//!    tenant's and route's fleet-wide allowance;
//! 6. [`prebuffer_body`]: a chunked HTTP/1 body is read (bounded) so bad framing is refused
//!    before an origin sees any of it.

use std::net::IpAddr;

use edge_config::Config;
use edge_geo::mmdb::ClientLocation;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;

use super::ctx::{RequestCtx, ViaEdge};
use super::framing::{self, Limits};
use super::geofence;
use super::headers;
use super::problem::{EdgeError, ErrorKind};
use super::ratelimit::{Decision, RateLimitHeaders, RateLimiter, RETRY_AFTER};
use super::routing::{self, Route};
use super::tenancy::{self, RequestFacts, SourceKind, TenantMatch};
use crate::fleet::quota::FleetQuotas;
use crate::state::{GatewayState, Live};
use edge_config::{ForeignTenants, TenantSource};

/// Why a request is not admitted: the error to answer, and whether the connection must close
/// after the answer (when what follows on it can no longer be trusted to start a request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What the client is told.
    pub error: EdgeError,
    /// Close the connection after answering.
    pub close: bool,
}

impl Refusal {
    /// A refusal after which the connection may carry the next request.
    pub fn answer(error: EdgeError) -> Self {
        Refusal {
            error,
            close: false,
        }
    }

    /// A refusal after which the connection is closed.
    pub fn closing(error: EdgeError) -> Self {
        Refusal { error, close: true }
    }
}

/// Chunked bodies up to this size are read whole before any origin is contacted (Pingora's
/// retry buffer holds them and replays them upstream).
pub const PREBUFFER_BYTES: u64 = 64 * 1024;

/// Runs every admission step for the request in `session`, recording in `ctx` what each
/// decided (request id, client, location, route, rate-limit headers).
pub async fn admit(
    state: &GatewayState,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<(), Refusal> {
    let config = &ctx.live.snapshot.config;
    ctx.limits = Limits::for_request(&config.limits, session.req_header().uri.path());
    let framed = check_framing(
        session,
        &ctx.limits,
        framing::tenant_depth(&config.tenancy.sources),
    );
    // A request that fails framing gets an id of ours: its headers are not to be trusted.
    ctx.request_id = match framed {
        Ok(()) => request_id(session.req_header()),
        Err(_) => headers::new_request_id(),
    };
    framed?;
    let found = identify_tenant(config, session.req_header());
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip());
    (ctx.client_ip, ctx.location) = locate_client(state, config, peer, session.req_header());
    if config.edge.is_some() {
        ctx.via_edge = check_residency(state, &ctx.live, &found, peer, session.req_header())?;
        if ctx.via_edge.is_some() {
            // The tenant's own edge routes, fences and rate-limits it.
            prebuffer_body(session, ctx).await?;
            state.retry_budget.record_request();
            return Ok(());
        }
    }
    let route = decide_route(&ctx.live, &found, ctx.location.as_ref(), rand::random())?;
    let tenant = route.tenant;
    // Set before rate limiting: a 429 is attributed to the tenant's geography.
    ctx.route = Some(route);
    if let (Some(ip), Some(tenant)) = (ctx.client_ip, tenant) {
        let limited = rate_limit(&state.ratelimiter, config, ip, tenant, session.req_header());
        ctx.ratelimit_headers = limited.headers;
        limited.outcome?;
        if let Some(fleet) = state.fleet.get() {
            let shared = fleet_limit(
                fleet,
                &state.ratelimiter,
                config,
                tenant,
                session.req_header(),
            );
            if shared.outcome.is_err() {
                ctx.ratelimit_headers = shared.headers;
            }
            shared.outcome?;
        }
    }
    prebuffer_body(session, ctx).await?;
    state.retry_budget.record_request();
    Ok(())
}

/// Step 1: the raw HTTP/1 head, the parsed head against `limits`, the path (dot-segments; the
/// segments that carry the tenant, `tenant_depth` of them) and `Expect`. Every refusal closes
/// the connection. (The edge already held HTTP/1 heads to RFC 9112's syntax before Pingora
/// parsed them: `edge::wire`.)
pub fn check_framing(
    session: &Session,
    limits: &Limits,
    tenant_depth: usize,
) -> Result<(), Refusal> {
    let req = session.req_header();
    // A head the edge held and checked (`edge::wire`: CRLF, tokens, field bytes, sizes,
    // Content-Length with Transfer-Encoding) is not scanned again, unless a reload lowered a
    // size limit after the connection was accepted (the edge checks against the limits of
    // then).
    let live = crate::edge::HeadLimits {
        max_uri_bytes: limits.max_uri_bytes,
        max_header_bytes: limits.max_header_bytes,
        max_headers: limits.max_headers,
    };
    let checked = crate::edge::checked_head_limits(session.as_downstream().stream())
        .is_some_and(|edge| edge.within(&live));
    if checked {
        return checked_head(req, limits, tenant_depth).map_err(Refusal::closing);
    }
    let raw = session
        .as_downstream()
        .as_http1()
        .map(|h1| h1.get_headers_raw_bytes());
    check_head(
        raw.as_deref(),
        req,
        !session.is_http2(),
        limits,
        tenant_depth,
    )
    .map_err(Refusal::closing)
}

/// [`check_head`] for an HTTP/1 head the edge already checked byte by byte.
fn checked_head(
    req: &RequestHeader,
    limits: &Limits,
    tenant_depth: usize,
) -> Result<(), EdgeError> {
    framing::check_body_framing(req, true, limits)?;
    framing::check_path(req.raw_path(), tenant_depth)?;
    framing::expects_continue(req).map(|_| ())
}

/// The pure part of [`check_framing`].
pub fn check_head(
    raw_http1_head: Option<&[u8]>,
    req: &RequestHeader,
    http1: bool,
    limits: &Limits,
    tenant_depth: usize,
) -> Result<(), EdgeError> {
    if let Some(raw) = raw_http1_head {
        framing::check_raw_head(raw)?;
    }
    framing::check(req, http1, limits)?;
    framing::check_path(req.raw_path(), tenant_depth)?;
    framing::expects_continue(req).map(|_| ())
}

/// The client's `X-Request-Id` when it is one we would propagate, else a new one.
fn request_id(req: &RequestHeader) -> String {
    headers::valid_request_id(req.headers.get(headers::X_REQUEST_ID))
        .map(str::to_owned)
        .unwrap_or_else(headers::new_request_id)
}

/// The host the client addressed: `Host` for HTTP/1, `:authority` for h2.
pub fn request_host(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
}

/// Step 2: the tenant, from the configured sources (first match decides).
pub fn identify_tenant(config: &Config, req: &RequestHeader) -> TenantMatch {
    let facts = RequestFacts {
        host: request_host(req),
        path: req.uri.path(),
        headers: &req.headers,
    };
    tenancy::identify(&config.tenancy.sources, &facts)
}

/// Step 3: the client's address (the socket `peer`, or the right-most untrusted
/// `X-Forwarded-For`/`Forwarded` hop behind `client_ip.trusted_proxies`) and, when a location
/// database is configured and knows it, where it is. A damaged database answers "unknown"
/// rather than failing the request.
pub fn locate_client(
    state: &GatewayState,
    config: &Config,
    peer: Option<IpAddr>,
    req: &RequestHeader,
) -> (Option<IpAddr>, Option<ClientLocation>) {
    let ip = peer.map(|p| {
        // A peer edge (`[edge] trusted_peers`) that proxied a request here put the client in
        // `X-Forwarded-For`.
        let trusted = match &config.edge {
            Some(e) if e.trusted_peers.iter().any(|c| c.contains(p)) => &e.trusted_peers,
            _ => &config.client_ip.trusted_proxies,
        };
        edge_geo::client_ip(p, &req.headers, trusted)
    });
    let Some(ip) = ip else {
        return (None, None);
    };
    let db = state.geo.load();
    let Some(db) = db.as_ref() else {
        return (Some(ip), None);
    };
    let found = lookup_cached(&db.current(), ip);
    state
        .metrics
        .count_continent(found.and_then(|l| l.continent));
    (Some(ip), found)
}

/// Entries of a worker thread's location cache (direct-mapped by address).
const LOCATION_CACHE: usize = 64;

type CachedLocation = (
    std::sync::Weak<edge_geo::mmdb::Database>,
    IpAddr,
    Option<ClientLocation>,
);

thread_local! {
    /// Recent lookups of this worker thread. The requests of a keep-alive connection come
    /// from one address and run on one thread (Pingora's runtimes here do not steal work),
    /// so most requests skip the database's tree walk. Keyed by the database too (a `Weak`:
    /// a reload's new database can never be mistaken for the old one, nor kept alive).
    static LOCATIONS: std::cell::RefCell<Vec<Option<CachedLocation>>> =
        std::cell::RefCell::new(vec![None; LOCATION_CACHE]);
}

/// `db.lookup(ip)` through this thread's cache; a damaged database answers "unknown".
fn lookup_cached(
    db: &std::sync::Arc<edge_geo::mmdb::Database>,
    ip: IpAddr,
) -> Option<ClientLocation> {
    let slot = match ip {
        IpAddr::V4(v4) => u32::from(v4).wrapping_mul(0x9E37_79B1) >> 26,
        IpAddr::V6(v6) => {
            (u128::from(v6) as u32 ^ (u128::from(v6) >> 64) as u32).wrapping_mul(0x9E37_79B1) >> 26
        }
    } as usize
        % LOCATION_CACHE;
    LOCATIONS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((weak, cached_ip, location)) = &cache[slot] {
            if *cached_ip == ip && std::ptr::eq(weak.as_ptr(), std::sync::Arc::as_ptr(db)) {
                return *location;
            }
        }
        let location = db.lookup(ip).ok().flatten();
        cache[slot] = Some((std::sync::Arc::downgrade(db), ip, location));
        location
    })
}

/// Step 3b, with `[edge]` only: a tenant whose home geography is not this edge's, found after
/// decryption. Counted in `edge_residency_foreign_terminations_total{geography}`, then:
///
/// - found by its host (the `Host` names another tenant than the SNI did, or there was no
///   SNI), or the request already came from a peer edge (never passed on twice), or
///   `foreign_tenants = "refuse"`: 421 naming the tenant's own host;
/// - else (`"proxy"`): the healthy edges of its geography, to try in turn (503 when none).
///
/// `Ok(None)`: the request is this edge's to route.
pub fn check_residency(
    state: &GatewayState,
    live: &Live,
    found: &TenantMatch,
    peer: Option<IpAddr>,
    req: &RequestHeader,
) -> Result<Option<ViaEdge>, Refusal> {
    let config = &live.snapshot.config;
    let Some(edge) = &config.edge else {
        return Ok(None);
    };
    let TenantMatch::Found { id, source } = found else {
        return Ok(None);
    };
    let Some(tenant) = config.tenants.by_id.get(id) else {
        return Ok(None);
    };
    if tenant.geography == edge.geography {
        return Ok(None);
    }
    let geography = &tenant.geography;
    state
        .metrics
        .residency_foreign_terminations
        .with_label_values(&[geography.as_str()])
        .inc();
    let from_peer = peer.is_some_and(|p| edge.trusted_peers.iter().any(|c| c.contains(p)));
    if *source == SourceKind::Host || from_peer || edge.foreign_tenants == ForeignTenants::Refuse {
        let host = tenant_host(&config.tenancy.sources, id);
        return Err(Refusal::answer(EdgeError::misdirected(
            id,
            geography.as_str(),
            host.as_deref(),
        )));
    }
    let (Some(upstreams), Some(geo)) = (
        live.snapshot.edge_upstreams.as_ref(),
        live.snapshot.geography_id(geography),
    ) else {
        return Ok(None);
    };
    let sni = request_host(req).map_or("", tenancy::strip_port);
    let all = upstreams.of(geography);
    let start = if all.is_empty() {
        0
    } else {
        rand::random::<u32>() as usize % all.len()
    };
    let peers: Vec<(String, Box<pingora::upstreams::peer::HttpPeer>)> = all[start..]
        .iter()
        .chain(&all[..start])
        .filter(|u| crate::edge::peer_is_healthy(&state.peers, u.addr))
        .map(|u| {
            let mut peer = u.peer.clone();
            peer.sni = sni.to_owned();
            (u.address.clone(), peer)
        })
        .collect();
    if peers.is_empty() {
        return Err(Refusal::answer(EdgeError::no_edge(
            geography.as_str(),
            config.health.interval,
        )));
    }
    Ok(Some(ViaEdge {
        geography: geography.clone(),
        geo,
        peers,
    }))
}

/// The host a `host` tenant source gives `tenant` (the first such source), e.g.
/// `3f0b…4a5b.app.example.com`.
pub fn tenant_host(sources: &[TenantSource], tenant: &edge_config::TenantId) -> Option<String> {
    sources.iter().find_map(|s| match s {
        TenantSource::Host { prefix, suffix } => Some(format!("{prefix}{tenant}{suffix}")),
        _ => None,
    })
}

/// Step 4: the global deny list, then the route (origins of the tenant's home geography, or
/// of the client's nearest geography for tenant-less requests), then the tenant's geo-fence.
pub fn decide_route(
    live: &Live,
    found: &TenantMatch,
    location: Option<&ClientLocation>,
    seed: u64,
) -> Result<Route, Refusal> {
    let config = &live.snapshot.config;
    geofence::check_deny_list(config, location)
        .and_then(|()| {
            routing::route_request(&live.snapshot, found, location, &live.health_view(), seed)
        })
        .and_then(|route| geofence::check_tenant(config, &route, location).map(|()| route))
        .map_err(Refusal::answer)
}

/// What [`rate_limit`] decided: the headers to send either way, and the outcome.
#[derive(Debug)]
pub struct RateLimited {
    /// `RateLimit-Policy` / `RateLimit` (and `Retry-After` when limited).
    pub headers: Vec<(http::HeaderName, String)>,
    /// Whether the request may go on.
    pub outcome: Result<(), Refusal>,
}

/// Step 5: the tenant's, the client's and the route's quotas. Requests of tenants the
/// directory does not know are not limited here (they were refused or are tenant-less).
pub fn rate_limit(
    limiter: &RateLimiter,
    config: &Config,
    client: IpAddr,
    tenant: edge_config::TenantId,
    req: &RequestHeader,
) -> RateLimited {
    let Some(tenant) = config.tenants.by_id.get(&tenant) else {
        return RateLimited {
            headers: Vec::new(),
            outcome: Ok(()),
        };
    };
    let decision = limiter.check(client, tenant, &req.method, req.uri.path());
    let headers = decision.response_headers();
    let outcome = match decision {
        Decision::Allowed { .. } => Ok(()),
        Decision::Limited {
            scope, retry_after, ..
        } => Err(Refusal::answer(EdgeError::rate_limited(
            scope.label(),
            retry_after,
        ))),
    };
    RateLimited { headers, outcome }
}

/// Step 5, fleet mode: after the local limits allowed the request, the tenant's and the
/// route's fleet-wide allowance (`fleet/quota.rs`; never waits on Redis). A refusal comes
/// with its own `RateLimit-Policy`, `RateLimit` and `Retry-After` (an admission brings no
/// headers: the local decision's stand).
pub fn fleet_limit(
    fleet: &FleetQuotas,
    limiter: &RateLimiter,
    config: &Config,
    tenant: edge_config::TenantId,
    req: &RequestHeader,
) -> RateLimited {
    let admitted = || RateLimited {
        headers: Vec::new(),
        outcome: Ok(()),
    };
    let Some(t) = config.tenants.by_id.get(&tenant) else {
        return admitted();
    };
    let scopes = limiter.shared_scopes(t, &req.method, req.uri.path());
    let Err(refused) = fleet.check(tenant, &scopes) else {
        return admitted();
    };
    let headers = RateLimitHeaders {
        scope: refused.scope,
        quota: refused.quota,
        remaining: 0,
        reset_secs: refused.retry_after.as_secs(),
    };
    let mut pairs = headers.pairs().to_vec();
    pairs.push((RETRY_AFTER, refused.retry_after.as_secs().to_string()));
    let error = EdgeError::rate_limited(refused.scope.label(), refused.retry_after);
    RateLimited {
        headers: pairs,
        outcome: Err(Refusal::answer(error)),
    }
}

/// Step 6: reads a chunked HTTP/1 request body (up to [`PREBUFFER_BYTES`]) before any origin
/// is contacted, so that malformed chunk framing is refused (400) instead of half-forwarded —
/// nginx's request buffering, bounded. Larger bodies stream on from there; their framing
/// errors abort the upstream request. Every refusal closes the connection.
pub async fn prebuffer_body(session: &mut Session, ctx: &mut RequestCtx) -> Result<(), Refusal> {
    let chunked = !session.is_http2()
        && session
            .req_header()
            .headers
            .contains_key(http::header::TRANSFER_ENCODING);
    if !chunked {
        return Ok(());
    }
    // The client waits for `100 Continue` before it sends a body we are about to wait for:
    // the request is admitted, so say so now (and keep the origin from saying it again).
    if framing::expects_continue(session.req_header()) == Ok(true) {
        let interim = ResponseHeader::build(100, Some(0)).map_err(|_| {
            Refusal::closing(EdgeError::new(ErrorKind::Internal, "cannot build 100"))
        })?;
        session
            .write_response_header(Box::new(interim), false)
            .await
            .map_err(|_| {
                Refusal::closing(EdgeError::new(
                    ErrorKind::BadRequest,
                    "the client went away before sending its body",
                ))
            })?;
        ctx.continue_sent = true;
    }
    session.as_downstream_mut().enable_retry_buffering();
    while ctx.body_bytes < PREBUFFER_BYTES {
        match session.as_downstream_mut().read_request_body().await {
            Ok(Some(chunk)) => {
                ctx.body_bytes += chunk.len() as u64;
                if ctx.body_bytes > ctx.limits.max_body_bytes {
                    return Err(Refusal::closing(framing::body_too_large(&ctx.limits)));
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "malformed chunked request body");
                return Err(Refusal::closing(EdgeError::new(
                    ErrorKind::BadRequest,
                    "the chunked request body is malformed",
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, EU_TENANT, NA_TENANT};
    use crate::topology::OriginId;
    use std::sync::Arc;

    fn head(lines: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/orders", None).unwrap();
        for (n, v) in lines {
            req.append_header(n.to_string(), *v).unwrap();
        }
        req
    }

    #[test]
    fn framing_refusals_close_the_connection_and_say_why() {
        let limits = Limits::default();
        let req = head(&[("host", "gw.test")]);
        assert!(check_head(None, &req, true, &limits, 0).is_ok());
        let raw =
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(check_head(Some(raw), &req, true, &limits, 0).is_err());
        let long = RequestHeader::build("GET", "/".repeat(9000).as_bytes(), None).unwrap();
        let e = check_head(None, &long, true, &limits, 0).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UriTooLong);
        let dots = RequestHeader::build("GET", b"/t/a/../b", None).unwrap();
        assert!(check_head(None, &dots, true, &limits, 0).is_err());
        let empty = RequestHeader::build("GET", b"/t//a", None).unwrap();
        assert!(check_head(None, &empty, true, &limits, 0).is_ok());
        assert!(check_head(None, &empty, true, &limits, 2).is_err());
        let expect = head(&[("expect", "bogus")]);
        let e = check_head(None, &expect, true, &limits, 0).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ExpectationFailed);
    }

    #[tokio::test]
    async fn check_framing_reads_the_raw_head_of_the_session() {
        let limits = Limits::default();
        let (s, _c) = testing::session(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert_eq!(check_framing(&s, &limits, 0), Ok(()));
        let (s, _c) = testing::session(
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await;
        let refused = check_framing(&s, &limits, 0).unwrap_err();
        assert!(refused.close);
        assert_eq!(refused.error.kind, ErrorKind::BadRequest);
    }

    #[test]
    fn the_tenant_comes_from_the_configured_source() {
        let config = testing::config("");
        let found = identify_tenant(&config, &head(&[("x-tenant-id", EU_TENANT)]));
        assert!(matches!(found, TenantMatch::Found { .. }), "{found:?}");
        let found = identify_tenant(&config, &head(&[("x-tenant-id", "not-a-uuid")]));
        assert!(matches!(found, TenantMatch::Malformed { .. }), "{found:?}");
        assert_eq!(identify_tenant(&config, &head(&[])), TenantMatch::Absent);
    }

    #[test]
    fn the_client_is_the_socket_peer_unless_a_trusted_proxy_says_otherwise() {
        let state = testing::state(testing::config(""));
        let config = state.live().snapshot.config.clone();
        let peer = "10.0.0.7".parse().unwrap();
        let req = head(&[("x-forwarded-for", "203.0.113.9")]);
        // No trusted proxies, no location database: the peer, and no location.
        assert_eq!(
            locate_client(&state, &config, Some(peer), &req),
            (Some(peer), None)
        );
        assert_eq!(locate_client(&state, &config, None, &req), (None, None));
        let trusting = testing::config("[client_ip]\ntrusted_proxies = [\"10.0.0.0/8\"]\n");
        assert_eq!(
            locate_client(&state, &trusting, Some(peer), &req).0,
            Some("203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn routes_stay_in_the_home_geography_and_refusals_keep_the_connection() {
        let live = testing::live(testing::config(""));
        let s = &live.snapshot;
        let eu = TenantMatch::Found {
            id: edge_config::TenantId::parse(EU_TENANT).unwrap(),
            source: tenancy::SourceKind::Header,
        };
        for seed in 0..20 {
            let route = decide_route(&live, &eu, None, seed).unwrap();
            assert_eq!(s.geography(route.geography).name.as_str(), "eu");
            let first = s.region(s.origin(route.candidates[0]).region);
            assert_eq!(first.name.as_str(), "northeurope");
        }
        let refused = decide_route(&live, &TenantMatch::Absent, None, 1).unwrap_err();
        assert_eq!(refused.error.kind, ErrorKind::UnknownTenant);
        assert!(!refused.close);
        // Both EU origins down: 503, never NA.
        for id in [0, 1] {
            let h = live.origin_health(OriginId(id));
            for _ in 0..5 {
                h.record_probe(false, Default::default(), live.health.now_ms(), 1, 1);
            }
        }
        let refused = decide_route(&live, &eu, None, 1).unwrap_err();
        assert_eq!(refused.error.kind, ErrorKind::NoOriginAvailable);
    }

    #[test]
    fn a_geo_fence_refuses_an_unknown_location() {
        let mut config = testing::config("");
        let id = edge_config::TenantId::parse(EU_TENANT).unwrap();
        let tenant = config.tenants.by_id.get_mut(&id).unwrap();
        tenant.allowed_countries = Some(vec!["DE".parse().unwrap()].into_boxed_slice());
        let live = testing::live(config);
        let eu = TenantMatch::Found {
            id,
            source: tenancy::SourceKind::Header,
        };
        let refused = decide_route(&live, &eu, None, 1).unwrap_err();
        assert_eq!(refused.error.kind, ErrorKind::LocationForbidden);
    }

    #[test]
    fn rate_limits_refuse_with_headers_once_the_burst_is_spent() {
        let config = testing::config(
            "[rate_limits]\ndefault_plan = \"small\"\n[rate_limits.plans.small]\nrps = 1\nburst = 2\n",
        );
        let limiter = RateLimiter::new(config.rate_limits.as_ref().unwrap());
        let ip = "10.0.0.1".parse().unwrap();
        let tenant = edge_config::TenantId::parse(NA_TENANT).unwrap();
        let req = head(&[]);
        let outcomes: Vec<bool> = (0..3)
            .map(|_| {
                rate_limit(&limiter, &config, ip, tenant, &req)
                    .outcome
                    .is_ok()
            })
            .collect();
        assert_eq!(outcomes, [true, true, false]);
        let limited = rate_limit(&limiter, &config, ip, tenant, &req);
        let refused = limited.outcome.unwrap_err();
        assert_eq!(refused.error.kind, ErrorKind::RateLimited);
        assert_eq!(refused.error.limit, Some("tenant"));
        assert!(limited.headers.iter().any(|(n, _)| *n == "retry-after"));
        // A tenant the directory does not know is not limited here.
        let unknown = edge_config::TenantId::parse("33333333-3333-4333-8333-333333333333").unwrap();
        assert!(rate_limit(&limiter, &config, ip, unknown, &req)
            .outcome
            .is_ok());
    }

    #[tokio::test]
    async fn a_chunked_body_is_prebuffered_and_bad_chunks_are_refused() {
        let live = Arc::new(testing::live(testing::config("")));
        let (mut s, _c) = testing::session(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )
        .await;
        let mut ctx = RequestCtx::new(live.clone());
        assert_eq!(prebuffer_body(&mut s, &mut ctx).await, Ok(()));
        assert_eq!(ctx.body_bytes, 3);
        let (mut s, _c) = testing::session(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        )
        .await;
        let mut ctx = RequestCtx::new(live.clone());
        let refused = prebuffer_body(&mut s, &mut ctx).await.unwrap_err();
        assert!(refused.close);
        assert_eq!(refused.error.kind, ErrorKind::BadRequest);
        // Not chunked: nothing is read here.
        let (mut s, _c) =
            testing::session(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc").await;
        let mut ctx = RequestCtx::new(live.clone());
        assert_eq!(prebuffer_body(&mut s, &mut ctx).await, Ok(()));
        assert_eq!(ctx.body_bytes, 0);
        // Expect: 100-continue: the interim answer goes out before the body is awaited.
        let (mut s, mut c) = testing::session(
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await;
        let mut ctx = RequestCtx::new(live);
        let client = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut got = vec![0u8; 25];
            c.read_exact(&mut got).await.unwrap();
            c.write_all(b"2\r\nhi\r\n0\r\n\r\n").await.unwrap();
            (got, c)
        });
        assert_eq!(prebuffer_body(&mut s, &mut ctx).await, Ok(()));
        let (got, _c) = client.await.unwrap();
        assert_eq!(&got[..], b"HTTP/1.1 100 Continue\r\n\r\n");
        assert!(ctx.continue_sent);
        assert_eq!(ctx.body_bytes, 2);
    }

    #[tokio::test]
    async fn admission_runs_every_step_and_records_what_it_decided() {
        let state = testing::state(testing::config(""));
        let request = format!("GET /x HTTP/1.1\r\nHost: gw.test\r\nx-tenant-id: {NA_TENANT}\r\nx-request-id: abc-1\r\n\r\n");
        let (mut s, _c) = testing::session(request.as_bytes()).await;
        let mut ctx = RequestCtx::new(state.live());
        assert_eq!(admit(&state, &mut s, &mut ctx).await, Ok(()));
        assert_eq!(ctx.request_id, "abc-1");
        assert_eq!(ctx.geography_name(), Some("na"));
        assert_eq!(ctx.client_ip, Some("127.0.0.1".parse().unwrap()));
        // A framing refusal gets an id of the gateway's, not the client's.
        let request = "GET /x HTTP/1.1\r\nHost: gw.test\r\nx-request-id: abc-2\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (mut s, _c) = testing::session(request.as_bytes()).await;
        let mut ctx = RequestCtx::new(state.live());
        let refused = admit(&state, &mut s, &mut ctx).await.unwrap_err();
        assert!(refused.close);
        assert_ne!(ctx.request_id, "abc-2");
        assert!(ctx.route.is_none());
    }
}
