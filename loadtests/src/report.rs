//! Accounting: latency histograms, errors by kind, per-region share over time, failover and
//! failback times, residency; then the Markdown summary and the JSON file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::gateway::metric_sum;
use crate::load::{Kind, Proto, Rate, Rec, StreamSpec, UNKNOWN_REGION};
use crate::scenario::{Event, EventKind, Expectations, ReloadStats, Scenario};
use crate::topology::{Topology, Tuning};
use crate::util;

/// Everything a run produced, before analysis.
#[derive(Debug, Clone)]
pub struct RunData {
    /// The scenario.
    pub scenario: Scenario,
    /// Its one-line description.
    pub describe: String,
    /// Which gateway ran.
    pub gateway: String,
    /// Planned length.
    pub duration: Duration,
    /// Actual length, draining included.
    pub elapsed: Duration,
    /// The topology.
    pub topology: Topology,
    /// The streams.
    pub streams: Vec<StreamSpec>,
    /// One record per request.
    pub records: Vec<Rec>,
    /// What the scenario did, and when.
    pub events: Vec<Event>,
    /// What must hold.
    pub expect: Expectations,
    /// Reload storm results.
    pub reloads: Option<ReloadStats>,
    /// The gateway's metrics at the end.
    pub metrics: Vec<(String, f64)>,
    /// Whether the gateway process was still running at the end.
    pub gateway_alive: bool,
    /// The short CI form.
    pub short: bool,
    /// Health settings of the generated config.
    pub tuning: Tuning,
    /// WARN and ERROR lines of the gateway's log, by message.
    pub gateway_log: Vec<(String, u64)>,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Requests measured.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

/// A latency histogram in microseconds (1 µs to 1 h, 3 significant digits).
struct Hist(Option<Histogram<u64>>);

impl Hist {
    fn new() -> Hist {
        Hist(Histogram::new_with_bounds(1, 3_600_000_000, 3).ok())
    }
    fn record(&mut self, us: u32) {
        if let Some(h) = self.0.as_mut() {
            h.saturating_record(u64::from(us.max(1)));
        }
    }
    fn quantile_ms(&self, q: f64) -> f64 {
        self.0
            .as_ref()
            .filter(|h| !h.is_empty())
            .map_or(0.0, |h| round2(h.value_at_quantile(q) as f64 / 1000.0))
    }
    fn summary(&self) -> Latency {
        let Some(h) = self.0.as_ref().filter(|h| !h.is_empty()) else {
            return Latency::default();
        };
        Latency {
            count: h.len(),
            mean: round2(h.mean() / 1000.0),
            p50: self.quantile_ms(0.5),
            p90: self.quantile_ms(0.9),
            p99: self.quantile_ms(0.99),
            p999: self.quantile_ms(0.999),
            max: round2(h.max() as f64 / 1000.0),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Totals over the whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Requests sent (or given up as backlog).
    pub sent: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Failures (429s on a stream that expects them excluded).
    pub failed: u64,
    /// 2xx answers per second of the run.
    pub throughput_rps: f64,
    /// Requests per second offered.
    pub offered_rps: f64,
    /// Outcomes other than 2xx, by kind.
    pub by_kind: BTreeMap<String, u64>,
    /// Answers from a region outside the tenant's home geography.
    pub residency_violations: u64,
    /// Answers whose `x-edge-region` differs from the origin's `x-sim-region`.
    pub region_mismatches: u64,
    /// Answers naming a region the topology does not have.
    pub unknown_regions: u64,
    /// Answers over h2.
    pub http2_answers: u64,
}

/// One stream's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    /// Name.
    pub name: String,
    /// Protocol.
    pub proto: Proto,
    /// Rate.
    pub rate: Rate,
    /// Active from (s).
    pub from_s: f64,
    /// Active until (s).
    pub until_s: f64,
    /// Requests sent.
    pub sent: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Failures.
    pub failed: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// Share of answers over h2.
    pub http2_share: f64,
    /// Latency of every answered request.
    pub latency_ms: Latency,
}

/// How much of its geography's traffic a region served.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    /// Region.
    pub name: String,
    /// Its geography.
    pub geography: String,
    /// Answers it served.
    pub served: u64,
    /// Share of its geography's answers.
    pub share: f64,
}

/// A stretch of the run between two events.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// e.g. `before kill northeurope`.
    pub name: String,
    /// Start (s).
    pub from_s: f64,
    /// End (s).
    pub to_s: f64,
    /// Requests started in it.
    pub requests: u64,
    /// Of which failed.
    pub failed: u64,
    /// 2xx answers per second.
    pub ok_rps: f64,
    /// p99 latency (ms).
    pub p99_ms: f64,
    /// Each region's share of its geography's answers.
    pub share: BTreeMap<String, f64>,
}

/// Failover and failback around one fault.
#[derive(Debug, Clone, Serialize)]
pub struct Failover {
    /// The fault, e.g. `kill northeurope`.
    pub fault: String,
    /// The region taken out.
    pub region: String,
    /// Its geography (whose tenants are affected).
    pub geography: String,
    /// When the fault happened (s).
    pub fault_at_s: f64,
    /// Time from the fault to the first answer from elsewhere after which no affected
    /// request failed or reached the faulted region (ms); `None` if that never happened.
    pub failover_ms: Option<f64>,
    /// Affected requests started after the fault that failed.
    pub failed_after_fault: u64,
    /// Affected requests started after the fault that the faulted region still served.
    pub served_by_faulted_after_fault: u64,
    /// The region's share of its geography before the fault.
    pub share_before: f64,
    /// The recovery, e.g. `revive northeurope`.
    pub recovery: Option<String>,
    /// When it was recovered (s).
    pub recovery_at_s: Option<f64>,
    /// Time from the recovery to the first answer the region served again (ms).
    pub failback_first_ms: Option<f64>,
    /// Time from the recovery until the region's share (over a window of about 50 answers of
    /// the geography, 0.1 to 1 s) is back to 90 % of its share before the fault (ms).
    pub failback_ms: Option<f64>,
    /// The window the share was measured over (ms).
    pub failback_window_ms: f64,
}

