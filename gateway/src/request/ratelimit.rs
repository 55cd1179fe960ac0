//! Request rate limiting per client address, per tenant and per route, over `governor`'s GCRA.
//!
//! [`RateLimiter::check`] measures one request against up to three scopes, cheapest to reject
//! first, and the first denial wins:
//!
//! 1. **client**: `rate_limits.per_client`, keyed by the client address across tenants. An IPv6
//!    client is keyed by its /64 (one subscriber's allocation, which a single host can rotate
//!    through freely); an IPv4-mapped IPv6 address counts as its IPv4 address.
//! 2. **tenant**: the tenant's override, else its plan, else `default_plan`, else unlimited.
//! 3. **route**: the first `rate_limits.routes` entry whose `path_prefix` starts the path and
//!    whose methods include the request's (none listed = all), keyed by (tenant, route index).
//!
//! A request denied by a later scope has still spent its token in the earlier ones (as with
//! nginx's `limit_req`): checking every scope first and spending afterwards would cost a second
//! pass, and a client that floods keeps itself limited either way.
//!
//! **One limiter per quota.** A governor keyed limiter has one quota, so each scope keeps one
//! keyed limiter per distinct [`Quota`] (tenants on the same plan share one, keyed by tenant).
//! [`RateLimiter::reconfigure`] reuses the limiter, buckets included, of every quota that is
//! still configured, and creates limiters only for new quotas: a reload never hands a drained
//! tenant a fresh burst. A scope whose quota changed starts with full buckets, and so does a
//! tenant that moves to a plan with another quota. A route limit is keyed by its index, so
//! reordering `routes` moves buckets between routes of equal quota.
//!
//! **Bounded memory.** Each keyed limiter tracks at most `max_tracked_clients` keys. Past that,
//! requests from keys it does not track share *one* overflow bucket with the scope's quota:
//! under a flood of distinct addresses, clients already known keep their own buckets and new
//! ones are limited together (degraded, but bounded). [`RateLimiter::maintain`], run every
//! [`RateLimiter::maintenance_interval`], forgets keys whose bucket has refilled (nothing is
//! lost: a full bucket is what a new key gets) and returns the memory.
//!
//! **Cost.** The allowed path allocates nothing for the client and tenant scopes (a new key
//! may grow its map); see `benches/ratelimit.rs` for timings.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use edge_config::{PlanName, Quota, RateLimits, Tenant, TenantId};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::NotUntil;
use http::HeaderName;

/// The `RateLimit-Policy` response header (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The `RateLimit` response header (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The `Retry-After` response header (RFC 9110).
pub const RETRY_AFTER: HeaderName = http::header::RETRY_AFTER;

/// The limit a request was measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `rate_limits.per_client`: one client address, across tenants.
    Client,
    /// The tenant's override, plan or default plan.
    Tenant,
    /// A `rate_limits.routes` entry, within one tenant.
    Route,
}

impl Scope {
    /// The scope's name in headers, logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Scope::Client => "client",
            Scope::Tenant => "tenant",
            Scope::Route => "route",
        }
    }
}

/// What [`RateLimiter::check`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Serve the request.
    Allowed {
        /// The most restrictive scope's state, when `send_headers` is on and any scope applied.
        headers: Option<RateLimitHeaders>,
    },
    /// Answer 429.
    Limited {
        /// The scope that refused.
        scope: Scope,
        /// How long until that scope would allow the request: whole seconds, rounded up, at
        /// least one (so it can go into `Retry-After` as it is).
        retry_after: Duration,
        /// The refusing scope's state.
        headers: RateLimitHeaders,
    },
}

impl Decision {
    /// The response headers to send, as (lower-case name, value) pairs: `RateLimit-Policy`
    /// and `RateLimit` when there is state to report, and `Retry-After` when limited.
    pub fn response_headers(&self) -> Vec<(HeaderName, String)> {
        match self {
            Decision::Allowed { headers: None } => Vec::new(),
            Decision::Allowed {
                headers: Some(headers),
            } => Vec::from(headers.pairs()),
            Decision::Limited {
                retry_after,
                headers,
                ..
            } => {
                let [policy, state] = headers.pairs();
                let retry = (RETRY_AFTER, retry_after.as_secs().to_string());
                vec![policy, state, retry]
            }
        }
    }
}

/// One scope's limit and state, as the `RateLimit-Policy` and `RateLimit` headers report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// The scope; its label names the policy.
    pub scope: Scope,
    /// The scope's quota: `rps` per one-second window, bursts of `burst`.
    pub quota: Quota,
    /// Requests that could be sent right now (at most `burst`).
    pub remaining: u32,
    /// Seconds until the bucket is full again, rounded up.
    pub reset_secs: u64,
}

impl RateLimitHeaders {
    /// The `RateLimit-Policy` value, e.g. `"tenant";q=50;w=1`: `q` requests per `w` seconds.
    pub fn policy_value(&self) -> String {
        // Written without `fmt`: two of these per admitted request.
        let mut v = self.label_value(8);
        v.push_str(";q=");
        v.push_str(itoa::Buffer::new().format(self.quota.rps.get()));
        v.push_str(";w=1");
        v
    }

