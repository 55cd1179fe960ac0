//! The documented defaults and bounds of every config key, and the `Default` of each model
//! section built from them.
//!
//! Used at validation time ([`crate::validate`] falls back to these for absent or wrong keys)
//! and by anything that builds a model section without a file (`Health::default()` and the
//! like). They are public as `edge_config::validate::*`, where they have always been; keeping
//! them apart from the validator means adding a key edits this file for its default and one
//! section file of `validate/` for its checks.

use std::collections::{BTreeMap, HashMap};
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use crate::model::{
    AccessLog, AccessLogFormat, HeaderCase, Health, Limits, LogSink, OutlierDetection, PeerHealth,
    RateLimits, RetryBudget, Routing, Server, StatusRange,
};

/// Default `server.grace_period`.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// Upper bound of `server.threads`.
pub const MAX_THREADS: u32 = 1024;
/// Default `tls.hsts_max_age` (365 days).
pub const DEFAULT_HSTS_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Default weight of regions and origins.
pub const DEFAULT_WEIGHT: u32 = 100;
/// Upper bound of region and origin weights.
pub const MAX_WEIGHT: u32 = 1000;
/// Default `health.path`.
pub const DEFAULT_HEALTH_PATH: &str = "/healthz";
/// Default `health.interval`.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// Lower bound of `health.interval`: faster probing only loads the origins.
pub const MIN_HEALTH_INTERVAL: Duration = Duration::from_millis(100);
/// Default `health.timeout`.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_millis(500);
/// Default `health.rise` and `health.fall`.
pub const DEFAULT_RISE_FALL: u32 = 2;
/// Default `routing.max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Upper bound of `routing.max_attempts`.
pub const MAX_ATTEMPTS: u32 = 10;
/// Default `routing.connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default `routing.read_timeout`.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `routing.write_timeout`.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `routing.idle_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(55);
/// Default `health.expected_statuses`: any 2xx or 3xx answer passes.
pub const DEFAULT_EXPECTED_STATUSES: StatusRange = StatusRange { lo: 200, hi: 399 };
/// Default `outlier_detection.consecutive_failures`.
pub const DEFAULT_CONSECUTIVE_FAILURES: u32 = 3;
/// Upper bound of `outlier_detection.consecutive_failures`.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 100;
/// Default `outlier_detection.base_ejection_time`.
pub const DEFAULT_BASE_EJECTION_TIME: Duration = Duration::from_secs(5);
/// Default `outlier_detection.max_ejection_time`.
pub const DEFAULT_MAX_EJECTION_TIME: Duration = Duration::from_secs(60);
/// Default `routing.latency_sensitivity`.
pub const DEFAULT_LATENCY_SENSITIVITY: Duration = Duration::from_millis(50);
/// Default `routing.retry_methods`: the idempotent methods (RFC 9110) minus `TRACE`.
pub const DEFAULT_RETRY_METHODS: [&str; 5] = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"];
/// Default `routing.slow_start`.
pub const DEFAULT_SLOW_START: Duration = Duration::from_secs(10);
/// Default `routing.retry_budget.ratio`.
pub const DEFAULT_RETRY_RATIO: f64 = 0.2;
/// Default `routing.retry_budget.window`.
pub const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(10);
/// Default `routing.retry_budget.min_concurrent`.
pub const DEFAULT_RETRY_MIN_CONCURRENT: u32 = 3;
/// Default `rate_limits.max_tracked_clients`.
pub const DEFAULT_MAX_TRACKED_CLIENTS: usize = 1_000_000;
/// Default `rate_limits.idle_eviction`.
pub const DEFAULT_IDLE_EVICTION: Duration = Duration::from_secs(60);
/// Default `fleet.key_prefix`.
pub const DEFAULT_FLEET_KEY_PREFIX: &str = "edge:";
/// Default `fleet.sync_interval`.
pub const DEFAULT_FLEET_SYNC_INTERVAL: Duration = Duration::from_millis(100);
/// Bounds of `fleet.sync_interval`.
pub const MIN_FLEET_SYNC_INTERVAL: Duration = Duration::from_millis(10);
/// Upper bound of `fleet.sync_interval`.
pub const MAX_FLEET_SYNC_INTERVAL: Duration = Duration::from_secs(10);
/// Default `fleet.timeout`.
pub const DEFAULT_FLEET_TIMEOUT: Duration = Duration::from_millis(25);
/// Lower bound of `fleet.timeout`.
pub const MIN_FLEET_TIMEOUT: Duration = Duration::from_millis(1);
/// Default `limits.max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10_000;
/// Upper bound of `limits.max_connections`.
pub const MAX_CONNECTIONS: u32 = 1_000_000;
/// Default `limits.tls_handshake_timeout`.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `limits.request_header_timeout`.
pub const DEFAULT_REQUEST_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `limits.idle_timeout` (downstream keep-alive; `routing.idle_timeout` is
/// [`DEFAULT_IDLE_TIMEOUT`]).
pub const DEFAULT_CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `limits.max_uri_bytes`.
pub const DEFAULT_MAX_URI_BYTES: usize = 8 * 1024;
/// Lower bound of `limits.max_uri_bytes`.
pub const MIN_URI_BYTES: usize = 64;
/// Upper bound of `limits.max_uri_bytes`.
pub const MAX_URI_BYTES: usize = 1024 * 1024 - 1;
/// Default `limits.max_header_bytes`.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// Lower bound of `limits.max_header_bytes`.
pub const MIN_HEADER_BYTES: usize = 1024;
/// Upper bound of `limits.max_header_bytes`: Pingora refuses a request head of 1 MiB or more
/// whatever the setting.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024 - 1;
/// Default `limits.max_headers`.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Upper bound of `limits.max_headers`: Pingora's parser refuses more header fields.
pub const MAX_HEADERS: usize = 256;
/// Default `limits.max_body_bytes` (10 MiB).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// Default `limits.h2_max_concurrent_streams`.
pub const DEFAULT_H2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Upper bound of `limits.h2_max_concurrent_streams`.
pub const MAX_H2_CONCURRENT_STREAMS: u32 = 10_000;
/// Default `limits.h2_max_reset_streams`: client stream resets per h2 connection within
/// 10 s before it is told `GOAWAY(ENHANCE_YOUR_CALM)`.
pub const DEFAULT_H2_MAX_RESET_STREAMS: u32 = 100;
/// Upper bound of `limits.h2_max_reset_streams`.
pub const MAX_H2_MAX_RESET_STREAMS: u32 = 100_000;
/// Default `access_log.buffer_bytes`: per worker thread, about 4,000 JSON lines.
pub const DEFAULT_ACCESS_LOG_BUFFER: usize = 1 << 20;
/// Bounds of `access_log.buffer_bytes`.
pub const MIN_ACCESS_LOG_BUFFER: usize = 4096;
/// Upper bound of `access_log.buffer_bytes` (256 MiB per thread).
pub const MAX_ACCESS_LOG_BUFFER: usize = 1 << 28;
/// Default `access_log.flush_interval`.
pub const DEFAULT_ACCESS_LOG_FLUSH: Duration = Duration::from_millis(100);
/// Bounds of `access_log.flush_interval`.
pub const MIN_ACCESS_LOG_FLUSH: Duration = Duration::from_millis(10);
/// Upper bound of `access_log.flush_interval`.
pub const MAX_ACCESS_LOG_FLUSH: Duration = Duration::from_secs(10);
/// Default `limits.keepalive_requests`.
pub const DEFAULT_KEEPALIVE_REQUESTS: u32 = 10_000;
/// Default `geo.reload_interval`.
pub const DEFAULT_GEO_RELOAD_INTERVAL: Duration = Duration::from_secs(5);
/// Lower bound of `geo.reload_interval`: checking a file's size and time more often gains
/// nothing, since databases change weekly at most.
pub const MIN_GEO_RELOAD_INTERVAL: Duration = Duration::from_millis(100);

/// Default `dns.ttl`: short, so a failover inside a geography reaches clients within half a
/// minute of a resolver's cache.
pub const DEFAULT_DNS_TTL: Duration = Duration::from_secs(30);
/// Upper bound of `dns.ttl` and `dns.negative_ttl`.
pub const MAX_DNS_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default `dns.refresh` (read by secondaries of an exported zone only).
pub const DEFAULT_DNS_REFRESH: Duration = Duration::from_secs(60 * 60);
/// Default `dns.retry`.
pub const DEFAULT_DNS_RETRY: Duration = Duration::from_secs(10 * 60);
/// Default `dns.expire`.
pub const DEFAULT_DNS_EXPIRE: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Default `dns.negative_ttl` (the SOA minimum, RFC 2308).
pub const DEFAULT_DNS_NEGATIVE_TTL: Duration = Duration::from_secs(30);
/// Default `dns.max_answers`: Traffic Manager's MultiValue default.
pub const DEFAULT_DNS_MAX_ANSWERS: u32 = 8;
/// Upper bound of `dns.max_answers`.
pub const MAX_DNS_ANSWERS: u32 = 64;
/// Default `dns.max_udp_payload`: the DNS Flag Day 2020 size, which avoids IP fragmentation.
pub const DEFAULT_DNS_MAX_UDP_PAYLOAD: u32 = 1232;
/// Lower bound of `dns.max_udp_payload`: RFC 1035's 512 bytes.
pub const MIN_DNS_UDP_PAYLOAD: u32 = 512;
/// Upper bound of `dns.max_udp_payload`.
pub const MAX_DNS_UDP_PAYLOAD: u32 = 4096;
/// Default `dns.max_tcp_connections`.
pub const DEFAULT_DNS_MAX_TCP_CONNECTIONS: u32 = 1000;
/// Upper bound of `dns.max_tcp_connections`.
pub const MAX_DNS_TCP_CONNECTIONS: u32 = 100_000;
/// Default `dns.tcp_idle_timeout` (RFC 7766 asks for seconds, not minutes).
pub const DEFAULT_DNS_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `dns.health.port`.
pub const DEFAULT_DNS_PROBE_PORT: u32 = 443;
/// Default `dns.health.interval`.
pub const DEFAULT_DNS_PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// Default `dns.health.timeout`.
pub const DEFAULT_DNS_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Upper bound of `dns.health.rise` and `.fall`.
pub const MAX_DNS_RISE_FALL: u32 = 100;
/// Default `dns.edges[].priority`.
pub const DEFAULT_DNS_PRIORITY: u32 = 1;

/// Default `server.threads`: the number of CPUs available to the process.
pub fn default_threads() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

const DEFAULT_RISE_FALL_NZ: NonZeroU32 = match NonZeroU32::new(DEFAULT_RISE_FALL) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};
const DEFAULT_MAX_ATTEMPTS_NZ: NonZeroU32 = match NonZeroU32::new(DEFAULT_MAX_ATTEMPTS) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};
const DEFAULT_CONSECUTIVE_FAILURES_NZ: NonZeroU32 =
    match NonZeroU32::new(DEFAULT_CONSECUTIVE_FAILURES) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    };
