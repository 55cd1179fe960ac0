//! What fleet mode adds to a request's admission: the local rate-limit check alone, against
//! the same check followed by the fleet-wide allowance (`fleet/quota.rs`): the shared scopes'
//! lookup and one compare-and-swap on the key's allowance, with a quota too large to refuse.
//! Nothing here talks to Redis: requests never do. Run with
//! `cargo bench -p edge-gateway --bench fleet`; the whole-request comparison is
//! `edge-loadtest compare --targets gateway,gateway-fleet` (docs/fleet.md).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::Criterion;
use edge_config::{GeographyName, PlanName, Quota, RateLimits, RouteLimit, Tenant, TenantId};
use edge_gateway::ratelimit::{Decision, RateLimiter};
use edge_gateway::FleetQuotas;

/// A quota no benchmark comes near: a billion a second.
fn unlimited() -> Quota {
    let huge = NonZeroU32::new(1_000_000_000).unwrap_or(NonZeroU32::MIN);
    Quota {
        rps: huge,
        burst: huge,
    }
}

/// Tenant (default plan) and route limits, as a fleet shares them.
fn limits() -> RateLimits {
    let mut plans = std::collections::BTreeMap::new();
    plans.insert(PlanName::new("standard"), unlimited());
    RateLimits {
        plans,
        default_plan: Some(PlanName::new("standard")),
        routes: vec![RouteLimit {
            path_prefix: "/api/".to_owned(),
            methods: Vec::new(),
            quota: unlimited(),
        }],
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

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

/// A table whose keys start with an allowance no benchmark exhausts (1 s at a billion a
/// second).
fn fleet() -> FleetQuotas {
    FleetQuotas::new(Duration::from_secs(1), 1_000_000)
}

fn admission(limiter: &RateLimiter, fleet: Option<&FleetQuotas>, t: &Tenant) -> bool {
    let method = http::Method::GET;
    let allowed = matches!(
        limiter.check(IP, t, &method, "/api/items"),
        Decision::Allowed { .. }
    );
    match fleet {
        None => allowed,
        Some(f) => {
            let scopes = limiter.shared_scopes(t, &method, "/api/items");
            allowed && f.check(t.id, &scopes).is_ok()
        }
    }
}

fn single_thread(c: &mut Criterion) {
    let limiter = RateLimiter::new(&limits());
    let t = tenant();
    let f = fleet();
    let mut group = c.benchmark_group("admission");
    group.bench_function("local", |b| {
        b.iter(|| black_box(admission(&limiter, None, &t)));
    });
    group.bench_function("local+fleet", |b| {
        b.iter(|| black_box(admission(&limiter, Some(&f), &t)));
    });
    group.finish();
}

/// `iters` admissions of one tenant on each of `threads` threads at once (a hot tenant: every
/// thread on the same key), wall time.
fn concurrent(
    limiter: &RateLimiter,
    fleet: Option<&FleetQuotas>,
    threads: usize,
    iters: u64,
) -> Duration {
    let t = tenant();
    let start = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (start, t) = (&start, &t);
            s.spawn(move || {
                start.wait();
                for _ in 0..iters {
                    black_box(admission(limiter, fleet, t));
                }
            });
        }
        start.wait();
        Instant::now()
    })
    .elapsed()
}

fn two_threads(c: &mut Criterion) {
    let limiter = RateLimiter::new(&limits());
    let f = fleet();
    let mut group = c.benchmark_group("admission/2_threads_one_tenant");
    group.bench_function("local", |b| {
        b.iter_custom(|iters| concurrent(&limiter, None, 2, iters));
    });
    group.bench_function("local+fleet", |b| {
        b.iter_custom(|iters| concurrent(&limiter, Some(&f), 2, iters));
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    single_thread(&mut c);
    two_threads(&mut c);
    c.final_summary();
}