    /// `"label"` in a string with room for `more` bytes after it.
    fn label_value(&self, more: usize) -> String {
        let label = self.scope.label();
        let mut v = String::with_capacity(label.len() + 2 + more + 20);
        v.push('"');
        v.push_str(label);
        v.push('"');
        v
    }

    /// The `RateLimit` value, e.g. `"tenant";r=9;t=1`: `r` requests remaining, full again in
    /// `t` seconds.
    pub fn state_value(&self) -> String {
        let mut v = self.label_value(6);
        v.push_str(";r=");
        v.push_str(itoa::Buffer::new().format(self.remaining));
        v.push_str(";t=");
        v.push_str(itoa::Buffer::new().format(self.reset_secs));
        v
    }

    /// Both headers as (lower-case name, value) pairs.
    pub fn pairs(&self) -> [(HeaderName, String); 2] {
        [
            (RATELIMIT_POLICY, self.policy_value()),
            (RATELIMIT, self.state_value()),
        ]
    }

    /// Whether `self` leaves the client less room than `other`: fewer requests remaining, or
    /// as many but a longer wait until the bucket is full.
    fn is_tighter_than(&self, other: &RateLimitHeaders) -> bool {
        (self.remaining, std::cmp::Reverse(self.reset_secs))
            < (other.remaining, std::cmp::Reverse(other.reset_secs))
    }
}

/// The quotas of the scopes a fleet shares for one request (the per-client scope stays local:
/// a flood of client addresses must not become Redis load).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SharedScopes {
    /// The tenant's quota, if it has one.
    pub tenant: Option<Quota>,
    /// The index in `rate_limits.routes` and quota of the route limit that applies, if any.
    pub route: Option<(u32, Quota)>,
}

/// Decision counts since start, for metrics (no per-tenant breakdown: that would be unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterSnapshot {
    /// Requests allowed.
    pub allowed: u64,
    /// Requests refused by the per-client limit.
    pub limited_client: u64,
    /// Requests refused by a tenant's limit.
    pub limited_tenant: u64,
    /// Requests refused by a route limit.
    pub limited_route: u64,
    /// Checks answered by a scope's shared overflow bucket because it already tracked
    /// `max_tracked_clients` keys (a sign of a flood, or of a cap set too low).
    pub overflowed: u64,
}

/// Rate limits of every scope, reconfigurable in place. Generic over governor's [`Clock`] so
/// tests can drive time with `governor::clock::FakeRelativeClock`.
pub struct RateLimiter<C: Clock = DefaultClock> {
    clock: C,
    tables: ArcSwap<Tables<C>>,
    /// Serialises [`RateLimiter::reconfigure`], which reads the current tables to reuse them.
    reconfiguring: Mutex<()>,
    shared: Arc<StoreShared>,
    counters: Counters,
}

