//! A short in-memory history of traffic per region, for the console's charts and the share of
//! the last minute each region served: no Prometheus needed to look.
//!
//! Once a second ([`SAMPLE_INTERVAL`]) a background task reads the cumulative request
//! counters (`edge_requests_total`), residency refusals (`edge_residency_refusals_total`) and
//! request-duration histograms (`edge_request_duration_seconds`) the request path already
//! keeps, and stores the difference from the previous reading: requests, 4xx, 5xx and
//! residency refusals per (geography, region), and the p99 of that second's durations from
//! the histogram's bucket deltas. [`HISTORY_SAMPLES`] samples are kept (15 minutes).
//!
//! The request path does no extra work: reading the metrics is what a Prometheus scrape does
//! (a read lock on each metric family's label map, and a histogram's hot/cold shard swap).
//! Limits: p99 is interpolated inside the histogram's buckets (1 ms .. 30 s, as Prometheus'
//! `histogram_quantile` does), so it is as coarse as they are; durations are labelled by
//! region only, so requests no origin answered (region `-`) have no p99 per geography; the
//! history is per process and starts empty at every start.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use serde_json::{json, Value};

use crate::metrics::Metrics;

/// How often the metrics are sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Samples kept: 15 minutes at one a second.
pub const HISTORY_SAMPLES: usize = 900;

/// Samples that make "the last minute".
const LAST_MINUTE: usize = 60;

/// The quantile shown as the latency line.
const QUANTILE: f64 = 0.99;

/// One series' numbers over one sample interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Point {
    /// Requests finished.
    pub requests: u64,
    /// Of which answered 4xx.
    pub client_errors: u64,
    /// Of which answered 5xx.
    pub server_errors: u64,
    /// 503s because the geography had no usable origin (counted on the `-` region of the
    /// geography).
    pub residency_refusals: u64,
    /// The p99 of the durations, in milliseconds; `None` without requests.
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone)]
struct Sample {
    seq: u64,
    at_ms: u64,
    dt_ms: u64,
    /// Indexed like `History::keys` at the time (later keys: no traffic).
    points: Vec<Point>,
}

/// Cumulative readings of the metrics at one instant.
#[derive(Debug, Default, Clone)]
struct Reading {
    /// (geography, region) → (requests, 4xx, 5xx).
    requests: HashMap<(String, String), (u64, u64, u64)>,
    /// geography → residency refusals.
    refusals: HashMap<String, u64>,
    /// region → cumulative bucket counts (upper bound in seconds, count) and total count.
    durations: HashMap<String, (Vec<(f64, u64)>, u64)>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Every (geography, region) seen since start, in order of first sight; sample points are
    /// indexed by position, so the list only grows (bounded by the configured names).
    keys: Vec<(String, String)>,
    samples: VecDeque<Sample>,
    previous: Option<(Instant, Reading)>,
    next_seq: u64,
}

/// The traffic history: written by [`History::sample`] once a second, read by the admin API.
#[derive(Debug, Default)]
pub struct History {
    inner: Mutex<Inner>,
}

impl History {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Reads `metrics` and stores the difference from the previous reading as one sample (the
    /// first call only takes the reading).
    pub fn sample(&self, metrics: &Metrics) {
        let now = Instant::now();
        let reading = read(metrics);
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut inner = self.lock();
        if let Some((then, before)) = inner.previous.take() {
            let dt_ms = now.duration_since(then).as_millis() as u64;
            let points = inner.difference(&before, &reading);
            inner.next_seq += 1;
            let seq = inner.next_seq;
            if inner.samples.len() == HISTORY_SAMPLES {
                inner.samples.pop_front();
            }
            inner.samples.push_back(Sample {
                seq,
                at_ms,
                dt_ms,
                points,
            });
        }
        inner.previous = Some((now, reading));
    }

    /// The history as JSON for `GET /api/v1/history?since=SEQ`: the series, the samples with
    /// `seq > since` (oldest first), and the last minute's requests and share per region.
    ///
    /// Shape: `{"interval_ms", "capacity", "last_seq", "series": [{"geography","region"}],
    /// "fields": [...], "samples": [{"seq","at_ms","dt_ms","points": [[requests, 4xx, 5xx,
    /// residency_refusals, p99_ms|null], ...]}], "last_minute": [{"geography","region",
    /// "requests","share"}]}`; `points` is indexed like `series` (a shorter list: no traffic
    /// for the series after it). `share` is the region's part of its geography's requests
    /// that an origin answered (0..1; `null` when the geography had none); region `-` counts
    /// the requests no origin answered and has no share.
    pub fn to_json(&self, since: u64) -> Value {
        let inner = self.lock();
        let series: Vec<Value> = inner
            .keys
            .iter()
            .map(|(g, r)| json!({"geography": g, "region": r}))
            .collect();
        let samples: Vec<Value> = inner
            .samples
            .iter()
            .filter(|s| s.seq > since)
            .map(|s| {
                let points: Vec<Value> = s
                    .points
                    .iter()
                    .map(|p| {
                        json!([
                            p.requests,
                            p.client_errors,
                            p.server_errors,
                            p.residency_refusals,
                            p.p99_ms.map(|v| (v * 1000.0).round() / 1000.0)
                        ])
                    })
                    .collect();
                json!({"seq": s.seq, "at_ms": s.at_ms, "dt_ms": s.dt_ms, "points": points})
            })
            .collect();
        json!({
            "interval_ms": SAMPLE_INTERVAL.as_millis() as u64,
            "capacity": HISTORY_SAMPLES,
            "last_seq": inner.next_seq,
            "series": series,
            "fields": ["requests", "4xx", "5xx", "residency_refusals", "p99_ms"],
            "samples": samples,
            "last_minute": inner.last_minute(),
        })
    }
}

impl Inner {
    fn key_index(&mut self, geography: &str, region: &str) -> usize {
        match self
            .keys
            .iter()
            .position(|(g, r)| g == geography && r == region)
        {
            Some(i) => i,
            None => {
                self.keys.push((geography.to_string(), region.to_string()));
                self.keys.len() - 1
            }
        }
    }

