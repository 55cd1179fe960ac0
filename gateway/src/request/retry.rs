//! Retry decisions: whether a failed attempt goes to the next candidate ([`decide`], pure),
//! and the retry budget that bounds retries of requests that already reached an origin.
//!
//! The retry budget: retries of requests that already reached an origin are allowed only while
//! they stay a small share of recent traffic (Envoy's and Finagle's answer to retry storms).
//!
//! A retry is allowed when fewer than `min_concurrent` retries are in flight, or when retries
//! in the sliding window stay within `ratio` × requests in the same window. Retries after a
//! connect failure (nothing sent) do not consume the budget: they cost the origin nothing.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Buckets of one second; windows longer than this are clamped.
const MAX_WINDOW_SECS: usize = 60;

#[derive(Debug, Default)]
struct Bucket {
    second: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    epoch: Instant,
    ratio_bits: AtomicU64,
    window_secs: AtomicU64,
    min_concurrent: AtomicU32,
    in_flight: AtomicU32,
    buckets: Vec<Bucket>,
}

/// A process-wide retry budget (cheap to clone).
#[derive(Debug, Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

/// Holds one in-flight retry; releases it on drop.
#[derive(Debug)]
pub struct RetryPermit {
    inner: Arc<Inner>,
}

impl Drop for RetryPermit {
    fn drop(&mut self) {
        self.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl RetryBudget {
    /// A budget with the given settings.
    pub fn new(cfg: &edge_config::RetryBudget) -> Self {
        let budget = RetryBudget {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                ratio_bits: AtomicU64::new(0),
                window_secs: AtomicU64::new(1),
                min_concurrent: AtomicU32::new(0),
                in_flight: AtomicU32::new(0),
                buckets: (0..MAX_WINDOW_SECS).map(|_| Bucket::default()).collect(),
            }),
        };
        budget.reconfigure(cfg);
        budget
    }

    /// Applies new settings (on reload) without forgetting recent traffic.
    pub fn reconfigure(&self, cfg: &edge_config::RetryBudget) {
        let i = &self.inner;
        i.ratio_bits
            .store(cfg.ratio.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
        i.window_secs.store(
            cfg.window.as_secs().clamp(1, MAX_WINDOW_SECS as u64),
            Ordering::Relaxed,
        );
        i.min_concurrent
            .store(cfg.min_concurrent, Ordering::Relaxed);
    }

    fn now_sec(&self) -> u64 {
        self.inner.epoch.elapsed().as_secs()
    }

    fn bucket(&self, sec: u64) -> &Bucket {
        let b = &self.inner.buckets[(sec % MAX_WINDOW_SECS as u64) as usize];
        let seen = b.second.load(Ordering::Acquire);
        if seen != sec
            && b.second
                .compare_exchange(seen, sec, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            b.requests.store(0, Ordering::Relaxed);
            b.retries.store(0, Ordering::Relaxed);
        }
        b
    }

    /// Counts one request (call once per request that is routed upstream).
    pub fn record_request(&self) {
        self.bucket(self.now_sec())
            .requests
            .fetch_add(1, Ordering::Relaxed);
    }

    fn window_totals(&self, now: u64) -> (u64, u64) {
        let window = self.inner.window_secs.load(Ordering::Relaxed);
        let (mut requests, mut retries) = (0, 0);
        for b in &self.inner.buckets {
            let sec = b.second.load(Ordering::Acquire);
            if sec + window > now && sec <= now {
                requests += b.requests.load(Ordering::Relaxed);
                retries += b.retries.load(Ordering::Relaxed);
            }
        }
        (requests, retries)
    }

    /// Asks for one retry; `None` when the budget is spent.
    pub fn try_acquire(&self) -> Option<RetryPermit> {
        let i = &self.inner;
        let now = self.now_sec();
        let in_flight = i.in_flight.fetch_add(1, Ordering::AcqRel);
        let permit = RetryPermit { inner: i.clone() };
        let (requests, retries) = self.window_totals(now);
        let ratio = f64::from_bits(i.ratio_bits.load(Ordering::Relaxed));
        let allowed = in_flight < i.min_concurrent.load(Ordering::Relaxed)
            || (retries + 1) as f64 <= ratio * requests as f64;
        if !allowed {
            return None; // dropping the permit releases the in-flight slot
        }
        self.bucket(now).retries.fetch_add(1, Ordering::Relaxed);
        Some(permit)
    }
}

/// What is known about an attempt that failed while talking to its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedAttempt {
    /// The gateway already decided what to answer (e.g. an origin's unsolicited `101`, a body
    /// over the limit): no other origin is asked.
    pub answer_decided: bool,
    /// Response bytes (at least the head) already went to the client: another attempt's
    /// answer could only be appended to them.
    pub response_started: bool,
    /// The origin answered 502-504 and that answer was already turned into a retry (its
    /// budget permit is held).
    pub retry_granted: bool,
    /// Pingora says the failure hit a pooled connection the origin had already closed.
    pub stale_pooled_connection: bool,
    /// The whole request (head and body) was written to the origin before the failure, so the
    /// origin may have processed it.
    pub request_fully_sent: bool,
    /// The route has a candidate not tried yet.
    pub more_candidates: bool,
    /// The request body can be sent again (it still fits the retry buffer).
    pub body_replayable: bool,
    /// The request may be executed twice: an idempotent method (`routing.retry_methods`) or
    /// an `Idempotency-Key` (IETF draft-ietf-httpapi-idempotency-key-header).
    pub idempotent: bool,
}

