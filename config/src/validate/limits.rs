//! `[limits]` and `[rate_limits]`: what one client may hold or send, and how many requests
//! per second a tenant, a client or a route gets.
//!
//! Both take per-route entries keyed by path prefix (`[[limits.routes]]`,
//! `[[rate_limits.routes]]`), checked by one rule (`path_prefix`).

use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroUsize};

use super::schema::{Elements, Raw};
use super::spans::KeyPath;
use super::validator::Validator;
use super::values::MinDuration;
use crate::defaults::{
    DEFAULT_CLIENT_IDLE_TIMEOUT, DEFAULT_H2_MAX_CONCURRENT_STREAMS, DEFAULT_H2_MAX_RESET_STREAMS,
    DEFAULT_IDLE_EVICTION, DEFAULT_KEEPALIVE_REQUESTS, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_URI_BYTES,
    DEFAULT_REQUEST_HEADER_TIMEOUT, DEFAULT_TLS_HANDSHAKE_TIMEOUT, MAX_CONNECTIONS,
    MAX_H2_CONCURRENT_STREAMS, MAX_H2_MAX_RESET_STREAMS, MAX_HEADERS, MAX_HEADER_BYTES,
    MAX_URI_BYTES, MIN_HEADER_BYTES, MIN_URI_BYTES,
};
use crate::file::{BodyLimitRouteFile, LimitsFile, RouteLimitFile};
use crate::model::{BodyLimit, Limits, PlanName, Quota, RateLimits, RouteLimit, TenantId};

impl<'a> Validator<'a> {
    /// `[limits]` (defaults for whatever is absent or wrong) and `[[limits.routes]]`.
    pub(super) fn limits(
        &mut self,
        file: Option<&LimitsFile>,
        routes: &Elements<BodyLimitRouteFile>,
    ) -> Limits {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("limits");
        let routes_path = path.key("routes");
        // Index in the file of each distinct, well-formed prefix, for duplicate reports.
        let mut first_at: HashMap<&str, usize> = HashMap::new();
        let mut body_limits = Vec::new();
        for (i, r) in routes.parsed() {
            let p = routes_path.index(i);
            // A negative size is reported here; the prefix is still checked and claimed.
            let bytes_ok = r.max_body_bytes >= 0;
            let bytes = self.int_u64(
                &p.key("max_body_bytes"),
                Some(r.max_body_bytes),
                0,
                0,
                u64::MAX,
            );
            let prefix = r.path_prefix.as_str();
            if !self.path_prefix(&p.key("path_prefix"), prefix, "/upload") {
                continue;
            }
            if let Some(first) = first_at.get(prefix) {
                self.error(
                    &p.key("path_prefix"),
                    format!(
                        "{prefix:?} is listed twice (first at {routes_path}[{first}]); keep one"
                    ),
                );
                continue;
            }
            first_at.insert(prefix, i);
            if bytes_ok {
                body_limits.push(BodyLimit {
                    path_prefix: prefix.to_owned(),
                    max_body_bytes: bytes,
                });
            }
        }
        // Longest first, so the first match is the longest; distinct prefixes of one length
        // never match the same path, so their order does not matter.
        body_limits.sort_by_key(|r| std::cmp::Reverse(r.path_prefix.len()));
        Limits {
            max_connections: self.non_zero(
                &path.key("max_connections"),
                file.max_connections,
                DEFAULT_MAX_CONNECTIONS,
                MAX_CONNECTIONS,
            ),
            tls_handshake_timeout: self.duration(
                &path.key("tls_handshake_timeout"),
                file.tls_handshake_timeout,
                DEFAULT_TLS_HANDSHAKE_TIMEOUT,
                MinDuration::Positive,
            ),
            request_header_timeout: self.duration(
                &path.key("request_header_timeout"),
                file.request_header_timeout,
                DEFAULT_REQUEST_HEADER_TIMEOUT,
                MinDuration::Positive,
            ),
            idle_timeout: self.duration(
                &path.key("idle_timeout"),
                file.idle_timeout,
                DEFAULT_CLIENT_IDLE_TIMEOUT,
                MinDuration::Positive,
            ),
            max_uri_bytes: self.int_usize(
                &path.key("max_uri_bytes"),
                file.max_uri_bytes,
                DEFAULT_MAX_URI_BYTES,
                MIN_URI_BYTES,
                MAX_URI_BYTES,
            ),
            max_header_bytes: self.int_usize(
                &path.key("max_header_bytes"),
                file.max_header_bytes,
                DEFAULT_MAX_HEADER_BYTES,
                MIN_HEADER_BYTES,
                MAX_HEADER_BYTES,
            ),
            max_headers: self.int_usize(
                &path.key("max_headers"),
                file.max_headers,
                DEFAULT_MAX_HEADERS,
                1,
                MAX_HEADERS,
            ),
            max_body_bytes: self.int_u64(
                &path.key("max_body_bytes"),
                file.max_body_bytes,
                DEFAULT_MAX_BODY_BYTES,
                0,
                u64::MAX,
            ),
            h2_max_concurrent_streams: self.non_zero(
                &path.key("h2_max_concurrent_streams"),
                file.h2_max_concurrent_streams,
                DEFAULT_H2_MAX_CONCURRENT_STREAMS,
                MAX_H2_CONCURRENT_STREAMS,
            ),
            h2_max_reset_streams: self.int(
                &path.key("h2_max_reset_streams"),
                file.h2_max_reset_streams,
                DEFAULT_H2_MAX_RESET_STREAMS,
                0,
                MAX_H2_MAX_RESET_STREAMS,
            ),
            keepalive_requests: self.non_zero(
                &path.key("keepalive_requests"),
                file.keepalive_requests,
                DEFAULT_KEEPALIVE_REQUESTS,
                u32::MAX,
            ),
            routes: body_limits,
        }
    }

