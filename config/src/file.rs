//! Serde structs that mirror the TOML file exactly.
//!
//! Every struct denies unknown keys, so a typo is an error rather than a silently ignored
//! setting. Values are kept loose (integers as `i64`, addresses and names as strings):
//! ranges, syntax and cross-references are checked by [`crate::validate`], which can then
//! say what would be right instead of repeating a generic serde message.
//!
//! [`crate::validate`] does not deserialize [`ConfigFile`] in one go (serde stops at the first
//! error); it deserializes each table and each element of the arrays of tables on its own.
//! The pieces it splits off that way (`tls.certificates`, `tenancy.sources`,
//! `regions[].origins`, the top-level arrays, `limits.routes`, and `rate_limits.plans`,
//! `.per_client`, `.tenant_overrides` and `.routes`, and `dns.edges`) are still declared here so
//! these structs describe the whole format.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A duration written as a humantime string: `"500ms"`, `"10s"`, `"5m"`, `"365d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HumanDurationVisitor;

        impl Visitor<'_> for HumanDurationVisitor {
            type Value = HumanDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"500ms\", \"10s\" or \"365d\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(v)
                    .map(HumanDuration)
                    .map_err(|e| {
                        E::custom(format!(
                            "{v:?} is not a duration ({e}); write e.g. \"500ms\", \"10s\", \"5m\" \
                         or \"365d\""
                        ))
                    })
            }
        }

        deserializer.deserialize_str(HumanDurationVisitor)
    }
}

/// One entry of `expected_statuses`: `"200-399"`, `"204"`, or a bare integer such as `204`
/// (kept as text; [`crate::validate`] parses it into a [`crate::StatusRange`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusText(pub String);

impl<'de> Deserialize<'de> for StatusText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusTextVisitor;

        impl Visitor<'_> for StatusTextVisitor {
            type Value = StatusText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code or range such as \"200\" or \"200-399\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusText, E> {
                Ok(StatusText(v.to_owned()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusText, E> {
                Ok(StatusText(v.to_string()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusText, E> {
                Ok(StatusText(v.to_string()))
            }
        }

        deserializer.deserialize_any(StatusTextVisitor)
    }
}

/// A number of degrees: a TOML float or integer (`lat = 53` is as good as `lat = 53.0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Degrees(pub f64);

impl<'de> Deserialize<'de> for Degrees {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DegreesVisitor;

        impl Visitor<'_> for DegreesVisitor {
            type Value = Degrees;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of degrees such as 53.35 or -6.26")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Degrees, E> {
                Ok(Degrees(v))
            }

            // Coordinates are at most 180 in magnitude; a larger integer is reported as out of
            // range by validation, and the conversion's rounding cannot change that.
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Degrees, E> {
                Ok(Degrees(v as f64))
            }

            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Degrees, E> {
                Ok(Degrees(v as f64))
            }
        }

        deserializer.deserialize_any(DegreesVisitor)
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[server]`
    pub server: Option<ServerFile>,
    /// `[listeners]`
    pub listeners: Option<ListenersFile>,
    /// `[tls]`
    pub tls: Option<TlsFile>,
    /// `[tenancy]`
    pub tenancy: Option<TenancyFile>,
    /// `[[tenants]]`
    #[serde(default)]
    pub tenants: Vec<TenantFile>,
    /// `[[geographies]]`
    #[serde(default)]
    pub geographies: Vec<GeographyFile>,
    /// `[[regions]]`
    #[serde(default)]
    pub regions: Vec<RegionFile>,
    /// `[health]`
    pub health: Option<HealthFile>,
    /// `[outlier_detection]`
    pub outlier_detection: Option<OutlierDetectionFile>,
    /// `[routing]`
    pub routing: Option<RoutingFile>,
    /// `[client_ip]`
    pub client_ip: Option<ClientIpFile>,
    /// `[limits]`
    pub limits: Option<LimitsFile>,
    /// `[rate_limits]`
    pub rate_limits: Option<RateLimitsFile>,
    /// `[geo]`
    pub geo: Option<GeoFile>,
    /// `[admin]`
    pub admin: Option<AdminFile>,
    /// `[fleet]`
    pub fleet: Option<FleetFile>,
    /// `[edge]`
    pub edge: Option<EdgeFile>,
    /// `[dns]`
    pub dns: Option<DnsFile>,
    /// `[access_log]`
    pub access_log: Option<AccessLogFile>,
}

/// `[access_log]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogFile {
    /// One line per request; default true.
    pub enabled: Option<bool>,
    /// `"stderr"` (default), `"stdout"`, or a file (relative to the config file's directory),
    /// opened for appending and reopened when it is rotated away.
    pub path: Option<String>,
    /// `"json"` (default) or `"text"`.
    pub format: Option<String>,
    /// Share of successful (1xx-3xx) requests logged, 0.0..=1.0; default 1.0. Errors always.
    pub sample_success: Option<f64>,
    /// Bytes of lines held per worker thread before new ones are dropped (and counted),
    /// 4096..=268435456; default 1048576.
    pub buffer_bytes: Option<i64>,
    /// How often the buffers are written out, 10ms..=10s; default `100ms`.
    pub flush_interval: Option<HumanDuration>,
}

/// `[admin]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminFile {
    /// File with admin bearer tokens (one per line, optionally `name:token`).
    pub token_file: Option<String>,
    /// Serve `/metrics` without a token; default false.
    pub metrics_public: Option<bool>,
    /// Where operator overrides (weights, drains) are persisted.
    pub state_file: Option<String>,
}