impl RateLimiter<DefaultClock> {
    /// Limits from `limits`, on the default (monotonic, TSC-based) clock.
    pub fn new(limits: &RateLimits) -> Self {
        Self::with_clock(limits, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// Limits from `limits`, measured on `clock`.
    pub fn with_clock(limits: &RateLimits, clock: C) -> Self {
        let shared = Arc::new(StoreShared {
            cap: AtomicUsize::new(limits.max_tracked_clients.get()),
            overflowed: AtomicU64::new(0),
        });
        let tables = Tables::build(limits, None, &clock, &shared);
        RateLimiter {
            clock,
            tables: ArcSwap::from_pointee(tables),
            reconfiguring: Mutex::new(()),
            shared,
            counters: Counters::default(),
        }
    }

    /// Switches to `limits` (call it on every configuration reload). The limiter of every
    /// quota that is still configured is kept with its buckets; limiters are created only for
    /// new quotas, and those of quotas no longer configured are dropped. Counters carry on.
    pub fn reconfigure(&self, limits: &RateLimits) {
        // A poisoned lock only means another reconfigure panicked; the tables it guards are
        // swapped atomically, so they are whole either way.
        let _serial = self
            .reconfiguring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.tables.load_full();
        let next = Tables::build(limits, Some(&current), &self.clock, &self.shared);
        self.shared
            .cap
            .store(limits.max_tracked_clients.get(), Ordering::Relaxed);
        self.tables.store(Arc::new(next));
    }

    /// Measures one request from `client` to `tenant` (`method`, `path`) against the client,
    /// tenant and route limits, in that order, and spends a token in each scope that allows it.
    pub fn check(
        &self,
        client: IpAddr,
        tenant: &Tenant,
        method: &http::Method,
        path: &str,
    ) -> Decision {
        let tables = self.tables.load();
        match tables.measure(client, tenant, method, path) {
            Ok(tightest) => {
                self.counters.allowed.fetch_add(1, Ordering::Relaxed);
                Decision::Allowed {
                    headers: tightest.filter(|_| tables.send_headers),
                }
            }
            Err(limited) => self.count(limited),
        }
    }

    /// The tenant and route quotas that apply to a request of `tenant` (`method`, `path`):
    /// what fleet mode shares across replicas (`fleet/quota.rs`). Spends nothing.
    pub fn shared_scopes(
        &self,
        tenant: &Tenant,
        method: &http::Method,
        path: &str,
    ) -> SharedScopes {
        let tables = self.tables.load();
        SharedScopes {
            tenant: tables.tenant_limit(tenant).map(|l| l.quota),
            route: tables
                .route(method, path)
                .map(|(index, l)| (u32::try_from(index).unwrap_or(u32::MAX), l.quota)),
        }
    }

    /// Forgets keys whose bucket has refilled and returns unused map capacity, in every
    /// limiter. Run it every [`RateLimiter::maintenance_interval`].
    pub fn maintain(&self) {
        let tables = self.tables.load();
        if let Some(client) = &tables.client {
            maintain_limiter(&client.limiter);
        }
        tables
            .tenant_pool
            .values()
            .for_each(|l| maintain_limiter(l));
        tables.route_pool.values().for_each(|l| maintain_limiter(l));
    }

    /// How often to call [`RateLimiter::maintain`]: half of `rate_limits.idle_eviction`.
    ///
    /// A key is forgotten within that long of its bucket refilling, which for any quota that
    /// refills within `idle_eviction / 2` (`burst / rps` seconds) is before `idle_eviction`
    /// of idleness. A key of a slower quota is kept until its bucket is full: forgetting it
    /// sooner would hand its client a fresh burst. The cap bounds memory either way.
    pub fn maintenance_interval(&self) -> Duration {
        self.tables.load().idle_eviction / 2
    }

    /// Client keys (addresses, IPv6 /64s) with a bucket of their own right now.
    pub fn tracked_clients(&self) -> usize {
        self.tables
            .load()
            .client
            .as_ref()
            .map_or(0, |c| c.limiter.len())
    }

    /// The decision counts so far.
    pub fn snapshot(&self) -> CounterSnapshot {
        let c = &self.counters;
        CounterSnapshot {
            allowed: c.allowed.load(Ordering::Relaxed),
            limited_client: c.limited_client.load(Ordering::Relaxed),
            limited_tenant: c.limited_tenant.load(Ordering::Relaxed),
            limited_route: c.limited_route.load(Ordering::Relaxed),
            overflowed: self.shared.overflowed.load(Ordering::Relaxed),
        }
    }

    /// Counts a denial and turns it into the decision.
    fn count(&self, limited: Limited) -> Decision {
        let counter = match limited.headers.scope {
            Scope::Client => &self.counters.limited_client,
            Scope::Tenant => &self.counters.limited_tenant,
            Scope::Route => &self.counters.limited_route,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Decision::Limited {
            scope: limited.headers.scope,
            retry_after: limited.retry_after,
            headers: limited.headers,
        }
    }
}

impl<C: Clock> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Counters {
    allowed: AtomicU64,
    limited_client: AtomicU64,
    limited_tenant: AtomicU64,
    limited_route: AtomicU64,
}

/// A refusal by one scope, before it is counted.
struct Limited {
    retry_after: Duration,
    headers: RateLimitHeaders,
}

/// What one configuration asks for, with the limiters that carry it out. Immutable: a
/// reconfiguration builds a new one (sharing limiters) and swaps it in.
struct Tables<C: Clock> {
    client: Option<ScopeLimit<ClientKey, C>>,
    tenant_overrides: HashMap<TenantId, ScopeLimit<TenantId, C>>,
    plans: BTreeMap<PlanName, ScopeLimit<TenantId, C>>,
    default_plan: Option<ScopeLimit<TenantId, C>>,
    routes: Vec<RouteRule<C>>,
    /// Every tenant-scope limiter by quota: what the next reconfiguration reuses.
    tenant_pool: HashMap<Quota, Arc<Keyed<TenantId, C>>>,
    /// Every route-scope limiter by quota: what the next reconfiguration reuses.
    route_pool: HashMap<Quota, Arc<Keyed<RouteKey, C>>>,
    send_headers: bool,
    idle_eviction: Duration,
}

impl<C: Clock + Clone> Tables<C> {
    /// The tables for `limits`, reusing the limiters of `previous` whose quota is unchanged.
    fn build(
        limits: &RateLimits,
        previous: Option<&Tables<C>>,
        clock: &C,
        shared: &Arc<StoreShared>,
    ) -> Self {
        let make = Limiters {
            clock,
            shared,
            previous,
        };
        let mut tenant_pool = HashMap::new();
        let mut tenant_limit = |quota| make.tenant(&mut tenant_pool, quota);
        let tenant_overrides = limits
            .tenant_overrides
            .iter()
            .map(|(tenant, quota)| (*tenant, tenant_limit(*quota)))
            .collect();
        let plans = limits
            .plans
            .iter()
            .map(|(name, quota)| (name.clone(), tenant_limit(*quota)))
            .collect();
        let default_plan = limits
            .default_plan
            .as_ref()
            .and_then(|name| limits.plans.get(name))
            .map(|quota| tenant_limit(*quota));
        let mut route_pool = HashMap::new();
        let routes = limits
            .routes
            .iter()
            .map(|route| RouteRule {
                path_prefix: route.path_prefix.clone(),
                methods: route.methods.clone(),
                limit: make.route(&mut route_pool, route.quota),
            })
            .collect();
        Tables {
            client: limits.per_client.map(|quota| make.client(quota)),
            tenant_overrides,
            plans,
            default_plan,
            routes,
            tenant_pool,
            route_pool,
            send_headers: limits.send_headers,
            idle_eviction: limits.idle_eviction,
        }
    }

    /// Spends a token in each scope that applies, in order, and stops at the first refusal;
    /// when all allow, the state of the tightest of them.
    fn measure(
        &self,
        client: IpAddr,
        tenant: &Tenant,
        method: &http::Method,
        path: &str,
    ) -> Result<Option<RateLimitHeaders>, Limited> {
        let mut tightest = None;
        if let Some(limit) = &self.client {
            tighten(&mut tightest, limit.check(&ClientKey::of(client))?);
        }
        if let Some(limit) = self.tenant_limit(tenant) {
            tighten(&mut tightest, limit.check(&tenant.id)?);
        }
        if let Some((index, limit)) = self.route(method, path) {
            tighten(&mut tightest, limit.check(&(tenant.id, index))?);
        }
        Ok(tightest)
    }

    /// The tenant's limit: its override, else its plan, else the default plan, else none.
    fn tenant_limit(&self, tenant: &Tenant) -> Option<&ScopeLimit<TenantId, C>> {
        self.tenant_overrides
            .get(&tenant.id)
            .or_else(|| tenant.plan.as_ref().and_then(|p| self.plans.get(p)))
            .or(self.default_plan.as_ref())
    }

    /// The first route limit that applies to `method` `path`, with its index.
    fn route(
        &self,
        method: &http::Method,
        path: &str,
    ) -> Option<(usize, &ScopeLimit<RouteKey, C>)> {
        self.routes
            .iter()
            .enumerate()
            .find(|(_, r)| r.applies_to(method, path))
            .map(|(index, r)| (index, &r.limit))
    }
}

/// Keeps in `tightest` whichever of it and `headers` leaves the client less room.
fn tighten(tightest: &mut Option<RateLimitHeaders>, headers: RateLimitHeaders) {
    if tightest.is_none_or(|t| headers.is_tighter_than(&t)) {
        *tightest = Some(headers);
    }
}

/// Hands out the limiters of a new configuration: the previous configuration's for quotas it
/// already had, new ones otherwise.
struct Limiters<'a, C: Clock> {
    clock: &'a C,
    shared: &'a Arc<StoreShared>,
    previous: Option<&'a Tables<C>>,
}

impl<C: Clock + Clone> Limiters<'_, C> {
    fn client(&self, quota: Quota) -> ScopeLimit<ClientKey, C> {
        let reused = self
            .previous
            .and_then(|p| p.client.as_ref())
            .filter(|c| c.quota == quota)
            .map(|c| Arc::clone(&c.limiter));
        let limiter = reused.unwrap_or_else(|| self.create(quota));
        ScopeLimit::new(Scope::Client, quota, limiter)
    }

    /// The tenant limit of `quota`, shared through `pool` with the other tenant limits of the
    /// same quota in this configuration.
    fn tenant(
        &self,
        pool: &mut HashMap<Quota, Arc<Keyed<TenantId, C>>>,
        quota: Quota,
    ) -> ScopeLimit<TenantId, C> {
        let previous = self.previous.map(|p| &p.tenant_pool);
        let limiter = pool
            .entry(quota)
            .or_insert_with(|| self.reuse_or_create(previous, quota));
        ScopeLimit::new(Scope::Tenant, quota, Arc::clone(limiter))
    }

    /// As [`Limiters::tenant`], for route limits.
    fn route(
        &self,
        pool: &mut HashMap<Quota, Arc<Keyed<RouteKey, C>>>,
        quota: Quota,
    ) -> ScopeLimit<RouteKey, C> {
        let previous = self.previous.map(|p| &p.route_pool);
        let limiter = pool
            .entry(quota)
            .or_insert_with(|| self.reuse_or_create(previous, quota));
        ScopeLimit::new(Scope::Route, quota, Arc::clone(limiter))
    }

    /// The limiter for `quota` from the previous configuration's `pool`, else a new one.
    fn reuse_or_create<K: Hash + Eq + Clone>(
        &self,
        pool: Option<&HashMap<Quota, Arc<Keyed<K, C>>>>,
        quota: Quota,
    ) -> Arc<Keyed<K, C>> {
        pool.and_then(|p| p.get(&quota))
            .map(Arc::clone)
            .unwrap_or_else(|| self.create(quota))
    }

    /// A new, empty limiter for `quota`.
    fn create<K: Hash + Eq + Clone>(&self, quota: Quota) -> Arc<Keyed<K, C>> {
        let store = BoundedStore::new(Arc::clone(self.shared));
        Arc::new(governor::RateLimiter::new(
            governor_quota(quota),
            store,
            self.clock.clone(),
        ))
    }
}

struct RouteRule<C: Clock> {
    path_prefix: String,
    methods: Vec<String>,
    limit: ScopeLimit<RouteKey, C>,
}

impl<C: Clock> RouteRule<C> {
    fn applies_to(&self, method: &http::Method, path: &str) -> bool {
        path.starts_with(&self.path_prefix)
            && (self.methods.is_empty() || self.methods.iter().any(|m| m == method.as_str()))
    }
}

/// A route bucket: one per tenant and route.
type RouteKey = (TenantId, usize);

/// The key of a client: an IPv4 address, or the /64 of an IPv6 address. Sixteen bytes, so a
/// tracked client costs little more than its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    V6Prefix(u64),
}

