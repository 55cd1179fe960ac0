//! The typed configuration model: what the rest of the gateway consumes.
//!
//! Every value here has already been validated. Invariants worth relying on:
//! - every region's geography exists, every geography has at least one region;
//! - every region has at least one origin;
//! - names (geographies, regions) and tenant ids are unique;
//! - every tenant's geography exists;
//! - listener addresses do not overlap;
//! - certificate and key files were readable and parsed as PEM at validation time;
//! - every region's [`Health`] is fully resolved (the global `[health]` merged with the
//!   region's override) and lists at least one expected status range;
//! - `outlier_detection.max_ejection_time >= base_ejection_time > 0`;
//! - when [`Config::rate_limits`] is set, its `default_plan` and every tenant's plan name a
//!   plan of [`RateLimits::plans`];
//! - a country (and a continent) belongs to at most one geography's
//!   [`Geography::countries`] (and [`Geography::continents`]);
//! - [`Tenancy::default_geography`] is `Some` exactly when [`Tenancy::unknown`] is
//!   [`UnknownTenant::Nearest`], and then names a geography and [`Config::geo`] is set;
//! - a tenant with [`Tenant::allowed_countries`] implies [`Config::geo`] is set; the list is
//!   non-empty, without duplicates, and shares no country with [`GeoSettings::deny_countries`];
//! - every value of [`Limits`] is in its documented range, its timeouts are greater than zero,
//!   and its [`Limits::routes`] have distinct prefixes starting with `/`, longest first;
//! - when [`Config::dns`] is set: every geography has at least one [`DnsEdges`] group and
//!   every group names a geography; an edge address is listed once in the whole section (so
//!   it belongs to one geography); the zone and name server names are valid DNS names, no
//!   name server is inside the zone, and no geography name is shaped like a tenant id.
//! - with [`Config::edge`]: its geography is defined; every other geography has exactly one
//!   [`EdgePeer`] entry with at least one address, none for the edge's own geography; no peer
//!   address is listed twice or is one of this gateway's HTTPS listeners.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
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
    /// The admin API's settings (its listener is `listeners.admin`).
    pub admin: Admin,
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
    /// Global active health-check settings (each [`Region::health`] holds the resolved
    /// settings for that region's origins).
    pub health: Health,
    /// Passive health: ejecting origins that fail live requests.
    pub outlier_detection: OutlierDetection,
    /// Upstream routing, timeouts and retries.
    pub routing: Routing,
    /// How the client's address is found behind proxies.
    pub client_ip: ClientIp,
    /// What one client may hold or send: connections, timeouts, head and body sizes. Always
    /// set: an absent `[limits]` gives [`Limits::default`].
    pub limits: Limits,
    /// Request rate limits; `None` when `[rate_limits]` is absent (no limits).
    pub rate_limits: Option<RateLimits>,
    /// Client location (a MaxMind database); `None` when `[geo]` is absent.
    pub geo: Option<GeoSettings>,
    /// Fleet mode (rate limits and overrides shared through Redis); `None` when `[fleet]` is
    /// absent: every replica is on its own.
    pub fleet: Option<Fleet>,
    /// Residency at the edge: where this gateway stands and the edges of the other
    /// geographies; `None` when `[edge]` is absent (one gateway serves every geography).
    pub edge: Option<Edge>,
    /// The authoritative DNS responder for tenant host names; `None` when `[dns]` is absent.
    pub dns: Option<Dns>,
    /// The access log. Always set: an absent `[access_log]` gives [`AccessLog::default`].
    pub access_log: AccessLog,
}

/// Where and how the access log is written (one line per request).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLog {
    /// Lines are written at all.
    pub enabled: bool,
    /// Where they go.
    pub sink: LogSink,
    /// Line format.
    pub format: AccessLogFormat,
    /// Share of successful (1xx-3xx) requests logged (0.0 to 1.0); errors are always logged.
    pub sample_success: f64,
    /// Bytes of lines held per worker thread between flushes; lines beyond are dropped and
    /// counted.
    pub buffer_bytes: usize,
    /// How often held lines are written out.
    pub flush_interval: Duration,
}

/// Where the access log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSink {
    /// The process's standard error.
    Stderr,
    /// The process's standard output.
    Stdout,
    /// A file, appended to (resolved against the config file's directory).
    File(PathBuf),
}

/// The access log's line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// One JSON object per line.
    Json,
    /// `key=value` pairs after a timestamp, like the other log lines.
    Text,
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
    /// With [`UnknownTenant::Nearest`]: the geography of clients whose country and continent
    /// match no geography (or who cannot be located). `None` with [`UnknownTenant::Reject`].
    pub default_geography: Option<GeographyName>,
    /// The tenant file, resolved against the config file's directory (watched for reloads).
    pub file: Option<PathBuf>,
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
    /// Route requests that carry no tenant id by where the client is: to the geography that
    /// lists the client's country, else the one that lists its continent, else
    /// [`Tenancy::default_geography`]. A known tenant always goes to its own geography, so
    /// location never overrides residency. An id that is malformed (400) or not in the
    /// directory (404) is still refused: that tenant's residency is unknown, and guessing it
    /// from the client's location could send its data out of its geography.
    Nearest,
}

/// Every known tenant, indexed by id.
#[derive(Debug, Clone, Default)]
pub struct TenantDirectory {
    /// Tenants by id.
    pub by_id: HashMap<TenantId, Tenant, TenantHasher>,
}

