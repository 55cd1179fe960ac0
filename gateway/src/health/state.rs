//! Per-origin health state: active-probe verdicts, latency EWMA, passive ejection, slow start.
//!
//! One [`OriginHealth`] per origin, shared by every snapshot that contains the origin, so a
//! reload keeps what was learned about origins it did not change. All fields are atomics: the
//! request path reads them without locks and only writes on failures (or on the first success
//! after a failure).
//!
//! Times are milliseconds since the registry's epoch, passed in by the caller, so the state
//! machine is tested without a clock.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use edge_config::OutlierDetection;

/// Whether an origin may take traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not probed yet: takes no traffic (unlike Pingora's default of healthy-until-proven-not).
    Unknown,
    /// Passing probes.
    Healthy,
    /// Failing probes, or ejected by passive detection.
    Unhealthy,
}

impl Status {
    fn from_u8(v: u8) -> Status {
        match v {
            1 => Status::Healthy,
            2 => Status::Unhealthy,
            _ => Status::Unknown,
        }
    }
    fn as_u8(self) -> u8 {
        match self {
            Status::Unknown => 0,
            Status::Healthy => 1,
            Status::Unhealthy => 2,
        }
    }
    /// A label for logs and the admin API.
    pub fn label(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Healthy => "healthy",
            Status::Unhealthy => "unhealthy",
        }
    }
}

/// A change of an origin's status, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Before.
    pub from: Status,
    /// After.
    pub to: Status,
    /// Why, in words.
    pub reason: String,
}

/// Identifies an origin across reloads: its region and address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OriginKey {
    /// Region name.
    pub region: String,
    /// Address as configured.
    pub address: String,
}

impl fmt::Display for OriginKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.region, self.address)
    }
}

/// Weight of a new sample in the latency EWMA.
const EWMA_ALPHA: f64 = 0.3;

/// Lowest share of its weight a warming origin gets, so it is never starved of the traffic
/// that proves it works.
const MIN_WARMTH: f64 = 0.05;

/// The health of one origin.
#[derive(Debug)]
pub struct OriginHealth {
    /// Which origin.
    pub key: OriginKey,
    status: AtomicU8,
    probe_passes: AtomicU32,
    probe_failures: AtomicU32,
    /// EWMA of probe round trips in microseconds; 0 = no sample yet.
    latency_us: AtomicU64,
    live_failures: AtomicU32,
    ejected_until_ms: AtomicU64,
    ejections: AtomicU32,
    /// When it last became healthy after being unhealthy; 0 = no slow start.
    warming_since_ms: AtomicU64,
    /// When the next active probe is due.
    pub(crate) next_probe_ms: AtomicU64,
    /// A probe is in flight (so probes never overlap).
    pub(crate) probing: AtomicBool,
}

