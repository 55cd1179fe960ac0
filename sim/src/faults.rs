//! Behavioural faults of an origin, switchable at run time from any thread.
//!
//! Plain atomics rather than a lock: the request path reads them on every request and
//! the controls must be callable from synchronous code (test bodies, a load harness).

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;
use rand::Rng;
use tokio::sync::watch;

/// Current fault settings of one origin.
#[derive(Debug)]
pub(crate) struct Faults {
    /// A watch channel rather than a flag so that hung requests resume as soon as the
    /// hang is lifted, instead of polling.
    hang: watch::Sender<bool>,
    latency_fixed_us: AtomicU64,
    latency_jitter_us: AtomicU64,
    error_rate_bits: AtomicU64,
    health_status: AtomicU16,
    /// When set, `/healthz` alternates pass / fail on every probe (a flapping origin).
    health_flapping: std::sync::atomic::AtomicBool,
    flap_counter: AtomicU64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            hang: watch::Sender::new(false),
            latency_fixed_us: AtomicU64::new(0),
            latency_jitter_us: AtomicU64::new(0),
            error_rate_bits: AtomicU64::new(0.0f64.to_bits()),
            health_status: AtomicU16::new(StatusCode::OK.as_u16()),
            health_flapping: std::sync::atomic::AtomicBool::new(false),
            flap_counter: AtomicU64::new(0),
        }
    }
}

/// Saturating conversion: latencies beyond u64 microseconds (~584k years) are moot.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Faults {
    pub(crate) fn set_hang(&self, hang: bool) {
        self.hang.send_replace(hang);
    }

    pub(crate) fn is_hanging(&self) -> bool {
        *self.hang.borrow()
    }

    /// Resolves once the origin is not hanging (immediately if it is not).
    pub(crate) async fn wait_unhung(&self) {
        let mut rx = self.hang.subscribe();
        // The sender lives as long as `self`, so an error cannot happen while we wait.
        let _ = rx.wait_for(|hanging| !*hanging).await;
    }

    pub(crate) fn set_latency(&self, fixed: Duration, jitter: Duration) {
        self.latency_fixed_us
            .store(micros(fixed), Ordering::Relaxed);
        self.latency_jitter_us
            .store(micros(jitter), Ordering::Relaxed);
    }

    /// The configured `(fixed, jitter)` latency.
    pub(crate) fn latency(&self) -> (Duration, Duration) {
        (
            Duration::from_micros(self.latency_fixed_us.load(Ordering::Relaxed)),
            Duration::from_micros(self.latency_jitter_us.load(Ordering::Relaxed)),
        )
    }

    /// Draws the delay for one response: fixed + uniform(0..=jitter).
    pub(crate) fn sample_delay(&self) -> Duration {
        let fixed = self.latency_fixed_us.load(Ordering::Relaxed);
        let jitter = self.latency_jitter_us.load(Ordering::Relaxed);
        let extra = if jitter == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=jitter)
        };
        Duration::from_micros(fixed.saturating_add(extra))
    }

    /// Stores `rate` clamped to 0.0..=1.0; NaN counts as 0.
    pub(crate) fn set_error_rate(&self, rate: f64) {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self.error_rate_bits
            .store(rate.to_bits(), Ordering::Relaxed);
    }

    pub(crate) fn error_rate(&self) -> f64 {
        f64::from_bits(self.error_rate_bits.load(Ordering::Relaxed))
    }

    /// Decides whether this request gets an injected error.
    pub(crate) fn roll_error(&self) -> bool {
        let rate = self.error_rate();
        // Short-circuits keep the common no-fault path free of RNG work.
        rate > 0.0 && (rate >= 1.0 || rand::thread_rng().gen_bool(rate))
    }

    pub(crate) fn set_health_status(&self, status: u16) {
        self.health_status.store(status, Ordering::Relaxed);
    }

    /// The status `/healthz` answers; a code that is not a valid HTTP status maps to 500
    /// so a typo in a test still produces a failing probe rather than a broken response.
    pub(crate) fn health_status(&self) -> StatusCode {
        StatusCode::from_u16(self.health_status.load(Ordering::Relaxed))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub(crate) fn set_health_flapping(&self, flapping: bool) {
        self.health_flapping.store(flapping, Ordering::Relaxed);
    }

    /// The status for one probe: while flapping, every other probe fails (500).
    pub(crate) fn next_health_status(&self) -> StatusCode {
        if self.health_flapping.load(Ordering::Relaxed)
            && self.flap_counter.fetch_add(1, Ordering::Relaxed) % 2 == 1
        {
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        self.health_status()
    }

    pub(crate) fn reset(&self) {
        self.set_hang(false);
        self.set_latency(Duration::ZERO, Duration::ZERO);
        self.set_error_rate(0.0);
        self.set_health_status(StatusCode::OK.as_u16());
        self.set_health_flapping(false);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_is_clamped() {
        let f = Faults::default();
        assert!(!f.roll_error());
        f.set_error_rate(7.0);
        assert_eq!(f.error_rate(), 1.0);
        assert!(f.roll_error());
        f.set_error_rate(-1.0);
        assert_eq!(f.error_rate(), 0.0);
        f.set_error_rate(f64::NAN);
        assert_eq!(f.error_rate(), 0.0);
    }

    #[test]
    fn delay_stays_within_bounds() {
        let f = Faults::default();
        assert_eq!(f.sample_delay(), Duration::ZERO);
        f.set_latency(Duration::from_millis(10), Duration::from_millis(5));
        for _ in 0..100 {
            let d = f.sample_delay();
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(15));
        }
    }

    #[test]
    fn invalid_health_status_maps_to_500_and_reset_restores() {
        let f = Faults::default();
        f.set_health_status(42);
        assert_eq!(f.health_status(), StatusCode::INTERNAL_SERVER_ERROR);
        f.set_hang(true);
        f.set_error_rate(0.5);
        f.reset();
        assert_eq!(f.health_status(), StatusCode::OK);
        assert!(!f.is_hanging());
        assert_eq!(f.error_rate(), 0.0);
        assert_eq!(f.latency(), (Duration::ZERO, Duration::ZERO));
    }

    #[tokio::test]
    async fn unhang_releases_waiters() {
        let f = std::sync::Arc::new(Faults::default());
        f.set_hang(true);
        let waiter = tokio::spawn({
            let f = f.clone();
            async move { f.wait_unhung().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        f.set_hang(false);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
