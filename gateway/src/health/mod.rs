//! Health: active probes, passive ejection (outlier detection), latency and slow start.
//!
//! [`state`] is the per-origin state machine, [`probe`] one HTTP probe, [`service`] the single
//! background service that probes the current snapshot's origins.

pub mod probe;
pub mod service;
pub mod state;

pub use service::{log_transition, probe_all_once, HealthChecker};
pub use state::{HealthRegistry, OriginHealth, OriginKey, Status, Transition};
