//! Around the faults: failover and failback times, the brownout's effect on the slow region,
//! and the flood's effect on the other tenants.

use crate::load::{Kind, Rec};
use crate::run::{Event, EventKind};

use super::context::{secs, us, Ctx};
use super::hist::{round2, round3, Hist};
use super::types::{Brownout, Failover, RateLimit};

/// Failover and failback for every fault that names a region.
pub(super) fn failovers(ctx: &Ctx<'_>, records: &[Rec]) -> Vec<Failover> {
    let events = &ctx.data.events;
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EventKind::Fault)
        .filter_map(|(i, fault)| failover(ctx, records, fault, &events[i + 1..]))
        .collect()
}

/// Failover and failback around `fault`, whose recovery is the first one in `later` for the
/// same region; `None` if the fault names no region of the topology.
fn failover(ctx: &Ctx<'_>, records: &[Rec], fault: &Event, later: &[Event]) -> Option<Failover> {
    let end_us = us(ctx.data.duration.as_secs_f64());
    let region_name = fault.region.as_deref()?;
    let region = ctx.region_index(region_name)?;
    let geo = ctx
        .region_geo
        .get(usize::from(region))
        .copied()
        .unwrap_or(usize::MAX);
    let recovery = later
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

    let after = after_fault(ctx, records, region, geo, (f, v));
    let (failback_first_ms, failback_ms) = match recovery {
        Some(_) if share_before > 0.0 => {
            failback(ctx, records, region, (v, end_us), share_before, window)
        }
        _ => (None, None),
    };
    Some(Failover {
        fault: fault.label.clone(),
        region: region_name.to_owned(),
        geography: ctx.geos.get(geo).cloned().unwrap_or_default(),
        fault_at_s: round2(fault.at_s),
        failover_ms: after.failover_ms,
        failed_after_fault: after.failed,
        served_by_faulted_after_fault: after.served_by_faulted,
        share_before: round3(share_before),
        recovery: recovery.map(|e| e.label.clone()),
        recovery_at_s: recovery.map(|e| round2(e.at_s)),
        failback_first_ms,
        failback_ms,
        failback_window_ms: round2(window as f64 / 1000.0),
    })
}

/// What the geography's requests saw between a fault and its recovery.
struct AfterFault {
    /// Requests that failed.
    failed: u64,
    /// Requests the faulted region still served.
    served_by_faulted: u64,
    /// From the fault to the first answer after which none failed or reached the region.
    failover_ms: Option<f64>,
}

/// Requests of tenants of `geo` started in `[f, v)` (µs), taken in completion order.
fn after_fault(
    ctx: &Ctx<'_>,
    records: &[Rec],
    region: u8,
    geo: usize,
    (f, v): (u64, u64),
) -> AfterFault {
    let mut affected: Vec<&Rec> = records
        .iter()
        .filter(|r| ctx.tenant_geo(r) == geo && r.start_us >= f && r.start_us < v)
        .collect();
    affected.sort_by_key(|r| r.end_us());
    let bad = |r: &Rec| ctx.failed(r) || r.served == region;
    let first_clean = match affected.iter().rposition(|r| bad(r)) {
        Some(last_bad) => affected.get(last_bad + 1),
        None => affected.first(),
    };
    AfterFault {
        failed: affected.iter().filter(|r| ctx.failed(r)).count() as u64,
        served_by_faulted: affected.iter().filter(|r| r.served == region).count() as u64,
        failover_ms: first_clean.map(|r| round2((r.end_us().saturating_sub(f)) as f64 / 1000.0)),
    }
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

/// Shares and latency of the slow region before, during and after the brownout.
pub(super) fn brownout(ctx: &Ctx<'_>, records: &[Rec]) -> Option<Brownout> {
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

/// The flooder's 429s and what the other tenants saw; `None` without both streams.
pub(super) fn rate_limit(
    ctx: &Ctx<'_>,
    records: &[Rec],
    flood: &str,
    others: &str,
) -> Option<RateLimit> {
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