/// `[server]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// Worker threads; default: the number of CPUs.
    pub threads: Option<i64>,
    /// Graceful shutdown timeout (humantime); default `10s`.
    pub grace_period: Option<HumanDuration>,
}

/// `[listeners]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenersFile {
    /// TLS listeners (`ip:port`); at least one is required.
    #[serde(default)]
    pub https: Vec<String>,
    /// Plaintext redirect listeners.
    #[serde(default)]
    pub http: Vec<String>,
    /// Admin API listener.
    pub admin: Option<String>,
}

/// `[tls]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// HSTS max-age (humantime); default `365d`, `0s` disables HSTS.
    pub hsts_max_age: Option<HumanDuration>,
    /// HSTS `includeSubDomains`; default false.
    pub hsts_include_subdomains: Option<bool>,
    /// `[[tls.certificates]]`
    #[serde(default)]
    pub certificates: Vec<CertificateFile>,
}

/// `[[tls.certificates]]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFile {
    /// PEM certificate chain, relative to the config file's directory.
    pub cert: String,
    /// PEM private key, relative to the config file's directory.
    pub key: String,
}

/// `[tenancy]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancyFile {
    /// Where tenant ids are read from, first match wins; required and non-empty.
    #[serde(default)]
    pub sources: Vec<TenantSourceFile>,
    /// `reject` (the default) or `nearest` (route by client location; needs `[geo]`).
    pub unknown: Option<String>,
    /// With `unknown = "nearest"`: the geography for clients no geography's countries or
    /// continents match. Required then, and only allowed then.
    pub default_geography: Option<String>,
    /// Tenant file (`id,geography[,plan]` lines), relative to the config file's directory.
    pub file: Option<String>,
}

/// One element of `tenancy.sources`, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TenantSourceFile {
    /// `{ kind = "host", pattern = "{tenant}.app.example.com" }`
    Host {
        /// Host name with exactly one `{tenant}`.
        pattern: String,
    },
    /// `{ kind = "header", name = "x-tenant-id" }`
    Header {
        /// HTTP header name.
        name: String,
    },
    /// `{ kind = "path", prefix = "/t/{tenant}" }`
    Path {
        /// Path starting with `/` and ending with `{tenant}`.
        prefix: String,
    },
    /// `{ kind = "jwt-claim", claim = "tid" }`
    JwtClaim {
        /// Claim name.
        claim: String,
    },
}