    fn difference(&mut self, before: &Reading, now: &Reading) -> Vec<Point> {
        let mut points: Vec<Point> = vec![Point::default(); self.keys.len()];
        let at = |inner: &mut Inner, points: &mut Vec<Point>, g: &str, r: &str| {
            let i = inner.key_index(g, r);
            if points.len() <= i {
                points.resize(i + 1, Point::default());
            }
            i
        };
        let mut keys: Vec<&(String, String)> = now.requests.keys().collect();
        keys.sort();
        for key in keys {
            let (n, c4, c5) = now.requests[key];
            let (b, b4, b5) = before.requests.get(key).copied().unwrap_or_default();
            let i = at(self, &mut points, &key.0, &key.1);
            let p = &mut points[i];
            p.requests = n.saturating_sub(b);
            p.client_errors = c4.saturating_sub(b4);
            p.server_errors = c5.saturating_sub(b5);
            if key.1 != "-" {
                if let (Some(d_now), Some(d_before)) =
                    (now.durations.get(&key.1), before.durations.get(&key.1))
                {
                    p.p99_ms = quantile_of_delta(&d_before.0, &d_now.0, QUANTILE).map(|s| s * 1e3);
                } else if let Some(d_now) = now.durations.get(&key.1) {
                    p.p99_ms = quantile_of_delta(&[], &d_now.0, QUANTILE).map(|s| s * 1e3);
                }
            }
        }
        let mut geos: Vec<&String> = now.refusals.keys().collect();
        geos.sort();
        for g in geos {
            let delta =
                now.refusals[g].saturating_sub(before.refusals.get(g).copied().unwrap_or(0));
            if delta > 0 {
                let i = at(self, &mut points, g, "-");
                points[i].residency_refusals = delta;
            }
        }
        points
    }

    fn last_minute(&self) -> Vec<Value> {
        let mut totals = vec![0u64; self.keys.len()];
        for s in self.samples.iter().rev().take(LAST_MINUTE) {
            for (i, p) in s.points.iter().enumerate() {
                totals[i] += p.requests;
            }
        }
        let mut served_by_geo: HashMap<&str, u64> = HashMap::new();
        for ((g, r), n) in self.keys.iter().zip(&totals) {
            if r != "-" {
                *served_by_geo.entry(g.as_str()).or_default() += n;
            }
        }
        self.keys
            .iter()
            .zip(&totals)
            .map(|((g, r), &n)| {
                let served = served_by_geo.get(g.as_str()).copied().unwrap_or(0);
                let share = (r != "-" && served > 0).then(|| n as f64 / served as f64);
                json!({"geography": g, "region": r, "requests": n, "share": share})
            })
            .collect()
    }
}

fn label<'a>(m: &'a prometheus::proto::Metric, name: &str) -> &'a str {
    m.get_label()
        .iter()
        .find(|l| l.name() == name)
        .map_or("", |l| l.value())
}

fn families(c: &dyn Collector) -> Vec<MetricFamily> {
    c.collect()
}

/// Reads the cumulative values the history differences.
fn read(metrics: &Metrics) -> Reading {
    let mut r = Reading::default();
    for f in families(&metrics.requests) {
        for m in f.get_metric() {
            let key = (
                label(m, "geography").to_string(),
                label(m, "region").to_string(),
            );
            let v = m.get_counter().get_value() as u64;
            let e = r.requests.entry(key).or_default();
            e.0 += v;
            match label(m, "class") {
                "4xx" => e.1 += v,
                "5xx" => e.2 += v,
                _ => {}
            }
        }
    }
    for f in families(&metrics.residency_refusals) {
        for m in f.get_metric() {
            *r.refusals
                .entry(label(m, "geography").to_string())
                .or_default() += m.get_counter().get_value() as u64;
        }
    }
    for f in families(&metrics.duration) {
        for m in f.get_metric() {
            let h = m.get_histogram();
            let buckets = h
                .get_bucket()
                .iter()
                .map(|b| (b.upper_bound(), b.cumulative_count()))
                .collect();
            r.durations.insert(
                label(m, "region").to_string(),
                (buckets, h.get_sample_count()),
            );
        }
    }
    r
}

