//! Prometheus metrics: one registry, low cardinality (no tenant label).
//!
//! Counters on the request path are resolved once per label set and cached where it matters;
//! per-origin gauges (health, latency, ejections) are read from the health state at scrape
//! time instead of being pushed on every change.

use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::health::{OriginStates, Status};
use crate::topology::{GeoId, RegionId, Snapshot};

/// Latency buckets (seconds) for request durations: 1 ms .. 30 s.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric the gateway exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by geography, region (`-` when no origin answered) and status class.
    pub requests: IntCounterVec,
    /// Request duration by region.
    pub duration: HistogramVec,
    /// Upstream attempts (every connection attempt to an origin).
    pub upstream_attempts: IntCounter,
    /// Attempts beyond the first of a request.
    pub retries: IntCounter,
    /// Requests answered by an origin other than their first candidate.
    pub failovers: IntCounter,
    /// Connect failures by origin.
    pub connect_failures: IntCounterVec,
    /// 503s because the tenant's geography had no usable origin (residency refusals).
    pub residency_refusals: IntCounterVec,
    /// Requests refused by a rate limit, by scope.
    pub rate_limited: IntCounterVec,
    /// Config reloads by result (`ok`, `invalid`, `failed`).
    pub reloads: IntCounterVec,
    /// Generation of the active config.
    pub generation: IntGauge,
    /// TLS handshakes by protocol version.
    pub tls_handshakes: IntCounterVec,
    /// Open client connections (HTTPS and HTTP listeners; the admin listener is not counted).
    pub open_connections: IntGauge,
    /// Downstream limits hit, by limit (`max_connections`, `tls_handshake_timeout`,
    /// `request_header_timeout`, `idle_timeout`, `max_uri_bytes`, `max_header_bytes`,
    /// `max_headers`, `max_body_bytes`).
    pub limit_hits: IntCounterVec,
    /// Failed downstream TLS handshakes, by reason (`error`, `timeout`).
    pub tls_handshake_failures: IntCounterVec,
    /// Requests by the client's continent (when a location database is configured).
    pub requests_by_continent: IntCounterVec,
    origin_healthy: IntGaugeVec,
    origin_latency: prometheus::GaugeVec,
    origin_ejections: IntGaugeVec,
}

/// Metric definitions are static: an invalid one is a bug caught by the unit test below, never
/// something input can trigger, so it stops the process with a message rather than limp on.
fn defined<T>(r: prometheus::Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bug: invalid metric definition: {e}");
            std::process::abort()
        }
    }
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = defined(IntCounterVec::new(Opts::new(name, help), labels));
    let _ = r.register(Box::new(c.clone()));
    c
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let r = Registry::new();
        let requests = counter_vec(
            &r,
            "edge_requests_total",
            "Requests by tenant geography, serving region and status class.",
            &["geography", "region", "class"],
        );
        let duration = defined(HistogramVec::new(
            HistogramOpts::new(
                "edge_request_duration_seconds",
                "Time from request headers to the end of the response, by serving region.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["region"],
        ));
        let _ = r.register(Box::new(duration.clone()));
        let simple = |name: &str, help: &str| {
            let c = defined(IntCounter::new(name, help));
            let _ = r.register(Box::new(c.clone()));
            c
        };
        let upstream_attempts = simple(
            "edge_upstream_attempts_total",
            "Connection attempts to origins.",
        );
        let retries = simple(
            "edge_upstream_retries_total",
            "Upstream attempts beyond the first of a request.",
        );
        let failovers = simple(
            "edge_failovers_total",
            "Requests served by an origin other than their first candidate.",
        );
        let connect_failures = counter_vec(
            &r,
            "edge_upstream_connect_failures_total",
            "Failed connection attempts, by origin.",
            &["region", "origin"],
        );
        let residency_refusals = counter_vec(
            &r,
            "edge_residency_refusals_total",
            "503 answers because no origin of the tenant's geography could serve.",
            &["geography"],
        );
        let rate_limited = counter_vec(
            &r,
            "edge_rate_limited_total",
            "Requests refused by a rate limit, by scope.",
            &["scope"],
        );
        let reloads = counter_vec(
            &r,
            "edge_config_reloads_total",
            "Configuration reloads by result.",
            &["result"],
        );
        let generation = defined(IntGauge::new(
            "edge_config_generation",
            "Generation of the active configuration.",
        ));
        let _ = r.register(Box::new(generation.clone()));
        let tls_handshakes = counter_vec(
            &r,
            "edge_tls_handshakes_total",
            "Completed downstream TLS handshakes, by protocol version.",
            &["version"],
        );
        let open_connections = defined(IntGauge::new(
            "edge_downstream_connections_open",
            "Open client connections (HTTPS and HTTP listeners).",
        ));
        let _ = r.register(Box::new(open_connections.clone()));
        let limit_hits = counter_vec(
            &r,
            "edge_limit_hits_total",
            "Connections or requests refused or closed by a downstream limit, by limit.",
            &["limit"],
        );
        let tls_handshake_failures = counter_vec(
            &r,
            "edge_tls_handshake_failures_total",
            "Downstream TLS handshakes that failed or timed out, by reason.",
            &["reason"],
        );
        let requests_by_continent = counter_vec(
            &r,
            "edge_requests_by_client_continent_total",
            "Requests by the client's continent (location database), `unknown` when not found.",
            &["continent"],
        );
        let origin_healthy = defined(IntGaugeVec::new(
            Opts::new(
                "edge_origin_healthy",
                "1 when the origin takes traffic (healthy, not ejected), else 0.",
            ),
            &["region", "origin"],
        ));
        let _ = r.register(Box::new(origin_healthy.clone()));
        let origin_latency = defined(prometheus::GaugeVec::new(
            Opts::new(
                "edge_origin_probe_latency_seconds",
                "EWMA of active probe round trips.",
            ),
            &["region", "origin"],
        ));
        let _ = r.register(Box::new(origin_latency.clone()));
        let origin_ejections = defined(IntGaugeVec::new(
            Opts::new(
                "edge_origin_ejections",
                "Times passive outlier detection ejected the origin.",
            ),
            &["region", "origin"],
        ));
        let _ = r.register(Box::new(origin_ejections.clone()));
        Metrics {
            registry: r,
            requests,
            duration,
            upstream_attempts,
            retries,
            failovers,
            connect_failures,
            residency_refusals,
            rate_limited,
            reloads,
            generation,
            tls_handshakes,
            open_connections,
            limit_hits,
            tls_handshake_failures,
            requests_by_continent,
            origin_healthy,
            origin_latency,
            origin_ejections,
        }
    }

    /// Renders every metric in the Prometheus text format, refreshing per-origin gauges from
    /// `snapshot` and its origins' `health` first.
    pub fn render(&self, snapshot: &Snapshot, health: &OriginStates) -> String {
        self.origin_healthy.reset();
        self.origin_latency.reset();
        self.origin_ejections.reset();
        let now = health.now_ms();
        for ((_, h), origin) in health.iter().zip(snapshot.origins()) {
            let region = snapshot.region(origin.region).name.as_str();
            let labels = [region, origin.address.as_str()];
            self.origin_healthy
                .with_label_values(&labels)
                .set(i64::from(h.status() == Status::Healthy && h.is_usable(now)));
            if let Some(l) = h.latency() {
                self.origin_latency
                    .with_label_values(&labels)
                    .set(l.as_secs_f64());
            }
            self.origin_ejections
                .with_label_values(&labels)
                .set(i64::from(h.ejections()));
        }
        self.generation.set(snapshot.generation as i64);
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// The registry `/metrics` renders, for metrics defined elsewhere (`fleet/metrics.rs`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The request counter and duration histogram for one (geography, region) pair.
    pub fn request_handles(&self, geography: &str, region: &str) -> RequestHandles {
        let classes = ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .map(|c| self.requests.with_label_values(&[geography, region, c]));
        RequestHandles {
            by_class: Arc::new(classes),
            duration: self.duration.with_label_values(&[region]),
        }
    }
}

