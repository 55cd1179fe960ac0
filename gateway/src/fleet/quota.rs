//! Fleet-wide tenant and route quotas on the request path: a local allowance per key, spent
//! without waiting on anything, refilled by reconciliation with the GCRA state in Redis.
//!
//! # The design
//!
//! Every replica keeps, per fleet key (a tenant, or a tenant and route, with its quota), an
//! **allowance**: how many requests it may still admit on its own. A request spends one
//! token with a compare-and-swap; an empty allowance is a `429`. Nothing on this path waits:
//! no lock beyond a `DashMap` shard read lock, no Redis.
//!
//! The allowance comes from a **lease** taken from the key's global GCRA state in Redis by
//! the reconciliation round ([`super::reconcile`], one atomic Lua script per batch of keys,
//! on Redis's clock). A lease is *reserved*: it moves the global theoretical arrival time
//! (TAT) forward as admitted requests would, so two replicas never hold the same token. At
//! its next round a replica returns what it did not spend (a refund) and takes a new lease,
//! sized by its recent use (four times what it spent since the last round, plus a cold key's
//! allowance, so that a late round on a busy machine does not run it dry) and by its share of
//! what is free (free tokens ÷ replicas active on the key). The lease may look one
//! `sync_interval` ahead (the tokens that will accrue before the next round), so a busy key
//! never starves between rounds. Rounds run every `sync_interval`, and sooner when a key has
//! spent a quarter of its burst or a request found its allowance empty.
//!
//! A key this replica has not seen (or has forgotten) starts **cold**: an allowance of
//! `initial = clamp(⌈rps × sync_interval⌉, 1, burst)` that is *not* reserved, so the first
//! request of a tenant never waits; what it spends is charged to the global state at the next
//! round. A key unused for [`release_after`] returns its lease and is **parked** with an
//! unreserved allowance of at most `initial` (and no more than its share of what is free, so
//! a tenant the fleet is refusing stays refused); a parked key unused for [`RETIRE_AFTER`] is
//! forgotten.
//!
//! # The bound
//!
//! Over any window of `W` seconds, the fleet admits at most
//!
//! `rps × W + burst + rps × sync_interval + replicas × initial`
//!
//! requests of one key: the GCRA bound, the one-interval look-ahead of leases, and the cold
//! or parked allowance of every replica. Since `initial ≤ ⌈rps × sync_interval⌉`, the
//! overshoot is about `(replicas + 1) × rps × sync_interval`; `edge_fleet_ratelimit_overshoot_seconds`
//! exports `(replicas + 1) × sync_interval` (multiply by a quota's rps). The property test in
//! `fleet/tests.rs` checks it with simulated replicas sharing one real Redis.
//!
//! # While Redis is unreachable
//!
//! A failed round switches the table to the configured fallback at once:
//! [`Mode::FullQuota`] skips the fleet check (each replica's own governor enforces the full
//! quota, so the fleet may admit up to replicas × quota, and no request is refused because
//! Redis is down); [`Mode::DivideQuota`] refills every allowance locally at `rps ÷ replicas`
//! (last seen alive) with bursts of `burst ÷ replicas` (at least 1). The first round that
//! succeeds again starts every key cold. Requests admitted while Redis was unreachable are
//! not charged afterwards: that would refuse a tenant for as long as the outage lasted.
//!
//! A reply lost to a timeout can only make the fleet stricter: a lease Redis reserved but the
//! replica never received is not spent, and is freed when its TAT passes.

use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use edge_config::{Quota, TenantId, WhenUnreachable};
use tokio::sync::Notify;

use crate::request::ratelimit::{Scope, SharedScopes};

/// A parked key unused this long is forgotten (its allowance was never reserved, so nothing
/// is owed).
pub const RETIRE_AFTER: Duration = Duration::from_secs(60);

/// The allowance of a key being forgotten: far below anything a request can take from.
const RETIRED: i64 = i64::MIN / 2;

/// How long a key may go unused before its lease is returned: ten rounds, at least a second.
pub fn release_after(interval: Duration) -> Duration {
    (interval * 10).max(Duration::from_secs(1))
}

/// One shared limit: a tenant's quota, or a tenant's route quota. The quota is part of the
/// key, so a changed quota starts afresh (as the local limiter does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FleetKey {
    /// [`Scope::Tenant`] or [`Scope::Route`].
    pub scope: Scope,
    /// The tenant.
    pub tenant: TenantId,
    /// The route limit's index in `rate_limits.routes` (0 for the tenant scope).
    pub route: u32,
    /// The quota.
    pub quota: Quota,
}

