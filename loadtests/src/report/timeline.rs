//! The run over time: phases between events, and per-bucket series for the chart.

use std::time::Duration;

use crate::load::{Kind, Rec};

use super::context::{secs, us, Ctx};
use super::hist::{round2, Hist};
use super::types::{Phase, Timeline};

/// The run cut at every fault and recovery.
pub(super) fn phases(ctx: &Ctx<'_>, records: &[Rec]) -> Vec<Phase> {
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

/// Bucket width of the time series.
fn bucket_us(duration: Duration) -> u64 {
    if duration <= Duration::from_secs(10) {
        250_000
    } else {
        500_000
    }
}

/// Answers per region, failures and latency per bucket of [`bucket_us`].
pub(super) fn timeline(ctx: &Ctx<'_>, records: &[Rec]) -> Timeline {
    let width = bucket_us(ctx.data.duration);
    let end = us(ctx.data.duration.as_secs_f64());
    let n = usize::try_from(end.div_ceil(width))
        .unwrap_or(0)
        .clamp(1, 100_000);
    let b = Buckets::count(ctx, records, width, n);
    let per_s = 1_000_000.0 / width as f64;
    let rate = |v: &[u64]| v.iter().map(|&c| round2(c as f64 * per_s)).collect();
    Timeline {
        bucket_s: width as f64 / 1_000_000.0,
        t_s: (0..n).map(|i| round2(secs(i as u64 * width))).collect(),
        rps_by_region: ctx
            .data
            .topology
            .regions
            .iter()
            .zip(&b.counts)
            .map(|(r, c)| (r.name.clone(), rate(c)))
            .collect(),
        errors_per_s: rate(&b.errors),
        rate_limited_per_s: rate(&b.limited),
        bad_gateway_expected_per_s: rate(&b.bad_gateway),
        p50_ms: b.hists.iter().map(|h| h.quantile_ms(0.5)).collect(),
        p99_ms: b.hists.iter().map(|h| h.quantile_ms(0.99)).collect(),
        p99_by_stream: ctx
            .data
            .streams
            .iter()
            .zip(&b.stream_hists)
            .map(|(s, h)| {
                (
                    s.name.clone(),
                    h.iter().map(|h| h.quantile_ms(0.99)).collect(),
                )
            })
            .collect(),
    }
}

/// The records counted into buckets by start time.
struct Buckets {
    /// Answers per region (by index), per bucket.
    counts: Vec<Vec<u64>>,
    /// Failures, expected 429s excluded.
    errors: Vec<u64>,
    /// Expected 429s.
    limited: Vec<u64>,
    /// Expected 502s.
    bad_gateway: Vec<u64>,
    hists: Vec<Hist>,
    /// Latency per stream, only when there are several.
    stream_hists: Vec<Vec<Hist>>,
}

impl Buckets {
    /// `n` buckets `width` µs wide; records starting after the last one are left out.
    fn count(ctx: &Ctx<'_>, records: &[Rec], width: u64, n: usize) -> Buckets {
        let several = ctx.data.streams.len() > 1;
        let mut b = Buckets {
            counts: vec![vec![0u64; n]; ctx.data.topology.regions.len()],
            errors: vec![0u64; n],
            limited: vec![0u64; n],
            bad_gateway: vec![0u64; n],
            hists: (0..n).map(|_| Hist::new()).collect(),
            stream_hists: if several {
                ctx.data
                    .streams
                    .iter()
                    .map(|_| (0..n).map(|_| Hist::new()).collect())
                    .collect()
            } else {
                Vec::new()
            },
        };
        for r in records {
            let Ok(i) = usize::try_from(r.start_us / width) else {
                continue;
            };
            if i < n {
                b.add(ctx, r, i);
            }
        }
        b
    }

    fn add(&mut self, ctx: &Ctx<'_>, r: &Rec, i: usize) {
        if let Some(c) = self.counts.get_mut(usize::from(r.served)) {
            c[i] += 1;
        }
        if ctx.failed(r) {
            self.errors[i] += 1;
        } else if r.kind == Kind::RateLimited {
            self.limited[i] += 1;
        } else if r.kind == Kind::BadGateway {
            self.bad_gateway[i] += 1;
        }
        if r.kind != Kind::Backlog {
            self.hists[i].record(r.latency_us);
            if let Some(h) = self.stream_hists.get_mut(usize::from(r.stream)) {
                h[i].record(r.latency_us);
            }
        }
    }
}