impl ClientKey {
    fn of(ip: IpAddr) -> Self {
        let v6 = match ip {
            IpAddr::V4(v4) => return ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => v6,
        };
        match v6.to_ipv4_mapped() {
            Some(v4) => ClientKey::V4(u32::from(v4)),
            // The shift leaves 64 significant bits, so the cast keeps them all.
            None => ClientKey::V6Prefix((u128::from(v6) >> 64) as u64),
        }
    }
}

/// A governor keyed limiter over a [`BoundedStore`], reporting bucket state on success.
type Keyed<K, C> = governor::RateLimiter<K, BoundedStore<K>, C, StateInformationMiddleware>;

/// Forgets the keys of `limiter` whose bucket is full again and returns the memory.
fn maintain_limiter<K: Hash + Eq + Clone, C: Clock>(limiter: &Keyed<K, C>) {
    limiter.retain_recent();
    limiter.shrink_to_fit();
}

/// `rps` per second with bursts of `burst`.
fn governor_quota(quota: Quota) -> governor::Quota {
    governor::Quota::per_second(quota.rps).allow_burst(quota.burst)
}

/// One scope's quota and the limiter that enforces it.
struct ScopeLimit<K: Hash + Eq + Clone, C: Clock> {
    scope: Scope,
    quota: Quota,
    /// The time to gain one token back (`1 s / rps`, as governor rounds it).
    replenish: Duration,
    limiter: Arc<Keyed<K, C>>,
}

