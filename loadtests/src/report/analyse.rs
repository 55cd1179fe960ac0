//! From records to numbers: one pass for the totals, per stream and per region, then the
//! phases, the faults, the time series and the checks.

use std::collections::BTreeMap;

use crate::gateway::metric_sum;
use crate::load::{Kind, Rec, UNKNOWN_REGION};
use crate::run::RunData;
use crate::scenario::catalog::Scenario;
use crate::topology::Tuning;
use crate::util;

use super::checks::checks;
use super::context::Ctx;
use super::executions;
use super::faults;
use super::hist::{round2, round3, Hist};
use super::timeline;
use super::types::{Latency, RegionReport, Report, StreamReport, Totals};

/// Analyses a run: every number of the report and every check.
pub fn analyse(data: &RunData) -> Report {
    let ctx = Ctx::new(data);
    let records = &data.records;
    let counted = Tally::count(&ctx, records);
    let failover = if data.expect.max_failover.is_some() {
        faults::failovers(&ctx, records)
    } else {
        Vec::new()
    };
    let brownout = (data.scenario == Scenario::Brownout)
        .then(|| faults::brownout(&ctx, records))
        .flatten();
    let rate_limit = data
        .expect
        .rate_limit
        .as_ref()
        .and_then(|(f, o)| faults::rate_limit(&ctx, records, f, o));
    let posts = executions::posts(&ctx, records);
    let mut report = Report {
        scenario: data.scenario.name().to_owned(),
        description: data.describe.clone(),
        passed: false,
        date: util::now_utc().1,
        gateway: data.gateway.clone(),
        duration_s: data.duration.as_secs_f64(),
        short: data.short,
        health: health(&data.tuning),
        regions: regions(data, &counted.served),
        totals: counted.totals,
        latency_ms: counted.latency,
        streams: counted.streams,
        phases: timeline::phases(&ctx, records),
        events: data.events.clone(),
        failover,
        brownout,
        rate_limit,
        reloads: data.reloads.clone(),
        posts,
        gateway_metrics: selected_metrics(&data.metrics),
        gateway_log: data.gateway_log.iter().take(8).cloned().collect(),
        timeline: timeline::timeline(&ctx, records),
        checks: Vec::new(),
    };
    report.checks = checks(data, &report);
    report.passed = report.checks.iter().all(|c| c.passed);
    report
}