/// The hasher of tenant-keyed maps: foldhash (seeded per process) rather than SipHash. Every
/// request looks its tenant up; the keys come from the operator's configuration, not from
/// clients, so the flooding resistance SipHash buys is not needed here.
pub type TenantHasher = foldhash::fast::RandomState;

/// One tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// Its home geography: requests never leave it.
    pub geography: GeographyName,
    /// Its rate-limit plan, when set.
    pub plan: Option<PlanName>,
    /// When set, only clients located in one of these countries are served (others get 403);
    /// a client that cannot be located is not in any of them. Inline `[[tenants]]` only: the
    /// tenant file has no column for it. Boxed so that the million tenants without a list pay
    /// one pointer each, not a `Vec`'s three words.
    pub allowed_countries: Option<Box<[CountryCode]>>,
}

/// A residency boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geography {
    /// The geography's name.
    pub name: GeographyName,
    /// When every origin is unhealthy, use them all anyway (still never another geography).
    pub fail_open: bool,
    /// Clients located in these countries (and sending no tenant) are routed here, with
    /// [`UnknownTenant::Nearest`]. No country is in two geographies.
    pub countries: Vec<CountryCode>,
    /// Clients located on these continents whose country no geography lists are routed
    /// here, with [`UnknownTenant::Nearest`]. No continent is in two geographies.
    pub continents: Vec<ContinentCode>,
}

/// A region: a set of origins in one geography with one priority.
///
/// `PartialEq` only: [`Region::location`] holds floating-point coordinates.
#[derive(Debug, Clone, PartialEq)]
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
    /// Active health checks of this region's origins: the global `[health]` merged with the
    /// region's `health = { ... }` override.
    pub health: Health,
    /// Where the region's data centre is, for distance-based choices; `None` when not written.
    pub location: Option<Location>,
}

/// A point on Earth in degrees (WGS 84): latitude `-90..=90`, longitude `-180..=180`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    /// Degrees north (negative: south).
    pub lat: f64,
    /// Degrees east (negative: west).
    pub lon: f64,
}

/// Client location: the MaxMind database and global country rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoSettings {
    /// A GeoIP2/GeoLite2 Country or City database (`.mmdb`), resolved against the config
    /// file's directory. It was a readable MaxMind DB file at validation time; the gateway
    /// opens and checks it properly.
    pub database: PathBuf,
    /// How often the database file is checked for a replacement; greater than zero.
    pub reload_interval: Duration,
    /// Clients located in these countries are refused (403) whatever the tenant.
    pub deny_countries: Vec<CountryCode>,
}

/// Every ISO 3166-1 alpha-2 code currently assigned, sorted, plus `XK` (Kosovo: user-assigned,
/// but the code MaxMind and most registries use).
const ASSIGNED_COUNTRIES: [&str; 250] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW",
];

/// The continent codes GeoIP2 databases use.
const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// Two ASCII letters, upper-cased; `None` for anything else.
fn two_letters(s: &str) -> Option<[u8; 2]> {
    match s.as_bytes() {
        &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => None,
    }
}

/// The two letters as text; both constructors only ever store ASCII letters.
fn letters_str(letters: &[u8; 2]) -> &str {
    std::str::from_utf8(letters).unwrap_or("??")
}

/// An ISO 3166-1 alpha-2 country code such as `DE`: two upper-case ASCII letters.
///
/// Two bytes and `Copy`, so per-request comparisons and per-tenant lists stay cheap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses a code as written in the configuration: two letters in either case, which must
    /// be an assigned ISO 3166-1 alpha-2 code (so `UK` is refused with a pointer to `GB`).
    pub fn parse(s: &str) -> Result<Self, InvalidCountryCode> {
        let Some(letters) = two_letters(s) else {
            return Err(InvalidCountryCode(format!(
                "{s:?} is not a country code: write an ISO 3166-1 alpha-2 code such as \"DE\" \
                 or \"US\""
            )));
        };
        let code = letters_str(&letters);
        if ASSIGNED_COUNTRIES.binary_search(&code).is_ok() {
            return Ok(Self(letters));
        }
        let hint = match code {
            "UK" => " (the United Kingdom is \"GB\")".to_owned(),
            "EL" => " (Greece is \"GR\")".to_owned(),
            "EU" | "OC" | "AN" => {
                format!(" ({code} is a continent: use continents = [\"{code}\"])")
            }
            _ => String::new(),
        };
        Err(InvalidCountryCode(format!(
            "{s:?} is not an assigned ISO 3166-1 alpha-2 country code{hint}"
        )))
    }

    /// A code read from a location database: any two ASCII letters (upper-cased), without
    /// checking the ISO list, so a database newer than this list still works.
    pub fn from_alpha2(s: &str) -> Option<Self> {
        two_letters(s).map(Self)
    }

    /// The code, e.g. `"DE"`.
    pub fn as_str(&self) -> &str {
        letters_str(&self.0)
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = InvalidCountryCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The error for text that is not a country code; says what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidCountryCode(pub String);

/// A continent code as GeoIP2 databases use them: `AF`, `AN`, `AS`, `EU`, `NA`, `OC` or `SA`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContinentCode([u8; 2]);

impl ContinentCode {
    /// Africa.
    pub const AF: Self = Self(*b"AF");
    /// Antarctica.
    pub const AN: Self = Self(*b"AN");
    /// Asia.
    pub const AS: Self = Self(*b"AS");
    /// Europe.
    pub const EU: Self = Self(*b"EU");
    /// North America (including Central America and the Caribbean).
    pub const NA: Self = Self(*b"NA");
    /// Oceania.
    pub const OC: Self = Self(*b"OC");
    /// South America.
    pub const SA: Self = Self(*b"SA");

    /// Parses one of the seven codes, in either case.
    pub fn parse(s: &str) -> Result<Self, InvalidContinentCode> {
        Self::from_code(s).ok_or_else(|| {
            InvalidContinentCode(format!(
                "{s:?} is not a continent code: use one of {}",
                CONTINENTS.join(", ")
            ))
        })
    }

    /// One of the seven codes, in either case; `None` for anything else. Does not allocate,
    /// for per-request use on database values.
    pub fn from_code(s: &str) -> Option<Self> {
        two_letters(s)
            .filter(|letters| CONTINENTS.contains(&letters_str(letters)))
            .map(Self)
    }

    /// The code, e.g. `"EU"`.
    pub fn as_str(&self) -> &str {
        letters_str(&self.0)
    }
}

impl fmt::Display for ContinentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ContinentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContinentCode {
    type Err = InvalidContinentCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The error for text that is not a continent code; lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidContinentCode(pub String);

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
    /// Response statuses that count as a passing probe; never empty.
    pub expected_statuses: Vec<StatusRange>,
    /// `Host` header sent with probes (visible ASCII); `None` sends the origin's address.
    pub host: Option<String>,
}

/// An inclusive range of HTTP status codes, `lo..=hi`, both in `100..=599`, `lo <= hi`.
///
/// Written `"200"` (a single code) or `"200-399"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    /// The lowest status in the range.
    pub lo: u16,
    /// The highest status in the range (inclusive).
    pub hi: u16,
}

