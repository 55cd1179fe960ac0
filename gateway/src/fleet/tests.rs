//! The fleet's rate limiting against a real `redis-server`, on a fake clock: the Lua script
//! takes `now` as an argument in tests (Redis's `TIME` otherwise), and the local allowance
//! table is driven with simulated instants.
//!
//! - the script: a lease, refunds that never overfill, charges, shares between replicas;
//! - a round: cold keys, leases, the quarter-burst wake-up, the fallbacks;
//! - a property test: N simulated replicas sharing one Redis never admit more than
//!   `rps × t + burst + rps × sync_interval + N × initial` (`fleet/quota.rs`), and a flood
//!   through all of them gets about `rps × t + burst`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_config::{Quota, TenantId};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::metrics::FleetMetrics;
use super::quota::{initial, FleetQuotas, Grant, Mode};
use super::reconcile;
use super::store::Store;
use super::test_redis::TestRedis;
use crate::request::ratelimit::SharedScopes;

fn quota(rps: u32, burst: u32) -> Quota {
    Quota {
        rps: NonZeroU32::new(rps).unwrap(),
        burst: NonZeroU32::new(burst).unwrap(),
    }
}

fn store(url: &str, prefix: &str) -> Arc<Store> {
    let metrics = Arc::new(FleetMetrics::new(&prometheus::Registry::new()));
    Arc::new(Store::new(url, None, Duration::from_millis(200), prefix, metrics).unwrap())
}

