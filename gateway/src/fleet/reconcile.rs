//! One rate-limit reconciliation round: the keys due ([`FleetQuotas::collect`]) go to Redis in
//! batches of [`BATCH`], one `EVALSHA` of [`super::scripts::RECONCILE`] per batch, and the
//! answers come back as leases ([`FleetQuotas::apply`]).
//!
//! A batch that fails (error or timeout) switches the table to its fallback mode for every
//! key; the next successful round switches it back ([`FleetQuotas::set_mode`]). The loop
//! that runs rounds every `sync_interval`, and sooner when woken, is in `fleet/service.rs`.

use std::time::{Duration, Instant};

use super::quota::{release_after, FleetQuotas, Grant, Pending};
use super::store::{Store, StoreError};

/// Keys per script call: bounds the time Redis spends in one script (about 2 µs a key).
pub const BATCH: usize = 500;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundStats {
    /// Keys sent to Redis.
    pub keys: usize,
    /// Script calls made.
    pub calls: usize,
}

/// Runs one round for `quotas` against `store` as `node`. `now_us` replaces Redis's clock
/// (tests); production passes `None`. `now` is the local instant the round runs at.
pub async fn round(
    quotas: &FleetQuotas,
    store: &Store,
    node: &str,
    now_us: Option<u64>,
    now: Instant,
) -> Result<RoundStats, StoreError> {
    let due = quotas.collect(now);
    let mut stats = RoundStats::default();
    let interval = quotas.interval();
    let window = release_after(interval) + 2 * interval;
    for batch in due.chunks(BATCH) {
        let grants = call(store, node, now_us, interval, window, batch).await?;
        for (p, g) in batch.iter().zip(grants) {
            quotas.apply(p, g, now);
        }
        stats.keys += batch.len();
        stats.calls += 1;
    }
    Ok(stats)
}

/// One script call for `batch`.
async fn call(
    store: &Store,
    node: &str,
    now_us: Option<u64>,
    interval: Duration,
    window: Duration,
    batch: &[Pending],
) -> Result<Vec<Grant>, StoreError> {
    let mut inv = store.scripts.reconcile.prepare_invoke();
    inv.arg(now_us.map_or_else(String::new, |n| n.to_string()))
        .arg(node)
        .arg(interval.as_micros() as u64)
        .arg(window.as_micros() as u64);
    for p in batch {
        inv.key(p.key.redis_key(store.prefix()))
            .arg(format!("{:.6}", p.key.emission_us()))
            .arg(format!("{:.6}", p.key.tau_us()))
            .arg(p.refund)
            .arg(p.want);
    }
    let replies: Vec<Vec<i64>> = store.run(&inv).await?;
    if replies.len() != batch.len() {
        return Err(StoreError::Redis(redis::RedisError::from((
            redis::ErrorKind::Parse,
            "the reconcile script answered for another number of keys",
        ))));
    }
    Ok(replies
        .into_iter()
        .map(|r| Grant {
            lease: r.first().copied().unwrap_or(0),
            free: r.get(1).copied().unwrap_or(0),
            active: r.get(2).copied().unwrap_or(1),
            wait_us: r.get(3).copied().unwrap_or(0),
        })
        .collect())
}