/// The request metrics of one snapshot's regions and geographies, resolved once when the
/// snapshot is swapped in, so the request path does no label lookups.
#[derive(Debug, Clone, Default)]
pub struct SnapshotMetrics {
    regions: Vec<RequestHandles>,
    geographies: Vec<RequestHandles>,
}

impl SnapshotMetrics {
    /// Resolves the handles of every region (by geography and region) and of every
    /// geography (region `-`, for requests no origin answered) of `snapshot`.
    pub fn bind(metrics: &Metrics, snapshot: &Snapshot) -> Self {
        let regions = snapshot
            .regions()
            .iter()
            .map(|r| {
                let geo = snapshot.geography(r.geography).name.as_str();
                metrics.request_handles(geo, r.name.as_str())
            })
            .collect();
        let geographies = snapshot
            .geographies()
            .iter()
            .map(|g| metrics.request_handles(g.name.as_str(), "-"))
            .collect();
        SnapshotMetrics {
            regions,
            geographies,
        }
    }

    /// Request metrics of region `id`.
    pub fn region(&self, id: RegionId) -> Option<&RequestHandles> {
        self.regions.get(id.0 as usize)
    }

    /// Request metrics of geography `id`, for requests no origin answered.
    pub fn geography(&self, id: GeoId) -> Option<&RequestHandles> {
        self.geographies.get(id.0 as usize)
    }
}

/// Pre-resolved request metrics for one (geography, region): no label hashing per request.
#[derive(Debug, Clone)]
pub struct RequestHandles {
    by_class: Arc<[IntCounter; 5]>,
    duration: Histogram,
}

impl RequestHandles {
    /// Counts one finished request.
    pub fn observe(&self, status: u16, seconds: f64) {
        let class = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            _ => 4,
        };
        self.by_class[class].inc();
        self.duration.observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_registers_and_renders() {
        let m = Metrics::new();
        m.request_handles("eu", "northeurope").observe(200, 0.01);
        m.rate_limited.with_label_values(&["tenant"]).inc();
        let families = m.registry.gather();
        let names: Vec<_> = families.iter().map(|f| f.name().to_string()).collect();
        for want in [
            "edge_requests_total",
            "edge_request_duration_seconds",
            "edge_rate_limited_total",
            "edge_config_generation",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
    }
}