/// Whether (and at what cost) a failed attempt is sent to the next candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Retry with the permit already granted for the origin's 5xx answer.
    Granted,
    /// Retry without budget: the origin cannot have processed the request.
    Free,
    /// Retry if the retry budget grants a permit.
    IfBudgetAllows,
    /// Do not retry: answer (or abort) the client.
    No,
}

/// Decides whether a failed attempt is retried on the next candidate (pure: the caller takes
/// the budget permit when told to).
///
/// - Never once the response started: a second answer would be appended to the first.
/// - A non-idempotent request is retried only when the origin cannot have processed it: a
///   stale pooled connection that failed before the request was fully written (RFC 9112
///   §9.3.1). A POST the origin read completely before it closed is answered 502, never run
///   twice.
/// - An idempotent request on a stale pooled connection is retried for free; after any other
///   failure it costs retry budget.
pub fn decide(f: FailedAttempt) -> RetryDecision {
    if f.response_started || f.answer_decided {
        RetryDecision::No
    } else if f.retry_granted {
        RetryDecision::Granted
    } else if !f.more_candidates || !f.body_replayable {
        RetryDecision::No
    } else if f.stale_pooled_connection && (f.idempotent || !f.request_fully_sent) {
        RetryDecision::Free
    } else if f.idempotent {
        RetryDecision::IfBudgetAllows
    } else {
        RetryDecision::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget(ratio: f64, min: u32) -> RetryBudget {
        RetryBudget::new(&edge_config::RetryBudget {
            ratio,
            window: Duration::from_secs(10),
            min_concurrent: min,
        })
    }

    #[test]
    fn min_concurrent_retries_are_always_allowed() {
        let b = budget(0.0, 3);
        let permits: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
        assert!(b.try_acquire().is_none());
        drop(permits);
        assert!(b.try_acquire().is_some());
    }

    #[test]
    fn ratio_bounds_retries_beyond_the_minimum() {
        let b = budget(0.2, 0);
        for _ in 0..100 {
            b.record_request();
        }
        // Permits are dropped at once, so only the ratio limits: 20 retries of 100 requests.
        let granted = (0..50).filter(|_| b.try_acquire().is_some()).count();
        assert_eq!(granted, 20);
        for _ in 0..10 {
            b.record_request();
        }
        assert_eq!((0..50).filter(|_| b.try_acquire().is_some()).count(), 2);
    }

    #[test]
    fn retry_decisions_follow_what_reached_the_origin() {
        use RetryDecision::*;
        let base = FailedAttempt {
            answer_decided: false,
            response_started: false,
            retry_granted: false,
            stale_pooled_connection: false,
            request_fully_sent: true,
            more_candidates: true,
            body_replayable: true,
            idempotent: true,
        };
        let post = FailedAttempt {
            idempotent: false,
            ..base
        };
        let table: &[(&str, FailedAttempt, RetryDecision)] = &[
            ("idempotent, origin failed", base, IfBudgetAllows),
            (
                "idempotent, stale connection",
                FailedAttempt {
                    stale_pooled_connection: true,
                    ..base
                },
                Free,
            ),
            (
                "5xx already granted",
                FailedAttempt {
                    retry_granted: true,
                    ..base
                },
                Granted,
            ),
            (
                "no candidate left",
                FailedAttempt {
                    more_candidates: false,
                    ..base
                },
                No,
            ),
            (
                "body not replayable",
                FailedAttempt {
                    body_replayable: false,
                    stale_pooled_connection: true,
                    ..base
                },
                No,
            ),
            (
                "answer decided",
                FailedAttempt {
                    answer_decided: true,
                    stale_pooled_connection: true,
                    ..base
                },
                No,
            ),
            (
                "response started",
                FailedAttempt {
                    response_started: true,
                    retry_granted: true,
                    ..base
                },
                No,
            ),
            (
                "response started, stale",
                FailedAttempt {
                    response_started: true,
                    stale_pooled_connection: true,
                    ..base
                },
                No,
            ),
            ("POST, origin failed", post, No),
            (
                "POST read whole, then stale close",
                FailedAttempt {
                    stale_pooled_connection: true,
                    ..post
                },
                No,
            ),
            (
                "POST cut while writing, stale",
                FailedAttempt {
                    stale_pooled_connection: true,
                    request_fully_sent: false,
                    ..post
                },
                Free,
            ),
            (
                "POST cut while writing, fresh",
                FailedAttempt {
                    request_fully_sent: false,
                    ..post
                },
                No,
            ),
        ];
        for (what, facts, want) in table {
            assert_eq!(decide(*facts), *want, "{what}");
        }
    }
}