/// The health settings of the generated config, in ms or counts.
fn health(tuning: &Tuning) -> BTreeMap<String, f64> {
    [
        ("interval_ms", tuning.interval.as_millis() as f64),
        ("timeout_ms", tuning.timeout.as_millis() as f64),
        ("rise", f64::from(tuning.rise)),
        ("fall", f64::from(tuning.fall)),
        ("slow_start_ms", tuning.slow_start.as_millis() as f64),
        ("base_ejection_ms", tuning.base_ejection.as_millis() as f64),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// What one pass over the records counts.
struct Counted {
    totals: Totals,
    latency: Latency,
    streams: Vec<StreamReport>,
    /// Answers served by each region, by index.
    served: Vec<u64>,
}

/// The running counts of that pass.
struct Tally {
    totals: Totals,
    all: Hist,
    per_stream: Vec<(Hist, StreamReport)>,
    served: Vec<u64>,
    h2_per_stream: Vec<u64>,
    answered_per_stream: Vec<u64>,
}

impl Tally {
    /// Counts every record once.
    fn count(ctx: &Ctx<'_>, records: &[Rec]) -> Counted {
        let data = ctx.data;
        let mut tally = Tally {
            totals: Totals::default(),
            all: Hist::new(),
            per_stream: data
                .streams
                .iter()
                .map(|s| {
                    (
                        Hist::new(),
                        StreamReport {
                            name: s.name.clone(),
                            proto: s.proto,
                            rate: s.rate,
                            from_s: s.from.as_secs_f64(),
                            until_s: s.until.as_secs_f64(),
                            sent: 0,
                            ok: 0,
                            failed: 0,
                            rate_limited: 0,
                            http2_share: 0.0,
                            latency_ms: Latency::default(),
                        },
                    )
                })
                .collect(),
            served: vec![0u64; data.topology.regions.len()],
            h2_per_stream: vec![0u64; data.streams.len()],
            answered_per_stream: vec![0u64; data.streams.len()],
        };
        for r in records {
            tally.add(r, ctx.failed(r));
        }
        tally.finish(data.duration.as_secs_f64().max(1e-3))
    }

    fn add(&mut self, r: &Rec, failed: bool) {
        let totals = &mut self.totals;
        totals.sent += 1;
        if r.kind == Kind::Ok {
            totals.ok += 1;
        } else {
            *totals.by_kind.entry(r.kind.name().to_owned()).or_default() += 1;
        }
        if failed {
            totals.failed += 1;
        }
        if r.violation {
            totals.residency_violations += 1;
        }
        if r.mismatch {
            totals.region_mismatches += 1;
        }
        if r.served == UNKNOWN_REGION {
            totals.unknown_regions += 1;
        }
        if r.http2 {
            totals.http2_answers += 1;
        }
        if let Some(c) = self.served.get_mut(usize::from(r.served)) {
            *c += 1;
        }
        let i = usize::from(r.stream);
        if let Some((h, s)) = self.per_stream.get_mut(i) {
            s.sent += 1;
            if r.kind == Kind::Ok {
                s.ok += 1;
            }
            if failed {
                s.failed += 1;
            }
            if r.kind == Kind::RateLimited {
                s.rate_limited += 1;
            }
            if r.kind != Kind::Backlog {
                h.record(r.latency_us);
            }
        }
        if r.kind != Kind::Backlog {
            self.all.record(r.latency_us);
            if let Some(a) = self.answered_per_stream.get_mut(i) {
                *a += 1;
            }
            if r.http2 {
                if let Some(c) = self.h2_per_stream.get_mut(i) {
                    *c += 1;
                }
            }
        }
    }

    /// Rates over the run's planned length, and each stream's latency and h2 share.
    fn finish(self, duration_s: f64) -> Counted {
        let mut totals = self.totals;
        totals.throughput_rps = round2(totals.ok as f64 / duration_s);
        totals.offered_rps = round2(totals.sent as f64 / duration_s);
        let (answered, h2) = (self.answered_per_stream, self.h2_per_stream);
        let streams = self
            .per_stream
            .into_iter()
            .enumerate()
            .map(|(i, (h, mut s))| {
                s.latency_ms = h.summary();
                let answered = answered.get(i).copied().unwrap_or(0);
                let h2 = h2.get(i).copied().unwrap_or(0);
                s.http2_share = if answered == 0 {
                    0.0
                } else {
                    round3(h2 as f64 / answered as f64)
                };
                s
            })
            .collect();
        Counted {
            totals,
            latency: self.all.summary(),
            streams,
            served: self.served,
        }
    }
}

/// Each region's answers and its share of its geography's.
fn regions(data: &RunData, served: &[u64]) -> Vec<RegionReport> {
    data.topology
        .regions
        .iter()
        .enumerate()
        .map(|(i, reg)| {
            let geo_total: u64 = data
                .topology
                .regions
                .iter()
                .enumerate()
                .filter(|(_, x)| x.geography == reg.geography)
                .map(|(j, _)| served.get(j).copied().unwrap_or(0))
                .sum();
            let mine = served.get(i).copied().unwrap_or(0);
            RegionReport {
                name: reg.name.clone(),
                geography: reg.geography.clone(),
                served: mine,
                share: if geo_total == 0 {
                    0.0
                } else {
                    round3(mine as f64 / geo_total as f64)
                },
            }
        })
        .collect()
}

/// The gateway metrics worth keeping in the report.
const METRICS: &[&str] = &[
    "edge_upstream_attempts_total",
    "edge_upstream_retries_total",
    "edge_failovers_total",
    "edge_upstream_connect_failures_total",
    "edge_residency_refusals_total",
    "edge_rate_limited_total",
    "edge_config_reloads_total",
    "edge_config_generation",
    "edge_tls_handshakes_total",
];

fn selected_metrics(samples: &[(String, f64)]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for name in METRICS {
        if let Some(v) = metric_sum(samples, name) {
            out.insert((*name).to_owned(), v);
        }
    }
    for (series, v) in samples {
        if series.starts_with("edge_config_reloads_total{") {
            out.insert(series.clone(), *v);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::load::{Method, Proto, Rate, StreamSpec, NO_REGION};
    use crate::report::markdown::markdown;
    use crate::run::{Event, EventKind, Expectations};
    use crate::topology::Topology;

    fn rec(start_ms: u64, lat_ms: u32, tenant: u16, served: u8, kind: Kind) -> Rec {
        Rec {
            start_us: start_ms * 1000,
            latency_us: lat_ms * 1000,
            stream: 0,
            tenant,
            status: if kind == Kind::Ok { 200 } else { 503 },
            served,
            kind,
            http2: false,
            retry_after: false,
            mismatch: false,
            violation: false,
            order: None,
        }
    }

    fn data(records: Vec<Rec>, events: Vec<Event>) -> RunData {
        let topology = Topology::standard();
        RunData {
            scenario: Scenario::RegionOutage,
            describe: String::new(),
            gateway: String::new(),
            duration: Duration::from_secs(20),
            elapsed: Duration::from_secs(20),
            streams: vec![StreamSpec {
                name: "h1".into(),
                proto: Proto::H1,
                method: Method::Get,
                rate: Rate::Open(100.0),
                from: Duration::ZERO,
                until: Duration::from_secs(20),
                tenants: vec![(0, 1.0)],
                expect_429: false,
                expect_502: false,
            }],
            topology,
            records,
            events,
            expect: Expectations {
                zero_errors: true,
                max_failover: Some(Duration::from_secs(1)),
                max_failback: Some(Duration::from_secs(15)),
                traffic_leaves: false,
                rate_limit: None,
                both_protocols: false,
                reloads: false,
            },
            reloads: None,
            metrics: vec![],
            gateway_alive: true,
            short: false,
            tuning: Tuning::defaults(),
            gateway_log: vec![],
            executions: None,
        }
    }

    fn event(at_s: f64, label: &str, kind: EventKind) -> Event {
        Event {
            at_s,
            label: label.into(),
            kind,
            region: Some("northeurope".into()),
            ok: true,
            detail: String::new(),
        }
    }

    /// Region indices of the standard topology: 0 northeurope, 1 westeurope.
    #[test]
    fn failover_and_failback_are_measured() {
        let mut records = Vec::new();
        // Tenant 0 is in eu. Before the fault (0..5 s): northeurope.
        for ms in (0..5000).step_by(10) {
            records.push(rec(ms, 2, 0, 0, Kind::Ok));
        }
        // At 5 s the fault; one failure at 5.05 s, then westeurope.
        records.push(rec(5000, 2, 0, 1, Kind::Ok));
        records.push(rec(5050, 10, 0, NO_REGION, Kind::NoOrigin));
        for ms in (5100..10_000).step_by(10) {
            records.push(rec(ms, 2, 0, 1, Kind::Ok));
        }
        // Recovery at 10 s; northeurope back from 12 s.
        for ms in (10_000..12_000).step_by(10) {
            records.push(rec(ms, 2, 0, 1, Kind::Ok));
        }
        for ms in (12_000..20_000).step_by(10) {
            records.push(rec(ms, 2, 0, 0, Kind::Ok));
        }
        let d = data(
            records,
            vec![
                event(5.0, "kill northeurope", EventKind::Fault),
                event(10.0, "revive northeurope", EventKind::Recovery),
            ],
        );
        let r = analyse(&d);
        let f = &r.failover[0];
        assert_eq!(f.failed_after_fault, 1);
        assert_eq!(f.failover_ms, Some(102.0));
        assert_eq!(f.share_before, 1.0);
        assert_eq!(f.failback_first_ms, Some(2002.0));
        // 100 answers/s: a 0.5 s window, which is 90 % northeurope at 12.46 s.
        assert_eq!(f.failback_window_ms, 500.0);
        assert_eq!(f.failback_ms, Some(2460.0));
        assert!(!r.passed, "a failed request fails the run");
        assert_eq!(r.totals.failed, 1);
        assert_eq!(r.totals.by_kind.get("no-origin"), Some(&1));
        assert_eq!(r.phases.len(), 3);
        assert_eq!(r.phases[1].share.get("westeurope"), Some(&1.0));
        let md = markdown(&r, &[]);
        assert!(md.contains("FAIL"));
        assert!(md.contains("kill northeurope"));
    }

    /// A run with a GET stream (0) and a POST stream (1) whose POST `i` has id `order-i`.
    fn with_posts(kinds: &[Kind], executed: &[(u32, u64)]) -> RunData {
        let mut d = data(vec![rec(10, 1, 0, 0, Kind::Ok)], vec![]);
        (d.expect.max_failover, d.expect.max_failback) = (None, None);
        d.streams.push(StreamSpec {
            name: "post".into(),
            method: Method::Post,
            expect_502: true,
            ..d.streams[0].clone()
        });
        for (i, kind) in kinds.iter().enumerate() {
            let mut r = rec(20 + i as u64, 1, 0, 0, *kind);
            r.stream = 1;
            r.order = Some(i as u32);
            d.records.push(r);
        }
        let mut ex = edge_sim::Executions::default();
        for (n, count) in executed {
            ex.by_id.insert(crate::load::order_id(*n), *count);
        }
        d.executions = Some(ex);
        d
    }

    fn check<'a>(r: &'a Report, prefix: &str) -> &'a crate::report::Check {
        r.checks
            .iter()
            .find(|c| c.name.starts_with(prefix))
            .unwrap()
    }

    #[test]
    fn post_502s_are_expected_and_executions_are_matched_per_id() {
        let d = with_posts(
            &[Kind::Ok, Kind::Ok, Kind::BadGateway, Kind::BadGateway],
            &[(0, 1), (1, 1), (2, 1)],
        );
        let r = analyse(&d);
        let p = r.posts.as_ref().unwrap();
        assert_eq!((p.sent, p.ok, p.bad_gateway), (4, 2, 2));
        assert!(p.other.is_empty());
        assert_eq!((p.executed_once, p.executed_never), (3, 1));
        assert_eq!(p.executed_twice_or_more, 0);
        assert_eq!((p.bad_gateway_executed, p.bad_gateway_not_executed), (1, 1));
        assert_eq!(r.totals.failed, 0, "a 502 to a POST is expected");
        assert_eq!(r.totals.by_kind.get("bad-gateway"), Some(&2));
        assert!(r.passed, "{:#?}", r.checks);
        assert!(markdown(&r, &[]).contains("**2 answered 502**"));

        // The same 502 on the GET stream is a failure.
        let mut d = d;
        d.records.push(rec(30, 1, 0, NO_REGION, Kind::BadGateway));
        let r = analyse(&d);
        assert_eq!(r.totals.failed, 1);
        assert!(!r.passed);
    }

    #[test]
    fn a_post_executed_twice_fails_the_run() {
        let r = analyse(&with_posts(&[Kind::Ok, Kind::Ok], &[(0, 1), (1, 2)]));
        let p = r.posts.as_ref().unwrap();
        assert_eq!(p.executed_twice_or_more, 1);
        assert_eq!(p.max_executions, 2);
        assert_eq!(p.repeated, vec![("order-1".to_owned(), 2)]);
        let c = check(&r, "no POST executed twice");
        assert!(!c.passed);
        assert!(c.detail.contains("order-1 2×"), "{}", c.detail);
        assert!(!r.passed);
    }

    #[test]
    fn a_2xx_without_execution_or_an_unknown_execution_fails_the_run() {
        let r = analyse(&with_posts(&[Kind::Ok, Kind::Ok], &[(0, 1)]));
        assert_eq!(r.posts.as_ref().unwrap().ok_not_executed, 1);
        assert!(!check(&r, "every POST answered 2xx").passed);

        let r = analyse(&with_posts(&[Kind::Ok], &[(0, 1), (99, 1)]));
        assert_eq!(r.posts.as_ref().unwrap().unknown_executions, 1);
        assert!(!check(&r, "every POST answered 2xx").passed);
        assert!(check(&r, "no POST executed twice").passed);
    }

    #[test]
    fn posts_without_counted_executions_do_not_pass() {
        let mut d = with_posts(&[Kind::Ok], &[(0, 1)]);
        d.executions = None;
        let r = analyse(&d);
        assert!(!r.posts.as_ref().unwrap().executions_counted);
        assert!(!check(&r, "no POST executed twice").passed);
        assert!(markdown(&r, &[]).contains("Executions not counted"));
    }

    #[test]
    fn residency_violation_fails_the_run() {
        let mut v = rec(100, 1, 0, 2, Kind::Ok);
        v.violation = true;
        let r = analyse(&data(vec![rec(50, 1, 0, 0, Kind::Ok), v], vec![]));
        assert_eq!(r.totals.residency_violations, 1);
        let c = r
            .checks
            .iter()
            .find(|c| c.name == "no residency violation")
            .unwrap();
        assert!(!c.passed);
        assert!(!r.passed);
    }
}
