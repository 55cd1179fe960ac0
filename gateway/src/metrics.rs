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

/// The continent labels, in [`Metrics::count_continent`]'s order.
const CONTINENTS: [&str; 8] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA", "unknown"];

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
    /// `edge_requests_by_client_continent_total` (when a location database is configured),
    /// resolved per continent (seven, then `unknown`): the request path does no label lookup.
    by_continent: [IntCounter; 8],
    /// Access-log lines written (handed to the writer).
    pub access_log_lines: IntCounter,
    /// Access-log lines dropped because the writer's buffer was full.
    pub access_log_dropped: IntCounter,
    /// Connections passed through, still encrypted, to an edge of the tenant's geography, by
    /// that geography (`[edge]`).
    pub residency_passthrough: IntCounterVec,
    /// Connections of a foreign tenant closed at the ClientHello, by the tenant's geography and
    /// reason (`no_healthy_peer`, `loop`, `peer_unreachable`).
    pub residency_handshake_refusals: IntCounterVec,
    /// Requests of a foreign tenant decrypted at this edge (found after decryption: header,
    /// path or JWT tenancy), by the tenant's geography, whether proxied on or refused (421).
    pub residency_foreign_terminations: IntCounterVec,
    /// Connections closed for their PROXY header, by reason (`untrusted`, `malformed`).
    pub proxy_protocol_refusals: IntCounterVec,
    /// 1 when a peer edge address takes connections (TCP probe), else 0.
    pub peer_healthy: IntGaugeVec,
    origin_healthy: IntGaugeVec,
    origin_latency: prometheus::GaugeVec,
    origin_ejections: IntGaugeVec,
    /// The DNS responder's metrics (registered whether or not `[dns]` is set).
    pub dns: DnsMetrics,
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
        let access_log_lines = simple(
            "edge_access_log_lines_total",
            "Access-log lines handed to the log writer.",
        );
        let access_log_dropped = simple(
            "edge_access_log_dropped_total",
            "Access-log lines dropped because the sink was slower than the traffic.",
        );
        let residency_passthrough = counter_vec(
            &r,
            "edge_residency_passthrough_total",
            "Connections passed through still encrypted to an edge of the tenant's geography.",
            &["geography"],
        );
        let residency_handshake_refusals = counter_vec(
            &r,
            "edge_residency_handshake_refusals_total",
            "Foreign tenants' connections closed at the ClientHello, by geography and reason.",
            &["geography", "reason"],
        );
        let residency_foreign_terminations = counter_vec(
            &r,
            "edge_residency_foreign_terminations_total",
            "Requests of foreign tenants decrypted at this edge (tenant found after decryption).",
            &["geography"],
        );
        let proxy_protocol_refusals = counter_vec(
            &r,
            "edge_proxy_protocol_refusals_total",
            "Connections closed for their PROXY protocol header, by reason.",
            &["reason"],
        );
        let peer_healthy = defined(IntGaugeVec::new(
            Opts::new(
                "edge_peer_healthy",
                "1 when a peer edge address takes connections (TCP probe), else 0.",
            ),
            &["geography", "address"],
        ));
        let _ = r.register(Box::new(peer_healthy.clone()));
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
        let dns = DnsMetrics::new(&r);
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
            by_continent: CONTINENTS.map(|c| requests_by_continent.with_label_values(&[c])),
            access_log_lines,
            access_log_dropped,
            residency_passthrough,
            residency_handshake_refusals,
            residency_foreign_terminations,
            proxy_protocol_refusals,
            peer_healthy,
            origin_healthy,
            origin_latency,
            origin_ejections,
            dns,
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

    /// Counts a request from `continent` (`None`: not found in the location database).
    pub fn count_continent(&self, continent: Option<edge_config::ContinentCode>) {
        let i = continent
            .and_then(|c| CONTINENTS.iter().position(|l| *l == c.as_str()))
            .unwrap_or(CONTINENTS.len() - 1);
        self.by_continent[i].inc();
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

/// The DNS responder's metrics (`dns/`).
#[derive(Debug, Clone)]
pub struct DnsMetrics {
    /// Answered queries by question type (`A`, `AAAA`, ..., `other`, `-` when none could be
    /// read) and response code (`NOERROR`, `NXDOMAIN`, `FORMERR`, ...).
    pub queries: IntCounterVec,
    /// Answers given while every edge of the geography (for that address family) was
    /// unhealthy or drained: the geography's edges anyway, never another geography's.
    pub fail_static: IntCounterVec,
    /// Packets and connections dropped without an answer, by reason (`no_header`,
    /// `response`, `oversized`, `tcp_limit`).
    pub dropped: IntCounterVec,
    /// UDP answers cut to the header and question with TC set (the client retries over TCP).
    pub truncated: IntCounter,
    /// Open DNS TCP connections.
    pub tcp_open: IntGauge,
    /// 1 when the edge passes its probes, else 0.
    pub edge_healthy: IntGaugeVec,
}

impl DnsMetrics {
    fn new(r: &Registry) -> Self {
        let gauge = |name: &str, help: &str| {
            let g = defined(IntGauge::new(name, help));
            let _ = r.register(Box::new(g.clone()));
            g
        };
        let truncated = defined(IntCounter::new(
            "edge_dns_truncated_total",
            "UDP answers truncated (TC) because they exceeded what the query allows.",
        ));
        let _ = r.register(Box::new(truncated.clone()));
        let edge_healthy = defined(IntGaugeVec::new(
            Opts::new(
                "edge_dns_edge_healthy",
                "1 when the DNS edge passes its TCP probes, else 0.",
            ),
            &["geography", "address"],
        ));
        let _ = r.register(Box::new(edge_healthy.clone()));
        DnsMetrics {
            queries: counter_vec(
                r,
                "edge_dns_queries_total",
                "DNS queries answered, by question type and response code.",
                &["type", "rcode"],
            ),
            fail_static: counter_vec(
                r,
                "edge_dns_fail_static_total",
                "DNS answers given with a geography's edges although none was healthy.",
                &["geography"],
            ),
            dropped: counter_vec(
                r,
                "edge_dns_dropped_total",
                "DNS packets or connections dropped without an answer, by reason.",
                &["reason"],
            ),
            truncated,
            tcp_open: gauge("edge_dns_tcp_connections_open", "Open DNS TCP connections."),
            edge_healthy,
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