impl<K: Hash + Eq + Clone, C: Clock> ScopeLimit<K, C> {
    fn new(scope: Scope, quota: Quota, limiter: Arc<Keyed<K, C>>) -> Self {
        ScopeLimit {
            scope,
            quota,
            replenish: governor_quota(quota).replenish_interval(),
            limiter,
        }
    }

    /// Spends a token of `key`'s bucket, or says how long until one is there.
    fn check(&self, key: &K) -> Result<RateLimitHeaders, Limited> {
        match self.limiter.check_key(key) {
            Ok(state) => Ok(self.allowed(&state)),
            Err(not_until) => Err(self.limited(&not_until)),
        }
    }

    fn allowed(&self, state: &StateSnapshot) -> RateLimitHeaders {
        let remaining = state.remaining_burst_capacity();
        // The bucket holds `remaining` whole tokens and part of the next one, so it is full
        // again within the time of the tokens missing; governor does not expose the fraction.
        let missing = self.quota.burst.get().saturating_sub(remaining);
        RateLimitHeaders {
            scope: self.scope,
            quota: self.quota,
            remaining,
            reset_secs: ceil_secs(self.replenish.saturating_mul(missing)),
        }
    }

    fn limited(&self, not_until: &NotUntil<C::Instant>) -> Limited {
        let wait = not_until.wait_time_from(self.limiter.clock().now());
        // Once the next token is there, the other `burst - 1` follow one `replenish` apart.
        let refill = self.replenish.saturating_mul(self.quota.burst.get() - 1);
        Limited {
            retry_after: Duration::from_secs(ceil_secs(wait).max(1)),
            headers: RateLimitHeaders {
                scope: self.scope,
                quota: self.quota,
                remaining: 0,
                reset_secs: ceil_secs(wait.saturating_add(refill)),
            },
        }
    }
}

/// `d` in whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// What every [`BoundedStore`] of one [`RateLimiter`] shares.
#[derive(Debug)]
struct StoreShared {
    /// `max_tracked_clients`; changes on reconfiguration.
    cap: AtomicUsize,
    /// Checks answered by an overflow bucket.
    overflowed: AtomicU64,
}

/// Governor's concurrent keyed store with a cap on the keys it holds: a key it does not hold
/// once it is full is measured against one shared overflow bucket instead of being added.
///
/// The count is checked before inserting, so concurrent first requests of new keys can take it
/// past the cap by at most the number of threads; [`ShrinkableKeyedStateStore::retain_recent`]
/// resets it to the true size.
struct BoundedStore<K: Hash + Eq + Clone> {
    map: DashMapStateStore<K>,
    /// Keys in `map`, kept apart because counting a sharded map locks every shard.
    tracked: AtomicUsize,
    overflow: InMemoryState,
    shared: Arc<StoreShared>,
}

impl<K: Hash + Eq + Clone> BoundedStore<K> {
    fn new(shared: Arc<StoreShared>) -> Self {
        BoundedStore {
            map: DashMapStateStore::default(),
            tracked: AtomicUsize::new(0),
            overflow: InMemoryState::default(),
            shared,
        }
    }