impl StatusRange {
    /// Whether `status` lies in the range.
    pub fn contains(&self, status: u16) -> bool {
        (self.lo..=self.hi).contains(&status)
    }

    /// Parses `"NNN"` or `"NNN-MMM"` (spaces around the numbers are allowed); codes must be
    /// 100 to 599 and the range must not be reversed.
    pub fn parse(s: &str) -> Result<Self, InvalidStatusRange> {
        let usage = || {
            InvalidStatusRange(format!(
                "{s:?} is not a status code or range: write a code from 100 to 599 or a range \
                 such as \"200-399\""
            ))
        };
        let code = |part: &str| -> Result<u16, InvalidStatusRange> {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(usage());
            }
            match part.parse::<u16>() {
                Ok(n) if (100..=599).contains(&n) => Ok(n),
                _ => Err(InvalidStatusRange(format!(
                    "{s:?}: {part} is not an HTTP status code; codes are 100 to 599"
                ))),
            }
        };
        let (lo, hi) = match s.split_once('-') {
            Some((lo, hi)) => (code(lo)?, code(hi)?),
            None => {
                let n = code(s)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(InvalidStatusRange(format!(
                "{s:?} is reversed; did you mean \"{hi}-{lo}\"?"
            )));
        }
        Ok(Self { lo, hi })
    }
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

impl FromStr for StatusRange {
    type Err = InvalidStatusRange;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The error for a string that is not a status code or range; says what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidStatusRange(pub String);

/// Passive health: origins that keep failing live requests are ejected for a while.
///
/// The ejection time starts at `base_ejection_time` and grows (up to `max_ejection_time`)
/// for an origin that is ejected again soon after coming back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierDetection {
    /// Consecutive failed requests (1 to 100) that eject an origin.
    pub consecutive_failures: NonZeroU32,
    /// The first ejection's length; greater than zero.
    pub base_ejection_time: Duration,
    /// The longest ejection; at least `base_ejection_time`.
    pub max_ejection_time: Duration,
    /// Whether 5xx answers from an origin count as failures (besides connection errors and
    /// timeouts).
    pub count_5xx: bool,
}

/// Upstream routing, timeouts and retries.
#[derive(Debug, Clone, PartialEq)]
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
    /// How HTTP/1.1 header names are spelled towards origins and clients.
    pub header_case: HeaderCase,
    /// Latency differences smaller than this do not change the choice between regions of
    /// equal priority; zero makes every difference count.
    pub latency_sensitivity: Duration,
    /// Methods whose requests may be retried on another origin (upper-case tokens).
    pub retry_methods: Vec<String>,
    /// A recovered or new origin's share ramps up over this long; zero disables slow start.
    pub slow_start: Duration,
    /// Caps retries relative to requests.
    pub retry_budget: RetryBudget,
}

/// How the gateway spells HTTP/1.1 header names it forwards (field names are
/// case-insensitive, RFC 9110 §5.1; h2 and h3 are lower-case on the wire anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderCase {
    /// Names are sent lower-case, but for a dozen standard ones Pingora title-cases (`Host`,
    /// `Content-Type`, `Content-Length`, `Date`, `Server`, `Connection`, `Cache-Control`,
    /// `Transfer-Encoding`, `Content-Encoding`, `Accept-Ranges`, `Age`, `Set-Cookie`); HAProxy
    /// lower-cases every name, Envoy too by default. The gateway then edits headers directly,
    /// without keeping a second map of every name's original spelling per message.
    #[default]
    Lowercase,
    /// Names are sent as the client or origin spelled them (as nginx does), for software that
    /// wrongly compares header names case-sensitively; costs more CPU per request (see
    /// docs/performance.md).
    Preserve,
}