/// `[[tenants]]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    /// Tenant id (a UUID).
    pub id: String,
    /// Home geography name.
    pub geography: String,
    /// Rate-limit plan name.
    pub plan: Option<String>,
    /// Only clients in these countries (ISO 3166-1 alpha-2) are served; needs `[geo]`. Not
    /// available in the tenant file.
    pub allowed_countries: Option<Vec<String>>,
}

/// `[[geographies]]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeographyFile {
    /// Geography name.
    pub name: String,
    /// Use unhealthy origins when none is healthy; default false.
    pub fail_open: Option<bool>,
    /// Countries (ISO 3166-1 alpha-2) whose tenant-less clients are routed here.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Continents (`AF AN AS EU NA OC SA`) whose tenant-less clients are routed here.
    #[serde(default)]
    pub continents: Vec<String>,
}

/// `[[regions]]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionFile {
    /// Region name.
    pub name: String,
    /// The geography the region belongs to.
    pub geography: String,
    /// 1 = primary; default 1.
    pub priority: Option<i64>,
    /// 0..=1000; default 100.
    pub weight: Option<i64>,
    /// Upstream servers; at least one is required.
    #[serde(default)]
    pub origins: Vec<OriginFile>,
    /// `health = { ... }`: overrides keys of `[health]` for this region's origins.
    pub health: Option<HealthFile>,
    /// `location = { lat = 53.35, lon = -6.26 }`: where the region is.
    pub location: Option<LocationFile>,
}

/// A region's `location = { lat = ..., lon = ... }`. Both keys are required; they are
/// optional here so that a missing one is reported by validation without dropping the region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationFile {
    /// Latitude in degrees, -90 to 90.
    pub lat: Option<Degrees>,
    /// Longitude in degrees, -180 to 180.
    pub lon: Option<Degrees>,
}

/// One element of `regions[].origins`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginFile {
    /// `host:port`, `[ipv6]:port` or `name:port`.
    pub address: String,
    /// 0..=1000; default 100.
    pub weight: Option<i64>,
    /// Connect over TLS; default false.
    pub tls: Option<bool>,
    /// SNI for TLS origins; default: the host part of `address`.
    pub sni: Option<String>,
    /// `Host` header to send instead of the client's.
    pub host: Option<String>,
}

/// `[health]`, and a region's `health = { ... }` override (every key optional; an absent
/// key keeps the global value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthFile {
    /// Probe path; default `/healthz`.
    pub path: Option<String>,
    /// Time between probes; default `1s`, at least `100ms`.
    pub interval: Option<HumanDuration>,
    /// Probe timeout; default `500ms`.
    pub timeout: Option<HumanDuration>,
    /// Passing probes to become healthy; default 2.
    pub rise: Option<i64>,
    /// Failing probes to become unhealthy; default 2.
    pub fall: Option<i64>,
    /// Statuses that pass, `"NNN"` or `"NNN-MMM"`; default `["200-399"]`.
    pub expected_statuses: Option<Vec<StatusText>>,
    /// `Host` header for probes; default: the origin's address.
    pub host: Option<String>,
}

/// `[outlier_detection]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierDetectionFile {
    /// Consecutive failures that eject an origin, 1..=100; default 3.
    pub consecutive_failures: Option<i64>,
    /// First ejection's length; default `5s`, greater than 0.
    pub base_ejection_time: Option<HumanDuration>,
    /// Longest ejection; default `60s`, at least `base_ejection_time`.
    pub max_ejection_time: Option<HumanDuration>,
    /// 5xx answers count as failures; default true.
    pub count_5xx: Option<bool>,
}