impl OriginHealth {
    /// A new origin: unknown until probed.
    pub fn new(key: OriginKey) -> Self {
        OriginHealth {
            key,
            status: AtomicU8::new(Status::Unknown.as_u8()),
            probe_passes: AtomicU32::new(0),
            probe_failures: AtomicU32::new(0),
            latency_us: AtomicU64::new(0),
            live_failures: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            warming_since_ms: AtomicU64::new(0),
            next_probe_ms: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    /// The current status.
    pub fn status(&self) -> Status {
        Status::from_u8(self.status.load(Ordering::Acquire))
    }

    /// True when the origin may be sent a request at `now_ms`.
    pub fn is_usable(&self, now_ms: u64) -> bool {
        self.status() == Status::Healthy && now_ms >= self.ejected_until_ms.load(Ordering::Acquire)
    }

    /// The probe latency EWMA, if any probe succeeded.
    pub fn latency(&self) -> Option<Duration> {
        match self.latency_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Until when the origin is ejected (ms since epoch; 0 = never ejected).
    pub fn ejected_until_ms(&self) -> u64 {
        self.ejected_until_ms.load(Ordering::Acquire)
    }

    /// How many times passive detection ejected it.
    pub fn ejections(&self) -> u32 {
        self.ejections.load(Ordering::Relaxed)
    }

    /// Share of its weight the origin gets at `now_ms` during slow start, in (0, 1].
    pub fn warmth(&self, now_ms: u64, slow_start: Duration) -> f64 {
        let since = self.warming_since_ms.load(Ordering::Relaxed);
        let window = slow_start.as_millis() as u64;
        if since == 0 || window == 0 || now_ms >= since + window {
            return 1.0;
        }
        ((now_ms.saturating_sub(since)) as f64 / window as f64).max(MIN_WARMTH)
    }

    fn set_status(&self, to: Status) {
        self.status.store(to.as_u8(), Ordering::Release);
    }

    /// Applies an active probe's result. `ok` means the status was expected; `rtt` is the
    /// time to the status line.
    pub fn record_probe(
        &self,
        ok: bool,
        rtt: Duration,
        now_ms: u64,
        rise: u32,
        fall: u32,
    ) -> Option<Transition> {
        let from = self.status();
        if ok {
            let sample = rtt.as_micros().max(1) as u64;
            let old = self.latency_us.load(Ordering::Relaxed);
            let ewma = if old == 0 {
                sample
            } else {
                (EWMA_ALPHA * sample as f64 + (1.0 - EWMA_ALPHA) * old as f64) as u64
            };
            self.latency_us.store(ewma.max(1), Ordering::Relaxed);
            self.probe_failures.store(0, Ordering::Relaxed);
            // While ejected, passing probes do not count: readmission starts after the
            // ejection time, with `rise` passes in a row.
            if now_ms < self.ejected_until_ms.load(Ordering::Acquire) {
                self.probe_passes.store(0, Ordering::Relaxed);
                return None;
            }
            let passes = self.probe_passes.fetch_add(1, Ordering::Relaxed) + 1;
            match from {
                // A new origin serves after its first passing probe, without slow start: at
                // startup every origin is new and none should be throttled.
                Status::Unknown => {
                    self.set_status(Status::Healthy);
                    Some(Transition {
                        from,
                        to: Status::Healthy,
                        reason: "first probe passed".into(),
                    })
                }
                Status::Unhealthy if passes >= rise => {
                    self.live_failures.store(0, Ordering::Relaxed);
                    self.warming_since_ms
                        .store(now_ms.max(1), Ordering::Relaxed);
                    self.set_status(Status::Healthy);
                    Some(Transition {
                        from,
                        to: Status::Healthy,
                        reason: format!("{passes} probes passed in a row (rise {rise})"),
                    })
                }
                _ => None,
            }
        } else {
            self.probe_passes.store(0, Ordering::Relaxed);
            let fails = self.probe_failures.fetch_add(1, Ordering::Relaxed) + 1;
            if from != Status::Unhealthy && fails >= fall {
                self.set_status(Status::Unhealthy);
                Some(Transition {
                    from,
                    to: Status::Unhealthy,
                    reason: format!("{fails} probes failed in a row (fall {fall})"),
                })
            } else {
                None
            }
        }
    }

    /// Counts a failure seen on live traffic; ejects the origin when there have been
    /// `consecutive_failures` in a row. The ejection time doubles with each ejection, capped.
    pub fn record_live_failure(&self, now_ms: u64, od: &OutlierDetection) -> Option<Transition> {
        let n = self.live_failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n < od.consecutive_failures.get() || self.status() != Status::Healthy {
            return None;
        }
        // Only the thread that reaches the threshold ejects.
        if self
            .live_failures
            .compare_exchange(n, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return None;
        }
        let base = od.base_ejection_time.as_millis() as u64;
        let cap = od.max_ejection_time.as_millis() as u64;
        // An origin that stayed in service for `max_ejection_time` since its last ejection
        // ended starts again from the base time: old trouble must not keep a recovered
        // origin out of rotation for the maximum every time it blips.
        let last_end = self.ejected_until_ms.load(Ordering::Acquire);
        if last_end != 0 && now_ms >= last_end.saturating_add(cap) {
            self.ejections.store(0, Ordering::Relaxed);
        }
        let k = self.ejections.fetch_add(1, Ordering::Relaxed).min(16);
        let duration = base.saturating_mul(1u64 << k).min(cap.max(base));
        self.ejected_until_ms
            .store(now_ms + duration, Ordering::Release);
        self.probe_passes.store(0, Ordering::Relaxed);
        self.set_status(Status::Unhealthy);
        Some(Transition {
            from: Status::Healthy,
            to: Status::Unhealthy,
            reason: format!(
                "ejected for {duration} ms after {n} consecutive failures on live traffic"
            ),
        })
    }

    /// Clears the live failure streak (cheap when there is none).
    pub fn record_live_success(&self) {
        if self.live_failures.load(Ordering::Relaxed) != 0 {
            self.live_failures.store(0, Ordering::Relaxed);
        }
    }
}

/// Every origin's health, keyed so that a reload finds the state of unchanged origins.
#[derive(Debug)]
pub struct HealthRegistry {
    epoch: Instant,
    entries: Mutex<HashMap<OriginKey, Weak<OriginHealth>>>,
}

impl Default for HealthRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthRegistry {
    /// An empty registry whose clock starts now.
    pub fn new() -> Self {
        HealthRegistry {
            epoch: Instant::now(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Milliseconds since the registry's epoch (never 0, which means "never" in the state).
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// The state of `key`: the existing one if a live snapshot still holds it, else new.
    pub fn get_or_create(&self, key: OriginKey) -> Arc<OriginHealth> {
        let mut entries = match self.entries.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(existing) = entries.get(&key).and_then(Weak::upgrade) {
            return existing;
        }
        entries.retain(|_, w| w.strong_count() > 0);
        let fresh = Arc::new(OriginHealth::new(key.clone()));
        entries.insert(key, Arc::downgrade(&fresh));
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn origin() -> OriginHealth {
        OriginHealth::new(OriginKey {
            region: "r".into(),
            address: "a".into(),
        })
    }
    const MS: Duration = Duration::from_millis(1);

    fn od() -> OutlierDetection {
        OutlierDetection {
            consecutive_failures: NonZeroU32::new(3).unwrap(),
            base_ejection_time: Duration::from_secs(5),
            max_ejection_time: Duration::from_secs(12),
            count_5xx: true,
        }
    }

    #[test]
    fn unknown_takes_no_traffic_until_first_pass() {
        let o = origin();
        assert!(!o.is_usable(10));
        let t = o.record_probe(true, MS, 10, 2, 2).unwrap();
        assert_eq!((t.from, t.to), (Status::Unknown, Status::Healthy));
        assert!(o.is_usable(10));
        assert_eq!(o.warmth(11, Duration::from_secs(10)), 1.0);
    }

    #[test]
    fn a_single_blip_neither_ejects_nor_readmits() {
        let o = origin();
        o.record_probe(true, MS, 1, 2, 2);
        assert!(o.record_probe(false, MS, 2, 2, 2).is_none());
        assert!(o.record_probe(true, MS, 3, 2, 2).is_none());
        assert!(o.record_probe(false, MS, 4, 2, 2).is_none());
        assert_eq!(o.status(), Status::Healthy);
        assert!(o.record_probe(false, MS, 5, 2, 2).is_some());
        assert_eq!(o.status(), Status::Unhealthy);
        // Flapping does not readmit.
        for t in 6..20 {
            o.record_probe(t % 2 == 0, MS, t, 2, 2);
            assert_eq!(o.status(), Status::Unhealthy, "t={t}");
        }
        o.record_probe(true, MS, 20, 2, 2);
        assert_eq!(o.status(), Status::Unhealthy);
        o.record_probe(true, MS, 21, 2, 2);
        assert_eq!(o.status(), Status::Healthy);
    }

    #[test]
    fn recovery_warms_up_over_the_slow_start_window() {
        let o = origin();
        o.record_probe(true, MS, 1, 1, 1);
        o.record_probe(false, MS, 2, 1, 1);
        o.record_probe(true, MS, 1_000, 1, 1);
        let w = Duration::from_secs(10);
        assert!((o.warmth(1_000, w) - MIN_WARMTH).abs() < 1e-9);
        assert!((o.warmth(6_000, w) - 0.5).abs() < 1e-9);
        assert_eq!(o.warmth(11_000, w), 1.0);
    }

    #[test]
    fn passive_ejection_grows_and_is_capped_and_needs_probes_to_return() {
        let o = origin();
        o.record_probe(true, MS, 1, 2, 2);
        assert!(o.record_live_failure(100, &od()).is_none());
        assert!(o.record_live_failure(100, &od()).is_none());
        assert!(o.record_live_failure(100, &od()).is_some());
        assert!(!o.is_usable(100));
        assert_eq!(o.ejected_until_ms(), 5_100);
        // Probes during ejection do not count.
        o.record_probe(true, MS, 2_000, 2, 2);
        o.record_probe(true, MS, 3_000, 2, 2);
        assert_eq!(o.status(), Status::Unhealthy);
        o.record_probe(true, MS, 5_200, 2, 2);
        assert_eq!(o.status(), Status::Unhealthy);
        o.record_probe(true, MS, 5_300, 2, 2);
        assert!(o.is_usable(5_300));
        // Second ejection: 10 s; third: capped at 12 s.
        for _ in 0..3 {
            o.record_live_failure(6_000, &od());
        }
        assert_eq!(o.ejected_until_ms(), 16_000);
        o.record_probe(true, MS, 16_001, 1, 2);
        for _ in 0..3 {
            o.record_live_failure(17_000, &od());
        }
        assert_eq!(o.ejected_until_ms(), 29_000);
    }

    #[test]
    fn the_ejection_multiplier_decays_after_a_quiet_period() {
        let o = origin();
        o.record_probe(true, MS, 1, 1, 1);
        for _ in 0..3 {
            o.record_live_failure(100, &od());
        }
        assert_eq!(o.ejected_until_ms(), 5_100);
        o.record_probe(true, MS, 5_200, 1, 1);
        // Trouble again soon after: doubled.
        for _ in 0..3 {
            o.record_live_failure(6_000, &od());
        }
        assert_eq!(o.ejected_until_ms(), 16_000);
        o.record_probe(true, MS, 16_100, 1, 1);
        // In service for longer than max_ejection_time (12 s) since: back to the base time.
        for _ in 0..3 {
            o.record_live_failure(30_000, &od());
        }
        assert_eq!(o.ejected_until_ms(), 35_000);
    }

    #[test]
    fn a_success_resets_the_failure_streak() {
        let o = origin();
        o.record_probe(true, MS, 1, 2, 2);
        o.record_live_failure(10, &od());
        o.record_live_failure(10, &od());
        o.record_live_success();
        assert!(o.record_live_failure(10, &od()).is_none());
        assert!(o.is_usable(10));
    }

    #[test]
    fn latency_is_an_ewma_of_passing_probes() {
        let o = origin();
        assert_eq!(o.latency(), None);
        o.record_probe(true, Duration::from_millis(10), 1, 2, 2);
        assert_eq!(o.latency(), Some(Duration::from_millis(10)));
        o.record_probe(true, Duration::from_millis(20), 2, 2, 2);
        assert_eq!(o.latency(), Some(Duration::from_millis(13)));
    }

    #[test]
    fn registry_keeps_state_while_a_snapshot_holds_it() {
        let reg = HealthRegistry::new();
        let key = OriginKey {
            region: "r".into(),
            address: "a".into(),
        };
        let a = reg.get_or_create(key.clone());
        a.record_probe(true, MS, 1, 1, 1);
        let b = reg.get_or_create(key.clone());
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        assert_eq!(reg.get_or_create(key).status(), Status::Unknown);
    }
}