/// Caps retries to a share of recent requests, so retries cannot multiply load during an
/// outage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudget {
    /// Retries allowed per request over `window`, `0.0..=1.0`.
    pub ratio: f64,
    /// The sliding window requests and retries are counted over; greater than zero.
    pub window: Duration,
    /// Retries always allowed concurrently, whatever the ratio (so low traffic can retry).
    pub min_concurrent: u32,
}

/// How the client's address is found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIp {
    /// Peers in these networks are proxies whose `X-Forwarded-For` is believed; empty means
    /// the peer address is always the client's.
    pub trusted_proxies: Vec<Cidr>,
}

/// `[limits]`: what one client may hold or send.
///
/// Every field has a default ([`Limits::default`], the `DEFAULT_*` constants of
/// [`crate::validate`]) and a range checked by validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Downstream connections open at once, the HTTPS and HTTP listeners together (the admin listener is never counted) (1 to 1000000).
    pub max_connections: NonZeroU32,
    /// Time allowed for a client's TLS handshake; greater than zero.
    pub tls_handshake_timeout: Duration,
    /// Time allowed from the first byte of a request head to its end, against slowloris
    /// clients; greater than zero.
    pub request_header_timeout: Duration,
    /// How long a keep-alive connection (HTTP/1.1 or h2) may wait for its next request;
    /// greater than zero.
    pub idle_timeout: Duration,
    /// Longest request target (path and query), in bytes (64 to 1048575): 414 beyond.
    pub max_uri_bytes: usize,
    /// Largest request header block, in bytes (1024 to 1048575, Pingora's own cap being
    /// 1 MiB - 1): 431 beyond.
    pub max_header_bytes: usize,
    /// Most request header fields (1 to 256, Pingora's parser refusing more): 431 beyond.
    pub max_headers: usize,
    /// Largest request body, in bytes, where no route of `routes` matches: 413 beyond
    /// (declared or streamed). Zero allows no body at all.
    pub max_body_bytes: u64,
    /// Concurrent streams a client may open on one h2 connection (1 to 10000).
    pub h2_max_concurrent_streams: NonZeroU32,
    /// Client stream resets one h2 connection may make within 10 s; one more and it is told
    /// `GOAWAY(ENHANCE_YOUR_CALM)` and closed (rapid-reset abuse, CVE-2023-44487).
    pub h2_max_reset_streams: u32,
    /// Requests served on one HTTP/1.1 connection before it is closed.
    pub keepalive_requests: NonZeroU32,
    /// Per-route body limits, with distinct prefixes, sorted longest `path_prefix` first so
    /// the first match is the longest. Use [`Limits::max_body_bytes_for`].
    pub routes: Vec<BodyLimit>,
}

impl Limits {
    /// The body limit for `path`: the longest matching route's (see [`BodyLimit::matches`]),
    /// else [`Limits::max_body_bytes`].
    ///
    /// `path` is compared byte for byte, as received: percent-escapes are not decoded and dot
    /// segments not resolved, so a route that *lowers* the limit only holds for paths
    /// spelled the way its prefix is.
    pub fn max_body_bytes_for(&self, path: &str) -> u64 {
        // `routes` is sorted longest first; taking the longest match explicitly keeps a
        // hand-built, unsorted `Limits` right too. Two distinct prefixes of one length cannot
        // both match one path.
        self.routes
            .iter()
            .filter(|r| r.matches(path))
            .max_by_key(|r| r.path_prefix.len())
            .map_or(self.max_body_bytes, |r| r.max_body_bytes)
    }
}

/// A body size limit for requests whose path is under `path_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyLimit {
    /// Starts with `/`; holds no spaces, `?` or `#`.
    pub path_prefix: String,
    /// Largest request body under this prefix, in bytes; zero allows no body.
    pub max_body_bytes: u64,
}

impl BodyLimit {
    /// Whether `path` is under this prefix, at a segment boundary: `/upload` matches
    /// `/upload` and `/upload/...` but not `/uploads`; a prefix ending in `/` (such as
    /// `/upload/` or `/`) matches every path that starts with it. A query (from the first
    /// `?`) is ignored; the comparison is case-sensitive, byte for byte.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let prefix = self.path_prefix.as_str();
        match path.strip_prefix(prefix) {
            None => false,
            Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        }
    }
}

/// An IP network: an address and a prefix length, with no host bits set.
///
/// Written `"10.0.0.0/8"` or `"2001:db8::/32"`; a bare address is a single host (`/32` or
/// `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address (host bits are zero).
    pub addr: IpAddr,
    /// Leading bits that make up the network: 0 to 32 for IPv4, 0 to 128 for IPv6.
    pub prefix_len: u8,
}