impl FleetKey {
    /// The Redis key of this limit under `prefix`: `<prefix>rl:t:<tenant>:<rps>:<burst>` or
    /// `<prefix>rl:r:<tenant>:<route>:<rps>:<burst>`.
    pub fn redis_key(&self, prefix: &str) -> String {
        let (rps, burst) = (self.quota.rps, self.quota.burst);
        match self.scope {
            Scope::Route => format!("{prefix}rl:r:{}:{}:{rps}:{burst}", self.tenant, self.route),
            _ => format!("{prefix}rl:t:{}:{rps}:{burst}", self.tenant),
        }
    }

    /// Microseconds between two tokens (`1 s / rps`; fractional for rps above a million).
    pub fn emission_us(&self) -> f64 {
        1e6 / f64::from(self.quota.rps.get())
    }

    /// The bucket's depth in microseconds (`burst × emission`).
    pub fn tau_us(&self) -> f64 {
        f64::from(self.quota.burst.get()) * self.emission_us()
    }
}

/// What the table does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Redis answers: allowances are leased from the global state.
    Shared = 0,
    /// Redis is unreachable, `when_unreachable = "full-quota"`: no fleet check.
    FullQuota = 1,
    /// Redis is unreachable, `when_unreachable = "divide-quota"`: local refill at rps ÷ replicas.
    DivideQuota = 2,
}

impl Mode {
    fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::FullQuota,
            2 => Mode::DivideQuota,
            _ => Mode::Shared,
        }
    }

    /// The fallback `policy` names.
    pub fn fallback(policy: WhenUnreachable) -> Mode {
        match policy {
            WhenUnreachable::FullQuota => Mode::FullQuota,
            WhenUnreachable::DivideQuota => Mode::DivideQuota,
        }
    }
}

/// Why the fleet check refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The scope whose fleet-wide limit is spent.
    pub scope: Scope,
    /// Its quota.
    pub quota: Quota,
    /// When a token should be free again: whole seconds, at least one.
    pub retry_after: Duration,
}

/// One key's state. The request path touches only the atomics; `sync` belongs to the
/// reconciliation task.
#[derive(Debug)]
pub(crate) struct KeyState {
    /// Requests this replica may still admit; negative = admitted beyond the lease (owed).
    /// The only value the request path writes: usage is read from it, not counted apart, so
    /// that a hot key costs one contended compare-and-swap per request.
    allowance: AtomicI64,
    /// The allowance at which a quarter of the burst has been spent since the last round:
    /// the request that takes it there wakes the reconciliation (written at each round).
    wake_at: AtomicI64,
    /// A request found the allowance empty: sync this key soon.
    wanting: AtomicBool,
    /// `Retry-After` for a refusal, whole seconds (from the last round).
    retry_after_secs: AtomicU64,
    sync: Mutex<SyncMeta>,
}

#[derive(Debug)]
struct SyncMeta {
    /// The part of the allowance that is not reserved in Redis (cold or parked).
    unbacked: i64,
    /// The allowance right after the last round (or creation): what was spent since is this
    /// minus the allowance now.
    base: i64,
    /// Holds a lease (reserved tokens) in Redis.
    leased: bool,
    /// Last round in which the key was used or wanted.
    last_active: Instant,
    /// No wanting-triggered round before this (the fleet's bucket is empty until then).
    not_before: Option<Instant>,
    /// Fractional tokens of the local refill (divide-quota fallback).
    carry: f64,
}

impl KeyState {
    fn new(allowance: i64, unbacked: i64, quota: Quota, now: Instant) -> Self {
        KeyState {
            allowance: AtomicI64::new(allowance),
            wake_at: AtomicI64::new(allowance - quarter(quota)),
            wanting: AtomicBool::new(false),
            retry_after_secs: AtomicU64::new(1),
            sync: Mutex::new(SyncMeta {
                unbacked,
                base: allowance,
                leased: false,
                last_active: now,
                not_before: None,
                carry: 0.0,
            }),
        }
    }

