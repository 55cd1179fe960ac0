//! The typed configuration model: what the rest of the gateway consumes.
//!
//! Every value here has already been validated. Invariants worth relying on:
//! - every region's geography exists, every geography has at least one region;
//! - every region has at least one origin;
//! - names (geographies, regions) and tenant ids are unique;
//! - every tenant's geography exists;
//! - listener addresses do not overlap;
//! - certificate and key files were readable and parsed as PEM at validation time.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

/// A tenant identifier: a UUID, compared and hashed by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub Uuid);

impl TenantId {
    /// Parses a tenant id: a UUID in hyphenated, simple, braced or URN form (case-insensitive).
    pub fn parse(s: &str) -> Result<Self, InvalidTenantId> {
        Uuid::try_parse(s.trim())
            .map(TenantId)
            .map_err(|_| InvalidTenantId)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for TenantId {
    type Err = InvalidTenantId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The error for a string that is not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid tenant id (expected a UUID such as 3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b)")]
pub struct InvalidTenantId;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a name that has already been validated.
            pub fn new(s: &str) -> Self {
                Self(Arc::from(s))
            }
            /// The name as written in the configuration.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// The name of a geography (a residency boundary), e.g. `eu`.
    GeographyName
);
name_type!(
    /// The name of a region inside a geography, e.g. `northeurope`.
    RegionName
);
name_type!(
    /// The name of a rate-limit plan, e.g. `standard`.
    PlanName
);

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Process-level settings.
    pub server: Server,
    /// Listening addresses.
    pub listeners: Listeners,
    /// TLS termination settings.
    pub tls: Tls,
    /// How tenants are recognised in requests.
    pub tenancy: Tenancy,
    /// Every known tenant and its home geography.
    pub tenants: TenantDirectory,
    /// Residency boundaries, in configuration order.
    pub geographies: Vec<Geography>,
    /// Regions, in configuration order.
    pub regions: Vec<Region>,
    /// Active health-check settings.
    pub health: Health,
    /// Upstream routing, timeouts and retries.
    pub routing: Routing,
}

/// Process-level settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Worker threads for the proxy service.
    pub threads: NonZeroUsize,
    /// How long a graceful shutdown waits for in-flight requests.
    pub grace_period: Duration,
}

/// Listening addresses. They never overlap (checked by validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listeners {
    /// TLS listeners (HTTP/1.1 and h2 by ALPN).
    pub https: Vec<SocketAddr>,
    /// Plaintext listeners that only redirect to HTTPS.
    pub http: Vec<SocketAddr>,
    /// The admin API listener, if any.
    pub admin: Option<SocketAddr>,
}

/// TLS termination settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// `Strict-Transport-Security` max-age; zero disables the header.
    pub hsts_max_age: Duration,
    /// Adds `includeSubDomains` to HSTS.
    pub hsts_include_subdomains: bool,
    /// Certificates; the first is served when SNI matches none (or is absent).
    pub certificates: Vec<Certificate>,
}

/// One certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// PEM file with the leaf certificate first, then intermediates.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How tenants are recognised in requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenancy {
    /// Sources tried in order; the first that yields a value wins.
    pub sources: Vec<TenantSource>,
    /// What happens to a request whose tenant is absent or unknown.
    pub unknown: UnknownTenant,
}

/// One place a tenant id can be read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSource {
    /// The `Host` (or `:authority`) matches `prefix` + `{tenant}` + `suffix`, compared
    /// case-insensitively, port ignored. `prefix` and `suffix` are stored lower-case.
    Host {
        /// Text before `{tenant}` (lower-case).
        prefix: String,
        /// Text after `{tenant}` (lower-case).
        suffix: String,
    },
    /// A request header holds the tenant id.
    Header {
        /// The header name (lower-case).
        name: String,
    },
    /// The path starts with `prefix` + `{tenant}` followed by `/`, `?` or the end.
    Path {
        /// Text before `{tenant}`, e.g. `/t/`.
        prefix: String,
    },
    /// A claim of the bearer token (JWT) in `Authorization`, read without verifying the
    /// signature: it chooses a route only, never grants access.
    JwtClaim {
        /// The claim name, e.g. `tid`.
        claim: String,
    },
}

/// What happens to a request whose tenant is absent or not in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownTenant {
    /// Answer 404 (unknown) or 400 (malformed / missing) without contacting any origin.
    Reject,
}

/// Every known tenant, indexed by id.
#[derive(Debug, Clone, Default)]
pub struct TenantDirectory {
    /// Tenants by id.
    pub by_id: HashMap<TenantId, Tenant>,
}

/// One tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// Its home geography: requests never leave it.
    pub geography: GeographyName,
    /// Its rate-limit plan, when set.
    pub plan: Option<PlanName>,
}

/// A residency boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geography {
    /// The geography's name.
    pub name: GeographyName,
    /// When every origin is unhealthy, use them all anyway (still never another geography).
    pub fail_open: bool,
}

/// A region: a set of origins in one geography with one priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// The region's name.
    pub name: RegionName,
    /// The geography it belongs to.
    pub geography: GeographyName,
    /// 1 = primary, 2 = secondary, ...; lower is preferred.
    pub priority: NonZeroU32,
    /// Relative share among regions of the same priority; 0 = drained.
    pub weight: u32,
    /// At least one origin.
    pub origins: Vec<Origin>,
}

/// One upstream server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The address as written (`host:port`), for logs and the admin API.
    pub address: String,
    /// The resolved socket address (resolved when the config is loaded).
    pub socket_addr: SocketAddr,
    /// Relative share inside the region; 0 = drained.
    pub weight: u32,
    /// Connect to the origin over TLS.
    pub tls: bool,
    /// SNI (and certificate name) for TLS origins; defaults to the host part of `address`.
    pub sni: String,
    /// `Host` header to send; `None` keeps the client's.
    pub host: Option<String>,
}

/// Active health-check settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Path probed on every origin.
    pub path: String,
    /// Time between probes of one origin.
    pub interval: Duration,
    /// Time allowed for one probe.
    pub timeout: Duration,
    /// Consecutive passing probes to become healthy.
    pub rise: NonZeroU32,
    /// Consecutive failing probes to become unhealthy.
    pub fall: NonZeroU32,
}

/// Upstream routing, timeouts and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// Upper bound on attempts per request (first try included).
    pub max_attempts: NonZeroU32,
    /// Time allowed to open a TCP (and TLS) connection to an origin.
    pub connect_timeout: Duration,
    /// Time allowed between reads from an origin.
    pub read_timeout: Duration,
    /// Time allowed between writes to an origin.
    pub write_timeout: Duration,
    /// Idle pooled upstream connections are closed after this.
    pub idle_timeout: Duration,
    /// Adds `x-edge-route` (candidates, attempts) to responses.
    pub debug_headers: bool,
}