impl Cidr {
    /// Parses `addr/len` or a bare address; the address must be the network address (no
    /// host bits set).
    pub fn parse(s: &str) -> Result<Self, InvalidCidr> {
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let Ok(addr) = addr_text.parse::<IpAddr>() else {
            return Err(InvalidCidr(format!(
                "{s:?} is not an IP network: write an address and prefix length, e.g. \
                 \"10.0.0.0/8\" or \"2001:db8::/32\", or a single address such as \"10.1.2.3\""
            )));
        };
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix_len = match len_text {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max && !l.is_empty() && l.bytes().all(|c| c.is_ascii_digit()) => n,
                _ => {
                    let family = if max == 32 { "IPv4" } else { "IPv6" };
                    return Err(InvalidCidr(format!(
                        "{s:?}: the prefix length must be a number from 0 to {max} for an \
                         {family} network"
                    )));
                }
            },
        };
        let network = Self::mask(addr, prefix_len);
        if network != addr {
            return Err(InvalidCidr(format!(
                "{s} has host bits set; did you mean {network}/{prefix_len}?"
            )));
        }
        Ok(Self { addr, prefix_len })
    }

    /// Whether `ip` is in the network. An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`)
    /// matches IPv4 networks as its IPv4 address, and an IPv4 address matches IPv6 networks
    /// as its mapped form.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                Self::mask(ip, self.prefix_len) == self.addr
            }
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6
                .to_ipv4_mapped()
                .is_some_and(|v4| Self::mask(IpAddr::V4(v4), self.prefix_len) == self.addr),
            (IpAddr::V6(_), IpAddr::V4(v4)) => {
                Self::mask(IpAddr::V6(v4.to_ipv6_mapped()), self.prefix_len) == self.addr
            }
        }
    }

    /// `addr` with every bit after the first `prefix_len` cleared.
    fn mask(addr: IpAddr, prefix_len: u8) -> IpAddr {
        match addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(prefix_len.min(32)))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(bits & mask))
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(prefix_len.min(128)))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(bits & mask))
            }
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for Cidr {
    type Err = InvalidCidr;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The error for a string that is not an IP network; says what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidCidr(pub String);

/// A token bucket: `rps` requests per second sustained, bursts of up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Sustained requests per second.
    pub rps: NonZeroU32,
    /// The bucket size: the most requests allowed at once; the bucket refills at `rps`.
    pub burst: NonZeroU32,
}

/// Request rate limits, per tenant (by plan or override), per client and per route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Named plans that tenants refer to.
    pub plans: BTreeMap<PlanName, Quota>,
    /// The plan of tenants that name none; names a key of `plans`.
    pub default_plan: Option<PlanName>,
    /// A limit per client address (across tenants), when set.
    pub per_client: Option<Quota>,
    /// Quotas that replace a tenant's plan.
    pub tenant_overrides: HashMap<TenantId, Quota>,
    /// Per-route limits, applied within each tenant.
    pub routes: Vec<RouteLimit>,
    /// Send `RateLimit` headers on successful responses too (not only on 429s).
    pub send_headers: bool,
    /// Upper bound on the keys (clients, tenants, routes) tracked at once.
    pub max_tracked_clients: NonZeroUsize,
    /// Keys idle this long are forgotten; greater than zero.
    pub idle_eviction: Duration,
}