    fn meta(&self) -> MutexGuard<'_, SyncMeta> {
        self.sync.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What spending a token found.
enum Take {
    /// Taken; the allowance before.
    Taken(i64),
    Empty,
    Retired,
}

/// One key due in a reconciliation round: what to tell Redis, and what to remember until the
/// answer comes back.
#[derive(Debug)]
pub struct Pending {
    /// The key.
    pub key: FleetKey,
    state: Arc<KeyState>,
    /// The allowance when the round was prepared (the answer's lease replaces it, minus what
    /// was spent meanwhile).
    sent: i64,
    /// Tokens returned to the global state (unused lease); negative: tokens to charge
    /// (admitted without a lease).
    pub refund: i64,
    /// Tokens wanted as the next lease; 0 releases the key.
    pub want: u64,
}

/// Redis's answer for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Tokens reserved for this replica.
    pub lease: i64,
    /// Tokens free in the global bucket after the lease (without look-ahead).
    pub free: i64,
    /// Replicas active on the key, this one included when it wanted a lease.
    pub active: i64,
    /// Microseconds until a token is free again.
    pub wait_us: i64,
}

/// Counts for metrics.
#[derive(Debug, Default)]
struct Counters {
    refused_tenant: AtomicU64,
    refused_route: AtomicU64,
    overflowed: AtomicU64,
}

/// The fleet keys of one replica. Shared by the request path ([`FleetQuotas::check`]) and
/// the reconciliation task ([`FleetQuotas::collect`], [`FleetQuotas::apply`]).
#[derive(Debug)]
pub struct FleetQuotas {
    keys: DashMap<FleetKey, Arc<KeyState>>,
    tracked: AtomicUsize,
    cap: usize,
    mode: AtomicU8,
    interval: Duration,
    /// Replicas last seen alive (heartbeats), at least 1.
    replicas: AtomicU32,
    /// Wakes the reconciliation task before its next tick.
    wake: Notify,
    counters: Counters,
}

/// `clamp(⌈rps × interval⌉, 1, burst)`: the unreserved allowance of a cold key.
pub fn initial(quota: Quota, interval: Duration) -> i64 {
    let per_interval = (f64::from(quota.rps.get()) * interval.as_secs_f64()).ceil() as i64;
    per_interval.clamp(1, i64::from(quota.burst.get()))
}

/// Tokens a key earns in `interval` (the look-ahead a lease may take), rounded up.
fn horizon_tokens(quota: Quota, interval: Duration) -> u64 {
    (f64::from(quota.rps.get()) * interval.as_secs_f64()).ceil() as u64
}

/// The lease to ask for after spending `used` since the last round: four times that (the
/// next round can come late when the machine is busy) plus a cold key's allowance (one
/// interval at the full rate), so a replica never runs dry while the fleet has tokens.
fn want(used: u64, quota: Quota, interval: Duration) -> u64 {
    let cold = u64::try_from(initial(quota, interval)).unwrap_or(1);
    used.saturating_mul(4).saturating_add(cold)
}

/// A spent quarter of the burst (at least one request) triggers an early round.
fn quarter(quota: Quota) -> i64 {
    i64::from(quota.burst.get().div_ceil(4)).max(1)
}

impl FleetQuotas {
    /// An empty table for rounds every `interval`, tracking at most `cap` keys (past that,
    /// new keys are checked by the local limiter only, and counted).
    pub fn new(interval: Duration, cap: usize) -> Self {
        FleetQuotas {
            keys: DashMap::new(),
            tracked: AtomicUsize::new(0),
            cap,
            mode: AtomicU8::new(Mode::Shared as u8),
            interval,
            replicas: AtomicU32::new(1),
            wake: Notify::new(),
            counters: Counters::default(),
        }
    }