const DEFAULT_MAX_CONNECTIONS_NZ: NonZeroU32 = match NonZeroU32::new(DEFAULT_MAX_CONNECTIONS) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};
const DEFAULT_H2_MAX_CONCURRENT_STREAMS_NZ: NonZeroU32 =
    match NonZeroU32::new(DEFAULT_H2_MAX_CONCURRENT_STREAMS) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    };
const DEFAULT_KEEPALIVE_REQUESTS_NZ: NonZeroU32 = match NonZeroU32::new(DEFAULT_KEEPALIVE_REQUESTS)
{
    Some(n) => n,
    None => NonZeroU32::MIN,
};
const DEFAULT_MAX_TRACKED_CLIENTS_NZ: NonZeroUsize =
    match NonZeroUsize::new(DEFAULT_MAX_TRACKED_CLIENTS) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    };

impl Default for Server {
    /// `threads` = number of CPUs, `grace_period` = 10s.
    fn default() -> Self {
        Self {
            threads: default_threads(),
            grace_period: DEFAULT_GRACE_PERIOD,
        }
    }
}

impl Default for Health {
    /// The defaults of an absent `[health]` table.
    fn default() -> Self {
        Self {
            path: DEFAULT_HEALTH_PATH.to_owned(),
            interval: DEFAULT_HEALTH_INTERVAL,
            timeout: DEFAULT_HEALTH_TIMEOUT,
            rise: DEFAULT_RISE_FALL_NZ,
            fall: DEFAULT_RISE_FALL_NZ,
            expected_statuses: vec![DEFAULT_EXPECTED_STATUSES],
            host: None,
        }
    }
}