/// A rate limit on requests whose path starts with `path_prefix`, within one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteLimit {
    /// Starts with `/`.
    pub path_prefix: String,
    /// Methods it applies to (upper-case); empty means every method.
    pub methods: Vec<String>,
    /// The limit.
    pub quota: Quota,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn status_ranges_parse() {
        assert_eq!(
            StatusRange::parse("200-399").unwrap(),
            StatusRange { lo: 200, hi: 399 }
        );
        assert_eq!(
            StatusRange::parse("204").unwrap(),
            StatusRange { lo: 204, hi: 204 }
        );
        assert_eq!(
            " 100 - 599 ".parse::<StatusRange>().unwrap(),
            StatusRange { lo: 100, hi: 599 }
        );
        assert_eq!(
            StatusRange::parse("399-200").unwrap_err().0,
            "\"399-200\" is reversed; did you mean \"200-399\"?"
        );
        let e = StatusRange::parse("200-600").unwrap_err().0;
        assert!(e.contains("600 is not an HTTP status code"), "{e}");
        assert!(StatusRange::parse("99")
            .unwrap_err()
            .0
            .contains("100 to 599"));
        for bad in [
            "",
            "2xx",
            "200-",
            "-200",
            "200-300-400",
            "+200",
            "200 300",
            "２００",
        ] {
            let e = StatusRange::parse(bad).unwrap_err().0;
            assert!(e.contains("100 to 599"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn status_ranges_contain_and_display() {
        let r = StatusRange { lo: 200, hi: 399 };
        assert!(r.contains(200) && r.contains(302) && r.contains(399));
        assert!(!r.contains(199) && !r.contains(400));
        assert_eq!(r.to_string(), "200-399");
        assert_eq!(StatusRange { lo: 204, hi: 204 }.to_string(), "204");
    }

    #[test]
    fn cidrs_parse() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert_eq!((c.addr, c.prefix_len), (ip("10.0.0.0"), 8));
        assert_eq!(c.to_string(), "10.0.0.0/8");
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert_eq!((c.addr, c.prefix_len), (ip("2001:db8::"), 32));
        // A bare address is one host.
        assert_eq!(Cidr::parse("10.1.2.3").unwrap().prefix_len, 32);
        assert_eq!(Cidr::parse("::1").unwrap().prefix_len, 128);
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().prefix_len, 0);
        assert_eq!(Cidr::parse("::/0").unwrap().prefix_len, 0);

        assert_eq!(
            Cidr::parse("10.0.0.1/8").unwrap_err().0,
            "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"
        );
        assert_eq!(
            Cidr::parse("2001:db8::1/32").unwrap_err().0,
            "2001:db8::1/32 has host bits set; did you mean 2001:db8::/32?"
        );
        let e = Cidr::parse("10.0.0.0/33").unwrap_err().0;
        assert!(e.contains("0 to 32 for an IPv4 network"), "{e}");
        let e = Cidr::parse("::/129").unwrap_err().0;
        assert!(e.contains("0 to 128 for an IPv6 network"), "{e}");
        for bad in ["10.0.0.0/", "10.0.0.0/+8", "10.0.0.0/8/8", "10.0.0.0/x"] {
            assert!(
                Cidr::parse(bad).unwrap_err().0.contains("prefix length"),
                "{bad:?}"
            );
        }
        for bad in [
            "",
            "10.0.0",
            "10.0.0.0.0/8",
            "host/8",
            " 10.0.0.0/8",
            "fe80::1%eth0/64",
        ] {
            let e = Cidr::parse(bad).unwrap_err().0;
            assert!(e.contains("is not an IP network"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn cidrs_contain() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.0.0.0")));
        assert!(net.contains(ip("10.255.255.255")));
        assert!(!net.contains(ip("11.0.0.0")));
        // IPv4-mapped IPv6 addresses (as seen on dual-stack sockets) match IPv4 networks.
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("::ffff:11.1.2.3")));
        // Other IPv6 addresses never do, not even IPv4-compatible ones.
        assert!(!net.contains(ip("::10.1.2.3")));
        assert!(!net.contains(ip("2001:db8::1")));

        let host = Cidr::parse("::1").unwrap();
        assert!(host.contains(ip("::1")));
        assert!(!host.contains(ip("::2")));
        assert!(!host.contains(ip("127.0.0.1")));

        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));

        // An IPv4 address matches IPv6 networks as its mapped form.
        let mapped = Cidr::parse("::ffff:10.0.0.0/104").unwrap();
        assert!(mapped.contains(ip("10.9.9.9")));
        assert!(!mapped.contains(ip("11.0.0.1")));

        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("203.0.113.9")));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("::ffff:203.0.113.9")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
    }

    #[test]
    fn country_codes() {
        assert!(
            ASSIGNED_COUNTRIES.windows(2).all(|w| w[0] < w[1]),
            "sorted, unique"
        );
        let de = CountryCode::parse("de").unwrap();
        assert_eq!(de.to_string(), "DE");
        assert_eq!(format!("{de:?}"), "DE");
        assert_eq!("US".parse::<CountryCode>().unwrap().as_str(), "US");
        assert_eq!(CountryCode::parse("xk").unwrap().as_str(), "XK");
        let e = CountryCode::parse("UK").unwrap_err().0;
        assert!(e.contains("\"GB\""), "{e}");
        let e = CountryCode::parse("EU").unwrap_err().0;
        assert!(e.contains("continents = [\"EU\"]"), "{e}");
        for bad in ["", "D", "DEU", "D1", "ÄÖ", " DE", "ZZ", "AA"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad:?}");
        }
        // Database values are only checked for shape.
        assert_eq!(CountryCode::from_alpha2("zz").unwrap().as_str(), "ZZ");
        assert!(CountryCode::from_alpha2("Z9").is_none());
        assert!(CountryCode::from_alpha2("").is_none());
    }

    #[test]
    fn continent_codes() {
        for c in CONTINENTS {
            assert_eq!(ContinentCode::parse(c).unwrap().as_str(), c);
        }
        assert_eq!(ContinentCode::parse("eu").unwrap(), ContinentCode::EU);
        assert_eq!(ContinentCode::NA.to_string(), "NA");
        let e = ContinentCode::parse("AM").unwrap_err().0;
        assert!(e.contains("AF, AN, AS, EU, NA, OC, SA"), "{e}");
        assert!(ContinentCode::parse("Europe").is_err());
    }

    fn body_limit(prefix: &str, bytes: u64) -> BodyLimit {
        BodyLimit {
            path_prefix: prefix.into(),
            max_body_bytes: bytes,
        }
    }

    #[test]
    fn body_limits_match_at_segment_boundaries() {
        let upload = body_limit("/upload", 1);
        for yes in [
            "/upload",
            "/upload/",
            "/upload/a/b",
            "/upload?x=1",
            "/upload/?x",
        ] {
            assert!(upload.matches(yes), "{yes:?}");
        }
        for no in [
            "/uploads",
            "/upload-x",
            "/uploadx/y",
            "/Upload",
            "/",
            "",
            "upload",
            "/up",
        ] {
            assert!(!upload.matches(no), "{no:?}");
        }
        // A prefix ending in '/' matches anything below it, but not the bare directory.
        let dir = body_limit("/upload/", 1);
        assert!(dir.matches("/upload/") && dir.matches("/upload/x") && dir.matches("/upload//"));
        assert!(!dir.matches("/upload") && !dir.matches("/uploads/x"));
        let root = body_limit("/", 1);
        assert!(root.matches("/") && root.matches("/anything") && root.matches("/?q"));
        assert!(!root.matches("") && !root.matches("*"));
        // The query is not part of the path.
        assert!(!body_limit("/a", 1).matches("/b?/a"));
    }

    #[test]
    fn the_longest_matching_route_sets_the_body_limit() {
        let limits = Limits {
            // Deliberately not sorted: the longest match wins anyway.
            routes: vec![
                body_limit("/", 5),
                body_limit("/upload/big", 300),
                body_limit("/upload", 100),
                body_limit("/upload/", 200),
                body_limit("/api", 0),
            ],
            ..Limits::default()
        };
        let default = Limits::default().max_body_bytes;
        for (path, expected) in [
            ("/upload", 100),
            ("/upload?part=1", 100),
            ("/upload/x", 200),
            ("/upload/big", 300),
            ("/upload/big/1", 300),
            ("/upload/bigger", 200),
            ("/uploads", 5),
            ("/api", 0),
            ("/api/v1", 0),
            ("/apis", 5),
            ("/", 5),
        ] {
            assert_eq!(limits.max_body_bytes_for(path), expected, "{path:?}");
        }
        // Without a matching route (here: a target that is not a path), the global limit.
        assert_eq!(limits.max_body_bytes_for("*"), default);
        assert_eq!(Limits::default().max_body_bytes_for("/upload"), default);
    }

    proptest! {
        #[test]
        fn country_code_parse_round_trips(a in b'A'..=b'Z', b in b'A'..=b'Z') {
            let text = String::from_utf8(vec![a, b]).unwrap();
            match CountryCode::parse(&text.to_ascii_lowercase()) {
                Ok(code) => prop_assert_eq!(code.to_string(), text.clone()),
                Err(e) => prop_assert!(e.0.contains("not an assigned"), "{}", e.0),
            }
            prop_assert_eq!(CountryCode::from_alpha2(&text).unwrap().to_string(), text);
        }

        #[test]
        fn cidr_contains_agrees_with_the_prefix(addr in any::<u32>(), other in any::<u32>(), len in 0u8..=32) {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            let text = format!("{}/{len}", Ipv4Addr::from(addr & mask));
            let net = Cidr::parse(&text).unwrap();
            prop_assert_eq!(net.to_string(), text);
            let v4 = Ipv4Addr::from(other);
            let expected = other & mask == addr & mask;
            prop_assert_eq!(net.contains(IpAddr::V4(v4)), expected);
            prop_assert_eq!(net.contains(IpAddr::V6(v4.to_ipv6_mapped())), expected);
            if addr & !mask != 0 {
                let set = format!("{}/{len}", Ipv4Addr::from(addr));
                prop_assert!(Cidr::parse(&set).unwrap_err().0.contains("has host bits set"));
            }
        }

        #[test]
        fn cidr_v6_contains_agrees_with_the_prefix(addr in any::<u128>(), other in any::<u128>(), len in 0u8..=128) {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            let net = Cidr::parse(&format!("{}/{len}", Ipv6Addr::from(addr & mask))).unwrap();
            let expected = other & mask == addr & mask;
            prop_assert_eq!(net.contains(IpAddr::V6(Ipv6Addr::from(other))), expected);
        }
    }
}