    /// The interval between rounds.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::Relaxed))
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.tracked.load(Ordering::Relaxed)
    }

    /// Replicas last seen alive.
    pub fn replicas(&self) -> u32 {
        self.replicas.load(Ordering::Relaxed)
    }

    /// Records how many replicas the last heartbeat saw (at least 1).
    pub fn set_replicas(&self, n: u32) {
        self.replicas.store(n.max(1), Ordering::Relaxed);
    }

    /// `(refused by a tenant limit, refused by a route limit, keys not tracked past the cap)`.
    pub fn counts(&self) -> (u64, u64, u64) {
        let c = &self.counters;
        (
            c.refused_tenant.load(Ordering::Relaxed),
            c.refused_route.load(Ordering::Relaxed),
            c.overflowed.load(Ordering::Relaxed),
        )
    }

    /// Resolves when a request asked for an early round.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Spends one token of the tenant's and then the route's fleet-wide allowance (the scopes
    /// that apply, from the local limiter's tables). The first empty one refuses; a token
    /// spent in the tenant scope stays spent when the route refuses (as locally).
    pub fn check(&self, tenant: TenantId, scopes: &SharedScopes) -> Result<(), Refused> {
        if self.mode() == Mode::FullQuota {
            return Ok(());
        }
        if let Some(quota) = scopes.tenant {
            self.spend(FleetKey {
                scope: Scope::Tenant,
                tenant,
                route: 0,
                quota,
            })?;
        }
        if let Some((route, quota)) = scopes.route {
            self.spend(FleetKey {
                scope: Scope::Route,
                tenant,
                route,
                quota,
            })?;
        }
        Ok(())
    }

    fn spend(&self, key: FleetKey) -> Result<(), Refused> {
        // A retired key is looked up again (it is gone from the map by then); twice at most.
        for _ in 0..2 {
            // The common case, a known key: a shard read lock held for one compare-and-swap.
            let taken = match self.keys.get(&key) {
                Some(state) => self.take_from(&key, &state),
                None => match self.insert(&key) {
                    Some(state) => self.take_from(&key, &state),
                    None => return Ok(()),
                },
            };
            match taken {
                Some(result) => return result,
                None => continue,
            }
        }
        Ok(())
    }

    /// Spends one token of `state`; `None` when the key was retired meanwhile.
    fn take_from(&self, key: &FleetKey, state: &KeyState) -> Option<Result<(), Refused>> {
        match take(&state.allowance) {
            Take::Taken(before) => {
                if before - 1 == state.wake_at.load(Ordering::Relaxed) {
                    self.wake.notify_one();
                }
                Some(Ok(()))
            }
            Take::Empty => {
                if !state.wanting.load(Ordering::Relaxed)
                    && !state.wanting.swap(true, Ordering::Relaxed)
                {
                    self.wake.notify_one();
                }
                let counter = match key.scope {
                    Scope::Route => &self.counters.refused_route,
                    _ => &self.counters.refused_tenant,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Some(Err(Refused {
                    scope: key.scope,
                    quota: key.quota,
                    retry_after: Duration::from_secs(
                        state.retry_after_secs.load(Ordering::Relaxed).max(1),
                    ),
                }))
            }
            Take::Retired => None,
        }
    }

    /// Creates `key` cold (or finds it, if another request just did); `None` past the cap.
    fn insert(&self, key: &FleetKey) -> Option<Arc<KeyState>> {
        if self.tracked.load(Ordering::Relaxed) >= self.cap {
            self.counters.overflowed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let entry = self.keys.entry(*key).or_insert_with(|| {
            self.tracked.fetch_add(1, Ordering::Relaxed);
            let (allowance, unbacked) = self.fresh(key.quota);
            Arc::new(KeyState::new(
                allowance,
                unbacked,
                key.quota,
                Instant::now(),
            ))
        });
        Some(Arc::clone(&entry))
    }

    /// `(allowance, unbacked)` of a key new in the current mode.
    fn fresh(&self, quota: Quota) -> (i64, i64) {
        match self.mode() {
            Mode::DivideQuota => (self.divided_burst(quota), 0),
            _ => {
                let i = initial(quota, self.interval);
                (i, i)
            }
        }
    }

    /// `burst ÷ replicas`, at least 1.
    fn divided_burst(&self, quota: Quota) -> i64 {
        (i64::from(quota.burst.get()) / i64::from(self.replicas())).max(1)
    }

    /// The keys due in this round, taken out of their state: keys used or wanted since the
    /// last round (a new lease), and keys unused for [`release_after`] that hold one (a
    /// release). Parked keys unused for [`RETIRE_AFTER`] are forgotten here.
    pub fn collect(&self, now: Instant) -> Vec<Pending> {
        let release = release_after(self.interval);
        let mut due = Vec::new();
        let mut retire = Vec::new();
        for entry in self.keys.iter() {
            let (key, state) = (*entry.key(), entry.value());
            let mut meta = state.meta();
            let a = state.allowance.load(Ordering::Relaxed);
            if a <= RETIRED / 2 {
                continue;
            }
            let used = u64::try_from(meta.base - a).unwrap_or(0);
            let wanting = state.wanting.load(Ordering::Relaxed);
            if used > 0 || wanting {
                meta.last_active = now;
            }
            let wanted_now = wanting && meta.not_before.is_none_or(|t| now >= t);
            if used > 0 || wanted_now {
                let cap =
                    u64::from(key.quota.burst.get()) + horizon_tokens(key.quota, self.interval);
                state.wanting.store(false, Ordering::Relaxed);
                due.push(Pending {
                    key,
                    state: Arc::clone(state),
                    sent: a,
                    refund: a - meta.unbacked,
                    want: want(used, key.quota, self.interval).min(cap),
                });
            } else if meta.leased && now.duration_since(meta.last_active) >= release {
                due.push(Pending {
                    key,
                    state: Arc::clone(state),
                    sent: a,
                    refund: a - meta.unbacked,
                    want: 0,
                });
            } else if !meta.leased
                && !wanting
                && now.duration_since(meta.last_active) >= RETIRE_AFTER
            {
                retire.push(key);
            }
        }
        for key in retire {
            let removed = self.keys.remove_if(&key, |_, s| {
                let a = s.allowance.load(Ordering::Relaxed);
                s.allowance
                    .compare_exchange(a, RETIRED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            });
            if removed.is_some() {
                self.tracked.fetch_sub(1, Ordering::Relaxed);
            }
        }
        due
    }

    /// Applies Redis's answer for one pending key: the new allowance is the lease (or, for a
    /// release, a parked unreserved allowance) minus what was spent since the round was
    /// prepared.
    pub fn apply(&self, p: &Pending, grant: Grant, now: Instant) {
        let mut meta = p.state.meta();
        let target = if p.want == 0 {
            // Parked: at most `initial`, and no more than this replica's share of what is free.
            let share = grant.free / (grant.active + 1).max(1);
            let parked = share.clamp(0, initial(p.key.quota, self.interval));
            meta.unbacked = parked;
            meta.leased = false;
            meta.not_before = None;
            parked
        } else {
            meta.unbacked = 0;
            meta.leased = grant.lease > 0;
            meta.not_before = (grant.lease == 0)
                .then(|| now + Duration::from_micros(grant.wait_us.max(0) as u64));
            grant.lease
        };
        let delta = target - p.sent;
        let after = p.state.allowance.fetch_add(delta, Ordering::Relaxed) + delta;
        meta.base = after;
        p.state
            .wake_at
            .store(after - quarter(p.key.quota), Ordering::Relaxed);
        let secs = (grant.wait_us.max(0) as u64).div_ceil(1_000_000).max(1);
        p.state.retry_after_secs.store(secs, Ordering::Relaxed);
    }

    /// Switches mode. Leaving [`Mode::Shared`] for [`Mode::DivideQuota`] gives every key the
    /// divided burst; returning to [`Mode::Shared`] starts every key cold (nothing admitted
    /// meanwhile is charged).
    pub fn set_mode(&self, mode: Mode, now: Instant) {
        let old = Mode::from_u8(self.mode.swap(mode as u8, Ordering::Relaxed));
        if old == mode {
            return;
        }
        for entry in self.keys.iter() {
            let (key, state) = (entry.key(), entry.value());
            let mut meta = state.meta();
            let allowance = match mode {
                Mode::Shared => {
                    let i = initial(key.quota, self.interval);
                    meta.unbacked = i;
                    meta.base = i;
                    state
                        .wake_at
                        .store(i - quarter(key.quota), Ordering::Relaxed);
                    meta.leased = false;
                    meta.not_before = None;
                    meta.last_active = now;
                    i
                }
                Mode::DivideQuota => {
                    meta.carry = 0.0;
                    self.divided_burst(key.quota)
                }
                Mode::FullQuota => continue,
            };
            state.wanting.store(false, Ordering::Relaxed);
            state.allowance.store(allowance, Ordering::Relaxed);
        }
    }

    /// In [`Mode::DivideQuota`], refills every allowance for `elapsed` at `rps ÷ replicas`, up
    /// to the divided burst.
    pub fn refill_locally(&self, elapsed: Duration) {
        if self.mode() != Mode::DivideQuota {
            return;
        }
        let replicas = f64::from(self.replicas());
        for entry in self.keys.iter() {
            let (key, state) = (entry.key(), entry.value());
            let mut meta = state.meta();
            meta.carry += f64::from(key.quota.rps.get()) / replicas * elapsed.as_secs_f64();
            let whole = meta.carry.floor();
            if whole < 1.0 {
                continue;
            }
            meta.carry -= whole;
            let cap = self.divided_burst(key.quota);
            let _ = state
                .allowance
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| {
                    (a > RETIRED / 2).then(|| (a + whole as i64).min(cap.max(a)))
                });
        }
    }
}

/// Takes one token if there is one.
fn take(allowance: &AtomicI64) -> Take {
    match allowance.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| {
        (a > 0).then(|| a - 1)
    }) {
        Ok(before) => Take::Taken(before),
        Err(a) if a <= RETIRED / 2 => Take::Retired,
        Err(_) => Take::Empty,
    }
}
