//! Accounting: latency histograms, errors by kind, per-region share over time, failover and
//! failback times, residency, POSTs and their executions; then the Markdown summary and the
//! JSON file.
//!
//! [`analyse`](fn@analyse) turns a [`RunData`](crate::run::RunData) into a [`Report`]: one
//! pass over the records for the totals, then the phases and time series, the numbers
//! around each fault, and the checks. [`markdown`](fn@markdown) and [`write_json`] publish
//! it; [`crate::chart`] draws it.

mod analyse;
mod checks;
mod context;
mod executions;
mod faults;
mod hist;
mod markdown;
mod timeline;
mod types;

use std::path::{Path, PathBuf};

pub use analyse::analyse;
pub use markdown::markdown;
pub use types::{
    Brownout, Check, Failover, Latency, Phase, Posts, RateLimit, RegionReport, Report,
    StreamReport, Timeline, Totals,
};

/// Writes `<scenario>.json` into `out` (created if missing); returns its path.
pub fn write_json(report: &Report, out: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let json = out.join(format!("{}.json", report.scenario));
    let text = serde_json::to_string_pretty(report)
        .map_err(|e| format!("cannot serialise the report: {e}"))?;
    std::fs::write(&json, text).map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    Ok(json)
}