    /// Whether `prefix` is a route's path prefix: it starts with `/` and holds only visible
    /// ASCII other than `?` and `#`. Reports it otherwise, with `example` as a right one.
    fn path_prefix(&mut self, path: &KeyPath, prefix: &str, example: &str) -> bool {
        let ok = prefix.starts_with('/')
            && prefix
                .bytes()
                .all(|c| c.is_ascii_graphic() && c != b'?' && c != b'#');
        if !ok {
            self.error(
                path,
                format!(
                    "{prefix:?} is not a path prefix: it must start with '/' and hold no spaces, \
                     '?' or '#', e.g. {example:?}"
                ),
            );
        }
        ok
    }

    /// `[rate_limits]`, and the plan names tenants must use: `None` when rate limits are
    /// absent or some plan did not parse (plan references are not checked then).
    pub(super) fn rate_limits(&mut self, raw: &Raw) -> (Option<RateLimits>, Option<Vec<PlanName>>) {
        let Some(file) = raw.rate_limits.parsed() else {
            return (None, None);
        };
        let path = KeyPath::default().key("rate_limits");
        let mut limits = RateLimits::default();

        // Names of well-named plans, even those whose quota is wrong: a tenant naming one is
        // not the problem.
        let mut names: Vec<PlanName> = Vec::new();
        let plans_path = path.key("plans");
        for (_, (name, q)) in raw.plans.parsed() {
            let p = plans_path.key(name);
            let quota = self.quota(&p, q.rps, q.burst);
            if !self.name(&p, name, "plan") {
                continue;
            }
            let name = PlanName::new(name);
            names.push(name.clone());
            if let Some(quota) = quota {
                limits.plans.insert(name, quota);
            }
        }
        let plans_complete = raw.plans.complete();
        let defined = if names.is_empty() {
            "none".to_owned()
        } else {
            let mut shown: Vec<&str> = names.iter().map(PlanName::as_str).collect();
            shown.sort_unstable();
            shown.join(", ")
        };

        if let Some(default_plan) = &file.default_plan {
            let p = path.key("default_plan");
            if self.name(&p, default_plan, "plan") {
                match names.iter().find(|n| n.as_str() == default_plan) {
                    Some(n) => limits.default_plan = Some(n.clone()),
                    None if plans_complete => self.error(
                        &p,
                        format!(
                            "default_plan {default_plan:?} is not a defined plan (defined: \
                             {defined}); add [rate_limits.plans.{default_plan}] with rps = ..."
                        ),
                    ),
                    None => {}
                }
            }
        }

        if let Some(q) = raw.per_client.parsed() {
            limits.per_client = self.quota(&path.key("per_client"), q.rps, q.burst);
        }

        let overrides_path = path.key("tenant_overrides");
        let mut first_override: HashMap<TenantId, usize> = HashMap::new();
        for (i, o) in raw.tenant_overrides.parsed() {
            let p = overrides_path.index(i);
            let quota = self.quota(&p, o.rps, o.burst);
            let tenant = match TenantId::parse(&o.tenant) {
                Ok(tenant) => tenant,
                Err(e) => {
                    self.error(&p.key("tenant"), format!("{:?} is {e}", o.tenant.trim()));
                    continue;
                }
            };
            if let Some(first) = first_override.get(&tenant) {
                self.error(
                    &p.key("tenant"),
                    format!(
                        "tenant {tenant} already has an override at \
                         rate_limits.tenant_overrides[{first}]; keep one"
                    ),
                );
                continue;
            }
            first_override.insert(tenant, i);
            if let Some(quota) = quota {
                limits.tenant_overrides.insert(tenant, quota);
            }
        }

        let routes_path = path.key("routes");
        let mut seen_routes: Vec<(usize, RouteLimit)> = Vec::new();
        for (i, r) in raw.route_limits.parsed() {
            if let Some(route) = self.route_limit(&routes_path.index(i), r) {
                let overlapping = seen_routes.iter().find(|(_, earlier)| {
                    earlier.path_prefix == route.path_prefix
                        && (earlier.methods.is_empty()
                            || route.methods.is_empty()
                            || earlier.methods.iter().any(|m| route.methods.contains(m)))
                });
                if let Some((j, _)) = overlapping {
                    self.error(
                        &routes_path.index(i).key("path_prefix"),
                        format!(
                            "{:?} with these methods overlaps rate_limits.routes[{j}] (the same \
                             prefix and a common method); merge them or make the methods disjoint",
                            route.path_prefix
                        ),
                    );
                    continue;
                }
                seen_routes.push((i, route));
            }
        }
        limits.routes = seen_routes.into_iter().map(|(_, r)| r).collect();

        limits.send_headers = file.send_headers.unwrap_or(true);
        if let Some(v) = file.max_tracked_clients {
            match usize::try_from(v).ok().and_then(NonZeroUsize::new) {
                Some(n) => limits.max_tracked_clients = n,
                None => self.error(
                    &path.key("max_tracked_clients"),
                    format!("{v} is out of range: expected at least 1, e.g. 1000000"),
                ),
            }
        }
        limits.idle_eviction = self.duration(
            &path.key("idle_eviction"),
            file.idle_eviction,
            DEFAULT_IDLE_EVICTION,
            MinDuration::Positive,
        );
        (Some(limits), plans_complete.then_some(names))
    }

