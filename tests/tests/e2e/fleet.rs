//! Fleet mode: replicas of the real binary sharing one real `redis-server` (owned by the test,
//! on a loopback port or a unix socket, killed by PID on drop).
//!
//! - a tenant flooded through three replicas gets its quota once, and the origin sees exactly
//!   what was admitted;
//! - a drain sent to one replica stops every replica sending to that region within a second;
//!   `ctl fleet` lists the replicas with one configuration hash; a restarted replica keeps the
//!   drain; a replica with another configuration is flagged;
//! - Redis killed under load: no request fails, limits go on locally, `edge_fleet_redis_up`
//!   says 0; Redis back: fleet-wide limits and override sync resume within 2 s;
//! - a frozen Redis (SIGSTOP) adds nothing to any request's latency.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_tests::fleet::{ctl_at, RedisServer, Replica};
use edge_tests::load::{send, Outcome};
use edge_tests::{free_addr, Topology, EU_TENANT};

const LIMITS: &str =
    "[rate_limits]\ndefault_plan = \"small\"\n[rate_limits.plans.small]\nrps = 50\nburst = 10\n";

/// The standard topology with an admin listener, and `n` replicas of it on `redis`.
async fn fleet(
    redis: &RedisServer,
    n: usize,
    fleet_extra: &str,
    extra: &str,
) -> (Topology, Vec<Replica>) {
    let mut topo = Topology::standard().await;
    topo.admin = Some(free_addr());
    let prefix = format!("t{}:", free_addr().port());
    let section = format!(
        "redis_url = \"{}\"\nkey_prefix = \"{prefix}\"\n{fleet_extra}",
        redis.url()
    );
    let mut replicas: Vec<Replica> = (0..n)
        .map(|i| {
            Replica::write(
                &topo,
                &format!("replica-{}", (b'a' + i as u8) as char),
                &section,
                extra,
            )
        })
        .collect();
    for r in &mut replicas {
        r.start();
    }
    (topo, replicas)
}

/// Requests of `tenant` as fast as `workers` loops per replica can send them, for `duration`
/// (and at most 200,000 each); the outcomes per replica.
async fn flood(
    topo: &Topology,
    replicas: &[Replica],
    workers: usize,
    duration: Duration,
) -> Vec<Vec<Outcome>> {
    let deadline = Instant::now() + duration;
    let mut per_replica = Vec::new();
    for r in replicas {
        let mut tasks = Vec::new();
        for _ in 0..workers {
            let (c, url) = (r.client(topo), format!("{}/x", r.base_url()));
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                while Instant::now() < deadline && out.len() < 200_000 {
                    out.push(send(0, c.get(&url).header("x-tenant-id", EU_TENANT)).await);
                }
                out
            }));
        }
        per_replica.push(tasks);
    }
    let mut all = Vec::new();
    for tasks in per_replica {
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.extend(t.await.unwrap());
        }
        all.push(outcomes);
    }
    all
}

fn count(outcomes: &[Vec<Outcome>], status: u16) -> usize {
    outcomes
        .iter()
        .flatten()
        .filter(|o| o.status == status)
        .count()
}

fn failed(outcomes: &[Vec<Outcome>]) -> Vec<&Outcome> {
    outcomes
        .iter()
        .flatten()
        .filter(|o| o.status != 200 && o.status != 429)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_flooded_through_three_replicas_gets_its_quota_once() {
    let redis = RedisServer::start_tcp();
    let (topo, replicas) = fleet(&redis, 3, "", LIMITS).await;
    let started = Instant::now();
    let outcomes = flood(&topo, &replicas, 4, Duration::from_secs(10)).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        failed(&outcomes).is_empty(),
        "{:?}",
        failed(&outcomes).first()
    );
    let admitted = count(&outcomes, 200) as f64;
    let per_replica: Vec<usize> = outcomes
        .iter()
        .map(|o| o.iter().filter(|o| o.status == 200).count())
        .collect();
    // 50 × 10 + 10 = 510 for exactly 10 s; the flood lasts a little longer than asked.
    let expected = 50.0 * elapsed + 10.0;
    println!(
        "3 replicas, {elapsed:.2} s: {admitted} admitted (per replica {per_replica:?}), \
         {} refused; expected {expected:.0}",
        count(&outcomes, 429)
    );
    assert!(
        (admitted - expected).abs() <= expected * 0.05,
        "{admitted} admitted through 3 replicas, expected {expected:.0} ± 5 %"
    );
    assert!(
        per_replica.iter().all(|&n| n > 50),
        "every replica admitted some: {per_replica:?}"
    );
    assert_eq!(
        topo.region("northeurope").requests(),
        admitted as u64,
        "the origin counted exactly the admitted requests"
    );
    for r in &replicas {
        assert_eq!(r.metric("edge_fleet_redis_up").await, 1.0);
        assert!(r.metric("edge_fleet_syncs_total").await > 0.0);
        assert!(r.metric("edge_fleet_ratelimit_overshoot_seconds").await > 0.0);
    }
    assert!(replicas.iter().any(|r| r.log().contains("fleet mode")));
}