/// A store whose connection is made (the first call only starts making it).
async fn connected(url: &str, prefix: &str) -> Arc<Store> {
    let s = store(url, prefix);
    for _ in 0..200 {
        if s.query::<String>(&redis::cmd("PING")).await.is_ok() {
            return s;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no connection to the test Redis");
}

/// Redis's fake "now" in µs: any large base, plus `t`.
fn at(t: Duration) -> u64 {
    1_700_000_000_000_000 + t.as_micros() as u64
}

/// Runs the reconcile script for one key as `node`.
async fn script(s: &Store, node: &str, now: u64, q: Quota, refund: i64, want: u64) -> Grant {
    let t = 1e6 / f64::from(q.rps.get());
    let mut inv = s.scripts.reconcile.prepare_invoke();
    inv.arg(now)
        .arg(node)
        .arg(100_000u64)
        .arg(1_200_000u64)
        .key(s.key("k"))
        .arg(format!("{t:.6}"))
        .arg(format!("{:.6}", t * f64::from(q.burst.get())))
        .arg(refund)
        .arg(want);
    let r: Vec<Vec<i64>> = s.run(&inv).await.unwrap();
    Grant {
        lease: r[0][0],
        free: r[0][1],
        active: r[0][2],
        wait_us: r[0][3],
    }
}

#[tokio::test]
async fn the_script_leases_refunds_charges_and_shares() {
    let redis = TestRedis::start();
    let s = connected(&redis.url(), "t1:").await;
    let q = quota(10, 5); // one token every 100 ms, bucket of 5; look-ahead 100 ms = 1 token
    let t0 = at(Duration::ZERO);
    let g = script(&s, "a", t0, q, 0, 100).await;
    assert_eq!((g.lease, g.free, g.active), (6, 0, 1), "burst + look-ahead");
    assert_eq!(g.wait_us, 200_000, "the TAT is 1 token beyond the bucket");
    // Returning all of it leaves a full bucket, never more.
    let g = script(&s, "a", t0, q, 6, 0).await;
    assert_eq!((g.lease, g.free, g.active), (0, 5, 0));
    let g = script(&s, "a", t0 + 50_000_000, q, 1000, 0).await;
    assert_eq!(g.free, 5, "a refund never overfills the bucket");
    // Two replicas active on the key share what is free.
    let t1 = t0 + 50_000_000;
    let g = script(&s, "a", t1, q, 0, 3).await;
    assert_eq!((g.lease, g.active), (3, 1));
    let g = script(&s, "b", t1, q, 0, 100).await;
    assert_eq!(
        (g.lease, g.active),
        (1, 2),
        "3 free (with look-ahead) split between 2"
    );
    // Charging requests admitted without a lease takes the bucket into debt.
    let g = script(&s, "a", t1, q, -4, 1).await;
    assert_eq!(g.lease, 0);
    assert_eq!(g.free, 0);
    // TAT = now + 8 tokens: 3 beyond the bucket, so the next token is free in 4 × 100 ms.
    assert_eq!(g.wait_us, 400_000);
    let g = script(&s, "a", t1 + 200_000, q, 0, 1).await;
    assert_eq!(g.lease, 0, "not yet");
    // Time pays the debt back at the quota's rate; the 100 ms look-ahead lends the token due
    // at +400 ms from +300 ms.
    let g = script(&s, "a", t1 + 300_000, q, 0, 5).await;
    assert_eq!((g.lease, g.active), (1, 2));
}

fn scopes(q: Quota) -> SharedScopes {
    SharedScopes {
        tenant: Some(q),
        route: None,
    }
}

fn tenant() -> TenantId {
    TenantId(uuid::Uuid::from_u128(7))
}

#[tokio::test]
async fn a_round_turns_a_cold_key_into_a_lease_and_wakes_early() {
    let redis = TestRedis::start();
    let s = connected(&redis.url(), "t2:").await;
    let q = quota(10, 8);
    let fleet = FleetQuotas::new(Duration::from_millis(100), 1000);
    let base = Instant::now();
    // Cold: one request's worth (10 rps × 100 ms) without asking Redis.
    assert_eq!(initial(q, Duration::from_millis(100)), 1);
    assert!(fleet.check(tenant(), &scopes(q)).is_ok());
    let refused = fleet.check(tenant(), &scopes(q)).unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_secs(1));
    // The refusal asked for an early round.
    assert!(woken(&fleet).await);
    let stats = reconcile::round(&fleet, &s, "a", Some(at(Duration::ZERO)), base)
        .await
        .unwrap();
    assert_eq!(stats.keys, 1);
    // 1 charged; want = 4 × 1 + 1 (a cold allowance) = 5 of the 8 free (with look-ahead).
    let admitted = (0..20)
        .take_while(|_| fleet.check(tenant(), &scopes(q)).is_ok())
        .count();
    assert_eq!(admitted, 5);
    // Spending a quarter of the burst (2) since the round wakes the loop too.
    let _ = woken(&fleet).await;
    reconcile::round(&fleet, &s, "a", Some(at(Duration::from_millis(10))), base)
        .await
        .unwrap();
    assert!(fleet.check(tenant(), &scopes(q)).is_ok());
    assert!(!woken(&fleet).await, "1 of a burst of 8 spent");
    assert!(fleet.check(tenant(), &scopes(q)).is_ok());
    assert!(woken(&fleet).await, "2 of a burst of 8 spent");
    // Nothing used or wanted: nothing to send.
    let _ = (0..20)
        .take_while(|_| fleet.check(tenant(), &scopes(q)).is_ok())
        .count();
    let _ = woken(&fleet).await;
    let idle = FleetQuotas::new(Duration::from_millis(100), 1000);
    let stats = reconcile::round(&idle, &s, "a", Some(at(Duration::ZERO)), base)
        .await
        .unwrap();
    assert_eq!(stats.keys, 0);
}

/// Whether the table asked for an early round (without waiting).
async fn woken(fleet: &FleetQuotas) -> bool {
    tokio::select! {
        biased;
        _ = fleet.woken() => true,
        _ = std::future::ready(()) => false,
    }
}

#[tokio::test]
async fn unreachable_redis_falls_back_and_recovery_starts_cold() {
    let q = quota(10, 10);
    let fleet = FleetQuotas::new(Duration::from_millis(100), 1000);
    let dead = store("redis://127.0.0.1:1", "t3:");
    let now = Instant::now();
    assert!(fleet.check(tenant(), &scopes(q)).is_ok());
    assert!(reconcile::round(&fleet, &dead, "a", None, now)
        .await
        .is_err());
    // full-quota: the fleet check steps aside (the local governor still applies).
    fleet.set_mode(Mode::FullQuota, now);
    assert!((0..100).all(|_| fleet.check(tenant(), &scopes(q)).is_ok()));
    // divide-quota: burst ÷ replicas, refilled at rps ÷ replicas.
    fleet.set_replicas(2);
    fleet.set_mode(Mode::DivideQuota, now);
    let count = |f: &FleetQuotas| {
        (0..100)
            .take_while(|_| f.check(tenant(), &scopes(q)).is_ok())
            .count()
    };
    assert_eq!(count(&fleet), 5);
    fleet.refill_locally(Duration::from_millis(400));
    assert_eq!(count(&fleet), 2, "5 rps for 400 ms");
    fleet.refill_locally(Duration::from_secs(60));
    assert_eq!(count(&fleet), 5, "never beyond the divided burst");
    // Back to shared: every key is cold again.
    fleet.set_mode(Mode::Shared, now);
    assert_eq!(count(&fleet), 1);
}

/// One simulated run: `arrivals[phase][replica]` requests per 10 ms step for each phase.
#[derive(Debug, Clone)]
struct Run {
    replicas: usize,
    rps: u32,
    burst: u32,
    interval_ms: u64,
    phases: Vec<(u32, Vec<u32>)>,
}

fn runs() -> impl Strategy<Value = Run> {
    (
        1usize..=4,
        1u32..=200,
        1u32..=40,
        prop::sample::select(vec![20u64, 50, 100, 200]),
    )
        .prop_flat_map(|(replicas, rps, burst, interval_ms)| {
            let phase = (5u32..=150, prop::collection::vec(0u32..=4, replicas));
            prop::collection::vec(phase, 1..6).prop_map(move |phases| Run {
                replicas,
                rps,
                burst,
                interval_ms,
                phases,
            })
        })
}

/// Admitted requests after each 10 ms step.
async fn simulate(s: &Arc<Store>, run: &Run, prefix: &str) -> Vec<u64> {
    let step = Duration::from_millis(10);
    let interval = Duration::from_millis(run.interval_ms);
    let q = quota(run.rps, run.burst);
    let fleets: Vec<FleetQuotas> = (0..run.replicas)
        .map(|_| FleetQuotas::new(interval, 1000))
        .collect();
    let base = Instant::now();
    let node = |i: usize| format!("{prefix}{i}");
    let mut next_round: Vec<Duration> = (0..run.replicas)
        .map(|i| interval * i as u32 / run.replicas as u32)
        .collect();
    let mut last_round = vec![Duration::ZERO; run.replicas];
    let mut admitted = 0u64;
    let mut out = Vec::new();
    let mut t = Duration::ZERO;
    for (steps, arrivals) in &run.phases {
        for _ in 0..*steps {
            for (i, f) in fleets.iter().enumerate() {
                for _ in 0..arrivals[i] {
                    if f.check(tenant(), &scopes(q)).is_ok() {
                        admitted += 1;
                    }
                }
                let early = woken(f).await && t >= last_round[i] + interval / 10;
                if t >= next_round[i] || early {
                    reconcile::round(f, s, &node(i), Some(at(t)), base + t)
                        .await
                        .unwrap();
                    last_round[i] = t;
                    if t >= next_round[i] {
                        next_round[i] = t + interval;
                    }
                }
            }
            out.push(admitted);
            t += step;
        }
    }
    out
}

/// `rps × t + burst + rps × interval + replicas × initial`: the documented bound.
fn bound(run: &Run, t: Duration) -> f64 {
    let interval = Duration::from_millis(run.interval_ms);
    let rps = f64::from(run.rps);
    let init = initial(quota(run.rps, run.burst), interval) as f64;
    rps * t.as_secs_f64()
        + f64::from(run.burst)
        + (rps * interval.as_secs_f64()).ceil()
        + run.replicas as f64 * init
}

#[test]
fn simulated_replicas_sharing_one_redis_never_exceed_the_bound() {
    let redis = TestRedis::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(connected(&redis.url(), "p:"));
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let case = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&runs(), |run| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let prefix = format!("case{n}-");
            let admitted = rt.block_on(simulate(&s, &run, &prefix));
            for (i, a) in admitted.iter().enumerate() {
                // After step i, (i + 1) steps of 10 ms have passed.
                let t = Duration::from_millis(10 * (i as u64 + 1));
                prop_assert!(
                    (*a as f64) <= bound(&run, t),
                    "{a} admitted by {t:?}, bound {:.1}",
                    bound(&run, t)
                );
            }
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn a_flood_through_three_replicas_gets_the_quota_once() {
    let redis = TestRedis::start();
    let s = connected(&redis.url(), "f:").await;
    // rps 50, burst 10, 10 s, every replica flooded (4 requests per 10 ms each).
    let run = Run {
        replicas: 3,
        rps: 50,
        burst: 10,
        interval_ms: 100,
        phases: vec![(1000, vec![4, 4, 4])],
    };
    let admitted = *simulate(&s, &run, "f").await.last().unwrap() as f64;
    let expected = 50.0 * 10.0 + 10.0;
    println!("simulated flood: {admitted} admitted (expected {expected})");
    assert!(
        (admitted - expected).abs() <= expected * 0.05,
        "{admitted} admitted, expected {expected} ± 5 %"
    );
}