    fn route_limit(&mut self, path: &KeyPath, r: &RouteLimitFile) -> Option<RouteLimit> {
        let quota = self.quota(path, r.rps, r.burst);
        let prefix = &r.path_prefix;
        let prefix_ok = self.path_prefix(&path.key("path_prefix"), prefix, "/api/search");
        let methods = match &r.methods {
            None => Some(Vec::new()),
            Some(list) if list.is_empty() => {
                self.error(
                    &path.key("methods"),
                    "methods must not be empty; leave the key out to limit every method",
                );
                None
            }
            Some(list) => self.methods(&path.key("methods"), list),
        };
        let (Some(quota), Some(methods), true) = (quota, methods, prefix_ok) else {
            return None;
        };
        Some(RouteLimit {
            path_prefix: prefix.clone(),
            methods,
            quota,
        })
    }

    /// `rps` and `burst` (default: `rps`) under `path`; `None` after reporting either.
    fn quota(&mut self, path: &KeyPath, rps: i64, burst: Option<i64>) -> Option<Quota> {
        let rps = self.positive(&path.key("rps"), rps);
        let burst = match burst {
            None => rps,
            Some(b) => self.positive(&path.key("burst"), b),
        };
        Some(Quota {
            rps: rps?,
            burst: burst?,
        })
    }

    /// A positive `u32`; `None` after reporting.
    fn positive(&mut self, path: &KeyPath, value: i64) -> Option<NonZeroU32> {
        let n = u32::try_from(value).ok().and_then(NonZeroU32::new);
        if n.is_none() {
            let expected = if value < 1 {
                "at least 1".to_owned()
            } else {
                format!("at most {}", u32::MAX)
            };
            self.error(
                path,
                format!("{value} is out of range: expected {expected}"),
            );
        }
        n
    }
}