/// `[routing]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingFile {
    /// Attempts per request, 1..=10; default 3.
    pub max_attempts: Option<i64>,
    /// Default `1s`.
    pub connect_timeout: Option<HumanDuration>,
    /// Default `30s`.
    pub read_timeout: Option<HumanDuration>,
    /// Default `30s`.
    pub write_timeout: Option<HumanDuration>,
    /// Pooled upstream connection idle timeout; default `55s`.
    pub idle_timeout: Option<HumanDuration>,
    /// Add `x-edge-route` to responses; default false.
    pub debug_headers: Option<bool>,
    /// Header-name case on HTTP/1.1: `"lowercase"` (default) or `"preserve"`.
    pub header_case: Option<String>,
    /// Latency differences that matter between regions; default `50ms`, may be `0s`.
    pub latency_sensitivity: Option<HumanDuration>,
    /// Methods that may be retried; default `["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]`.
    pub retry_methods: Option<Vec<String>>,
    /// Ramp-up of a recovered origin's share; default `10s`, `0s` disables.
    pub slow_start: Option<HumanDuration>,
    /// `[routing.retry_budget]`
    pub retry_budget: Option<RetryBudgetFile>,
}

/// `[routing.retry_budget]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBudgetFile {
    /// Retries per request, 0.0..=1.0; default 0.2.
    pub ratio: Option<f64>,
    /// Counting window; default `10s`, greater than 0.
    pub window: Option<HumanDuration>,
    /// Concurrent retries always allowed; default 3.
    pub min_concurrent: Option<i64>,
}

/// `[client_ip]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientIpFile {
    /// Networks (`"10.0.0.0/8"`) or addresses of trusted proxies; default none.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// `[limits]`: what one client may hold or send. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Downstream connections open at once, the HTTPS and HTTP listeners together (the admin listener is never counted), 1..=1000000; default
    /// 10000.
    pub max_connections: Option<i64>,
    /// Time allowed for a TLS handshake; default `10s`, greater than 0.
    pub tls_handshake_timeout: Option<HumanDuration>,
    /// Time from the first byte of a request head to its end (slowloris); default `10s`,
    /// greater than 0.
    pub request_header_timeout: Option<HumanDuration>,
    /// How long a keep-alive connection may wait for its next request (HTTP/1.1 and h2);
    /// default `60s`, greater than 0.
    pub idle_timeout: Option<HumanDuration>,
    /// Longest request target (path and query) in bytes, 64..=1048575; default 8192 (414
    /// beyond).
    pub max_uri_bytes: Option<i64>,
    /// Largest header block in bytes, 1024..=1048575; default 32768 (431 beyond).
    pub max_header_bytes: Option<i64>,
    /// Most header fields, 1..=256; default 100 (431 beyond).
    pub max_headers: Option<i64>,
    /// Largest request body in bytes, at least 0 (0: no body allowed); default 10485760 (413
    /// beyond).
    pub max_body_bytes: Option<i64>,
    /// Concurrent streams per h2 connection, 1..=10000; default 100.
    pub h2_max_concurrent_streams: Option<i64>,
    /// Client stream resets per h2 connection within 10 s before `GOAWAY(ENHANCE_YOUR_CALM)`,
    /// 0..=100000 (0: every reset); default 100.
    pub h2_max_reset_streams: Option<i64>,
    /// Requests per HTTP/1.1 connection before it is closed, at least 1; default 10000.
    pub keepalive_requests: Option<i64>,
    /// `[[limits.routes]]`
    #[serde(default)]
    pub routes: Vec<BodyLimitRouteFile>,
}

/// `[[limits.routes]]`: the body size limit of requests under a path prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyLimitRouteFile {
    /// Path prefix, starting with `/`; matches at a segment boundary.
    pub path_prefix: String,
    /// Largest request body in bytes under this prefix, at least 0.
    pub max_body_bytes: i64,
}

