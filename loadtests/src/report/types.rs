//! The report's shape: every number a run is judged by, as written to `<scenario>.json`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::load::{Proto, Rate};
use crate::run::{Event, ReloadStats};

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

impl Totals {
    /// `kind count, kind count`, or `none`.
    pub fn kinds_text(&self) -> String {
        if self.by_kind.is_empty() {
            return "none".to_owned();
        }
        self.by_kind
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
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

/// The POSTs of a run, and how many times the origins executed each (RFC 9112 §9.3.1: a
/// request that is not idempotent must not be sent again once an origin may have processed
/// it, so a fault answers some of them 502 instead).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Posts {
    /// The streams that sent them.
    pub streams: Vec<String>,
    /// POSTs sent (or given up as backlog).
    pub sent: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Answered 502 by the gateway: cut after an origin may have processed them, so not sent
    /// again (expected, not failures).
    pub bad_gateway: u64,
    /// Every other outcome, by kind (these are failures).
    pub other: BTreeMap<String, u64>,
    /// Whether the origins counted executions (they do when the harness started them).
    pub executions_counted: bool,
    /// Ids sent that no origin executed.
    pub executed_never: u64,
    /// Ids sent that exactly one execution was counted for, over every origin.
    pub executed_once: u64,
    /// Ids sent that were executed twice or more, over every origin (must be 0).
    pub executed_twice_or_more: u64,
    /// The most executions of one id.
    pub max_executions: u64,
    /// Up to 10 ids executed twice or more, with their counts.
    pub repeated: Vec<(String, u64)>,
    /// POSTs answered 2xx that no origin executed (must be 0).
    pub ok_not_executed: u64,
    /// POSTs answered 502 that an origin did execute: the client cannot tell it happened,
    /// which is what `Idempotency-Key` is for.
    pub bad_gateway_executed: u64,
    /// POSTs answered 502 that no origin executed.
    pub bad_gateway_not_executed: u64,
    /// Executions of ids the harness never sent (must be 0).
    pub unknown_executions: u64,
    /// Non-idempotent requests executed without an id (must be 0: every POST has one).
    pub executions_without_id: u64,
    /// Executions the origins could not attribute to an id (table full); when not 0 a
    /// repeat may have gone unseen.
    pub executions_untracked: u64,
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
    /// Expected 502s per second (POSTs not sent again).
    pub bad_gateway_expected_per_s: Vec<f64>,
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
    /// The POSTs and their executions, when the run sent any.
    pub posts: Option<Posts>,
    /// Selected gateway metrics at the end of the run.
    pub gateway_metrics: BTreeMap<String, f64>,
    /// The most frequent WARN and ERROR lines of the gateway's log, with their counts.
    pub gateway_log: Vec<(String, u64)>,
    /// Time series.
    pub timeline: Timeline,
    /// Pass/fail criteria.
    pub checks: Vec<Check>,
}
