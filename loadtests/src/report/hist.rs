//! Latency histograms and the rounding every reported number goes through.

use hdrhistogram::Histogram;

use super::types::Latency;

/// A latency histogram in microseconds (1 µs to 1 h, 3 significant digits).
pub(super) struct Hist(Option<Histogram<u64>>);

impl Hist {
    pub(super) fn new() -> Hist {
        Hist(Histogram::new_with_bounds(1, 3_600_000_000, 3).ok())
    }
    pub(super) fn record(&mut self, us: u32) {
        if let Some(h) = self.0.as_mut() {
            h.saturating_record(u64::from(us.max(1)));
        }
    }
    pub(super) fn quantile_ms(&self, q: f64) -> f64 {
        self.0
            .as_ref()
            .filter(|h| !h.is_empty())
            .map_or(0.0, |h| round2(h.value_at_quantile(q) as f64 / 1000.0))
    }
    pub(super) fn summary(&self) -> Latency {
        let Some(h) = self.0.as_ref().filter(|h| !h.is_empty()) else {
            return Latency::default();
        };
        Latency {
            count: h.len(),
            mean: round2(h.mean() / 1000.0),
            p50: self.quantile_ms(0.5),
            p90: self.quantile_ms(0.9),
            p99: self.quantile_ms(0.99),
            p999: self.quantile_ms(0.999),
            max: round2(h.max() as f64 / 1000.0),
        }
    }
}

/// Rounded to two decimals.
pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Rounded to three decimals.
pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn histogram_summary_in_ms() {
        let mut h = Hist::new();
        for v in 1..=1000u32 {
            h.record(v * 1000);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500.0).abs() < 1.0, "{}", s.p50);
        assert!((s.p99 - 990.0).abs() < 1.0, "{}", s.p99);
        assert!((s.max - 1000.0).abs() < 1.0);
    }
}