/// The brownout's effect on the slow region.
#[derive(Debug, Clone, Serialize)]
pub struct Brownout {
    /// The slow region.
    pub region: String,
    /// Its share of its geography before the brownout.
    pub share_before: f64,
    /// During the whole brownout.
    pub share_during: f64,
    /// During the second half of the brownout.
    pub share_late: f64,
    /// After the recovery.
    pub share_after: f64,
    /// p99 latency of the geography's requests before (ms).
    pub p99_before_ms: f64,
    /// During (ms).
    pub p99_during_ms: f64,
    /// Answers that were origin 5xx passed through to clients.
    pub origin_5xx_seen: u64,
}

/// The rate-limit scenario's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct RateLimit {
    /// Flooder's requests.
    pub flood_sent: u64,
    /// Flooder's 2xx answers per second during the flood.
    pub flood_ok_rps: f64,
    /// Flooder's 429s.
    pub flood_429: u64,
    /// Of which carried `Retry-After`.
    pub flood_429_with_retry_after: u64,
    /// The other tenants' failures (any kind, 429 included).
    pub others_failed: u64,
    /// The other tenants' 429s.
    pub others_429: u64,
    /// The other tenants' p99 before the flood (ms).
    pub others_p99_before_ms: f64,
    /// During the flood (ms).
    pub others_p99_during_ms: f64,
}

/// Per-bucket time series for the chart.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    /// Bucket width (s).
    pub bucket_s: f64,
    /// Bucket starts (s).
    pub t_s: Vec<f64>,
    /// Answers per second by serving region.
    pub rps_by_region: BTreeMap<String, Vec<f64>>,
    /// Failures per second (all kinds, expected 429s excluded).
    pub errors_per_s: Vec<f64>,
    /// Expected 429s per second.
    pub rate_limited_per_s: Vec<f64>,
    /// Median latency (ms).
    pub p50_ms: Vec<f64>,
    /// p99 latency (ms).
    pub p99_ms: Vec<f64>,
    /// p99 latency of each stream (ms), when there are several.
    pub p99_by_stream: BTreeMap<String, Vec<f64>>,
}

/// One pass/fail criterion.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// The numbers behind it.
    pub detail: String,
}

/// The analysed run: what the JSON file holds.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// What it does.
    pub description: String,
    /// Every check passed.
    pub passed: bool,
    /// When the report was made (UTC).
    pub date: String,
    /// Which gateway.
    pub gateway: String,
    /// Planned length (s).
    pub duration_s: f64,
    /// The short CI form.
    pub short: bool,
    /// Health settings (interval, timeout, rise, fall, slow start; ms or counts).
    pub health: BTreeMap<String, f64>,
    /// Totals.
    pub totals: Totals,
    /// Latency of every answered request.
    pub latency_ms: Latency,
    /// Per stream.
    pub streams: Vec<StreamReport>,
    /// Per region.
    pub regions: Vec<RegionReport>,
    /// Between events.
    pub phases: Vec<Phase>,
    /// What the scenario did.
    pub events: Vec<Event>,
    /// Around each fault.
    pub failover: Vec<Failover>,
    /// Brownout numbers.
    pub brownout: Option<Brownout>,
    /// Rate-limit numbers.
    pub rate_limit: Option<RateLimit>,
    /// Reload storm numbers.
    pub reloads: Option<ReloadStats>,
    /// Selected gateway metrics at the end of the run.
    pub gateway_metrics: BTreeMap<String, f64>,
    /// The most frequent WARN and ERROR lines of the gateway's log, with their counts.
    pub gateway_log: Vec<(String, u64)>,
    /// Time series.
    pub timeline: Timeline,
    /// Pass/fail criteria.
    pub checks: Vec<Check>,
}

fn us(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1_000_000.0) as u64
}

fn secs(us: u64) -> f64 {
    us as f64 / 1_000_000.0
}

/// Context shared by the analysis functions.
struct Ctx<'a> {
    data: &'a RunData,
    /// Geography index of each tenant.
    tenant_geo: Vec<usize>,
    /// Geography index of each region.
    region_geo: Vec<usize>,
    geos: Vec<String>,
}