/// `[rate_limits]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsFile {
    /// Plan of tenants without one; must name a plan.
    pub default_plan: Option<String>,
    /// `RateLimit` headers on successful responses too; default true.
    pub send_headers: Option<bool>,
    /// Keys tracked at once, at least 1; default 1000000.
    pub max_tracked_clients: Option<i64>,
    /// Idle keys are forgotten after this; default `60s`, greater than 0.
    pub idle_eviction: Option<HumanDuration>,
    /// `[rate_limits.plans.<name>]`
    #[serde(default)]
    pub plans: BTreeMap<String, QuotaFile>,
    /// `[rate_limits.per_client]`
    pub per_client: Option<QuotaFile>,
    /// `[[rate_limits.tenant_overrides]]`
    #[serde(default)]
    pub tenant_overrides: Vec<TenantOverrideFile>,
    /// `[[rate_limits.routes]]`
    #[serde(default)]
    pub routes: Vec<RouteLimitFile>,
}

/// A quota: `[rate_limits.plans.<name>]` and `[rate_limits.per_client]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaFile {
    /// Requests per second, at least 1.
    pub rps: i64,
    /// Burst size, at least 1; default: `rps`.
    pub burst: Option<i64>,
}

/// `[[rate_limits.tenant_overrides]]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantOverrideFile {
    /// Tenant id (a UUID).
    pub tenant: String,
    /// Requests per second, at least 1.
    pub rps: i64,
    /// Burst size, at least 1; default: `rps`.
    pub burst: Option<i64>,
}

/// `[[rate_limits.routes]]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteLimitFile {
    /// Path prefix, starting with `/`.
    pub path_prefix: String,
    /// Methods it applies to; default every method.
    pub methods: Option<Vec<String>>,
    /// Requests per second, at least 1.
    pub rps: i64,
    /// Burst size, at least 1; default: `rps`.
    pub burst: Option<i64>,
}

/// `[geo]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoFile {
    /// MaxMind database (`.mmdb`), relative to the config file's directory; required in
    /// `[geo]` (optional here so validation can say so in its own words).
    pub database: Option<String>,
    /// How often the database file is checked for a replacement; default `5s`.
    pub reload_interval: Option<HumanDuration>,
    /// Countries whose clients are refused; default none.
    #[serde(default)]
    pub deny_countries: Vec<String>,
}

/// `[dns]`: the authoritative DNS responder for tenant host names. Absent: no responder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsFile {
    /// Addresses (`ip:port`) answered on over UDP and TCP; at least one.
    #[serde(default)]
    pub listen: Vec<String>,
    /// The zone served, e.g. `app.example.com`; required.
    pub zone: Option<String>,
    /// TTL of the answers (whole seconds); default `30s`.
    pub ttl: Option<HumanDuration>,
    /// The zone's name servers (NS records; the first is the SOA's primary); required.
    #[serde(default)]
    pub nameservers: Vec<String>,
    /// The SOA's responsible mailbox, `hostmaster@example.com` or `hostmaster.example.com`;
    /// default `hostmaster.<zone>`.
    pub hostmaster: Option<String>,
    /// The SOA serial, 0..=4294967295; default: the Unix time the answers were built.
    pub serial: Option<i64>,
    /// SOA refresh; default `1h`.
    pub refresh: Option<HumanDuration>,
    /// SOA retry; default `10m`.
    pub retry: Option<HumanDuration>,
    /// SOA expire; default `7d`.
    pub expire: Option<HumanDuration>,
    /// SOA minimum: how long resolvers cache NXDOMAIN and NODATA; default `30s`.
    pub negative_ttl: Option<HumanDuration>,
    /// Most addresses in one answer, 1..=64; default 8.
    pub max_answers: Option<i64>,
    /// Largest UDP response, 512..=4096 bytes; default 1232.
    pub max_udp_payload: Option<i64>,
    /// TCP connections open at once, 1..=100000; default 1000.
    pub max_tcp_connections: Option<i64>,
    /// A TCP connection idle this long is closed; default `10s`.
    pub tcp_idle_timeout: Option<HumanDuration>,
    /// `[dns.health]`: how the edges' health is known.
    pub health: Option<DnsHealthFile>,
    /// `[[dns.edges]]`
    #[serde(default)]
    pub edges: Vec<DnsEdgesFile>,
}

