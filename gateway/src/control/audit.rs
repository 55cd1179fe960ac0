//! The audit trail in memory: the last [`AUDIT_CAPACITY`] changes and refused change attempts
//! (overrides, reloads, a viewer's change), for `GET /api/v1/audit` and the console.
//!
//! The durable record stays the `audit` log target, written at the same places; this ring is
//! what an operator sees without access to the logs, and it is lost on restart.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Entries kept (the oldest is dropped first).
pub const AUDIT_CAPACITY: usize = 100;

/// How an attempted change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It took effect.
    Applied,
    /// The gateway refused it (invalid config, unknown name, would leave a geography without
    /// an origin, state file not writable, ...); nothing changed.
    Refused,
    /// The caller's role does not allow it (`403`); nothing changed.
    Denied,
}

/// One audit entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Increases by one per entry, from 1 at start; `?since=` pages on it.
    pub seq: u64,
    /// When, in milliseconds since the Unix epoch (UTC).
    pub at_ms: u64,
    /// The token's name, or the trigger of a reload that no token asked for (`SIGHUP`,
    /// `file change`).
    pub who: String,
    /// What was asked, e.g. `region northeurope drain`.
    pub what: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The refusal's reason, or the new generation of an applied change.
    pub detail: String,
}

/// A bounded, thread-safe ring of [`AuditEntry`]. Written on admin calls and reloads only,
/// never on the request path.
#[derive(Debug, Default)]
pub struct AuditLog {
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    next_seq: u64,
    entries: VecDeque<AuditEntry>,
}

impl AuditLog {
    /// Records one entry, dropping the oldest beyond [`AUDIT_CAPACITY`].
    pub fn record(&self, who: &str, what: &str, outcome: Outcome, detail: impl Into<String>) {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut ring = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        ring.next_seq += 1;
        let seq = ring.next_seq;
        if ring.entries.len() == AUDIT_CAPACITY {
            ring.entries.pop_front();
        }
        ring.entries.push_back(AuditEntry {
            seq,
            at_ms,
            who: who.to_string(),
            what: what.to_string(),
            outcome,
            detail: detail.into(),
        });
    }

    /// The entries with `seq > since`, newest first.
    pub fn since(&self, since: u64) -> Vec<AuditEntry> {
        let ring = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        ring.entries
            .iter()
            .rev()
            .take_while(|e| e.seq > since)
            .cloned()
            .collect()
    }

    /// The sequence number of the newest entry (0 when there is none).
    pub fn last_seq(&self) -> u64 {
        match self.inner.lock() {
            Ok(g) => g.next_seq,
            Err(p) => p.into_inner().next_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_hundred_newest_first() {
        let log = AuditLog::default();
        for i in 0..(AUDIT_CAPACITY + 5) {
            log.record("alice", &format!("change {i}"), Outcome::Applied, "");
        }
        let all = log.since(0);
        assert_eq!(all.len(), AUDIT_CAPACITY);
        assert_eq!(all[0].what, format!("change {}", AUDIT_CAPACITY + 4));
        assert_eq!(all[0].seq, (AUDIT_CAPACITY + 5) as u64);
        assert_eq!(all.last().map(|e| e.seq), Some(6));
        let newer = log.since(all[1].seq);
        assert_eq!(newer.len(), 1);
        assert_eq!(log.last_seq(), (AUDIT_CAPACITY + 5) as u64);
    }
}