/// The admin API's settings. Tokens are never written in the config file itself: they come
/// from the `EDGE_ADMIN_TOKEN` environment variable or from `token_file`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admin {
    /// File with bearer tokens, one per line (`name:token` or `token`).
    pub token_file: Option<PathBuf>,
    /// Serve `/metrics` without a token (for scrapers on a trusted network).
    pub metrics_public: bool,
    /// Where operator overrides are persisted (atomically) and restored from at start.
    pub state_file: Option<PathBuf>,
}

/// `[dns]`: an authoritative DNS responder that answers each tenant's host name with edges of
/// the tenant's home geography (Traffic Manager's job, residency-aware).
///
/// Names are stored lower-case, without the trailing dot, in presentation format (`a.b.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    /// Each address is answered on over UDP and over TCP; never port 0, no overlaps with
    /// each other or with the TCP listeners of [`Listeners`].
    pub listen: Vec<SocketAddr>,
    /// The zone: `{tenant}.{zone}` and `{geography}.{zone}` are answered, with SOA and NS at
    /// the apex. A valid host name of at most 216 characters (room for a tenant label).
    pub zone: String,
    /// TTL of every record, in seconds (0 to 86400).
    pub ttl: u32,
    /// The NS records at the apex; the first is the SOA's MNAME. At least one, none inside
    /// the zone (they would need glue this responder does not serve).
    pub nameservers: Vec<String>,
    /// The SOA's RNAME: the responsible mailbox as a domain name (`hostmaster.example.com`
    /// for `hostmaster@example.com`).
    pub hostmaster: String,
    /// A fixed SOA serial; `None`: the Unix time (seconds) at which the answers were built,
    /// which increases on every reload and drain (RFC 1982 arithmetic, until 2106).
    pub serial: Option<u32>,
    /// SOA refresh, in seconds.
    pub refresh: u32,
    /// SOA retry, in seconds.
    pub retry: u32,
    /// SOA expire, in seconds.
    pub expire: u32,
    /// SOA minimum (RFC 2308: how long NXDOMAIN and NODATA are cached), in seconds.
    pub negative_ttl: u32,
    /// Most addresses in one answer (1 to 64).
    pub max_answers: usize,
    /// Largest UDP response in bytes (512 to 4096); the client's EDNS size (or 512 without
    /// EDNS) caps it further.
    pub max_udp_payload: u16,
    /// TCP connections open at once, all listeners together (1 to 100000); more are closed
    /// at accept.
    pub max_tcp_connections: NonZeroU32,
    /// A TCP connection that sends no complete query for this long is closed; greater than
    /// zero.
    pub tcp_idle_timeout: Duration,
    /// How the edges' health is known.
    pub health: DnsHealth,
    /// The edges, by geography, in configuration order.
    pub edges: Vec<DnsEdges>,
}

