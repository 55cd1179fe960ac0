//! Cost of a rate-limit check, and memory per tracked client.
//!
//! Every check goes through all three scopes (client, tenant, route) with quotas too large to
//! refuse, so what is measured is the allowed path a real request takes. Run with
//! `cargo bench -p edge-gateway --bench ratelimit`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::Criterion;
use edge_config::{GeographyName, PlanName, Quota, RateLimits, RouteLimit, Tenant, TenantId};
use edge_gateway::ratelimit::{Decision, RateLimiter};

/// Distinct client addresses in the many-clients benchmarks.
const CLIENTS: u32 = 1_000_000;

/// A quota no benchmark comes near: a billion a second.
fn unlimited() -> Quota {
    let huge = NonZeroU32::new(1_000_000_000).unwrap_or(NonZeroU32::MIN);
    Quota {
        rps: huge,
        burst: huge,
    }
}

/// Client, tenant (by default plan) and route limits, room for every client.
fn limits() -> RateLimits {
    let mut plans = std::collections::BTreeMap::new();
    plans.insert(PlanName::new("standard"), unlimited());
    RateLimits {
        plans,
        default_plan: Some(PlanName::new("standard")),
        per_client: Some(unlimited()),
        routes: vec![RouteLimit {
            path_prefix: "/api/".to_owned(),
            methods: Vec::new(),
            quota: unlimited(),
        }],
        max_tracked_clients: NonZeroUsize::new(2 * CLIENTS as usize).unwrap_or(NonZeroUsize::MIN),
        ..RateLimits::default()
    }
}

fn tenant() -> Tenant {
    Tenant {
        id: TenantId(uuid::Uuid::from_u128(
            0x3f0b_1f5e_8a7c_4c57_9a53_0c1d_2e3f_4a5b,
        )),
        geography: GeographyName::new("eu"),
        plan: None,
        allowed_countries: None,
    }
}

/// The `n`th distinct client address.
fn client(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

fn check(limiter: &RateLimiter, client: IpAddr, tenant: &Tenant) -> Decision {
    limiter.check(client, tenant, &http::Method::GET, "/api/items")
}

/// A limiter that already tracks every client of [`client`].
fn warmed_limiter() -> RateLimiter {
    let limiter = RateLimiter::new(&limits());
    let t = tenant();
    for n in 0..CLIENTS {
        check(&limiter, client(n), &t);
    }
    limiter
}

fn single_key(c: &mut Criterion) {
    let limiter = RateLimiter::new(&limits());
    let t = tenant();
    let ip = client(0);
    c.bench_function("check/one_key", |b| {
        b.iter(|| black_box(check(&limiter, black_box(ip), &t)));
    });
}

fn many_clients(c: &mut Criterion) {
    let limiter = warmed_limiter();
    let t = tenant();
    let mut n = 0;
    c.bench_function("check/1M_clients", |b| {
        b.iter(|| {
            n = (n + 1) % CLIENTS;
            black_box(check(&limiter, client(n), &t))
        });
    });
}

/// `iters` checks on each of `threads` threads at once, cycling through their own share of
/// the clients; the time is the wall time, so it reads as the latency of one check while the
/// other threads check too.
fn concurrent(limiter: &RateLimiter, threads: u32, iters: u64) -> Duration {
    let t = tenant();
    let start = Barrier::new(threads as usize + 1);
    let share = CLIENTS / threads;
    std::thread::scope(|s| {
        for thread in 0..threads {
            let (start, t) = (&start, &t);
            s.spawn(move || {
                start.wait();
                for i in 0..iters {
                    let n = thread * share + (i % u64::from(share)) as u32;
                    black_box(check(limiter, client(n), t));
                }
            });
        }
        start.wait();
        // The scope joins every thread before it returns, so `elapsed` covers all checks.
        Instant::now()
    })
    .elapsed()
}

fn threads(c: &mut Criterion) {
    let limiter = warmed_limiter();
    let mut group = c.benchmark_group("check/threads");
    for threads in [1, 2] {
        group.bench_function(threads.to_string(), |b| {
            b.iter_custom(|iters| concurrent(&limiter, threads, iters));
        });
    }
    group.finish();
}

/// Resident memory of this process in bytes, from `/proc/self/status`.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Prints the memory one tracked client costs: resident size before and after a limiter with
/// only the per-client scope has seen a million distinct clients.
fn memory_per_client() {
    let limits = RateLimits {
        per_client: Some(unlimited()),
        max_tracked_clients: NonZeroUsize::new(2 * CLIENTS as usize).unwrap_or(NonZeroUsize::MIN),
        ..RateLimits::default()
    };
    let t = tenant();
    let before = resident_bytes();
    let limiter = RateLimiter::new(&limits);
    for n in 0..CLIENTS {
        check(&limiter, client(n), &t);
    }
    let after = resident_bytes();
    match (before, after) {
        (Some(before), Some(after)) => println!(
            "memory: {} clients tracked, {:.1} bytes per client (RSS {:.1} MiB -> {:.1} MiB)",
            limiter.tracked_clients(),
            after.saturating_sub(before) as f64 / f64::from(CLIENTS),
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
        ),
        _ => println!("memory: /proc/self/status is not readable here"),
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn main() {
    memory_per_client();
    let mut c = config().configure_from_args();
    single_key(&mut c);
    many_clients(&mut c);
    threads(&mut c);
    c.final_summary();
}