    fn is_full(&self) -> bool {
        self.tracked.load(Ordering::Relaxed) >= self.shared.cap.load(Ordering::Relaxed)
    }
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // The common case, a known key, takes only a shard read lock.
        if let Some(cell) = self.map.get(key) {
            return cell.measure_and_replace(&NotKeyed::NonKey, f);
        }
        if self.is_full() {
            self.shared.overflowed.fetch_add(1, Ordering::Relaxed);
            return self.overflow.measure_and_replace(&NotKeyed::NonKey, f);
        }
        let cell = self.map.entry(key.clone()).or_insert_with(|| {
            self.tracked.fetch_add(1, Ordering::Relaxed);
            InMemoryState::default()
        });
        cell.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for BoundedStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.map, drop_below);
        self.tracked.store(self.map.len(), Ordering::Relaxed);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.map);
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_config::{GeographyName, RouteLimit};
    use governor::clock::FakeRelativeClock;
    use std::num::{NonZeroU32, NonZeroUsize};

    fn quota(rps: u32, burst: u32) -> Quota {
        Quota {
            rps: NonZeroU32::new(rps).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    fn tenant(n: u128, plan: Option<&str>) -> Tenant {
        Tenant {
            id: TenantId(uuid::Uuid::from_u128(n)),
            geography: GeographyName::new("eu"),
            plan: plan.map(PlanName::new),
            allowed_countries: None,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// No limits at all: the defaults of an empty `[rate_limits]` table.
    fn no_limits() -> RateLimits {
        RateLimits::default()
    }

    fn per_client(quota: Quota) -> RateLimits {
        RateLimits {
            per_client: Some(quota),
            ..RateLimits::default()
        }
    }

    /// One plan, `standard`, of 50 rps with bursts of 10, for every tenant.
    fn standard() -> RateLimits {
        let mut limits = no_limits();
        limits
            .plans
            .insert(PlanName::new("standard"), quota(50, 10));
        limits.default_plan = Some(PlanName::new("standard"));
        limits
    }

    fn limiter(limits: &RateLimits) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RateLimiter::with_clock(limits, clock.clone()), clock)
    }

    fn get(l: &RateLimiter<FakeRelativeClock>, client: &str, t: &Tenant, path: &str) -> Decision {
        l.check(ip(client), t, &http::Method::GET, path)
    }

    /// Requests allowed in a row (same client, tenant and path) before the first refusal.
    fn allowed_in_a_row(l: &RateLimiter<FakeRelativeClock>, t: &Tenant, path: &str) -> usize {
        (0..1000)
            .take_while(|_| matches!(get(l, "192.0.2.1", t, path), Decision::Allowed { .. }))
            .count()
    }

    fn limited_scope(d: Decision) -> Scope {
        match d {
            Decision::Limited { scope, .. } => scope,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn gcra_allows_the_burst_then_one_token_per_interval() {
        let (l, clock) = limiter(&standard());
        let t = tenant(1, None);
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 10);
        let Decision::Limited {
            scope,
            retry_after,
            headers,
        } = get(&l, "192.0.2.1", &t, "/")
        else {
            panic!("the 11th request must be refused");
        };
        assert_eq!(scope, Scope::Tenant);
        // The next token is 20 ms away; Retry-After rounds it up to a whole second.
        assert_eq!(retry_after, Duration::from_secs(1));
        assert_eq!(headers.remaining, 0);

        clock.advance(Duration::from_millis(20));
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 1);
        clock.advance(Duration::from_millis(200));
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 10);
    }

    #[test]
    fn a_long_wait_is_rounded_up_to_whole_seconds() {
        let mut limits = no_limits();
        limits
            .tenant_overrides
            .insert(tenant(1, None).id, quota(1, 1));
        let (l, clock) = limiter(&limits);
        let t = tenant(1, None);
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 1);
        clock.advance(Duration::from_millis(300));
        let Decision::Limited {
            retry_after,
            headers,
            ..
        } = get(&l, "192.0.2.1", &t, "/")
        else {
            panic!("expected a refusal");
        };
        assert_eq!(retry_after, Duration::from_secs(1), "700 ms rounds up");
        assert_eq!(headers.reset_secs, 1);
    }

    #[test]
    fn tenants_have_their_own_buckets() {
        let (l, _clock) = limiter(&standard());
        let (a, b) = (tenant(1, None), tenant(2, None));
        assert_eq!(allowed_in_a_row(&l, &a, "/"), 10);
        assert_eq!(allowed_in_a_row(&l, &b, "/"), 10);
        assert_eq!(allowed_in_a_row(&l, &a, "/"), 0);
    }

    #[test]
    fn override_beats_plan_beats_default_plan() {
        let mut limits = no_limits();
        limits.plans.insert(PlanName::new("basic"), quota(1, 1));
        limits.plans.insert(PlanName::new("pro"), quota(5, 5));
        limits.default_plan = Some(PlanName::new("basic"));
        let overridden = tenant(3, Some("pro"));
        limits.tenant_overrides.insert(overridden.id, quota(3, 3));
        let (l, _clock) = limiter(&limits);

        assert_eq!(allowed_in_a_row(&l, &tenant(1, Some("pro")), "/"), 5);
        assert_eq!(allowed_in_a_row(&l, &tenant(2, None), "/"), 1);
        assert_eq!(allowed_in_a_row(&l, &overridden, "/"), 3);

        // Without a default plan, a tenant that names none is not limited.
        limits.default_plan = None;
        let (l, _clock) = limiter(&limits);
        let planless = tenant(4, None);
        assert_eq!(allowed_in_a_row(&l, &planless, "/"), 1000);
        assert_eq!(
            get(&l, "192.0.2.1", &planless, "/"),
            Decision::Allowed { headers: None }
        );
    }

    #[test]
    fn route_limits_apply_per_tenant_to_the_first_matching_route() {
        let mut limits = no_limits();
        limits.routes = vec![
            RouteLimit {
                path_prefix: "/api/search".to_owned(),
                methods: vec!["GET".to_owned(), "POST".to_owned()],
                quota: quota(2, 2),
            },
            RouteLimit {
                path_prefix: "/api".to_owned(),
                methods: Vec::new(),
                quota: quota(3, 3),
            },
        ];
        let (l, _clock) = limiter(&limits);
        let (a, b) = (tenant(1, None), tenant(2, None));
        let delete =
            |t: &Tenant, path: &str| l.check(ip("192.0.2.1"), t, &http::Method::DELETE, path);

        assert_eq!(allowed_in_a_row(&l, &a, "/api/search?q=x"), 2);
        assert_eq!(
            limited_scope(get(&l, "192.0.2.1", &a, "/api/search")),
            Scope::Route
        );
        // DELETE is not a method of the first route: the second one applies, with its bucket.
        for _ in 0..3 {
            assert!(matches!(
                delete(&a, "/api/search"),
                Decision::Allowed { .. }
            ));
        }
        assert_eq!(limited_scope(delete(&a, "/api/users")), Scope::Route);
        // Another tenant has buckets of its own; paths no route names are not limited.
        assert_eq!(allowed_in_a_row(&l, &b, "/api/search"), 2);
        assert_eq!(allowed_in_a_row(&l, &a, "/static/app.js"), 1000);
    }

    #[test]
    fn the_client_is_checked_first_and_a_refusal_spends_nothing_after_it() {
        let mut limits = per_client(quota(1, 1));
        limits
            .tenant_overrides
            .insert(tenant(1, None).id, quota(2, 2));
        let (l, _clock) = limiter(&limits);
        let t = tenant(1, None);

        assert!(matches!(
            get(&l, "192.0.2.1", &t, "/"),
            Decision::Allowed { .. }
        ));
        assert_eq!(limited_scope(get(&l, "192.0.2.1", &t, "/")), Scope::Client);
        // The refused request did not spend the tenant's second token.
        assert!(matches!(
            get(&l, "192.0.2.2", &t, "/"),
            Decision::Allowed { .. }
        ));
        assert_eq!(limited_scope(get(&l, "192.0.2.3", &t, "/")), Scope::Tenant);
        // The client limit holds across tenants.
        assert_eq!(
            limited_scope(get(&l, "192.0.2.1", &tenant(9, None), "/")),
            Scope::Client
        );
        let counts = l.snapshot();
        assert_eq!(
            (
                counts.allowed,
                counts.limited_client,
                counts.limited_tenant,
                counts.limited_route
            ),
            (2, 2, 1, 0)
        );
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64_and_mapped_addresses_as_ipv4() {
        let limits = per_client(quota(1, 1));
        let (l, _clock) = limiter(&limits);
        let t = tenant(1, None);
        assert!(matches!(
            get(&l, "2001:db8:1:2::1", &t, "/"),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            get(&l, "2001:db8:1:2:ffff::9", &t, "/"),
            Decision::Limited { .. }
        ));
        assert!(matches!(
            get(&l, "2001:db8:1:3::1", &t, "/"),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            get(&l, "198.51.100.7", &t, "/"),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            get(&l, "::ffff:198.51.100.7", &t, "/"),
            Decision::Limited { .. }
        ));
        assert_eq!(l.tracked_clients(), 3);
    }

    #[test]
    fn past_the_cap_new_clients_share_one_overflow_bucket() {
        let mut limits = per_client(quota(1, 1));
        limits.max_tracked_clients = NonZeroUsize::new(2).unwrap();
        let (l, clock) = limiter(&limits);
        let t = tenant(1, None);

        assert!(matches!(
            get(&l, "192.0.2.1", &t, "/"),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            get(&l, "192.0.2.2", &t, "/"),
            Decision::Allowed { .. }
        ));
        assert_eq!(l.tracked_clients(), 2);
        // New clients are not tracked; they share the overflow bucket's one token.
        assert!(matches!(
            get(&l, "192.0.2.3", &t, "/"),
            Decision::Allowed { .. }
        ));
        assert_eq!(limited_scope(get(&l, "192.0.2.4", &t, "/")), Scope::Client);
        assert_eq!(l.tracked_clients(), 2);
        assert_eq!(l.snapshot().overflowed, 2);
        // Known clients keep their own buckets.
        assert_eq!(limited_scope(get(&l, "192.0.2.1", &t, "/")), Scope::Client);

        // Once their buckets have refilled, maintenance forgets them and frees the room.
        clock.advance(Duration::from_secs(2));
        l.maintain();
        assert_eq!(l.tracked_clients(), 0);
        assert!(matches!(
            get(&l, "192.0.2.5", &t, "/"),
            Decision::Allowed { .. }
        ));
        assert_eq!(l.tracked_clients(), 1);
        assert_eq!(l.snapshot().overflowed, 2);
    }

    #[test]
    fn maintenance_keeps_buckets_that_are_not_full() {
        let (l, clock) = limiter(&standard());
        let t = tenant(1, None);
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 10);
        clock.advance(Duration::from_millis(100));
        l.maintain();
        assert_eq!(
            allowed_in_a_row(&l, &t, "/"),
            5,
            "the drained bucket was not forgotten"
        );
    }

    #[test]
    fn reconfigure_keeps_the_buckets_of_unchanged_quotas() {
        let mut limits = standard();
        let (l, _clock) = limiter(&limits);
        let t = tenant(1, None);
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 10);

        // The same limits, and limits that change only what this tenant does not use.
        l.reconfigure(&limits);
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 0);
        limits.plans.insert(PlanName::new("other"), quota(7, 7));
        limits.per_client = Some(quota(1000, 1000));
        l.reconfigure(&limits);
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 0);

        // Moving to another plan of the same quota keeps the bucket too: limiters follow quotas.
        limits.plans.insert(PlanName::new("renamed"), quota(50, 10));
        limits.default_plan = Some(PlanName::new("renamed"));
        l.reconfigure(&limits);
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 0);

        // A changed quota starts afresh.
        limits.plans.insert(PlanName::new("renamed"), quota(50, 11));
        l.reconfigure(&limits);
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 11);
        assert_eq!(l.snapshot().allowed, 21);
    }

    #[test]
    fn reconfigure_keeps_client_and_route_buckets_of_unchanged_quotas() {
        let mut limits = per_client(quota(100, 3));
        let (l, _clock) = limiter(&limits);
        let t = tenant(1, None);
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 3);
        limits.routes = vec![RouteLimit {
            path_prefix: "/api".to_owned(),
            methods: Vec::new(),
            quota: quota(100, 2),
        }];
        l.reconfigure(&limits);
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 0);
        limits.per_client = Some(quota(100, 4));
        l.reconfigure(&limits);
        assert_eq!(allowed_in_a_row(&l, &t, "/api"), 2);
        // The route's quota is unchanged but it moved: its index, and so its bucket, changed.
        limits.routes.insert(
            0,
            RouteLimit {
                path_prefix: "/other".to_owned(),
                methods: Vec::new(),
                quota: quota(100, 2),
            },
        );
        l.reconfigure(&limits);
        assert_eq!(allowed_in_a_row(&l, &t, "/api"), 1, "client bucket: 4 - 3");
    }

    #[test]
    fn reconfigure_changes_the_client_cap() {
        let mut limits = per_client(quota(1, 1));
        limits.max_tracked_clients = NonZeroUsize::new(1).unwrap();
        let (l, _clock) = limiter(&limits);
        let t = tenant(1, None);
        get(&l, "192.0.2.1", &t, "/");
        get(&l, "192.0.2.2", &t, "/");
        assert_eq!(l.tracked_clients(), 1);
        limits.max_tracked_clients = NonZeroUsize::new(10).unwrap();
        l.reconfigure(&limits);
        get(&l, "192.0.2.3", &t, "/");
        assert_eq!(l.tracked_clients(), 2);
    }

    #[test]
    fn headers_report_the_tightest_scope() {
        let mut limits = standard();
        limits.per_client = Some(quota(100, 100));
        let (l, _clock) = limiter(&limits);
        let t = tenant(1, None);
        let Decision::Allowed { headers: Some(h) } = get(&l, "192.0.2.1", &t, "/") else {
            panic!("expected headers");
        };
        assert_eq!((h.scope, h.remaining, h.reset_secs), (Scope::Tenant, 9, 1));
        assert_eq!(
            h.pairs(),
            [
                (RATELIMIT_POLICY, "\"tenant\";q=50;w=1".to_owned()),
                (RATELIMIT, "\"tenant\";r=9;t=1".to_owned()),
            ]
        );
        for _ in 0..9 {
            get(&l, "192.0.2.1", &t, "/");
        }
        let refused = get(&l, "192.0.2.1", &t, "/");
        assert_eq!(
            refused.response_headers(),
            vec![
                (RATELIMIT_POLICY, "\"tenant\";q=50;w=1".to_owned()),
                (RATELIMIT, "\"tenant\";r=0;t=1".to_owned()),
                (RETRY_AFTER, "1".to_owned()),
            ]
        );
    }

    #[test]
    fn reset_counts_the_tokens_missing() {
        let limits = per_client(quota(2, 10));
        let (l, _clock) = limiter(&limits);
        let t = tenant(1, None);
        let headers = (0..5)
            .map(|_| match get(&l, "192.0.2.1", &t, "/") {
                Decision::Allowed { headers: Some(h) } => (h.remaining, h.reset_secs),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>();
        // At 2 rps every missing token is half a second.
        assert_eq!(headers, [(9, 1), (8, 1), (7, 2), (6, 2), (5, 3)]);
        let Decision::Limited { headers, .. } = (0..6)
            .map(|_| get(&l, "192.0.2.1", &t, "/"))
            .last()
            .unwrap()
        else {
            panic!("the 11th request must be refused");
        };
        // The next token in 0.5 s, then 9 more at 0.5 s each.
        assert_eq!(headers.reset_secs, 5);
        assert_eq!(headers.scope.label(), "client");
    }

    #[test]
    fn headers_can_be_turned_off_for_allowed_requests() {
        let mut limits = standard();
        limits.send_headers = false;
        let (l, _clock) = limiter(&limits);
        let t = tenant(1, None);
        assert_eq!(
            get(&l, "192.0.2.1", &t, "/"),
            Decision::Allowed { headers: None }
        );
        assert_eq!(allowed_in_a_row(&l, &t, "/"), 9);
        assert_eq!(get(&l, "192.0.2.1", &t, "/").response_headers().len(), 3);
    }

    #[test]
    fn maintenance_runs_at_half_the_idle_eviction() {
        let mut limits = no_limits();
        limits.idle_eviction = Duration::from_secs(60);
        let (l, _clock) = limiter(&limits);
        assert_eq!(l.maintenance_interval(), Duration::from_secs(30));
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
    }
}