/// The `q` quantile (0..1) of the observations made between two readings of one histogram's
/// cumulative buckets (`(upper bound, cumulative count)`, ascending; `before` empty for "since
/// start"), interpolated linearly inside the bucket as Prometheus' `histogram_quantile` does.
/// Beyond the last finite bucket: that bucket's bound. `None` when nothing was observed.
pub fn quantile_of_delta(before: &[(f64, u64)], now: &[(f64, u64)], q: f64) -> Option<f64> {
    let delta: Vec<(f64, u64)> = now
        .iter()
        .enumerate()
        .map(|(i, &(bound, count))| {
            let b = before.get(i).map_or(0, |&(_, c)| c);
            (bound, count.saturating_sub(b))
        })
        .collect();
    // Observations above the last finite bound are in the total but in no bucket.
    let total_in_buckets = delta.last().map_or(0, |&(_, c)| c);
    if total_in_buckets == 0 {
        return None;
    }
    let rank = q * total_in_buckets as f64;
    let mut lower = 0.0;
    let mut below = 0u64;
    for &(bound, cumulative) in &delta {
        if cumulative as f64 >= rank {
            let in_bucket = cumulative - below;
            if in_bucket == 0 {
                return Some(bound);
            }
            return Some(lower + (bound - lower) * (rank - below as f64) / in_bucket as f64);
        }
        lower = bound;
        below = cumulative;
    }
    delta.last().map(|&(bound, _)| bound)
}

/// Samples the metrics into [`History`] once a second until shutdown.
pub struct HistorySampler {
    /// Where the samples go.
    pub history: Arc<History>,
    /// The metrics read.
    pub metrics: Arc<Metrics>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for HistorySampler {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => self.history.sample(&self.metrics),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quantile_interpolates_inside_the_bucket_of_the_rank() {
        // 100 observations: 90 under 10 ms, 10 between 10 and 50 ms.
        let now = [(0.01, 90), (0.05, 100), (1.0, 100)];
        let p99 = quantile_of_delta(&[], &now, 0.99).unwrap();
        // rank 99: 9 of the 10 in (0.01, 0.05] → 0.01 + 0.04 * 9/10.
        assert!((p99 - 0.046).abs() < 1e-9, "{p99}");
        // Only the difference counts.
        let before = [(0.01, 90), (0.05, 90), (1.0, 90)];
        let p99 = quantile_of_delta(&before, &now, 0.99).unwrap();
        assert!(p99 > 0.01 && p99 <= 0.05, "{p99}");
        assert_eq!(quantile_of_delta(&now, &now, 0.99), None);
    }

    #[test]
    fn samples_hold_per_second_differences_and_the_last_minute_share() {
        let m = Metrics::new();
        let h = History::default();
        let north = m.request_handles("eu", "northeurope");
        let west = m.request_handles("eu", "westeurope");
        h.sample(&m);
        for _ in 0..3 {
            north.observe(200, 0.002);
        }
        west.observe(503, 0.02);
        m.residency_refusals.with_label_values(&["na"]).inc();
        h.sample(&m);
        north.observe(404, 0.002);
        h.sample(&m);
        let v = h.to_json(0);
        let series = v["series"].as_array().unwrap();
        let idx = |g: &str, r: &str| {
            series
                .iter()
                .position(|s| s["geography"] == g && s["region"] == r)
                .unwrap()
        };
        let samples = v["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 2);
        let first = &samples[0]["points"];
        assert_eq!(first[idx("eu", "northeurope")][0], 3);
        assert_eq!(first[idx("eu", "westeurope")][2], 1);
        assert_eq!(first[idx("na", "-")][3], 1);
        assert_eq!(samples[1]["points"][idx("eu", "northeurope")][1], 1);
        let minute = v["last_minute"].as_array().unwrap();
        let north_share = minute
            .iter()
            .find(|e| e["region"] == "northeurope")
            .unwrap();
        assert_eq!(north_share["requests"], 4);
        assert_eq!(north_share["share"], 0.8);
        // Paging: only what is newer than `since`.
        let newer = h.to_json(samples[0]["seq"].as_u64().unwrap());
        assert_eq!(newer["samples"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn the_history_is_bounded() {
        let m = Metrics::new();
        let h = History::default();
        for _ in 0..(HISTORY_SAMPLES + 10) {
            h.sample(&m);
        }
        let v = h.to_json(0);
        assert_eq!(v["samples"].as_array().unwrap().len(), HISTORY_SAMPLES);
    }
}