impl<'a> Ctx<'a> {
    fn new(data: &'a RunData) -> Ctx<'a> {
        let geos = data.topology.geographies();
        let gi = |g: &str| geos.iter().position(|x| x == g).unwrap_or(usize::MAX);
        Ctx {
            tenant_geo: data
                .topology
                .tenants
                .iter()
                .map(|t| gi(&t.geography))
                .collect(),
            region_geo: data
                .topology
                .regions
                .iter()
                .map(|r| gi(&r.geography))
                .collect(),
            geos: geos.clone(),
            data,
        }
    }

    fn expect_429(&self, r: &Rec) -> bool {
        self.data
            .streams
            .get(usize::from(r.stream))
            .is_some_and(|s| s.expect_429)
    }

    fn failed(&self, r: &Rec) -> bool {
        r.failed(self.expect_429(r))
    }

    fn tenant_geo(&self, r: &Rec) -> usize {
        self.tenant_geo
            .get(usize::from(r.tenant))
            .copied()
            .unwrap_or(usize::MAX)
    }

    fn served_geo(&self, r: &Rec) -> Option<usize> {
        self.region_geo.get(usize::from(r.served)).copied()
    }

    fn region_index(&self, name: &str) -> Option<u8> {
        self.data
            .topology
            .regions
            .iter()
            .position(|r| r.name == name)
            .and_then(|i| u8::try_from(i).ok())
    }

    /// Share of region `region` among the answers served in its geography, for requests
    /// started in `[from, to)` (µs) by tenants of that geography.
    fn share(&self, records: &[Rec], region: u8, from: u64, to: u64) -> (f64, u64) {
        let geo = self.region_geo.get(usize::from(region)).copied();
        let (mut in_geo, mut mine) = (0u64, 0u64);
        for r in records {
            if r.start_us < from || r.start_us >= to || self.served_geo(r) != geo {
                continue;
            }
            in_geo += 1;
            if r.served == region {
                mine += 1;
            }
        }
        if in_geo == 0 {
            (0.0, 0)
        } else {
            (mine as f64 / in_geo as f64, in_geo)
        }
    }

    /// Every region's share of its geography for requests started in `[from, to)`.
    fn shares(&self, records: &[Rec], from: u64, to: u64) -> BTreeMap<String, f64> {
        let mut per_region = vec![0u64; self.data.topology.regions.len()];
        let mut per_geo = vec![0u64; self.geos.len()];
        for r in records {
            if r.start_us < from || r.start_us >= to {
                continue;
            }
            if let (Some(c), Some(&g)) = (
                per_region.get_mut(usize::from(r.served)),
                self.region_geo.get(usize::from(r.served)),
            ) {
                *c += 1;
                if let Some(pg) = per_geo.get_mut(g) {
                    *pg += 1;
                }
            }
        }
        self.data
            .topology
            .regions
            .iter()
            .enumerate()
            .map(|(i, reg)| {
                let total = self
                    .region_geo
                    .get(i)
                    .and_then(|&g| per_geo.get(g))
                    .copied()
                    .unwrap_or(0);
                let mine = per_region.get(i).copied().unwrap_or(0);
                let share = if total == 0 {
                    0.0
                } else {
                    round3(mine as f64 / total as f64)
                };
                (reg.name.clone(), share)
            })
            .collect()
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Analyses a run: every number of the report and every check.
pub fn analyse(data: &RunData) -> Report {
    let ctx = Ctx::new(data);
    let records = &data.records;
    let duration_s = data.duration.as_secs_f64().max(1e-3);

    // Totals and latency.
    let mut totals = Totals::default();
    let mut all = Hist::new();
    let mut per_stream: Vec<(Hist, StreamReport)> = data
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
        .collect();
    let mut served = vec![0u64; data.topology.regions.len()];
    let mut h2_per_stream = vec![0u64; data.streams.len()];
    let mut answered_per_stream = vec![0u64; data.streams.len()];
    for r in records {
        totals.sent += 1;
        let failed = ctx.failed(r);
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
        if let Some(c) = served.get_mut(usize::from(r.served)) {
            *c += 1;
        }
        let i = usize::from(r.stream);
        if let Some((h, s)) = per_stream.get_mut(i) {
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
            all.record(r.latency_us);
            if let Some(a) = answered_per_stream.get_mut(i) {
                *a += 1;
            }
            if r.http2 {
                if let Some(c) = h2_per_stream.get_mut(i) {
                    *c += 1;
                }
            }
        }
    }
    totals.throughput_rps = round2(totals.ok as f64 / duration_s);
    totals.offered_rps = round2(totals.sent as f64 / duration_s);
    let streams: Vec<StreamReport> = per_stream
        .into_iter()
        .enumerate()
        .map(|(i, (h, mut s))| {
            s.latency_ms = h.summary();
            let answered = answered_per_stream.get(i).copied().unwrap_or(0);
            let h2 = h2_per_stream.get(i).copied().unwrap_or(0);
            s.http2_share = if answered == 0 {
                0.0
            } else {
                round3(h2 as f64 / answered as f64)
            };
            s
        })
        .collect();

    let regions: Vec<RegionReport> = data
        .topology
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
        .collect();

    let phases = phases(&ctx, records);
    let failover = if data.expect.max_failover.is_some() {
        failovers(&ctx, records)
    } else {
        Vec::new()
    };
    let brownout = (data.scenario == Scenario::Brownout)
        .then(|| brownout(&ctx, records))
        .flatten();
    let rate_limit = data
        .expect
        .rate_limit
        .as_ref()
        .and_then(|(f, o)| rate_limit(&ctx, records, f, o));
    let timeline = timeline(&ctx, records);
    let gateway_metrics = selected_metrics(&data.metrics);

    let mut report = Report {
        scenario: data.scenario.name().to_owned(),
        description: data.describe.clone(),
        passed: false,
        date: util::now_utc().1,
        gateway: data.gateway.clone(),
        duration_s: data.duration.as_secs_f64(),
        short: data.short,
        health: [
            ("interval_ms", data.tuning.interval.as_millis() as f64),
            ("timeout_ms", data.tuning.timeout.as_millis() as f64),
            ("rise", f64::from(data.tuning.rise)),
            ("fall", f64::from(data.tuning.fall)),
            ("slow_start_ms", data.tuning.slow_start.as_millis() as f64),
            (
                "base_ejection_ms",
                data.tuning.base_ejection.as_millis() as f64,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        totals,
        latency_ms: all.summary(),
        streams,
        regions,
        phases,
        events: data.events.clone(),
        failover,
        brownout,
        rate_limit,
        reloads: data.reloads.clone(),
        gateway_metrics,
        gateway_log: data.gateway_log.iter().take(8).cloned().collect(),
        timeline,
        checks: Vec::new(),
    };
    report.checks = checks(data, &report);
    report.passed = report.checks.iter().all(|c| c.passed);
    report
}

/// The run cut at every fault and recovery.
fn phases(ctx: &Ctx<'_>, records: &[Rec]) -> Vec<Phase> {
    let end = ctx.data.duration.as_secs_f64();
    let mut cuts: Vec<(f64, String)> = vec![(0.0, "start".to_owned())];
    for e in &ctx.data.events {
        if e.at_s > 0.0 && e.at_s < end {
            cuts.push((e.at_s, e.label.clone()));
        }
    }
    cuts.push((end, "end".to_owned()));
    cuts.windows(2)
        .filter_map(|w| {
            let [(from, a), (to, b)] = w else {
                return None;
            };
            let name = match (a.as_str(), b.as_str()) {
                ("start", "end") => "whole run".to_owned(),
                ("start", b) => format!("before {b}"),
                (a, _) => format!("after {a}"),
            };
            let (f, t) = (us(*from), us(*to));
            let mut h = Hist::new();
            let (mut requests, mut failed, mut ok) = (0u64, 0u64, 0u64);
            for r in records.iter().filter(|r| r.start_us >= f && r.start_us < t) {
                requests += 1;
                if ctx.failed(r) {
                    failed += 1;
                }
                if r.kind == Kind::Ok {
                    ok += 1;
                }
                if r.kind != Kind::Backlog {
                    h.record(r.latency_us);
                }
            }
            let span = (to - from).max(1e-3);
            Some(Phase {
                name,
                from_s: round2(*from),
                to_s: round2(*to),
                requests,
                failed,
                ok_rps: round2(ok as f64 / span),
                p99_ms: h.quantile_ms(0.99),
                share: ctx.shares(records, f, t),
            })
        })
        .collect()
}

/// Failover and failback for every fault that names a region.
fn failovers(ctx: &Ctx<'_>, records: &[Rec]) -> Vec<Failover> {
    let mut out = Vec::new();
    let events = &ctx.data.events;
    let end_us = us(ctx.data.duration.as_secs_f64());
    for (i, fault) in events.iter().enumerate() {
        if fault.kind != EventKind::Fault {
            continue;
        }
        let Some(region_name) = fault.region.as_deref() else {
            continue;
        };
        let Some(region) = ctx.region_index(region_name) else {
            continue;
        };
        let geo = ctx
            .region_geo
            .get(usize::from(region))
            .copied()
            .unwrap_or(usize::MAX);
        let recovery = events[i + 1..]
            .iter()
            .find(|e| e.kind == EventKind::Recovery && e.region.as_deref() == Some(region_name));
        let f = us(fault.at_s);
        let v = recovery.map_or(end_us, |e| us(e.at_s));

        // Before the fault: skip the first second (connections being opened).
        let warm = (f / 2).min(1_000_000);
        let (share_before, geo_answers) = ctx.share(records, region, warm, f);
        // The share is measured over a window holding about 50 answers of the geography.
        let geo_rate = geo_answers as f64 / secs(f.saturating_sub(warm)).max(1e-3);
        let window = us(FAILBACK_SAMPLES / geo_rate.max(1.0))
            .clamp(FAILBACK_WINDOW_MIN_US, FAILBACK_WINDOW_MAX_US);

        // Affected requests started between fault and recovery, in completion order.
        let mut affected: Vec<&Rec> = records
            .iter()
            .filter(|r| ctx.tenant_geo(r) == geo && r.start_us >= f && r.start_us < v)
            .collect();
        affected.sort_by_key(|r| r.end_us());
        let bad = |r: &Rec| ctx.failed(r) || r.served == region;
        let failed_after_fault = affected.iter().filter(|r| ctx.failed(r)).count() as u64;
        let served_by_faulted = affected.iter().filter(|r| r.served == region).count() as u64;
        let first_clean = match affected.iter().rposition(|r| bad(r)) {
            Some(last_bad) => affected.get(last_bad + 1),
            None => affected.first(),
        };
        let failover_ms =
            first_clean.map(|r| round2((r.end_us().saturating_sub(f)) as f64 / 1000.0));

        let (failback_first_ms, failback_ms) = match recovery {
            Some(_) if share_before > 0.0 => {
                failback(ctx, records, region, (v, end_us), share_before, window)
            }
            _ => (None, None),
        };
        out.push(Failover {
            fault: fault.label.clone(),
            region: region_name.to_owned(),
            geography: ctx.geos.get(geo).cloned().unwrap_or_default(),
            fault_at_s: round2(fault.at_s),
            failover_ms,
            failed_after_fault,
            served_by_faulted_after_fault: served_by_faulted,
            share_before: round3(share_before),
            recovery: recovery.map(|e| e.label.clone()),
            recovery_at_s: recovery.map(|e| round2(e.at_s)),
            failback_first_ms,
            failback_ms,
            failback_window_ms: round2(window as f64 / 1000.0),
        });
    }
    out
}

/// The longest window over which the recovered region's share is measured.
const FAILBACK_WINDOW_MAX_US: u64 = 1_000_000;
/// The shortest window.
const FAILBACK_WINDOW_MIN_US: u64 = 100_000;
/// Answers a window should hold.
const FAILBACK_SAMPLES: f64 = 50.0;
/// Step between windows.
const FAILBACK_STEP_US: u64 = 20_000;
/// Fewer answers than this in a window say nothing.
const FAILBACK_MIN_SAMPLES: u64 = 20;

/// `(first answer from the region again, share back to 90 % of before)`, in ms after `v`.
fn failback(
    ctx: &Ctx<'_>,
    records: &[Rec],
    region: u8,
    (v, end): (u64, u64),
    share_before: f64,
    window: u64,
) -> (Option<f64>, Option<f64>) {
    let first = records
        .iter()
        .filter(|r| r.start_us >= v && r.served == region && r.kind == Kind::Ok)
        .map(Rec::end_us)
        .min()
        .map(|t| round2(t.saturating_sub(v) as f64 / 1000.0));
    // Sort the candidate records once by start time and slide the window over them.
    let geo = ctx.region_geo.get(usize::from(region)).copied();
    let mut after: Vec<&Rec> = records
        .iter()
        .filter(|r| r.start_us >= v && ctx.served_geo(r) == geo)
        .collect();
    after.sort_by_key(|r| r.start_us);
    let mut t = v + window;
    let (mut lo, mut hi, mut mine) = (0usize, 0usize, 0u64);
    let mut full = None;
    while t <= end {
        while hi < after.len() && after[hi].start_us < t {
            if after[hi].served == region {
                mine += 1;
            }
            hi += 1;
        }
        while lo < hi && after[lo].start_us < t - window {
            if after[lo].served == region {
                mine -= 1;
            }
            lo += 1;
        }
        let n = (hi - lo) as u64;
        if n >= FAILBACK_MIN_SAMPLES && mine as f64 / n as f64 >= 0.9 * share_before {
            full = Some(round2((t - v) as f64 / 1000.0));
            break;
        }
        t += FAILBACK_STEP_US;
    }
    (first, full)
}

fn brownout(ctx: &Ctx<'_>, records: &[Rec]) -> Option<Brownout> {
    let events = &ctx.data.events;
    let fault = events.iter().find(|e| e.kind == EventKind::Fault)?;
    let name = fault.region.clone()?;
    let region = ctx.region_index(&name)?;
    let geo = ctx.region_geo.get(usize::from(region)).copied();
    let end = us(ctx.data.duration.as_secs_f64());
    let f = us(fault.at_s);
    let v = events
        .iter()
        .find(|e| e.kind == EventKind::Recovery)
        .map_or(end, |e| us(e.at_s));
    let warm = (f / 2).min(1_000_000);
    let p99 = |from: u64, to: u64| {
        let mut h = Hist::new();
        for r in records
            .iter()
            .filter(|r| r.start_us >= from && r.start_us < to && Some(ctx.tenant_geo(r)) == geo)
        {
            if r.kind != Kind::Backlog {
                h.record(r.latency_us);
            }
        }
        h.quantile_ms(0.99)
    };
    Some(Brownout {
        region: name,
        share_before: round3(ctx.share(records, region, warm, f).0),
        share_during: round3(ctx.share(records, region, f, v).0),
        share_late: round3(ctx.share(records, region, f + (v - f) / 2, v).0),
        share_after: round3(ctx.share(records, region, v, end).0),
        p99_before_ms: p99(warm, f),
        p99_during_ms: p99(f, v),
        origin_5xx_seen: records.iter().filter(|r| r.kind == Kind::Origin5xx).count() as u64,
    })
}

fn rate_limit(ctx: &Ctx<'_>, records: &[Rec], flood: &str, others: &str) -> Option<RateLimit> {
    let streams = &ctx.data.streams;
    let fi = streams.iter().position(|s| s.name == flood)?;
    let oi = streams.iter().position(|s| s.name == others)?;
    let fs = streams.get(fi)?;
    let (from, until) = (us(fs.from.as_secs_f64()), us(fs.until.as_secs_f64()));
    let fi = u8::try_from(fi).ok()?;
    let oi = u8::try_from(oi).ok()?;
    let flood_recs: Vec<&Rec> = records.iter().filter(|r| r.stream == fi).collect();
    let other_recs: Vec<&Rec> = records.iter().filter(|r| r.stream == oi).collect();
    let p99 = |a: u64, b: u64| {
        let mut h = Hist::new();
        for r in other_recs
            .iter()
            .filter(|r| r.start_us >= a && r.start_us < b)
        {
            if r.kind != Kind::Backlog {
                h.record(r.latency_us);
            }
        }
        h.quantile_ms(0.99)
    };
    let span = secs(until.saturating_sub(from)).max(1e-3);
    Some(RateLimit {
        flood_sent: flood_recs.len() as u64,
        flood_ok_rps: round2(
            flood_recs.iter().filter(|r| r.kind == Kind::Ok).count() as f64 / span,
        ),
        flood_429: flood_recs
            .iter()
            .filter(|r| r.kind == Kind::RateLimited)
            .count() as u64,
        flood_429_with_retry_after: flood_recs
            .iter()
            .filter(|r| r.kind == Kind::RateLimited && r.retry_after)
            .count() as u64,
        others_failed: other_recs.iter().filter(|r| r.kind != Kind::Ok).count() as u64,
        others_429: other_recs
            .iter()
            .filter(|r| r.kind == Kind::RateLimited)
            .count() as u64,
        others_p99_before_ms: p99((from / 3).min(1_000_000), from),
        others_p99_during_ms: p99(from, until),
    })
}

/// Bucket width of the time series.
fn bucket_us(duration: Duration) -> u64 {
    if duration <= Duration::from_secs(10) {
        250_000
    } else {
        500_000
    }
}

fn timeline(ctx: &Ctx<'_>, records: &[Rec]) -> Timeline {
    let width = bucket_us(ctx.data.duration);
    let end = us(ctx.data.duration.as_secs_f64());
    let n = usize::try_from(end.div_ceil(width))
        .unwrap_or(0)
        .clamp(1, 100_000);
    let regions = &ctx.data.topology.regions;
    let mut counts = vec![vec![0u64; n]; regions.len()];
    let mut errors = vec![0u64; n];
    let mut limited = vec![0u64; n];
    let mut hists: Vec<Hist> = (0..n).map(|_| Hist::new()).collect();
    let several = ctx.data.streams.len() > 1;
    let mut stream_hists: Vec<Vec<Hist>> = if several {
        ctx.data
            .streams
            .iter()
            .map(|_| (0..n).map(|_| Hist::new()).collect())
            .collect()
    } else {
        Vec::new()
    };
    for r in records {
        let Ok(b) = usize::try_from(r.start_us / width) else {
            continue;
        };
        if b >= n {
            continue;
        }
        if let Some(c) = counts.get_mut(usize::from(r.served)) {
            c[b] += 1;
        }
        if ctx.failed(r) {
            errors[b] += 1;
        } else if r.kind == Kind::RateLimited {
            limited[b] += 1;
        }
        if r.kind != Kind::Backlog {
            hists[b].record(r.latency_us);
            if let Some(h) = stream_hists.get_mut(usize::from(r.stream)) {
                h[b].record(r.latency_us);
            }
        }
    }
    let per_s = 1_000_000.0 / width as f64;
    let rate = |v: &[u64]| v.iter().map(|&c| round2(c as f64 * per_s)).collect();
    Timeline {
        bucket_s: width as f64 / 1_000_000.0,
        t_s: (0..n).map(|i| round2(secs(i as u64 * width))).collect(),
        rps_by_region: regions
            .iter()
            .zip(&counts)
            .map(|(r, c)| (r.name.clone(), rate(c)))
            .collect(),
        errors_per_s: rate(&errors),
        rate_limited_per_s: rate(&limited),
        p50_ms: hists.iter().map(|h| h.quantile_ms(0.5)).collect(),
        p99_ms: hists.iter().map(|h| h.quantile_ms(0.99)).collect(),
        p99_by_stream: ctx
            .data
            .streams
            .iter()
            .zip(&stream_hists)
            .map(|(s, h)| {
                (
                    s.name.clone(),
                    h.iter().map(|h| h.quantile_ms(0.99)).collect(),
                )
            })
            .collect(),
    }
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

fn check(name: impl Into<String>, passed: bool, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        passed,
        detail: detail.into(),
    }
}

fn kinds_text(by_kind: &BTreeMap<String, u64>) -> String {
    if by_kind.is_empty() {
        return "none".to_owned();
    }
    by_kind
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn checks(data: &RunData, r: &Report) -> Vec<Check> {
    let t = &r.totals;
    let mut out = vec![
        check(
            "requests were answered",
            t.sent > 0 && r.latency_ms.count > 0,
            format!("{} sent, {} answered", t.sent, r.latency_ms.count),
        ),
        check(
            "no residency violation",
            t.residency_violations == 0,
            format!(
                "{} answers from outside the tenant's home geography",
                t.residency_violations
            ),
        ),
        check(
            "every answer names a known region, the same in x-edge-region and x-sim-region",
            t.unknown_regions == 0 && t.region_mismatches == 0,
            format!(
                "{} unknown, {} mismatched",
                t.unknown_regions, t.region_mismatches
            ),
        ),
        check(
            "the gateway kept running",
            data.gateway_alive,
            if data.gateway_alive {
                "running at the end"
            } else {
                "the gateway process exited during the run"
            },
        ),
    ];
    let failed_actions: Vec<String> = r
        .events
        .iter()
        .filter(|e| !e.ok)
        .map(|e| format!("{}: {}", e.label, e.detail))
        .collect();
    out.push(check(
        "every scenario action succeeded",
        failed_actions.is_empty(),
        if failed_actions.is_empty() {
            format!("{} actions", r.events.len())
        } else {
            failed_actions.join("; ")
        },
    ));
    let exp = &data.expect;
    if exp.zero_errors {
        out.push(check(
            "no failed request",
            t.failed == 0,
            format!(
                "{} failed of {} ({})",
                t.failed,
                t.sent,
                kinds_text(&t.by_kind)
            ),
        ));
    } else {
        let rate = t.failed as f64 / t.sent.max(1) as f64;
        out.push(check(
            "client-visible failures under 1 %",
            rate < 0.01,
            format!(
                "{} failed of {} ({:.3} %; {})",
                t.failed,
                t.sent,
                rate * 100.0,
                kinds_text(&t.by_kind)
            ),
        ));
    }
    if let Some(max) = exp.max_failover {
        for f in &r.failover {
            out.push(check(
                format!("failover after `{}` under {} ms", f.fault, max.as_millis()),
                f.failover_ms
                    .is_some_and(|ms| ms < max.as_secs_f64() * 1000.0),
                match f.failover_ms {
                    Some(ms) => format!(
                        "{ms} ms ({} affected requests failed, {} still reached {})",
                        f.failed_after_fault, f.served_by_faulted_after_fault, f.region
                    ),
                    None => "never failed over cleanly".to_owned(),
                },
            ));
        }
        if r.failover.is_empty() {
            out.push(check("failover measured", false, "no fault happened"));
        }
    }
    if let Some(max) = exp.max_failback {
        for f in r.failover.iter().filter(|f| f.recovery.is_some()) {
            out.push(check(
                format!(
                    "failback after `{}` under {} s",
                    f.recovery.as_deref().unwrap_or_default(),
                    max.as_secs()
                ),
                f.failback_ms
                    .is_some_and(|ms| ms < max.as_secs_f64() * 1000.0),
                match f.failback_ms {
                    Some(ms) => format!(
                        "{:.2} s to 90 % of the share before the fault ({:.0} %); first answer \
                         back after {} ms",
                        ms / 1000.0,
                        f.share_before * 100.0,
                        f.failback_first_ms
                            .map_or("-".to_owned(), |x| x.to_string())
                    ),
                    None => format!(
                        "the share did not come back to 90 % of {:.0} % before the end of the run",
                        f.share_before * 100.0
                    ),
                },
            ));
        }
    }
    if exp.traffic_leaves {
        match &r.brownout {
            Some(b) => out.push(check(
                format!("traffic leaves the slow region {}", b.region),
                b.share_late <= 0.5 * b.share_before,
                format!(
                    "share of its geography: {:.0} % before, {:.0} % during, {:.0} % in the \
                     second half, {:.0} % after",
                    b.share_before * 100.0,
                    b.share_during * 100.0,
                    b.share_late * 100.0,
                    b.share_after * 100.0
                ),
            )),
            None => out.push(check(
                "traffic leaves the slow region",
                false,
                "no brownout",
            )),
        }
    }
    if let Some(rl) = &r.rate_limit {
        out.push(check(
            "the flooding tenant is rate limited (429)",
            rl.flood_429 > 0,
            format!(
                "{} of {} flood requests answered 429; {:.0} req/s got through (limit {} req/s)",
                rl.flood_429,
                rl.flood_sent,
                rl.flood_ok_rps,
                crate::scenario::FLOOD_LIMIT_RPS
            ),
        ));
        out.push(check(
            "every 429 carries Retry-After",
            rl.flood_429 == rl.flood_429_with_retry_after,
            format!(
                "{} of {} 429s with Retry-After",
                rl.flood_429_with_retry_after, rl.flood_429
            ),
        ));
        out.push(check(
            "the other tenants do not suffer",
            rl.others_failed == 0
                && rl.others_p99_during_ms
                    <= (2.0 * rl.others_p99_before_ms).max(rl.others_p99_before_ms + 20.0),
            format!(
                "{} failed ({} 429s); p99 {} ms before the flood, {} ms during",
                rl.others_failed, rl.others_429, rl.others_p99_before_ms, rl.others_p99_during_ms
            ),
        ));
    }
    if exp.both_protocols {
        let h1 = r
            .streams
            .iter()
            .filter(|s| s.proto == Proto::H1)
            .all(|s| s.http2_share == 0.0 && s.ok > 0);
        let h2 = r
            .streams
            .iter()
            .filter(|s| s.proto == Proto::H2)
            .all(|s| s.http2_share == 1.0 && s.ok > 0);
        out.push(check(
            "HTTP/1.1 and h2 both served",
            h1 && h2,
            r.streams
                .iter()
                .map(|s| format!("{}: {} ok, {:.0} % h2", s.name, s.ok, s.http2_share * 100.0))
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    if exp.reloads {
        match &r.reloads {
            Some(s) => out.push(check(
                "every reload accepted",
                s.attempted > 0 && s.failed == 0,
                format!(
                    "{} of {} accepted (admin API answered in {} ms median, {} ms max){}",
                    s.ok,
                    s.attempted,
                    s.took_ms_p50,
                    s.took_ms_max,
                    s.first_error
                        .as_ref()
                        .map_or(String::new(), |e| format!("; first error: {e}"))
                ),
            )),
            None => out.push(check("every reload accepted", false, "no reloads")),
        }
    }
    out
}

/// Writes `<scenario>.json` and `<scenario>.svg` into `out`; returns their paths.
pub fn write_files(report: &Report, out: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let json = out.join(format!("{}.json", report.scenario));
    let text = serde_json::to_string_pretty(report)
        .map_err(|e| format!("cannot serialise the report: {e}"))?;
    std::fs::write(&json, text).map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    let svg = out.join(format!("{}.svg", report.scenario));
    crate::chart::draw(report, &svg)?;
    Ok(vec![json, svg])
}

fn pct(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

fn opt_ms(x: Option<f64>) -> String {
    x.map_or("—".to_owned(), |v| {
        if v >= 1000.0 {
            format!("{:.2} s", v / 1000.0)
        } else {
            format!("{v} ms")
        }
    })
}

/// The Markdown summary printed on stdout.
pub fn markdown(r: &Report, files: &[PathBuf]) -> String {
    let mut s = String::new();
    let verdict = if r.passed { "PASS" } else { "FAIL" };
    let _ = writeln!(s, "## edge-loadtest `{}`: {verdict}\n", r.scenario);
    let _ = writeln!(s, "{}.  ", r.description);
    let _ = writeln!(
        s,
        "{} s{}, {} · gateway: {}\n",
        r.duration_s,
        if r.short { " (short form)" } else { "" },
        r.date,
        r.gateway
    );
    let t = &r.totals;
    let l = &r.latency_ms;
    let _ = writeln!(
        s,
        "| sent | ok | failed | offered | throughput | p50 | p90 | p99 | p99.9 | max | residency violations |"
    );
    let _ = writeln!(
        s,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} req/s | {} req/s | {} ms | {} ms | {} ms | {} ms | {} ms | {} |\n",
        t.sent,
        t.ok,
        t.failed,
        t.offered_rps,
        t.throughput_rps,
        l.p50,
        l.p90,
        l.p99,
        l.p999,
        l.max,
        t.residency_violations
    );
    if r.streams.len() > 1 {
        let _ = writeln!(
            s,
            "| stream | protocol | sent | ok | failed | 429 | p50 | p99 | p99.9 |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for st in &r.streams {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} ms | {} ms | {} ms |",
                st.name,
                st.proto.label(),
                st.sent,
                st.ok,
                st.failed,
                st.rate_limited,
                st.latency_ms.p50,
                st.latency_ms.p99,
                st.latency_ms.p999
            );
        }
        s.push('\n');
    }
    let _ = writeln!(s, "Errors by kind: {}\n", kinds_text(&t.by_kind));
    if !r.events.is_empty() {
        let _ = writeln!(s, "| t | event | result |");
        let _ = writeln!(s, "|---:|---|---|");
        for e in &r.events {
            let _ = writeln!(
                s,
                "| {:.2} s | {} | {}{} |",
                e.at_s,
                e.label,
                if e.ok { "" } else { "FAILED: " },
                e.detail
            );
        }
        s.push('\n');
    }
    // Share of each region within its geography, per phase.
    let regions: Vec<&str> = r.regions.iter().map(|x| x.name.as_str()).collect();
    let _ = writeln!(
        s,
        "Share of each geography's answers by region:\n\n| phase | req | failed | ok req/s | p99 | {} |",
        regions.join(" | ")
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|{}",
        "---:|".repeat(regions.len())
    );
    for p in &r.phases {
        let shares: Vec<String> = regions
            .iter()
            .map(|name| pct(p.share.get(*name).copied().unwrap_or(0.0)))
            .collect();
        let _ = writeln!(
            s,
            "| {} ({:.1}–{:.1} s) | {} | {} | {} | {} ms | {} |",
            p.name,
            p.from_s,
            p.to_s,
            p.requests,
            p.failed,
            p.ok_rps,
            p.p99_ms,
            shares.join(" | ")
        );
    }
    s.push('\n');
    for f in &r.failover {
        let _ = writeln!(
            s,
            "**{}** at {:.2} s ({} tenants): failover {} ({} failed, {} still served by {}); \
             {}failback {} (first answer back after {}; share before {}).\n",
            f.fault,
            f.fault_at_s,
            f.geography,
            opt_ms(f.failover_ms),
            f.failed_after_fault,
            f.served_by_faulted_after_fault,
            f.region,
            f.recovery.as_ref().map_or(String::new(), |x| format!(
                "`{x}` at {:.2} s, ",
                f.recovery_at_s.unwrap_or(0.0)
            )),
            opt_ms(f.failback_ms),
            opt_ms(f.failback_first_ms),
            pct(f.share_before)
        );
    }
    if let Some(b) = &r.brownout {
        let _ = writeln!(
            s,
            "Brownout of {}: share {} before, {} during ({} in the second half), {} after; \
             p99 of its geography {} ms before, {} ms during; {} origin 5xx reached clients.\n",
            b.region,
            pct(b.share_before),
            pct(b.share_during),
            pct(b.share_late),
            pct(b.share_after),
            b.p99_before_ms,
            b.p99_during_ms,
            b.origin_5xx_seen
        );
    }
    if let Some(rl) = &r.rate_limit {
        let _ = writeln!(
            s,
            "Rate limit: flooder sent {}, {} answered 429 ({} with Retry-After), {} req/s got \
             through; other tenants: {} failed, p99 {} ms before the flood and {} ms during.\n",
            rl.flood_sent,
            rl.flood_429,
            rl.flood_429_with_retry_after,
            rl.flood_ok_rps,
            rl.others_failed,
            rl.others_p99_before_ms,
            rl.others_p99_during_ms
        );
    }
    if let Some(rs) = &r.reloads {
        let _ = writeln!(
            s,
            "Reloads: {} asked, {} accepted, {} refused/failed; admin API answered in {} ms \
             median, {} ms max.\n",
            rs.attempted, rs.ok, rs.failed, rs.took_ms_p50, rs.took_ms_max
        );
    }
    if !r.gateway_metrics.is_empty() {
        let m: Vec<String> = r
            .gateway_metrics
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        let _ = writeln!(s, "Gateway metrics at the end: {}.\n", m.join(", "));
    }
    if !r.gateway_log.is_empty() {
        let lines: Vec<String> = r
            .gateway_log
            .iter()
            .map(|(m, n)| format!("{n} × `{m}`"))
            .collect();
        let _ = writeln!(
            s,
            "Gateway log warnings and errors: {}.\n",
            lines.join("; ")
        );
    }
    let _ = writeln!(s, "Checks:\n");
    for c in &r.checks {
        let _ = writeln!(
            s,
            "- [{}] {} — {}",
            if c.passed { "x" } else { " " },
            c.name,
            c.detail
        );
    }
    if !files.is_empty() {
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(s, "\nFiles: {}", names.join(", "));
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::load::{Kind, NO_REGION};

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
                rate: Rate::Open(100.0),
                from: Duration::ZERO,
                until: Duration::from_secs(20),
                tenants: vec![(0, 1.0)],
                expect_429: false,
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

    #[test]
    fn histogram_summary_in_ms() {
        let mut h = Hist::new();
        for v in 1..=1000u32 {
            h.record(v * 1000);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500.0).abs() < 1.0, "{}", s.p50);
        assert!((s.p99 - 990.0).abs() < 1.0, "{}", s.p99);
        assert!((s.max - 1000.0).abs() < 1.0);
    }
}