/// `[dns.health]`: a TCP connection to every edge, opened and closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsHealth {
    /// The port probed, unless a group sets [`DnsEdges::probe_port`].
    pub port: u16,
    /// Time between probes of one edge (at least 100 ms).
    pub interval: Duration,
    /// Time allowed to connect; greater than zero.
    pub timeout: Duration,
    /// Passing probes in a row to become healthy again.
    pub rise: NonZeroU32,
    /// Failing probes in a row to become unhealthy.
    pub fall: NonZeroU32,
}

/// `[[dns.edges]]`: addresses of one geography's edges, with one priority and weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEdges {
    /// The geography whose tenants these edges serve.
    pub geography: GeographyName,
    /// At least one; unicast, not unspecified.
    pub addresses: Vec<IpAddr>,
    /// 1 = answered first; a higher number only when no edge of a lower one is healthy.
    pub priority: NonZeroU32,
    /// Share among the edges of equal priority (0 to 1000); 0 is answered only when failing
    /// static.
    pub weight: u32,
    /// The port probed on these edges ([`DnsHealth::port`] unless set).
    pub probe_port: u16,
}

/// `[edge]`: residency at the edge. A tenant's traffic is decrypted only by an edge of its
/// home geography: a TLS connection whose SNI names a foreign tenant (through a `host` tenant
/// source) is passed on still encrypted to an edge of the tenant's geography.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The geography this gateway stands in (a defined geography).
    pub geography: GeographyName,
    /// Peers in these networks may send a PROXY protocol v2 header (and their
    /// `X-Forwarded-For` is believed); a PROXY header from anyone else closes the connection.
    pub trusted_peers: Vec<Cidr>,
    /// What happens to a foreign tenant found only after decryption.
    pub foreign_tenants: ForeignTenants,
    /// The edges of every other geography, one entry per geography.
    pub peers: Vec<EdgePeer>,
    /// How peer health is probed.
    pub peer_health: PeerHealth,
}

impl Edge {
    /// The peer entry of `geography`, if any.
    pub fn peers_of(&self, geography: &GeographyName) -> Option<&EdgePeer> {
        self.peers.iter().find(|p| &p.geography == geography)
    }
}

/// What an edge does with a request of a tenant whose home geography is another one, when the
/// tenant was found only after decryption (header, path or JWT claim; or a `Host` that differs
/// from the SNI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignTenants {
    /// Proxy the request over TLS to a healthy edge of the tenant's geography (counted in
    /// `edge_residency_foreign_terminations_total`): decrypted here, served there.
    Proxy,
    /// Answer `421 Misdirected Request` naming the tenant's own host.
    Refuse,
}

/// The edges of one other geography.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgePeer {
    /// Their geography (never the edge's own).
    pub geography: GeographyName,
    /// Their TLS listeners; at least one, in configuration order.
    pub addresses: Vec<SocketAddr>,
    /// PEM CA certificates that verify their certificates when a request is proxied to them;
    /// `None`: the system's roots. Readable PEM certificates at validation time.
    pub ca: Option<PathBuf>,
}

/// The TCP-connect probe of peer edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerHealth {
    /// Time between probes of one address (at least 100 ms).
    pub interval: Duration,
    /// Connect timeout of one probe (greater than zero).
    pub timeout: Duration,
    /// Consecutive passing probes to become healthy (1 to 100).
    pub rise: u32,
    /// Consecutive failing probes to become unhealthy (1 to 100).
    pub fall: u32,
}

/// `[fleet]`: the replicas of one deployment share their tenant and route rate limits and the
/// operators' overrides through one Redis (see `docs/fleet.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    /// The Redis to share through: `redis://host[:port][/db]`, `rediss://` (TLS, certificate
    /// checked against the system roots) or `redis+unix:///path`. Never holds a password.
    pub redis_url: String,
    /// Where the password comes from, if Redis needs one.
    pub password: Option<SecretSource>,
    /// This replica's name in the fleet; `None`: host name and process id, chosen at start.
    pub node_id: Option<String>,
    /// Prefix of every key the gateway writes (several fleets can share one Redis).
    pub key_prefix: String,
    /// How often rate limits are reconciled and overrides looked up (10 ms to 10 s).
    pub sync_interval: Duration,
    /// Bound on every Redis call (1 ms to `sync_interval`).
    pub timeout: Duration,
    /// What the rate limits do while Redis is unreachable.
    pub when_unreachable: WhenUnreachable,
}

/// Where a secret is read from at start. Secrets are never written in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable (name).
    Env(String),
    /// A file (its first line, trimmed), resolved against the config file's directory.
    File(PathBuf),
}

/// How tenant and route limits behave while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnreachable {
    /// Every replica enforces the full quota on its own (the fleet may admit up to replicas ×
    /// quota); never refuses a request because Redis is down.
    FullQuota,
    /// Every replica enforces the quota divided by the replicas last seen alive (at least one
    /// request of burst per replica).
    DivideQuota,
}