/// Sends requests through every replica until `stop`; each outcome with the replica index and
/// the time it was sent.
fn background_traffic(
    topo: &Topology,
    replicas: &[Replica],
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<(Instant, Outcome)>>> {
    replicas
        .iter()
        .map(|r| {
            let (c, url, stop) = (r.client(topo), format!("{}/x", r.base_url()), stop.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                while !stop.load(Ordering::Relaxed) && out.len() < 100_000 {
                    let at = Instant::now();
                    out.push((
                        at,
                        send(0, c.get(&url).header("x-tenant-id", EU_TENANT)).await,
                    ));
                }
                out
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_sent_to_one_replica_is_honoured_by_every_replica_within_a_second() {
    let redis = RedisServer::start_tcp();
    let (topo, mut replicas) = fleet(&redis, 3, "", "").await;
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = background_traffic(&topo, &replicas, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let sent_at = Instant::now();
    // `ctl` is a process of its own: off the runtime's threads, which carry the traffic.
    let admin = replicas[0].admin;
    let (code, out) = tokio::task::spawn_blocking(move || ctl_at(admin, &["drain", "northeurope"]))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"version\": 1"), "{out}");
    // Timed from the answer: starting `ctl` (a debug build) on a loaded machine can itself
    // take most of a second, and that is not the fleet's doing.
    let drained_at = Instant::now();
    println!(
        "ctl drain answered after {:?}",
        drained_at.duration_since(sent_at)
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut slowest = Duration::ZERO;
    for (i, t) in traffic.into_iter().enumerate() {
        let outcomes = t.await.unwrap();
        assert!(
            outcomes.iter().all(|(_, o)| o.ok()),
            "replica {i}: a request failed"
        );
        assert!(
            outcomes
                .iter()
                .any(|(at, o)| *at < sent_at && o.served_by == "northeurope"),
            "replica {i} served from northeurope before the drain"
        );
        // The last request sent to northeurope after the drain, relative to the drain.
        let last = outcomes
            .iter()
            .filter(|(at, o)| *at >= drained_at && o.served_by == "northeurope")
            .map(|(at, _)| at.duration_since(drained_at))
            .max()
            .unwrap_or(Duration::ZERO);
        println!("replica {i}: last request to northeurope {last:?} after the drain");
        assert!(
            outcomes
                .iter()
                .any(|(at, o)| *at > drained_at + last && o.served_by == "westeurope"),
            "replica {i} never moved to westeurope"
        );
        slowest = slowest.max(last);
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a replica took {slowest:?} to honour the drain"
    );

    // Every replica, one configuration hash, agreeing.
    let (code, table) = replicas[1].ctl(&["fleet"]);
    assert_eq!(code, 0, "{table}");
    for r in &replicas {
        assert!(table.contains(&r.name), "{table}");
    }
    let (status, view) = replicas[1].api("fleet").await;
    assert_eq!(status, 200);
    let members = view["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{view}");
    let hash = &members[0]["config_hash"];
    assert!(members.iter().all(|m| &m["config_hash"] == hash), "{view}");
    assert!(
        members.iter().all(|m| m["overrides_version"] == 1),
        "{view}"
    );
    // The write is in the audit trail, with who and what.
    let (_, history) = replicas[2].api("overrides/history").await;
    let entry = &history["entries"][0];
    assert_eq!(entry["what"], "region northeurope drain", "{history}");
    assert_eq!(entry["node"], "replica-a");
    assert_eq!(entry["after"]["region/northeurope/drained"], "1");

    // Optimistic concurrency: If-Match names the version the writer saw.
    let admin = reqwest::Client::new();
    let weight = |r: &Replica, region: &str, if_match: &str| {
        admin
            .put(format!("http://{}/api/v1/regions/{region}/weight", r.admin))
            .bearer_auth(edge_tests::ADMIN_TOKEN)
            .header("if-match", if_match)
            .json(&serde_json::json!({"weight": 50}))
            .send()
    };
    let stale = weight(&replicas[1], "eastus", "\"0\"").await.unwrap();
    assert_eq!(stale.status(), 412);
    assert_eq!(stale.headers()["content-type"], "application/problem+json");
    assert_eq!(stale.headers()["etag"], "\"1\"");
    let ok = weight(&replicas[1], "eastus", "\"1\"").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["etag"], "\"2\"");
    // Concurrent writers to different regions: both changes survive, each has its version.
    let (a, b) = tokio::join!(
        weight(&replicas[0], "westus", "*"),
        weight(&replicas[2], "westeurope", "*")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let mut versions = [a.headers()["etag"].clone(), b.headers()["etag"].clone()];
    versions.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
    assert_eq!(versions, ["\"3\"", "\"4\""]);
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let (_, o) = replicas[1].api("overrides").await;
        let r = &o["regions"];
        if r["westus"]["weight"] == 50 && r["westeurope"]["weight"] == 50 {
            assert_eq!(r["northeurope"]["drained"], true, "{o}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both writes did not reach replica-b: {o}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A restarted replica keeps the drain from its first request.
    replicas[2].stop();
    replicas[2].start();
    let c = replicas[2].client(&topo);
    for _ in 0..20 {
        let o = send(
            0,
            c.get(format!("{}/x", replicas[2].base_url()))
                .header("x-tenant-id", EU_TENANT),
        )
        .await;
        assert_eq!(o.served_by, "westeurope", "{o:?}");
    }

    // A replica whose configuration differs is flagged, and ctl exits 4.
    let mut odd = Replica::write(
        &topo,
        "replica-odd",
        &format!(
            "redis_url = \"{}\"\nkey_prefix = \"{}\"\n",
            redis.url(),
            key_prefix(&replicas[0])
        ),
        "[routing]\ndebug_headers = true\n",
    );
    odd.start();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (code, table) = loop {
        let (code, table) = replicas[0].ctl(&["fleet"]);
        if table.contains("replica-odd") || Instant::now() > deadline {
            break (code, table);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(code, 4, "{table}");
    let odd_row = table
        .lines()
        .find(|l| l.starts_with("replica-odd"))
        .unwrap();
    assert!(odd_row.contains("config-drift"), "{table}");
    assert!(
        table.lines().filter(|l| l.contains("config-drift")).count() == 1,
        "{table}"
    );
    let counted = replicas[0]
        .wait_metric("edge_fleet_config_drift", Duration::from_secs(5), |v| {
            v == 1.0
        })
        .await;
    assert!(counted.is_some(), "edge_fleet_config_drift never said 1");
}

/// The `key_prefix` a replica was written with.
fn key_prefix(r: &Replica) -> String {
    let text = std::fs::read_to_string(&r.config).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("key_prefix = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_load_fails_nothing_and_comes_back_by_itself() {
    let mut redis = RedisServer::start_tcp();
    let (topo, replicas) = fleet(&redis, 3, "", LIMITS).await;
    // An override from before the outage (an NA region: the flood is EU).
    let (code, out) = replicas[0].ctl(&["drain", "westus"]);
    assert_eq!(code, 0, "{out}");

    let shared = flood(&topo, &replicas, 2, Duration::from_secs(2)).await;
    assert!(failed(&shared).is_empty());

    redis.kill();
    for r in &replicas {
        let took = r
            .wait_metric("edge_fleet_redis_up", Duration::from_secs(5), |v| v == 0.0)
            .await;
        assert!(took.is_some(), "{} still says Redis is up", r.name);
    }
    let started = Instant::now();
    let local = flood(&topo, &replicas, 2, Duration::from_secs(3)).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(failed(&local).is_empty(), "{:?}", failed(&local).first());
    let admitted = count(&local, 200) as f64;
    println!(
        "Redis down, {elapsed:.2} s: {admitted} admitted, {} refused",
        count(&local, 429)
    );
    // full-quota: each replica enforces the whole quota on its own, and still refuses.
    assert!(
        admitted > 50.0 * elapsed + 10.0,
        "{admitted}: the fleet limit should be off"
    );
    assert!(
        admitted <= 3.0 * (50.0 * elapsed + 10.0) * 1.05,
        "{admitted}: local limits hold"
    );
    assert!(count(&local, 429) > 0, "local limits refuse too");

    redis.restart();
    let back = Instant::now();
    for r in &replicas {
        let took = r
            .wait_metric("edge_fleet_redis_up", Duration::from_secs(2), |v| v == 1.0)
            .await;
        assert!(
            took.is_some(),
            "{} did not see Redis back within 2 s",
            r.name
        );
    }
    // Redis restarted empty: a replica re-seeded the overrides it had (nothing lost).
    let deadline = back + Duration::from_secs(2);
    loop {
        let (_, o) = replicas[1].api("overrides").await;
        let (_, h) = replicas[1].api("overrides/history").await;
        if o["regions"]["westus"]["drained"] == true
            && h["entries"].as_array().is_some_and(|e| !e.is_empty())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "overrides not re-seeded: {o} {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Override sync resumes: a drain through one replica reaches the others.
    let (code, out) = replicas[0].ctl(&["drain", "northeurope"]);
    assert_eq!(code, 0, "{out}");
    for r in &replicas[1..] {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let (_, o) = r.api("overrides").await;
            if o["regions"]["northeurope"]["drained"] == true {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not apply the drain: {o}",
                r.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(back.elapsed() < Duration::from_secs(4));
    // Fleet-wide limiting resumes: measured from 2 s after Redis came back.
    let wait = (back + Duration::from_secs(2)).saturating_duration_since(Instant::now());
    let warmup = flood(&topo, &replicas, 2, wait).await;
    assert!(failed(&warmup).is_empty());
    let started = Instant::now();
    let global = flood(&topo, &replicas, 2, Duration::from_secs(3)).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(failed(&global).is_empty());
    let admitted = count(&global, 200) as f64;
    println!("Redis back, {elapsed:.2} s: {admitted} admitted");
    // rps × t, plus at most a burst and the overshoot bound ((3 + 1) × 100 ms × 50 rps).
    assert!(
        admitted <= 50.0 * elapsed + 10.0 + 20.0 + 5.0,
        "{admitted}: not fleet-wide again"
    );
    assert!(
        admitted >= 50.0 * elapsed * 0.8,
        "{admitted}: fleet-wide limits starve"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_adds_nothing_to_request_latency() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start_unix(dir.path());
    // A long timeout: a request that waited on Redis would take at least a second.
    let limits = "[rate_limits]\ndefault_plan = \"big\"\n[rate_limits.plans.big]\nrps = 100000\nburst = 100000\n";
    let (topo, replicas) = fleet(
        &redis,
        1,
        "sync_interval = \"2s\"\ntimeout = \"1s\"\n",
        limits,
    )
    .await;
    let r = &replicas[0];
    let c = r.client(&topo);
    let url = format!("{}/x", r.base_url());
    let get = || send(0, c.get(&url).header("x-tenant-id", EU_TENANT));
    for _ in 0..20 {
        assert!(get().await.ok());
    }
    let up = r
        .wait_metric("edge_fleet_redis_up", Duration::from_secs(5), |v| v == 1.0)
        .await;
    assert!(
        up.is_some(),
        "never connected to {}:\n{}",
        redis.url(),
        r.log()
    );

    redis.pause();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(3) && n < 20_000 {
        let o = get().await;
        assert!(o.ok(), "{o:?}");
        slowest = slowest.max(o.elapsed);
        n += 1;
    }
    let down = r.metric("edge_fleet_redis_up").await;
    redis.resume();
    println!("Redis frozen: {n} requests, slowest {slowest:?}");
    assert_eq!(down, 0.0, "the frozen Redis was noticed");
    // 5× under the 500 ms a wait on Redis would cost.
    assert!(
        slowest < Duration::from_millis(100),
        "a request took {slowest:?}"
    );
    let took = r
        .wait_metric("edge_fleet_redis_up", Duration::from_secs(5), |v| v == 1.0)
        .await;
    assert!(took.is_some(), "Redis thawed but still down:\n{}", r.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_cannot_each_drain_half_of_a_geography() {
    let redis = RedisServer::start_tcp();
    let (_topo, replicas) = fleet(&redis, 2, "", "").await;
    let admin = reqwest::Client::new();
    let drain = |r: &Replica, region: &str| {
        admin
            .post(format!("http://{}/api/v1/regions/{region}/drain", r.admin))
            .bearer_auth(edge_tests::ADMIN_TOKEN)
            .send()
    };
    // Each drain alone leaves the EU geography an origin; both together leave it none. Sent at
    // once through two replicas, whichever order they land in, exactly one is refused.
    for round in 0..3 {
        let (a, b) = tokio::join!(
            drain(&replicas[0], "northeurope"),
            drain(&replicas[1], "westeurope")
        );
        let mut codes = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
        codes.sort_unstable();
        assert_eq!(codes, [200, 409], "round {round}");
        // The fleet's state, once it reached both replicas: one of the two drained.
        for r in &replicas {
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                let (_, o) = r.api("overrides").await;
                let drained = ["northeurope", "westeurope"]
                    .iter()
                    .filter(|name| o["regions"][**name]["drained"] == true)
                    .count();
                assert!(drained <= 1, "round {round}: {o}");
                if drained == 1 {
                    break;
                }
                assert!(Instant::now() < deadline, "round {round}: no drain: {o}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let cleared = admin
            .delete(format!("http://{}/api/v1/overrides", replicas[0].admin))
            .bearer_auth(edge_tests::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(cleared.status(), 200);
        // Both replicas see the cleared state before the next round.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let (_, o) = replicas[1].api("overrides").await;
            if o["regions"].as_object().is_none_or(|m| m.is_empty()) {
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: not cleared: {o}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
