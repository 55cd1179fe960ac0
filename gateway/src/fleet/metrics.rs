//! The fleet's Prometheus metrics, registered in the gateway's registry (`/metrics`).

use prometheus::{Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

/// Latency buckets (seconds) of Redis calls: 100 µs .. 1 s.
const SYNC_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Every fleet metric.
#[derive(Debug, Clone)]
pub struct FleetMetrics {
    /// `edge_fleet_redis_up`: 1 when the last Redis call succeeded.
    pub redis_up: IntGauge,
    /// `edge_fleet_members`: live replicas at the last heartbeat (this one included).
    pub members: IntGauge,
    /// `edge_fleet_config_drift`: live replicas whose configuration hash differs from the
    /// most common one.
    pub config_drift: IntGauge,
    /// `edge_fleet_syncs_total{kind, result}`: Redis rounds by kind (`ratelimit`,
    /// `overrides`, `heartbeat`, `write`) and result (`ok`, `error`, `timeout`).
    pub syncs: IntCounterVec,
    /// `edge_fleet_sync_duration_seconds{kind}`: how long each successful round took.
    pub sync_seconds: HistogramVec,
    /// `edge_fleet_ratelimit_keys`: fleet rate-limit keys this replica tracks.
    pub keys: IntGauge,
    /// `edge_fleet_ratelimit_overshoot_seconds`: the documented bound on what the fleet can
    /// admit beyond one quota's `rps × window + burst`, in seconds of that quota's rate:
    /// `(replicas + 1) × sync_interval`.
    pub overshoot: Gauge,
    /// `edge_fleet_overrides_version`: the overrides version this replica applied.
    pub overrides_version: IntGauge,
    /// `edge_fleet_rate_limited_total{scope}`: requests refused by a fleet-wide limit.
    pub rate_limited: IntCounterVec,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bug: invalid fleet metric definition: {e}");
            std::process::abort()
        }
    }
}

impl FleetMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Self {
        let gauge = |name: &str, help: &str| {
            let g = must(IntGauge::new(name, help));
            let _ = registry.register(Box::new(g.clone()));
            g
        };
        let redis_up = gauge(
            "edge_fleet_redis_up",
            "1 when the last call to the fleet's Redis succeeded, else 0.",
        );
        let members = gauge(
            "edge_fleet_members",
            "Live replicas of the fleet at the last heartbeat, this one included.",
        );
        let config_drift = gauge(
            "edge_fleet_config_drift",
            "Live replicas whose configuration hash differs from the fleet's most common one.",
        );
        let keys = gauge(
            "edge_fleet_ratelimit_keys",
            "Fleet-wide rate-limit keys (tenant, tenant and route) this replica tracks.",
        );
        let overrides_version = gauge(
            "edge_fleet_overrides_version",
            "Version of the fleet-wide overrides this replica applied.",
        );
        let syncs = must(IntCounterVec::new(
            Opts::new(
                "edge_fleet_syncs_total",
                "Redis rounds of the fleet, by kind and result.",
            ),
            &["kind", "result"],
        ));
        let _ = registry.register(Box::new(syncs.clone()));
        let sync_seconds = must(HistogramVec::new(
            HistogramOpts::new(
                "edge_fleet_sync_duration_seconds",
                "Duration of successful Redis rounds of the fleet, by kind.",
            )
            .buckets(SYNC_BUCKETS.to_vec()),
            &["kind"],
        ));
        let _ = registry.register(Box::new(sync_seconds.clone()));
        let overshoot = must(Gauge::new(
            "edge_fleet_ratelimit_overshoot_seconds",
            "Bound on what the fleet admits beyond rps x window + burst of a quota, in \
             seconds of its rate: (replicas + 1) x sync_interval.",
        ));
        let _ = registry.register(Box::new(overshoot.clone()));
        let rate_limited = must(IntCounterVec::new(
            Opts::new(
                "edge_fleet_rate_limited_total",
                "Requests refused by a fleet-wide rate limit, by scope.",
            ),
            &["scope"],
        ));
        let _ = registry.register(Box::new(rate_limited.clone()));
        FleetMetrics {
            redis_up,
            members,
            config_drift,
            syncs,
            sync_seconds,
            keys,
            overshoot,
            overrides_version,
            rate_limited,
        }
    }

    /// Records one round of `kind`: its result, and its duration when it succeeded.
    pub fn round<T, E: std::fmt::Display>(
        &self,
        kind: &str,
        started: std::time::Instant,
        result: &Result<T, E>,
        timed_out: impl Fn(&E) -> bool,
    ) {
        let label = match result {
            Ok(_) => {
                self.sync_seconds
                    .with_label_values(&[kind])
                    .observe(started.elapsed().as_secs_f64());
                "ok"
            }
            Err(e) if timed_out(e) => "timeout",
            Err(_) => "error",
        };
        self.syncs.with_label_values(&[kind, label]).inc();
    }
}
