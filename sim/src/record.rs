//! Counters, executions and the bounded log of requests that reached an origin.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::execution::Executions;

/// How many requests an origin keeps in its log; older ones are dropped first.
pub const RECORD_CAPACITY: usize = 1024;

/// A request as it reached a simulated origin (after whatever a proxy did to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Request method, e.g. `GET`.
    pub method: String,
    /// Path including the query string, e.g. `/a/b?c=d`.
    pub path: String,
    /// Headers in the order received, lower-case names; a header sent several times
    /// appears once per value.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// Builds a record from the parts of a received request.
    pub(crate) fn new(method: &http::Method, path: &str, headers: &HeaderMap) -> Self {
        Self {
            method: method.as_str().to_owned(),
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        }
    }

    /// The first value of header `name` (case-insensitive), if it arrived.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive), in arrival order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Locks `m`, carrying on after a panic elsewhere: every value guarded in this crate is
/// valid after any partial update, so poisoning carries no information here.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What an origin has seen since it started.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: AtomicU64,
    health_probes: AtomicU64,
    open_connections: AtomicU64,
    log: Mutex<VecDeque<RecordedRequest>>,
    executions: Mutex<Executions>,
}

impl Stats {
    /// Counts a request and keeps it in the bounded log.
    pub(crate) fn record(&self, request: RecordedRequest) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut log = lock(&self.log);
        if log.len() >= RECORD_CAPACITY {
            log.pop_front();
        }
        log.push_back(request);
    }

    pub(crate) fn count_health_probe(&self) {
        self.health_probes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn health_probes(&self) -> u64 {
        self.health_probes.load(Ordering::Relaxed)
    }

    pub(crate) fn recorded(&self) -> Vec<RecordedRequest> {
        lock(&self.log).iter().cloned().collect()
    }

    pub(crate) fn clear_recorded(&self) {
        lock(&self.log).clear();
    }

    /// Counts one execution of a non-idempotent request (`None`: it carried no id).
    pub(crate) fn record_execution(&self, id: Option<String>) {
        lock(&self.executions).record(id);
    }

    pub(crate) fn executions(&self) -> Executions {
        lock(&self.executions).clone()
    }

    pub(crate) fn reset_counters(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.health_probes.store(0, Ordering::Relaxed);
        *lock(&self.executions) = Executions::default();
    }

    pub(crate) fn connection_opened(&self) {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn open_connections(&self) -> u64 {
        self.open_connections.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn req(path: &str) -> RecordedRequest {
        RecordedRequest {
            method: "GET".into(),
            path: path.into(),
            headers: vec![
                ("x-a".into(), "1".into()),
                ("X-B".into(), "2".into()),
                ("x-a".into(), "3".into()),
            ],
        }
    }

    #[test]
    fn log_is_bounded_and_keeps_newest() {
        let stats = Stats::default();
        for i in 0..RECORD_CAPACITY + 5 {
            stats.record(req(&format!("/{i}")));
        }
        let log = stats.recorded();
        assert_eq!(log.len(), RECORD_CAPACITY);
        assert_eq!(log[0].path, "/5");
        assert_eq!(stats.requests(), (RECORD_CAPACITY + 5) as u64);
        stats.clear_recorded();
        assert!(stats.recorded().is_empty());
        assert_eq!(stats.requests(), (RECORD_CAPACITY + 5) as u64);
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_ordered() {
        let r = req("/");
        assert_eq!(r.header("X-A"), Some("1"));
        assert_eq!(r.header("x-b"), Some("2"));
        assert_eq!(r.header_values("x-a").collect::<Vec<_>>(), vec!["1", "3"]);
        assert_eq!(r.header("x-c"), None);
    }
}