impl Default for OutlierDetection {
    /// The defaults of an absent `[outlier_detection]` table.
    fn default() -> Self {
        Self {
            consecutive_failures: DEFAULT_CONSECUTIVE_FAILURES_NZ,
            base_ejection_time: DEFAULT_BASE_EJECTION_TIME,
            max_ejection_time: DEFAULT_MAX_EJECTION_TIME,
            count_5xx: true,
        }
    }
}

impl Default for RetryBudget {
    /// The defaults of an absent `[routing.retry_budget]` table.
    fn default() -> Self {
        Self {
            ratio: DEFAULT_RETRY_RATIO,
            window: DEFAULT_RETRY_WINDOW,
            min_concurrent: DEFAULT_RETRY_MIN_CONCURRENT,
        }
    }
}

impl Default for RateLimits {
    /// The defaults of an empty `[rate_limits]` table: no plans or limits, headers on.
    fn default() -> Self {
        Self {
            plans: BTreeMap::new(),
            default_plan: None,
            per_client: None,
            tenant_overrides: HashMap::new(),
            routes: Vec::new(),
            send_headers: true,
            max_tracked_clients: DEFAULT_MAX_TRACKED_CLIENTS_NZ,
            idle_eviction: DEFAULT_IDLE_EVICTION,
        }
    }
}

