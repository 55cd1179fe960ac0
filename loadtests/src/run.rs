//! What a run records: its requests, what the scenario did and when, and what must hold.
//!
//! A leaf that the scenario fills in and the report reads, so that neither has to know the
//! other.

use std::time::Duration;

use edge_sim::Executions;
use serde::Serialize;

use crate::load::{Rec, StreamSpec};
use crate::scenario::catalog::Scenario;
use crate::topology::{Topology, Tuning};

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
    /// The non-idempotent requests the simulated origins executed, summed over every origin
    /// per id, read after the last answer; `None` when the harness did not start the origins.
    pub executions: Option<Executions>,
}

/// Whether an event breaks something, repairs it, or is just worth marking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A region is taken out (kill, brownout, drain).
    Fault,
    /// It is given back.
    Recovery,
    /// Anything else (e.g. a reload storm starts).
    Info,
}

/// Something the scenario did, and when it took effect.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// What happened, e.g. `kill northeurope`.
    pub label: String,
    /// Fault, recovery or info.
    pub kind: EventKind,
    /// The region it concerns.
    pub region: Option<String>,
    /// Whether the action succeeded.
    pub ok: bool,
    /// Details (an admin API answer, an error).
    pub detail: String,
}

/// The results of the reload storm.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadStats {
    /// Reloads asked for.
    pub attempted: u64,
    /// Reloads the gateway accepted.
    pub ok: u64,
    /// Reloads refused or failed (with the first error).
    pub failed: u64,
    /// The first failure's answer.
    pub first_error: Option<String>,
    /// Time the admin API took to answer a reload, median and maximum (ms).
    pub took_ms_p50: f64,
    /// Maximum (ms).
    pub took_ms_max: f64,
}

/// What the scenario is checked against.
#[derive(Debug, Clone, Serialize)]
pub struct Expectations {
    /// No failed request on streams that do not expect 429s.
    pub zero_errors: bool,
    /// Failover must take less than this (fault to first clean answer from elsewhere).
    pub max_failover: Option<Duration>,
    /// Failback must take less than this.
    pub max_failback: Option<Duration>,
    /// The faulted region must lose traffic (brownout).
    pub traffic_leaves: bool,
    /// The rate-limit stream names: `(flooder, victims)`.
    pub rate_limit: Option<(String, String)>,
    /// Both HTTP/1.1 and h2 answers must be seen.
    pub both_protocols: bool,
    /// Every reload must be accepted.
    pub reloads: bool,
}