/// `[dns.health]`: a TCP-connect probe of every edge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsHealthFile {
    /// Port probed on every edge, 1..=65535; default 443.
    pub port: Option<i64>,
    /// Time between probes of one edge; default `5s`, at least `100ms`.
    pub interval: Option<HumanDuration>,
    /// Time allowed for the connection; default `1s`.
    pub timeout: Option<HumanDuration>,
    /// Passing probes to become healthy again, 1..=100; default 2.
    pub rise: Option<i64>,
    /// Failing probes to become unhealthy, 1..=100; default 2.
    pub fall: Option<i64>,
}

/// `[[dns.edges]]`: a group of edge addresses of one geography.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsEdgesFile {
    /// The geography these edges serve; required.
    pub geography: String,
    /// IPv4 or IPv6 addresses (no port); at least one.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// 1 = answered first; a higher number only when no edge of a lower one is healthy;
    /// default 1.
    pub priority: Option<i64>,
    /// Share among the edges of equal priority, 0..=1000 (0: answered only when failing
    /// static, like a drained edge); default 100.
    pub weight: Option<i64>,
    /// Port probed on these edges instead of `dns.health.port`.
    pub probe_port: Option<i64>,
}

/// `[edge]`: where this gateway stands, and the edges of the other geographies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeFile {
    /// This gateway's geography; required in `[edge]` (optional here so validation can say
    /// so in its own words).
    pub geography: Option<String>,
    /// Networks (`"10.20.0.0/16"`) or addresses of peer edges allowed to send a PROXY
    /// protocol v2 header; default none.
    #[serde(default)]
    pub trusted_peers: Vec<String>,
    /// `proxy` (the default) or `refuse`: what happens to a foreign tenant found only after
    /// decryption (header, path or JWT tenancy).
    pub foreign_tenants: Option<String>,
    /// `[[edge.peers]]`
    #[serde(default)]
    pub peers: Vec<EdgePeerFile>,
    /// `[edge.peer_health]`
    pub peer_health: Option<PeerHealthFile>,
}

/// `[[edge.peers]]`: the edges of one other geography.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgePeerFile {
    /// The geography these edges stand in.
    pub geography: String,
    /// Their TLS listeners, `ip:port` or `[ipv6]:port`; at least one.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// PEM CA certificates that verify their certificates when a request is proxied to them
    /// over TLS; default the system's roots.
    pub ca: Option<String>,
}

/// `[edge.peer_health]`: the TCP-connect probe of every peer address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerHealthFile {
    /// Time between probes; default `1s`, at least `100ms`.
    pub interval: Option<HumanDuration>,
    /// Connect timeout of one probe; default `500ms`, greater than 0.
    pub timeout: Option<HumanDuration>,
    /// Passing probes to become healthy; default 2.
    pub rise: Option<i64>,
    /// Failing probes to become unhealthy; default 2.
    pub fall: Option<i64>,
}

/// `[fleet]`: replicas sharing rate limits and overrides through Redis.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// `redis://`, `rediss://` or `redis+unix://` URL, without a password; required in
    /// `[fleet]` (optional here so validation can say so in its own words).
    pub redis_url: Option<String>,
    /// Environment variable holding the Redis password.
    pub password_env: Option<String>,
    /// File holding the Redis password (its first line).
    pub password_file: Option<String>,
    /// This replica's name in the fleet; default: host name and process id.
    pub node_id: Option<String>,
    /// Prefix of every Redis key; default `edge:`.
    pub key_prefix: Option<String>,
    /// How often rate limits and overrides are reconciled; default `100ms`.
    pub sync_interval: Option<HumanDuration>,
    /// Bound on every Redis call; default `25ms`.
    pub timeout: Option<HumanDuration>,
    /// `"full-quota"` (default) or `"divide-quota"`.
    pub when_unreachable: Option<String>,
}