impl Default for AccessLog {
    fn default() -> Self {
        AccessLog {
            enabled: true,
            sink: LogSink::Stderr,
            format: AccessLogFormat::Json,
            sample_success: 1.0,
            buffer_bytes: DEFAULT_ACCESS_LOG_BUFFER,
            flush_interval: DEFAULT_ACCESS_LOG_FLUSH,
        }
    }
}

impl Default for Limits {
    /// The defaults of an absent `[limits]` table: 10000 connections; 10s for the TLS
    /// handshake and the request head, 60s idle; 8 KiB request targets, 32 KiB and 100 header
    /// fields, 10 MiB bodies (no routes); 100 h2 streams; 10000 requests per HTTP/1.1
    /// connection.
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS_NZ,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            request_header_timeout: DEFAULT_REQUEST_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_CLIENT_IDLE_TIMEOUT,
            max_uri_bytes: DEFAULT_MAX_URI_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            h2_max_concurrent_streams: DEFAULT_H2_MAX_CONCURRENT_STREAMS_NZ,
            h2_max_reset_streams: DEFAULT_H2_MAX_RESET_STREAMS,
            keepalive_requests: DEFAULT_KEEPALIVE_REQUESTS_NZ,
            routes: Vec::new(),
        }
    }
}

impl Default for Routing {
    /// The defaults of an absent `[routing]` table.
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS_NZ,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            debug_headers: false,
            header_case: HeaderCase::Lowercase,
            latency_sensitivity: DEFAULT_LATENCY_SENSITIVITY,
            retry_methods: DEFAULT_RETRY_METHODS.map(str::to_owned).to_vec(),
            slow_start: DEFAULT_SLOW_START,
            retry_budget: RetryBudget::default(),
        }
    }
}

/// Default `edge.peer_health.interval`.
pub const DEFAULT_PEER_PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Lower bound of `edge.peer_health.interval`.
pub const MIN_PEER_PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// Default `edge.peer_health.timeout`.
pub const DEFAULT_PEER_PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Upper bound of `edge.peer_health.rise` and `.fall`.
pub const MAX_PEER_RISE_FALL: u32 = 100;

impl Default for PeerHealth {
    fn default() -> Self {
        PeerHealth {
            interval: DEFAULT_PEER_PROBE_INTERVAL,
            timeout: DEFAULT_PEER_PROBE_TIMEOUT,
            rise: DEFAULT_RISE_FALL,
            fall: DEFAULT_RISE_FALL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let h = Health::default();
        assert_eq!(
            (
                h.path.as_str(),
                h.interval,
                h.timeout,
                h.rise.get(),
                h.fall.get()
            ),
            (
                "/healthz",
                Duration::from_secs(1),
                Duration::from_millis(500),
                2,
                2
            )
        );
        let l = Limits::default();
        assert_eq!(
            (
                l.max_connections.get(),
                l.tls_handshake_timeout,
                l.request_header_timeout,
                l.idle_timeout,
                l.max_uri_bytes,
                l.max_header_bytes,
                l.max_headers,
                l.max_body_bytes,
                l.h2_max_concurrent_streams.get(),
                l.keepalive_requests.get(),
            ),
            (
                10_000,
                Duration::from_secs(10),
                Duration::from_secs(10),
                Duration::from_secs(60),
                8192,
                32_768,
                100,
                10_485_760,
                100,
                10_000
            )
        );
        assert!(l.routes.is_empty());
        assert_eq!((MAX_URI_BYTES, MAX_HEADER_BYTES), (1_048_575, 1_048_575));
        let r = Routing::default();
        assert_eq!(r.max_attempts.get(), 3);
        assert_eq!(r.idle_timeout, Duration::from_secs(55));
        assert_eq!(
            DEFAULT_HSTS_MAX_AGE,
            humantime::parse_duration("365d").unwrap()
        );
    }
}
