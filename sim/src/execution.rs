//! Executions of non-idempotent requests, counted by the id in their body, so that a test
//! can tell whether a proxy ever had the same request carried out twice (RFC 9110 §9.2.2:
//! POST and PATCH are not idempotent; RFC 9112 §9.3.1: a proxy must not retry them once the
//! origin may have processed them).
//!
//! The convention: a request whose method is not idempotent and whose body is a JSON object
//! of at most [`EXECUTION_BODY_LIMIT`] bytes with a string member `"id"` of 1 to
//! [`EXECUTION_ID_MAX_LEN`] bytes is one execution of that id, e.g.
//! `POST /api/orders` with `{"id":"order-17","item":"book"}` (other members are ignored).
//! It counts once the origin has read the whole body, before any fault (hang, latency,
//! error rate) is applied: from then on the origin has the request and may act on it, which
//! is what a retry must not repeat. A body cut short is not an execution.

use std::collections::HashMap;

use http::Method;

/// How many distinct ids one origin keeps counts for. An execution of an id not yet known
/// when the table is full is counted in [`Executions::untracked`] only; ids already in the
/// table keep being counted, so their repeats are still seen.
pub const EXECUTION_ID_CAPACITY: usize = 100_000;

/// The largest body searched for an id (bytes); a larger body is an execution without id.
pub const EXECUTION_BODY_LIMIT: usize = 4096;

/// The longest id (bytes); a longer one is an execution without id.
pub const EXECUTION_ID_MAX_LEN: usize = 128;

/// The executions an origin (or a group of origins, see [`Executions::merge`]) carried out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Executions {
    /// How many times each id was executed.
    pub by_id: HashMap<String, u64>,
    /// Non-idempotent requests executed without a usable id: no body, a body that is not a
    /// JSON object with a string `"id"`, an id that is empty or too long, a body over
    /// [`EXECUTION_BODY_LIMIT`].
    pub without_id: u64,
    /// Executions of ids that were not recorded because the table already held
    /// [`EXECUTION_ID_CAPACITY`] ids. When this is not zero, a repeat may have gone unseen.
    pub untracked: u64,
}

impl Executions {
    /// How many times `id` was executed.
    pub fn count(&self, id: &str) -> u64 {
        self.by_id.get(id).copied().unwrap_or(0)
    }

    /// Every execution, with or without id.
    pub fn total(&self) -> u64 {
        self.by_id
            .values()
            .sum::<u64>()
            .saturating_add(self.without_id)
            .saturating_add(self.untracked)
    }

    /// The ids executed more than once, with their counts, in no particular order.
    pub fn repeated(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.by_id
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, n)| (id.as_str(), *n))
    }

    /// Adds `other`'s counts to these: the executions of several origins summed per id,
    /// which is what tells a request retried on another origin apart from one executed once.
    pub fn merge(&mut self, other: &Executions) {
        for (id, n) in &other.by_id {
            let count = self.by_id.entry(id.clone()).or_default();
            *count = count.saturating_add(*n);
        }
        self.without_id = self.without_id.saturating_add(other.without_id);
        self.untracked = self.untracked.saturating_add(other.untracked);
    }

    /// Counts one execution of `id` (`None`: without id), within the table's capacity.
    pub(crate) fn record(&mut self, id: Option<String>) {
        let Some(id) = id else {
            self.without_id = self.without_id.saturating_add(1);
            return;
        };
        if let Some(count) = self.by_id.get_mut(&id) {
            *count = count.saturating_add(1);
        } else if self.by_id.len() < EXECUTION_ID_CAPACITY {
            self.by_id.insert(id, 1);
        } else {
            self.untracked = self.untracked.saturating_add(1);
        }
    }
}

/// Whether requests with `method` are counted as executions: every method that RFC 9110
/// §9.2.2 does not call idempotent (POST, PATCH, CONNECT and unknown ones).
pub(crate) fn is_counted(method: &Method) -> bool {
    ![
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// The execution id in `body` (the whole body, or its first bytes when `complete` is false,
/// in which case there is none), if it follows the convention.
pub(crate) fn execution_id(body: &[u8], complete: bool) -> Option<String> {
    if !complete || body.len() > EXECUTION_BODY_LIMIT {
        return None;
    }
    // A map, not a derived struct: serde would take `["x"]` for a struct with one field.
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).ok()?;
    let id = object.get("id")?.as_str()?;
    (!id.is_empty() && id.len() <= EXECUTION_ID_MAX_LEN).then(|| id.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_convention() {
        let id = |b: &[u8]| execution_id(b, true);
        assert_eq!(id(br#"{"id":"order-1"}"#).as_deref(), Some("order-1"));
        assert_eq!(
            id(br#"{"item":"book","id":"a\"b"}"#).as_deref(),
            Some("a\"b")
        );
        assert_eq!(id(b""), None);
        assert_eq!(id(b"order-1"), None);
        assert_eq!(id(br#"{"id":17}"#), None);
        assert_eq!(id(br#"{"id":""}"#), None);
        assert_eq!(id(br#"["id"]"#), None);
        let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(EXECUTION_ID_MAX_LEN + 1));
        assert_eq!(id(long.as_bytes()), None);
        let longest = format!(r#"{{"id":"{}"}}"#, "x".repeat(EXECUTION_ID_MAX_LEN));
        assert!(id(longest.as_bytes()).is_some());
        let padded = format!(
            r#"{{"id":"a","pad":"{}"}}"#,
            "x".repeat(EXECUTION_BODY_LIMIT)
        );
        assert_eq!(id(padded.as_bytes()), None);
        assert_eq!(execution_id(br#"{"id":"a"}"#, false), None);
    }

    #[test]
    fn only_non_idempotent_methods_count() {
        assert!(is_counted(&Method::POST));
        assert!(is_counted(&Method::PATCH));
        assert!(is_counted(&Method::from_bytes(b"PURGE").unwrap()));
        for m in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            assert!(!is_counted(&m), "{m}");
        }
    }

    #[test]
    fn table_is_bounded_and_known_ids_keep_counting() {
        let mut e = Executions::default();
        for i in 0..EXECUTION_ID_CAPACITY {
            e.record(Some(i.to_string()));
        }
        e.record(Some("new".into()));
        e.record(Some("new".into()));
        e.record(Some("0".into()));
        e.record(None);
        assert_eq!(e.by_id.len(), EXECUTION_ID_CAPACITY);
        assert_eq!(e.count("new"), 0);
        assert_eq!(e.untracked, 2);
        assert_eq!(e.count("0"), 2);
        assert_eq!(e.without_id, 1);
        assert_eq!(e.repeated().collect::<Vec<_>>(), vec![("0", 2)]);
        assert_eq!(e.total(), EXECUTION_ID_CAPACITY as u64 + 4);
    }

    #[test]
    fn merge_sums_per_id() {
        let mut a = Executions::default();
        a.record(Some("x".into()));
        a.record(Some("y".into()));
        let mut b = Executions::default();
        b.record(Some("x".into()));
        b.record(None);
        a.merge(&b);
        assert_eq!(a.count("x"), 2);
        assert_eq!(a.count("y"), 1);
        assert_eq!(a.without_id, 1);
        assert_eq!(a.repeated().count(), 1);
    }
}
