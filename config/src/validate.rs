//! Turns configuration text into the typed [`Config`], collecting every problem.
//!
//! Three stages:
//! 1. The text is parsed once into a spanned document tree (`toml::de::DeTable`), which keeps
//!    byte spans for every key and value; a syntax error stops here and is reported alone.
//! 2. Schema: each top-level table, and each element of every array of tables (and of
//!    `tls.certificates`, `tenancy.sources`, `regions[].origins`), is deserialized on its own
//!    into the [`crate::file`] structs, so one bad element does not hide the others. A serde
//!    error's span is mapped back to the key path it lies in.
//! 3. Semantics: ranges, syntax of names and addresses, cross-references and file checks run
//!    over whatever parsed. Checks that depend on a piece that failed to parse are skipped
//!    rather than reported as a confusing consequence of the first error.
//!
//! Key paths look like `regions[1].origins[0].address`; each error carries the 1-based line
//! of the key it names (or of its nearest parent present in the file).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::num::{NonZeroU32, NonZeroUsize};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use crate::error::{ConfigError, ConfigErrors};
use crate::file::{
    AdminFile, BodyLimitRouteFile, CertificateFile, ClientIpFile, Degrees, GeoFile, GeographyFile,
    HealthFile, HumanDuration, LimitsFile, ListenersFile, LocationFile, OriginFile,
    OutlierDetectionFile, QuotaFile, RateLimitsFile, RegionFile, RetryBudgetFile, RouteLimitFile,
    RoutingFile, ServerFile, StatusText, TenancyFile, TenantFile, TenantOverrideFile,
    TenantSourceFile, TlsFile,
};
use crate::model::{
    Admin, BodyLimit, Certificate, Cidr, ClientIp, Config, ContinentCode, CountryCode, GeoSettings,
    Geography, GeographyName, Health, Limits, Listeners, Location, Origin, OutlierDetection,
    PlanName, Quota, RateLimits, Region, RegionName, RetryBudget, RouteLimit, Routing, Server,
    StatusRange, Tenancy, TenantId, TenantSource, Tls, UnknownTenant,
};
use crate::tenants_file::DirectoryBuilder;

// The defaults and name rules live in their own modules; they stay public here.
pub use crate::defaults::*;
pub use crate::names::{is_valid_name, NAME_RULE};

/// The bytes that start a MaxMind DB file's metadata section.
pub const MMDB_METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";
/// The metadata section is at most this long (MaxMind DB format), so the marker lies in the
/// file's last this-many bytes.
const MMDB_METADATA_MAX_LEN: u64 = 128 * 1024;

/// Reads, parses and validates the configuration file at `path`; relative paths inside it
/// are resolved against its directory.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: source.clone(),
            key: String::new(),
            line: None,
            message: format!("cannot read the configuration file: {e}"),
        }])
    })?;
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parse_str(&text, &source, base_dir)
}

/// Parses and validates configuration text. `source` names it in errors; `base_dir` resolves
/// relative paths (certificates, tenant file).
pub fn parse_str(text: &str, source: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            return Err(ConfigErrors(vec![ConfigError {
                file: source.to_owned(),
                key: String::new(),
                line: e.span().map(|s| line_at(text, s.start)),
                message: format!("invalid TOML: {}", e.message()),
            }]))
        }
    };
    let mut v = Validator::new(text, source, base_dir, doc.get_ref());
    let raw = v.read_schema();
    let config = v.build(raw);
    v.finish(config)
}

fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

// ---------------------------------------------------------------------------------------------
// Key paths

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A path such as `regions[1].origins[0].address`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct KeyPath(Vec<Seg>);

impl KeyPath {
    fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Self(segs)
    }

    fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Self(segs)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Finds the innermost key or value of `node` whose span contains `offset`, as a path
/// relative to `node`.
fn locate(node: &Spanned<DeValue<'_>>, offset: usize) -> Vec<Seg> {
    struct Best {
        len: usize,
        path: Vec<Seg>,
    }
    fn consider(span: Range<usize>, offset: usize, path: &[Seg], best: &mut Option<Best>) {
        let contains = span.contains(&offset) || (span.is_empty() && span.start == offset);
        if !contains {
            return;
        }
        let len = span.len();
        // Nested nodes can share a span (`[[a.b]]` is both the array `b` and its first
        // element): the deeper one is the more precise answer.
        let better = best
            .as_ref()
            .is_none_or(|b| len < b.len || (len == b.len && path.len() > b.path.len()));
        if better {
            *best = Some(Best {
                len,
                path: path.to_vec(),
            });
        }
    }
    fn walk(
        node: &Spanned<DeValue<'_>>,
        offset: usize,
        path: &mut Vec<Seg>,
        best: &mut Option<Best>,
    ) {
        consider(node.span(), offset, path, best);
        match node.get_ref() {
            DeValue::Table(t) => {
                for (k, v) in t.iter() {
                    path.push(Seg::Key(k.get_ref().to_string()));
                    consider(k.span(), offset, path, best);
                    walk(v, offset, path, best);
                    path.pop();
                }
            }
            DeValue::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    walk(v, offset, path, best);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk(node, offset, &mut Vec::new(), &mut best);
    best.map(|b| b.path).unwrap_or_default()
}

/// The name inside the first backticks after `prefix` in a serde message.
fn backticked<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(name, _)| name)
}

/// Rewords serde's messages in the vocabulary of a TOML file.
fn humanize(message: &str) -> String {
    message
        .replacen("unknown field", "unknown key", 1)
        .replacen("missing field", "missing required key", 1)
        .replacen("unknown variant", "unknown value", 1)
        .replace("expected i64", "expected an integer")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table")
}

// ---------------------------------------------------------------------------------------------
// Schema stage

/// A top-level table after the schema stage.
enum Piece<T> {
    Absent,
    Broken,
    Parsed(T),
}

impl<T> Piece<T> {
    fn parsed(&self) -> Option<&T> {
        match self {
            Piece::Parsed(t) => Some(t),
            Piece::Absent | Piece::Broken => None,
        }
    }

    fn is_broken(&self) -> bool {
        matches!(self, Piece::Broken)
    }
}

/// An array after the schema stage: each element parsed on its own, `None` where it failed,
/// so indices in key paths stay those of the file.
struct Elements<T> {
    items: Vec<Option<T>>,
    /// The value was not an array at all.
    broken: bool,
}

impl<T> Elements<T> {
    fn broken() -> Self {
        Self {
            items: Vec::new(),
            broken: true,
        }
    }

    /// Every element parsed: cross-checks over the whole array are meaningful.
    fn complete(&self) -> bool {
        !self.broken && self.items.iter().all(Option::is_some)
    }

    /// Really empty (not merely unparsed).
    fn is_empty(&self) -> bool {
        !self.broken && self.items.is_empty()
    }

    fn parsed(&self) -> impl Iterator<Item = (usize, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (i, t)))
    }
}

struct Raw {
    server: Piece<ServerFile>,
    listeners: Piece<ListenersFile>,
    tls: Piece<TlsFile>,
    certificates: Elements<CertificateFile>,
    tenancy: Piece<TenancyFile>,
    sources: Elements<TenantSourceFile>,
    tenants: Elements<TenantFile>,
    geographies: Elements<GeographyFile>,
    regions: Elements<(RegionFile, Elements<OriginFile>)>,
    health: Piece<HealthFile>,
    outlier_detection: Piece<OutlierDetectionFile>,
    routing: Piece<RoutingFile>,
    client_ip: Piece<ClientIpFile>,
    limits: Piece<LimitsFile>,
    body_limits: Elements<BodyLimitRouteFile>,
    rate_limits: Piece<RateLimitsFile>,
    admin: Piece<AdminFile>,
    plans: Elements<(String, QuotaFile)>,
    per_client: Piece<QuotaFile>,
    tenant_overrides: Elements<TenantOverrideFile>,
    route_limits: Elements<RouteLimitFile>,
    geo: Piece<GeoFile>,
}

const TOP_LEVEL_KEYS: [&str; 15] = [
    "admin",
    "server",
    "listeners",
    "tls",
    "tenancy",
    "tenants",
    "geographies",
    "regions",
    "health",
    "outlier_detection",
    "routing",
    "client_ip",
    "limits",
    "rate_limits",
    "geo",
];

const SOURCE_EXAMPLE: &str = "{ kind = \"host\", pattern = \"{tenant}.app.example.com\" }";
const ORIGIN_EXAMPLE: &str = "{ address = \"10.0.0.1:443\" }";
const QUOTA_EXAMPLE: &str = "{ rps = 50, burst = 10 }";

/// Removes `key` from a table value so it can be deserialized on its own.
fn take<'a>(value: &mut Spanned<DeValue<'a>>, key: &str) -> Option<Spanned<DeValue<'a>>> {
    match value.get_mut() {
        DeValue::Table(t) => t.remove(key),
        _ => None,
    }
}

/// The table at `rel` inside `node`.
fn table_at<'v, 'a>(node: &'v Spanned<DeValue<'a>>, rel: &[Seg]) -> Option<&'v DeTable<'a>> {
    let mut node = node;
    for seg in rel {
        node = match (seg, node.get_ref()) {
            (Seg::Key(k), DeValue::Table(t)) => t.get(k.as_str())?,
            (Seg::Index(i), DeValue::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    match node.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => None,
    }
}

/// Removes the key at `rel` (which must end with a key) from `node`; false if there is none.
/// Array elements are never removed: that would shift the indices of later errors.
fn remove_key(node: &mut Spanned<DeValue<'_>>, rel: &[Seg]) -> bool {
    let Some((Seg::Key(last), parents)) = rel.split_last() else {
        return false;
    };
    let mut node = node;
    for seg in parents {
        let next = match (seg, node.get_mut()) {
            (Seg::Key(k), DeValue::Table(t)) => t.get_mut(k.as_str()),
            (Seg::Index(i), DeValue::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        let Some(next) = next else { return false };
        node = next;
    }
    match node.get_mut() {
        DeValue::Table(t) => t.remove(last.as_str()).is_some(),
        _ => false,
    }
}

struct Validator<'a> {
    source: &'a str,
    base_dir: &'a Path,
    root: &'a DeTable<'a>,
    line_starts: Vec<usize>,
    errors: Vec<ConfigError>,
    /// Errors located in other files (the tenant file), reported after the config's own.
    other_files: Vec<ConfigError>,
}

impl<'a> Validator<'a> {
    fn new(text: &'a str, source: &'a str, base_dir: &'a Path, root: &'a DeTable<'a>) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            source,
            base_dir,
            root,
            line_starts,
            errors: Vec::new(),
            other_files: Vec::new(),
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// The span of the item at `path`, or of its nearest parent present in the file. For a
    /// key, the key's own span: a value can start lines later (multi-line arrays).
    fn span_of(&self, path: &KeyPath) -> Option<Range<usize>> {
        let mut segs = path.0.iter();
        let Some(Seg::Key(first)) = segs.next() else {
            return None;
        };
        let (key, mut node) = self.root.get_key_value(first.as_str())?;
        let mut span = key.span();
        for seg in segs {
            let next = match (seg, node.get_ref()) {
                (Seg::Key(k), DeValue::Table(t)) => {
                    t.get_key_value(k.as_str()).map(|(k, v)| (k.span(), v))
                }
                (Seg::Index(i), DeValue::Array(a)) => a.get(*i).map(|v| (v.span(), v)),
                _ => None,
            };
            let Some((s, v)) = next else { break };
            span = s;
            node = v;
        }
        Some(span)
    }

    /// The item at `path` in the document.
    fn node(&self, path: &KeyPath) -> Option<&'a Spanned<DeValue<'a>>> {
        let mut segs = path.0.iter();
        let Some(Seg::Key(first)) = segs.next() else {
            return None;
        };
        let mut node = self.root.get(first.as_str())?;
        for seg in segs {
            node = match (seg, node.get_ref()) {
                (Seg::Key(k), DeValue::Table(t)) => t.get(k.as_str())?,
                (Seg::Index(i), DeValue::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    fn error(&mut self, path: &KeyPath, message: impl Into<String>) {
        let span = self.span_of(path);
        self.error_at(path, span, message);
    }

    fn error_at(&mut self, path: &KeyPath, span: Option<Range<usize>>, message: impl Into<String>) {
        let line = span
            .or_else(|| self.span_of(path))
            .map(|s| self.line_of(s.start));
        self.errors.push(ConfigError {
            file: self.source.to_owned(),
            key: path.to_string(),
            line,
            message: message.into(),
        });
    }

    /// Deserializes one piece, reporting each failure at the key it is about.
    ///
    /// serde stops at the first error, so after reporting one that names a key of the piece,
    /// that key is removed and deserialization retried: every unknown or mistyped key of a
    /// table is reported, and its valid siblings still reach the semantic checks. A mistyped
    /// array element removes its whole array. Gives up when the error cannot be pinned on a
    /// removable key (e.g. a missing required key).
    fn de<T: DeserializeOwned>(
        &mut self,
        piece: &Spanned<DeValue<'a>>,
        path: &KeyPath,
    ) -> Option<T> {
        let mut piece = piece.clone();
        let mut removed: Vec<Vec<Seg>> = Vec::new();
        loop {
            let err = match T::deserialize(ValueDeserializer::from(piece.clone())) {
                Ok(t) => return Some(t),
                Err(e) => e,
            };
            let mut span = err.span();
            let mut rel = span
                .as_ref()
                .map(|s| locate(&piece, s.start))
                .unwrap_or_default();
            let message = err.message();
            if let Some(field) = backticked(message, "unknown field `") {
                // Internally tagged enums (tenant sources) report unknown keys at the
                // enclosing table: point at the key itself.
                if !matches!(rel.last(), Some(Seg::Key(k)) if k == field) {
                    if let Some(key_span) = table_at(&piece, &rel)
                        .and_then(|t| t.get_key_value(field))
                        .map(|(k, _)| k.span())
                    {
                        rel.push(Seg::Key(field.to_owned()));
                        span = Some(key_span);
                    }
                }
            } else if let Some(field) = backticked(message, "missing field `") {
                rel.push(Seg::Key(field.to_owned()));
                if removed.contains(&rel) {
                    // Already reported as mistyped; "missing" would be the same problem twice.
                    return None;
                }
            }
            let mut full = path.clone();
            full.0.extend(rel.iter().cloned());
            self.error_at(&full, span, humanize(message));
            if remove_key(&mut piece, &rel) {
                removed.push(rel);
                continue;
            }
            // A bad array element: drop the whole array (its elements are not checked any
            // further) so the other keys of the piece still are.
            let array = rel
                .iter()
                .rposition(|s| matches!(s, Seg::Key(_)))
                .filter(|&k| k + 1 < rel.len())
                .and_then(|k| rel.get(..=k))
                .map(<[Seg]>::to_vec);
            match array {
                Some(array) if remove_key(&mut piece, &array) => removed.push(array),
                _ => return None,
            }
        }
    }

    fn expect_table(
        &mut self,
        value: &Spanned<DeValue<'a>>,
        path: &KeyPath,
        example: &str,
    ) -> bool {
        if matches!(value.get_ref(), DeValue::Table(_)) {
            return true;
        }
        self.error_at(
            path,
            Some(value.span()),
            format!(
                "expected a table, e.g. {example}, found {}",
                value.get_ref().type_str()
            ),
        );
        false
    }

    fn table<T: DeserializeOwned>(
        &mut self,
        value: Option<Spanned<DeValue<'a>>>,
        path: &KeyPath,
        example: &str,
    ) -> Piece<T> {
        let Some(value) = value else {
            return Piece::Absent;
        };
        if !self.expect_table(&value, path, example) {
            return Piece::Broken;
        }
        match self.de(&value, path) {
            Some(t) => Piece::Parsed(t),
            None => Piece::Broken,
        }
    }

    fn array(
        &mut self,
        value: Option<Spanned<DeValue<'a>>>,
        path: &KeyPath,
        example: &str,
    ) -> Option<Vec<Spanned<DeValue<'a>>>> {
        let Some(value) = value else {
            return Some(Vec::new());
        };
        if let DeValue::Array(a) = value.get_ref() {
            return Some(a.to_vec());
        }
        self.error_at(
            path,
            Some(value.span()),
            format!(
                "expected an array, e.g. {example}, found {}",
                value.get_ref().type_str()
            ),
        );
        None
    }

    fn elements<T: DeserializeOwned>(
        &mut self,
        value: Option<Spanned<DeValue<'a>>>,
        path: &KeyPath,
        example: &str,
    ) -> Elements<T> {
        let Some(values) = self.array(value, path, example) else {
            return Elements::broken();
        };
        let items = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let p = path.index(i);
                if self.expect_table(v, &p, example) {
                    self.de(v, &p)
                } else {
                    None
                }
            })
            .collect();
        Elements {
            items,
            broken: false,
        }
    }

    /// A table of tables keyed by name (`[rate_limits.plans.<name>]`): each entry parsed on
    /// its own, kept with its name.
    fn named_tables<T: DeserializeOwned>(
        &mut self,
        value: Option<Spanned<DeValue<'a>>>,
        path: &KeyPath,
        example: &str,
    ) -> Elements<(String, T)> {
        let Some(value) = value else {
            return Elements {
                items: Vec::new(),
                broken: false,
            };
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.expect_table(&value, path, example);
            return Elements::broken();
        };
        let items = table
            .iter()
            .map(|(k, v)| {
                let name = k.get_ref().to_string();
                let p = path.key(&name);
                if self.expect_table(v, &p, example) {
                    self.de(v, &p).map(|t| (name, t))
                } else {
                    None
                }
            })
            .collect();
        Elements {
            items,
            broken: false,
        }
    }

    fn read_schema(&mut self) -> Raw {
        let root = self.root;
        for key in root.keys() {
            let name = key.get_ref().as_ref();
            if !TOP_LEVEL_KEYS.contains(&name) {
                let path = KeyPath::default().key(name);
                self.error_at(
                    &path,
                    Some(key.span()),
                    format!(
                        "unknown top-level key `{name}`; expected one of: {}",
                        TOP_LEVEL_KEYS.join(", ")
                    ),
                );
            }
        }
        let top = |key: &str| root.get(key).cloned();
        let path = |key: &str| KeyPath::default().key(key);

        let server = self.table(top("server"), &path("server"), "[server]");
        let listeners = self.table(top("listeners"), &path("listeners"), "[listeners]");

        let mut tls_value = top("tls");
        let certificates_value = tls_value.as_mut().and_then(|v| take(v, "certificates"));
        let tls = self.table(tls_value, &path("tls"), "[tls]");
        let certificates = self.elements(
            certificates_value,
            &path("tls").key("certificates"),
            "[[tls.certificates]]",
        );

        let mut tenancy_value = top("tenancy");
        let sources_value = tenancy_value.as_mut().and_then(|v| take(v, "sources"));
        let tenancy = self.table(tenancy_value, &path("tenancy"), "[tenancy]");
        let sources = self.elements(
            sources_value,
            &path("tenancy").key("sources"),
            SOURCE_EXAMPLE,
        );

        let tenants = self.elements(top("tenants"), &path("tenants"), "[[tenants]]");
        let geographies =
            self.elements(top("geographies"), &path("geographies"), "[[geographies]]");

        let regions_path = path("regions");
        let regions = match self.array(top("regions"), &regions_path, "[[regions]]") {
            None => Elements::broken(),
            Some(values) => {
                let mut items = Vec::with_capacity(values.len());
                for (i, mut value) in values.into_iter().enumerate() {
                    let p = regions_path.index(i);
                    if !self.expect_table(&value, &p, "[[regions]]") {
                        items.push(None);
                        continue;
                    }
                    let origins_value = take(&mut value, "origins");
                    let origins = self.elements(origins_value, &p.key("origins"), ORIGIN_EXAMPLE);
                    items.push(self.de::<RegionFile>(&value, &p).map(|r| (r, origins)));
                }
                Elements {
                    items,
                    broken: false,
                }
            }
        };

        let health = self.table(top("health"), &path("health"), "[health]");
        let outlier_detection = self.table(
            top("outlier_detection"),
            &path("outlier_detection"),
            "[outlier_detection]",
        );
        let routing = self.table(top("routing"), &path("routing"), "[routing]");
        let client_ip = self.table(top("client_ip"), &path("client_ip"), "[client_ip]");
        let admin = self.table(top("admin"), &path("admin"), "[admin]");

        let mut client_limits_value = top("limits");
        let body_limits_value = client_limits_value.as_mut().and_then(|v| take(v, "routes"));
        let limits = self.table(client_limits_value, &path("limits"), "[limits]");
        let body_limits = self.elements(
            body_limits_value,
            &path("limits").key("routes"),
            "[[limits.routes]]",
        );

        let limits_path = path("rate_limits");
        let mut limits_value = top("rate_limits");
        let plans_value = limits_value.as_mut().and_then(|v| take(v, "plans"));
        let per_client_value = limits_value.as_mut().and_then(|v| take(v, "per_client"));
        let overrides_value = limits_value
            .as_mut()
            .and_then(|v| take(v, "tenant_overrides"));
        let routes_value = limits_value.as_mut().and_then(|v| take(v, "routes"));
        let rate_limits = self.table(limits_value, &limits_path, "[rate_limits]");
        let plans = self.named_tables(plans_value, &limits_path.key("plans"), QUOTA_EXAMPLE);
        let per_client = self.table(
            per_client_value,
            &limits_path.key("per_client"),
            QUOTA_EXAMPLE,
        );
        let tenant_overrides = self.elements(
            overrides_value,
            &limits_path.key("tenant_overrides"),
            "[[rate_limits.tenant_overrides]]",
        );
        let route_limits = self.elements(
            routes_value,
            &limits_path.key("routes"),
            "[[rate_limits.routes]]",
        );
        let geo = self.table(top("geo"), &path("geo"), "[geo]");

        Raw {
            server,
            listeners,
            tls,
            certificates,
            tenancy,
            sources,
            tenants,
            geographies,
            regions,
            health,
            outlier_detection,
            routing,
            client_ip,
            limits,
            body_limits,
            rate_limits,
            admin,
            plans,
            per_client,
            tenant_overrides,
            route_limits,
            geo,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Semantic stage

    fn build(&mut self, raw: Raw) -> Config {
        let server = self.server(raw.server.parsed());
        let listeners = self.listeners(&raw.listeners);
        let tls = self.tls(
            raw.tls.parsed(),
            &raw.certificates,
            !listeners.https.is_empty(),
        );
        let geo = self.geo(raw.geo.parsed());
        // A `[geo]` that is present but wrong was reported already; features that need it are
        // not blamed for that.
        let geo_present = !matches!(raw.geo, Piece::Absent);
        let mut tenancy = self.tenancy(&raw.tenancy, &raw.sources);
        let geographies = self.geographies(&raw.geographies);
        tenancy.default_geography = self.default_geography(
            raw.tenancy.parsed(),
            tenancy.unknown,
            geo_present,
            &geographies,
            raw.geographies.complete(),
        );
        let health = self.health(
            &KeyPath::default().key("health"),
            raw.health.parsed(),
            &Health::default(),
        );
        let regions = self.regions(
            &raw.regions,
            &geographies,
            raw.geographies.complete(),
            &health,
        );
        if raw.regions.complete() {
            self.geographies_have_regions(&raw.geographies, &raw.regions);
        }
        let (rate_limits, plan_names) = self.rate_limits(&raw);
        let deny_countries = geo.as_ref().map_or(&[][..], |g| &g.deny_countries[..]);
        let tenants = self.tenants(
            &raw,
            &geographies,
            plan_names.as_deref(),
            geo_present,
            deny_countries,
        );
        let outlier_detection = self.outlier_detection(raw.outlier_detection.parsed());
        let routing = self.routing(raw.routing.parsed());
        let client_ip = self.client_ip(raw.client_ip.parsed());
        let limits = self.limits(raw.limits.parsed(), &raw.body_limits);
        let admin = self.admin(raw.admin.parsed());
        Config {
            admin,
            server,
            listeners,
            tls,
            tenancy,
            tenants,
            geographies,
            regions,
            health,
            outlier_detection,
            routing,
            client_ip,
            limits,
            rate_limits,
            geo,
        }
    }

    fn finish(mut self, config: Config) -> Result<Config, ConfigErrors> {
        if self.errors.is_empty() && self.other_files.is_empty() {
            return Ok(config);
        }
        // Whole-file problems first, then in file order; sort is stable, so problems on one
        // line keep the order they were found in.
        self.errors.sort_by_key(|e| e.line);
        self.errors.append(&mut self.other_files);
        Err(ConfigErrors(self.errors))
    }

    /// An integer in `min..=max` (`default` when absent or out of range).
    fn int(&mut self, path: &KeyPath, value: Option<i64>, default: u32, min: u32, max: u32) -> u32 {
        let Some(v) = value else {
            return default;
        };
        match u32::try_from(v) {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                let expected = match (max == u32::MAX, v < i64::from(min)) {
                    (false, _) => format!("{min} to {max}"),
                    (true, true) => format!("at least {min}"),
                    (true, false) => format!("at most {max}"),
                };
                self.error(path, format!("{v} is out of range: expected {expected}"));
                default
            }
        }
    }

    /// [`Validator::int`] for values wider than `u32` (byte sizes). A `max` of `u64::MAX`
    /// means no upper bound (a TOML integer cannot exceed `i64::MAX` anyway).
    fn int_u64(
        &mut self,
        path: &KeyPath,
        value: Option<i64>,
        default: u64,
        min: u64,
        max: u64,
    ) -> u64 {
        let Some(v) = value else {
            return default;
        };
        match u64::try_from(v) {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                let expected = if max == u64::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min} to {max}")
                };
                self.error(path, format!("{v} is out of range: expected {expected}"));
                default
            }
        }
    }

    /// [`Validator::int_u64`] for in-memory sizes and counts.
    fn int_usize(
        &mut self,
        path: &KeyPath,
        value: Option<i64>,
        default: usize,
        min: usize,
        max: usize,
    ) -> usize {
        let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let n = self.int_u64(path, value, wide(default), wide(min), wide(max));
        usize::try_from(n).unwrap_or(default)
    }

    fn non_zero(
        &mut self,
        path: &KeyPath,
        value: Option<i64>,
        default: u32,
        max: u32,
    ) -> NonZeroU32 {
        NonZeroU32::new(self.int(path, value, default, 1, max)).unwrap_or(NonZeroU32::MIN)
    }

    fn duration(
        &mut self,
        path: &KeyPath,
        value: Option<HumanDuration>,
        default: Duration,
        min: MinDuration,
    ) -> Duration {
        let Some(HumanDuration(d)) = value else {
            return default;
        };
        match min {
            MinDuration::Positive if d.is_zero() => {
                self.error(path, "must be greater than 0, e.g. \"1s\"");
                default
            }
            MinDuration::AtLeast(m) if d < m => {
                self.error(
                    path,
                    format!(
                        "{} is too short: must be at least {}",
                        humantime::format_duration(d),
                        humantime::format_duration(m)
                    ),
                );
                default
            }
            MinDuration::Any | MinDuration::Positive | MinDuration::AtLeast(_) => d,
        }
    }

    fn name(&mut self, path: &KeyPath, name: &str, what: &str) -> bool {
        if is_valid_name(name) {
            return true;
        }
        self.error(
            path,
            format!("{name:?} is not a valid {what} name: {NAME_RULE}"),
        );
        false
    }

    fn server(&mut self, file: Option<&ServerFile>) -> Server {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("server");
        let threads = match file.threads {
            None => default_threads(),
            Some(_) => {
                let n = self.int(&path.key("threads"), file.threads, 1, 1, MAX_THREADS);
                usize::try_from(n)
                    .ok()
                    .and_then(NonZeroUsize::new)
                    .unwrap_or(NonZeroUsize::MIN)
            }
        };
        let grace_period = self.duration(
            &path.key("grace_period"),
            file.grace_period,
            DEFAULT_GRACE_PERIOD,
            MinDuration::Any,
        );
        Server {
            threads,
            grace_period,
        }
    }

    fn listen_addr(&mut self, path: &KeyPath, text: &str) -> Option<SocketAddr> {
        match text.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    path,
                    format!(
                        "{text:?} is not a listen address: write an IP address and port, e.g. \
                         \"0.0.0.0:443\", \"127.0.0.1:8443\" or \"[::]:443\""
                    ),
                );
                None
            }
        }
    }

    fn listeners(&mut self, piece: &Piece<ListenersFile>) -> Listeners {
        let path = KeyPath::default().key("listeners");
        let mut listeners = Listeners {
            https: Vec::new(),
            http: Vec::new(),
            admin: None,
        };
        if piece.is_broken() {
            return listeners;
        }
        let file = piece.parsed().cloned().unwrap_or_default();
        let mut all: Vec<(KeyPath, SocketAddr)> = Vec::new();
        for (i, text) in file.https.iter().enumerate() {
            let p = path.key("https").index(i);
            if let Some(addr) = self.listen_addr(&p, text) {
                listeners.https.push(addr);
                all.push((p, addr));
            }
        }
        for (i, text) in file.http.iter().enumerate() {
            let p = path.key("http").index(i);
            if let Some(addr) = self.listen_addr(&p, text) {
                listeners.http.push(addr);
                all.push((p, addr));
            }
        }
        if let Some(text) = &file.admin {
            let p = path.key("admin");
            listeners.admin = self.listen_addr(&p, text);
            if let Some(addr) = listeners.admin {
                all.push((p, addr));
            }
        }
        // A present but mistyped `https` was already reported by the schema stage.
        let https_path = path.key("https");
        let https_written = self
            .node(&https_path)
            .is_some_and(|n| !matches!(n.get_ref(), DeValue::Array(a) if a.is_empty()));
        if file.https.is_empty() && !https_written {
            self.error(
                &path.key("https"),
                "at least one HTTPS listener is required, e.g. https = [\"0.0.0.0:443\"]",
            );
        }
        for (j, (path_j, addr_j)) in all.iter().enumerate() {
            let Some((path_i, addr_i)) = all.get(..j).and_then(|before| {
                before
                    .iter()
                    .find(|(_, addr_i)| listeners_overlap(*addr_i, *addr_j))
            }) else {
                continue;
            };
            let why = if addr_i == addr_j {
                "the same address is listed twice".to_owned()
            } else {
                format!(
                    "a wildcard address (0.0.0.0 or [::]) takes port {} on every interface",
                    addr_j.port()
                )
            };
            self.error(
                path_j,
                format!("{addr_j} overlaps {path_i} ({addr_i}): {why}; use another port"),
            );
        }
        listeners
    }

    fn tls(
        &mut self,
        file: Option<&TlsFile>,
        certificates: &Elements<CertificateFile>,
        https: bool,
    ) -> Tls {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("tls");
        let hsts_max_age = self.duration(
            &path.key("hsts_max_age"),
            file.hsts_max_age,
            DEFAULT_HSTS_MAX_AGE,
            MinDuration::Any,
        );
        let mut tls = Tls {
            hsts_max_age,
            hsts_include_subdomains: file.hsts_include_subdomains.unwrap_or(false),
            certificates: Vec::new(),
        };
        let certs_path = path.key("certificates");
        if https && certificates.is_empty() {
            self.error(
                &certs_path,
                "at least one certificate is required when HTTPS listeners are configured: add \
                 [[tls.certificates]] with cert = \"...pem\" and key = \"...key\"",
            );
        }
        for (i, c) in certificates.parsed() {
            let p = certs_path.index(i);
            let cert = self.pem_file(&p.key("cert"), &c.cert, PemKind::Certificate);
            let key = self.pem_file(&p.key("key"), &c.key, PemKind::PrivateKey);
            if let (Some(cert), Some(key)) = (cert, key) {
                tls.certificates.push(Certificate { cert, key });
            }
        }
        tls
    }

    fn pem_file(&mut self, path: &KeyPath, written: &str, kind: PemKind) -> Option<PathBuf> {
        let resolved = self.base_dir.join(written);
        let shown = if Path::new(written) == resolved {
            format!("{written:?}")
        } else {
            format!("{written:?} ({})", resolved.display())
        };
        let bytes = match std::fs::read(&resolved) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.error(path, format!("cannot read {shown}: {e}"));
                return None;
            }
        };
        let problem = match kind {
            PemKind::Certificate => {
                let mut count = 0usize;
                let mut bad = None;
                for cert in rustls_pemfile::certs(&mut bytes.as_slice()) {
                    match cert {
                        Ok(_) => count += 1,
                        Err(e) => {
                            bad = Some(e);
                            break;
                        }
                    }
                }
                match (bad, count) {
                    (Some(e), _) => Some(format!("{shown} is not valid PEM: {e}")),
                    (None, 0) => Some(format!(
                        "{shown} holds no PEM CERTIFICATE block; expected the certificate \
                         chain, leaf first"
                    )),
                    (None, _) => None,
                }
            }
            PemKind::PrivateKey => match rustls_pemfile::private_key(&mut bytes.as_slice()) {
                Ok(Some(_)) => None,
                Ok(None) => Some(format!(
                    "{shown} holds no private key; expected a PEM PRIVATE KEY, RSA PRIVATE KEY \
                     or EC PRIVATE KEY block"
                )),
                Err(e) => Some(format!("{shown} is not valid PEM: {e}")),
            },
        };
        match problem {
            Some(message) => {
                self.error(path, message);
                None
            }
            None => Some(resolved),
        }
    }

    /// `[tenancy]` without `default_geography`, which needs the geographies
    /// (see [`Validator::default_geography`]).
    fn tenancy(
        &mut self,
        piece: &Piece<TenancyFile>,
        sources: &Elements<TenantSourceFile>,
    ) -> Tenancy {
        let path = KeyPath::default().key("tenancy");
        let file = piece.parsed().cloned().unwrap_or_default();
        if !piece.is_broken() && sources.is_empty() {
            self.error(
                &path.key("sources"),
                format!(
                    "at least one tenant source is required, e.g. sources = [{SOURCE_EXAMPLE}]"
                ),
            );
        }
        let sources_path = path.key("sources");
        let parsed = sources
            .parsed()
            .filter_map(|(i, s)| self.tenant_source(&sources_path.index(i), s))
            .collect();
        let unknown = match file.unknown.as_deref() {
            None | Some("reject") => UnknownTenant::Reject,
            // What "nearest" needs is checked with default_geography, once geographies are
            // known (see `Validator::default_geography`).
            Some("nearest") => UnknownTenant::Nearest,
            Some(other) => {
                self.error(
                    &path.key("unknown"),
                    format!("unknown value {other:?}; expected \"reject\" or \"nearest\""),
                );
                UnknownTenant::Reject
            }
        };
        Tenancy {
            sources: parsed,
            unknown,
            file: file.file.as_deref().map(|f| self.base_dir.join(f)),
            default_geography: None,
        }
    }

    /// `tenancy.default_geography`: required with `unknown = "nearest"`, refused otherwise (it
    /// would do nothing, which is more likely a mistake than an intention). Also reports
    /// "nearest" without `[geo]`, in the same message when both are missing.
    fn default_geography(
        &mut self,
        file: Option<&TenancyFile>,
        unknown: UnknownTenant,
        geo_present: bool,
        geographies: &[Geography],
        geographies_complete: bool,
    ) -> Option<GeographyName> {
        let path = KeyPath::default().key("tenancy");
        let written = file.and_then(|f| f.default_geography.as_deref());
        const NEEDS_GEO: &str = "a MaxMind database ([geo] with database = \
                                 \"GeoLite2-Country.mmdb\")";
        const NEEDS_DEFAULT: &str = "default_geography, the geography for clients whose \
                                     country and continent no geography lists or who cannot be \
                                     located, e.g. default_geography = \"eu\"";
        let needs = match (geo_present, written.is_some()) {
            _ if unknown != UnknownTenant::Nearest => None,
            (true, true) => None,
            (false, true) => Some(NEEDS_GEO.to_owned()),
            (true, false) => Some(NEEDS_DEFAULT.to_owned()),
            (false, false) => Some(format!("{NEEDS_GEO} and {NEEDS_DEFAULT}")),
        };
        if let Some(needs) = needs {
            self.error(
                &path.key("unknown"),
                format!(
                    "\"nearest\" routes clients without a tenant by location and needs {needs}"
                ),
            );
        }
        match (unknown, written) {
            (UnknownTenant::Reject, None) => None,
            (UnknownTenant::Reject, Some(_)) => {
                // A misspelt `unknown` was reported already and is probably meant as "nearest".
                let unknown_ok = file
                    .and_then(|f| f.unknown.as_deref())
                    .is_none_or(|u| u == "reject");
                if unknown_ok {
                    self.error(
                        &path.key("default_geography"),
                        "default_geography only applies with unknown = \"nearest\" (clients \
                         without a tenant are rejected now); set unknown = \"nearest\" or remove \
                         default_geography",
                    );
                }
                None
            }
            (UnknownTenant::Nearest, None) => None,
            (UnknownTenant::Nearest, Some(name)) => {
                let p = path.key("default_geography");
                if !self.name(&p, name, "geography") {
                    return None;
                }
                let found = geographies.iter().find(|g| g.name.as_str() == name);
                if found.is_none() && geographies_complete {
                    self.error(
                        &p,
                        format!(
                            "default_geography {name:?} is not defined (defined: {})",
                            defined_names(geographies)
                        ),
                    );
                }
                found.map(|g| g.name.clone())
            }
        }
    }

    /// `[geo]`; `None` when absent or when its database is missing or unusable (reported).
    fn geo(&mut self, file: Option<&GeoFile>) -> Option<GeoSettings> {
        let file = file?;
        let path = KeyPath::default().key("geo");
        let reload_interval = self.duration(
            &path.key("reload_interval"),
            file.reload_interval,
            DEFAULT_GEO_RELOAD_INTERVAL,
            MinDuration::AtLeast(MIN_GEO_RELOAD_INTERVAL),
        );
        let deny_countries = self
            .codes(
                &path.key("deny_countries"),
                &file.deny_countries,
                CountryCode::parse,
            )
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        let Some(written) = &file.database else {
            self.error(
                &path,
                "database is required in [geo], e.g. database = \"GeoLite2-Country.mmdb\" (a \
                 GeoIP2 or GeoLite2 Country or City file); remove [geo] to run without client \
                 location",
            );
            return None;
        };
        let resolved = self.base_dir.join(written);
        let shown = if Path::new(written) == resolved {
            format!("{written:?}")
        } else {
            format!("{written:?} ({})", resolved.display())
        };
        if let Err(problem) = check_mmdb(&resolved) {
            self.error(&path.key("database"), format!("{shown} {problem}"));
            return None;
        }
        Some(GeoSettings {
            database: resolved,
            reload_interval,
            deny_countries,
        })
    }

    /// A list of codes with their indices; wrong or repeated entries are reported and left
    /// out.
    fn codes<T, E>(
        &mut self,
        path: &KeyPath,
        list: &[String],
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Vec<(usize, T)>
    where
        T: Copy + Eq + fmt::Display,
        E: fmt::Display,
    {
        let mut out: Vec<(usize, T)> = Vec::with_capacity(list.len());
        for (i, text) in list.iter().enumerate() {
            match parse(text) {
                Ok(code) => {
                    if let Some((first, _)) = out.iter().find(|(_, c)| *c == code) {
                        self.error(
                            &path.index(i),
                            format!(
                                "{code} is listed twice (first at {path}[{first}]); list it once"
                            ),
                        );
                    } else {
                        out.push((i, code));
                    }
                }
                Err(e) => self.error(&path.index(i), e.to_string()),
            }
        }
        out
    }

    /// A geography's `countries` or `continents`: codes as [`Validator::codes`], each claimed
    /// for geography `owner`; a code another geography claimed first is reported.
    fn claimed_codes<T, E>(
        &mut self,
        path: &KeyPath,
        list: &[String],
        parse: impl Fn(&str) -> Result<T, E>,
        what: &str,
        owner: &str,
        claimed: &mut HashMap<T, (String, KeyPath)>,
    ) -> Vec<T>
    where
        T: Copy + Eq + Hash + fmt::Display,
        E: fmt::Display,
    {
        let mut out = Vec::new();
        for (i, code) in self.codes(path, list, parse) {
            let p = path.index(i);
            if let Some((first_owner, first_path)) = claimed.get(&code) {
                let message = format!(
                    "{what} {code} is already in geography {first_owner:?} ({first_path}); a \
                     {what} can belong to one geography only, so that its clients route to \
                     exactly one"
                );
                self.error(&p, message);
                continue;
            }
            claimed.insert(code, (owner.to_owned(), p));
            out.push(code);
        }
        out
    }

    /// A region's `location`; `None` after reporting a missing or out-of-range coordinate.
    fn location(&mut self, path: &KeyPath, l: LocationFile) -> Option<Location> {
        let (Some(Degrees(lat)), Some(Degrees(lon))) = (l.lat, l.lon) else {
            self.error(
                path,
                "location needs both lat and lon in degrees, e.g. location = { lat = 53.35, lon \
                 = -6.26 }",
            );
            return None;
        };
        // `contains` is false for NaN too, which TOML can spell `nan`.
        let lat_ok = (-90.0..=90.0).contains(&lat);
        if !lat_ok {
            self.error(
                &path.key("lat"),
                format!("{lat} is out of range: latitude is -90 to 90 degrees (negative: south)"),
            );
        }
        let lon_ok = (-180.0..=180.0).contains(&lon);
        if !lon_ok {
            self.error(
                &path.key("lon"),
                format!("{lon} is out of range: longitude is -180 to 180 degrees (negative: west)"),
            );
        }
        (lat_ok && lon_ok).then_some(Location { lat, lon })
    }

    /// A tenant's `allowed_countries`; `None` after reporting an empty list.
    fn allowed_countries(
        &mut self,
        path: &KeyPath,
        list: &[String],
        geo_present: bool,
        deny_countries: &[CountryCode],
    ) -> Option<Box<[CountryCode]>> {
        if list.is_empty() {
            self.error(
                path,
                "allowed_countries must not be empty (that would refuse every client); leave the \
                 key out to allow every country",
            );
            return None;
        }
        if !geo_present {
            self.error(
                path,
                "allowed_countries needs client location: add [geo] with database = \
                 \"GeoLite2-Country.mmdb\"",
            );
        }
        let codes = self.codes(path, list, CountryCode::parse);
        for (i, code) in &codes {
            if deny_countries.contains(code) {
                self.error(
                    &path.index(*i),
                    format!(
                        "{code} is in geo.deny_countries, so its clients are refused for every \
                         tenant; remove it here or there"
                    ),
                );
            }
        }
        Some(codes.into_iter().map(|(_, c)| c).collect())
    }

    fn tenant_source(&mut self, path: &KeyPath, source: &TenantSourceFile) -> Option<TenantSource> {
        match source {
            TenantSourceFile::Host { pattern } => match parse_host_pattern(pattern) {
                Ok((prefix, suffix)) => Some(TenantSource::Host { prefix, suffix }),
                Err(message) => {
                    self.error(&path.key("pattern"), message);
                    None
                }
            },
            TenantSourceFile::Header { name } => {
                if is_header_name(name) {
                    Some(TenantSource::Header {
                        name: name.to_ascii_lowercase(),
                    })
                } else {
                    self.error(
                        &path.key("name"),
                        format!(
                            "{name:?} is not a valid HTTP header name: use letters, digits and \
                             '-', e.g. \"x-tenant-id\""
                        ),
                    );
                    None
                }
            }
            TenantSourceFile::Path { prefix } => match parse_path_prefix(prefix) {
                Ok(prefix) => Some(TenantSource::Path { prefix }),
                Err(message) => {
                    self.error(&path.key("prefix"), message);
                    None
                }
            },
            TenantSourceFile::JwtClaim { claim } => {
                if claim.trim().is_empty() {
                    self.error(
                        &path.key("claim"),
                        "the claim name must not be empty, e.g. \"tid\"",
                    );
                    None
                } else {
                    Some(TenantSource::JwtClaim {
                        claim: claim.clone(),
                    })
                }
            }
        }
    }

    fn geographies(&mut self, elements: &Elements<GeographyFile>) -> Vec<Geography> {
        let path = KeyPath::default().key("geographies");
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut claimed_countries: HashMap<CountryCode, (String, KeyPath)> = HashMap::new();
        let mut claimed_continents: HashMap<ContinentCode, (String, KeyPath)> = HashMap::new();
        let mut out = Vec::new();
        for (i, g) in elements.parsed() {
            // Codes first: they are checked even when the name is wrong.
            let countries = self.claimed_codes(
                &path.index(i).key("countries"),
                &g.countries,
                CountryCode::parse,
                "country",
                &g.name,
                &mut claimed_countries,
            );
            let continents = self.claimed_codes(
                &path.index(i).key("continents"),
                &g.continents,
                ContinentCode::parse,
                "continent",
                &g.name,
                &mut claimed_continents,
            );
            let p = path.index(i).key("name");
            if !self.name(&p, &g.name, "geography") {
                continue;
            }
            if let Some(first) = seen.get(g.name.as_str()) {
                self.error(
                    &p,
                    format!(
                        "geography {:?} is defined twice (first at geographies[{first}]); names \
                         must be unique",
                        g.name
                    ),
                );
                continue;
            }
            seen.insert(&g.name, i);
            out.push(Geography {
                name: GeographyName::new(&g.name),
                fail_open: g.fail_open.unwrap_or(false),
                countries,
                continents,
            });
        }
        out
    }

    fn regions(
        &mut self,
        elements: &Elements<(RegionFile, Elements<OriginFile>)>,
        geographies: &[Geography],
        geographies_complete: bool,
        global_health: &Health,
    ) -> Vec<Region> {
        let path = KeyPath::default().key("regions");
        let defined = defined_names(geographies);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, (r, origins)) in elements.parsed() {
            let p = path.index(i);
            let mut ok = self.name(&p.key("name"), &r.name, "region");
            if ok {
                if let Some(first) = seen.get(r.name.as_str()) {
                    self.error(
                        &p.key("name"),
                        format!(
                            "region {:?} is defined twice (first at regions[{first}]); names must \
                             be unique",
                            r.name
                        ),
                    );
                    ok = false;
                } else {
                    seen.insert(&r.name, i);
                }
            }
            let geography = geographies.iter().find(|g| g.name.as_str() == r.geography);
            if geography.is_none() && geographies_complete {
                self.error(
                    &p.key("geography"),
                    format!(
                        "region {:?} names geography {:?}, which is not defined (defined: {defined})",
                        r.name, r.geography
                    ),
                );
            }
            let priority = self.non_zero(&p.key("priority"), r.priority, 1, u32::MAX);
            let weight = self.int(&p.key("weight"), r.weight, DEFAULT_WEIGHT, 0, MAX_WEIGHT);
            if origins.is_empty() {
                self.error(
                    &p.key("origins"),
                    format!(
                        "region {:?} has no origins; add at least one, e.g. origins = \
                         [{ORIGIN_EXAMPLE}]",
                        r.name
                    ),
                );
            }
            let origins_path = p.key("origins");
            let parsed: Vec<Origin> = origins
                .parsed()
                .filter_map(|(j, o)| self.origin(&origins_path.index(j), o))
                .collect();
            let health = self.health(&p.key("health"), r.health.as_ref(), global_health);
            let location = r
                .location
                .and_then(|l| self.location(&p.key("location"), l));
            if let (true, Some(g)) = (ok, geography) {
                out.push(Region {
                    name: RegionName::new(&r.name),
                    geography: g.name.clone(),
                    priority,
                    weight,
                    origins: parsed,
                    health,
                    location,
                });
            }
        }
        out
    }

    fn origin(&mut self, path: &KeyPath, o: &OriginFile) -> Option<Origin> {
        let weight = self.int(&path.key("weight"), o.weight, DEFAULT_WEIGHT, 0, MAX_WEIGHT);
        let mut ok = true;
        if let Some(sni) = &o.sni {
            if sni.is_empty() || !sni.bytes().all(|c| c.is_ascii_graphic()) {
                self.error(
                    &path.key("sni"),
                    format!("{sni:?} is not a valid server name, e.g. \"origin.example.com\""),
                );
                ok = false;
            }
        }
        if let Some(host) = &o.host {
            if host.is_empty() || !host.bytes().all(|c| c.is_ascii_graphic()) {
                self.error(
                    &path.key("host"),
                    format!("{host:?} is not a valid Host header, e.g. \"app.example.com\""),
                );
                ok = false;
            }
        }
        let address_path = path.key("address");
        let (host, port) = match split_host_port(&o.address) {
            Ok(hp) => hp,
            Err(message) => {
                self.error(&address_path, message);
                return None;
            }
        };
        let resolved = match (host, port).to_socket_addrs() {
            Ok(mut addrs) => addrs.next(),
            Err(e) => {
                self.error(
                    &address_path,
                    format!("cannot resolve {:?}: {e}; check the host name", o.address),
                );
                return None;
            }
        };
        let Some(socket_addr) = resolved else {
            self.error(
                &address_path,
                format!(
                    "{:?} resolves to no address; check the host name",
                    o.address
                ),
            );
            return None;
        };
        ok.then(|| Origin {
            address: o.address.clone(),
            socket_addr,
            weight,
            tls: o.tls.unwrap_or(false),
            sni: o.sni.clone().unwrap_or_else(|| host.to_owned()),
            host: o.host.clone(),
        })
    }

    /// Uses the regions as written, not the validated ones: a region rejected for another
    /// reason (say, its name) still shows the geography is meant to have one.
    fn geographies_have_regions(
        &mut self,
        elements: &Elements<GeographyFile>,
        regions: &Elements<(RegionFile, Elements<OriginFile>)>,
    ) {
        let path = KeyPath::default().key("geographies");
        let mut reported: HashSet<&str> = HashSet::new();
        for (i, g) in elements.parsed() {
            if !is_valid_name(&g.name) || !reported.insert(&g.name) {
                continue;
            }
            if !regions.parsed().any(|(_, (r, _))| r.geography == g.name) {
                self.error(
                    &path.index(i).key("name"),
                    format!(
                        "geography {:?} has no regions; add a [[regions]] with geography = {:?}, \
                         or remove the geography",
                        g.name, g.name
                    ),
                );
            }
        }
    }

    /// `plans`: the plans tenants must name, when `[rate_limits]` is present and every plan
    /// in it parsed (otherwise plan references are not checked).
    fn tenants(
        &mut self,
        raw: &Raw,
        geographies: &[Geography],
        plans: Option<&[PlanName]>,
        geo_present: bool,
        deny_countries: &[CountryCode],
    ) -> crate::model::TenantDirectory {
        let mut builder = DirectoryBuilder::new(geographies.iter().map(|g| g.name.clone()));
        if !raw.geographies.complete() {
            builder = builder.skip_unknown_geographies();
        }
        if let Some(plans) = plans {
            builder = builder.require_plans(plans.iter().cloned());
        }
        let path = KeyPath::default().key("tenants");
        for (i, t) in raw.tenants.parsed() {
            let allowed = t.allowed_countries.as_ref().and_then(|list| {
                self.allowed_countries(
                    &path.index(i).key("allowed_countries"),
                    list,
                    geo_present,
                    deny_countries,
                )
            });
            for problem in builder.add_inline(i, &t.id, &t.geography, t.plan.as_deref(), allowed) {
                self.error(&path.index(i).key(problem.field.key()), problem.message);
            }
        }
        if let Some(file) = raw.tenancy.parsed().and_then(|t| t.file.as_ref()) {
            let resolved = self.base_dir.join(file);
            let shown = resolved.display().to_string();
            match builder.add_file(&resolved, &shown) {
                Ok(mut errors) => self.other_files.append(&mut errors),
                Err(e) => self.error(
                    &KeyPath::default().key("tenancy").key("file"),
                    format!("cannot read tenant file {file:?} ({shown}): {e}"),
                ),
            }
        }
        builder.finish()
    }

    /// Resolves `[health]` (or a region's `health` override at `path`) over `base`: keys
    /// that are absent, or wrong (reported), keep `base`'s value.
    fn health(&mut self, path: &KeyPath, file: Option<&HealthFile>, base: &Health) -> Health {
        let Some(file) = file else {
            return base.clone();
        };
        let probe_path = match &file.path {
            None => base.path.clone(),
            Some(p) if p.starts_with('/') && p.bytes().all(|c| c.is_ascii_graphic()) => p.clone(),
            Some(p) => {
                self.error(
                    &path.key("path"),
                    format!(
                        "{p:?} is not a request path: it must start with '/', e.g. \"/healthz\""
                    ),
                );
                base.path.clone()
            }
        };
        let expected_statuses = match &file.expected_statuses {
            None => base.expected_statuses.clone(),
            Some(list) => self
                .status_ranges(&path.key("expected_statuses"), list)
                .unwrap_or_else(|| base.expected_statuses.clone()),
        };
        let host = match &file.host {
            None => base.host.clone(),
            Some(h) if !h.is_empty() && h.bytes().all(|c| c.is_ascii_graphic()) => Some(h.clone()),
            Some(h) => {
                self.error(
                    &path.key("host"),
                    format!(
                        "{h:?} is not a valid Host header: use visible ASCII without spaces, \
                         e.g. \"health.internal\""
                    ),
                );
                base.host.clone()
            }
        };
        Health {
            path: probe_path,
            interval: self.duration(
                &path.key("interval"),
                file.interval,
                base.interval,
                MinDuration::AtLeast(MIN_HEALTH_INTERVAL),
            ),
            timeout: self.duration(
                &path.key("timeout"),
                file.timeout,
                base.timeout,
                MinDuration::Positive,
            ),
            rise: self.non_zero(&path.key("rise"), file.rise, base.rise.get(), u32::MAX),
            fall: self.non_zero(&path.key("fall"), file.fall, base.fall.get(), u32::MAX),
            expected_statuses,
            host,
        }
    }

    /// `expected_statuses`; `None` (after reporting) when any entry is wrong or the list is
    /// empty.
    fn status_ranges(&mut self, path: &KeyPath, list: &[StatusText]) -> Option<Vec<StatusRange>> {
        if list.is_empty() {
            self.error(
                path,
                "at least one status or range is required, e.g. [\"200-399\"]; with none, \
                 every probe would fail",
            );
            return None;
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, StatusText(text)) in list.iter().enumerate() {
            match StatusRange::parse(text) {
                Ok(range) => out.push(range),
                Err(e) => self.error(&path.index(i), e.0),
            }
        }
        (out.len() == list.len()).then_some(out)
    }

    fn outlier_detection(&mut self, file: Option<&OutlierDetectionFile>) -> OutlierDetection {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("outlier_detection");
        let consecutive_failures = self.non_zero(
            &path.key("consecutive_failures"),
            file.consecutive_failures,
            DEFAULT_CONSECUTIVE_FAILURES,
            MAX_CONSECUTIVE_FAILURES,
        );
        let base_ejection_time = self.duration(
            &path.key("base_ejection_time"),
            file.base_ejection_time,
            DEFAULT_BASE_EJECTION_TIME,
            MinDuration::Positive,
        );
        let mut max_ejection_time = self.duration(
            &path.key("max_ejection_time"),
            file.max_ejection_time,
            DEFAULT_MAX_EJECTION_TIME,
            MinDuration::Any,
        );
        if max_ejection_time < base_ejection_time {
            let (base, max) = (
                humantime::format_duration(base_ejection_time),
                humantime::format_duration(max_ejection_time),
            );
            if file.max_ejection_time.is_some() {
                self.error(
                    &path.key("max_ejection_time"),
                    format!(
                        "{max} is shorter than base_ejection_time ({base}); it must be at least \
                         that"
                    ),
                );
            } else {
                self.error(
                    &path.key("base_ejection_time"),
                    format!(
                        "{base} is longer than max_ejection_time (default {max}); set \
                         max_ejection_time to at least {base}"
                    ),
                );
            }
            max_ejection_time = base_ejection_time;
        }
        OutlierDetection {
            consecutive_failures,
            base_ejection_time,
            max_ejection_time,
            count_5xx: file.count_5xx.unwrap_or(true),
        }
    }

    fn routing(&mut self, file: Option<&RoutingFile>) -> Routing {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("routing");
        let retry_methods = match &file.retry_methods {
            None => Routing::default().retry_methods,
            Some(list) => self
                .methods(&path.key("retry_methods"), list)
                .unwrap_or_else(|| Routing::default().retry_methods),
        };
        Routing {
            max_attempts: self.non_zero(
                &path.key("max_attempts"),
                file.max_attempts,
                DEFAULT_MAX_ATTEMPTS,
                MAX_ATTEMPTS,
            ),
            connect_timeout: self.duration(
                &path.key("connect_timeout"),
                file.connect_timeout,
                DEFAULT_CONNECT_TIMEOUT,
                MinDuration::Positive,
            ),
            read_timeout: self.duration(
                &path.key("read_timeout"),
                file.read_timeout,
                DEFAULT_READ_TIMEOUT,
                MinDuration::Positive,
            ),
            write_timeout: self.duration(
                &path.key("write_timeout"),
                file.write_timeout,
                DEFAULT_WRITE_TIMEOUT,
                MinDuration::Positive,
            ),
            idle_timeout: self.duration(
                &path.key("idle_timeout"),
                file.idle_timeout,
                DEFAULT_IDLE_TIMEOUT,
                MinDuration::Any,
            ),
            debug_headers: file.debug_headers.unwrap_or(false),
            latency_sensitivity: self.duration(
                &path.key("latency_sensitivity"),
                file.latency_sensitivity,
                DEFAULT_LATENCY_SENSITIVITY,
                MinDuration::Any,
            ),
            retry_methods,
            slow_start: self.duration(
                &path.key("slow_start"),
                file.slow_start,
                DEFAULT_SLOW_START,
                MinDuration::Any,
            ),
            retry_budget: self.retry_budget(&path.key("retry_budget"), file.retry_budget),
        }
    }

    fn retry_budget(&mut self, path: &KeyPath, file: Option<RetryBudgetFile>) -> RetryBudget {
        let file = file.unwrap_or_default();
        let ratio = match file.ratio {
            None => DEFAULT_RETRY_RATIO,
            Some(r) if (0.0..=1.0).contains(&r) => r,
            Some(r) => {
                self.error(
                    &path.key("ratio"),
                    format!(
                        "{r} is out of range: expected 0.0 to 1.0 (retries per request, e.g. 0.2 \
                         allows one retry per five requests)"
                    ),
                );
                DEFAULT_RETRY_RATIO
            }
        };
        RetryBudget {
            ratio,
            window: self.duration(
                &path.key("window"),
                file.window,
                DEFAULT_RETRY_WINDOW,
                MinDuration::Positive,
            ),
            min_concurrent: self.int(
                &path.key("min_concurrent"),
                file.min_concurrent,
                DEFAULT_RETRY_MIN_CONCURRENT,
                0,
                u32::MAX,
            ),
        }
    }

    /// HTTP methods, upper-cased; `None` (after reporting) when any is wrong or repeated.
    fn methods(&mut self, path: &KeyPath, list: &[String]) -> Option<Vec<String>> {
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, method) in list.iter().enumerate() {
            if !is_header_name(method) {
                self.error(
                    &path.index(i),
                    format!("{method:?} is not an HTTP method: use a token such as \"GET\""),
                );
                ok = false;
                continue;
            }
            let upper = method.to_ascii_uppercase();
            if let Some(first) = list
                .iter()
                .position(|m| m.eq_ignore_ascii_case(method))
                .filter(|&first| first < i)
            {
                self.error(
                    &path.index(i),
                    format!("{upper} is listed twice (first at {path}[{first}]); list it once"),
                );
                ok = false;
                continue;
            }
            out.push(upper);
        }
        ok.then_some(out)
    }

    fn admin(&mut self, file: Option<&AdminFile>) -> Admin {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("admin");
        let token_file = file.token_file.as_deref().map(|f| {
            let resolved = self.base_dir.join(f);
            if let Err(e) = std::fs::metadata(&resolved) {
                self.error(
                    &path.key("token_file"),
                    format!("cannot read {f:?} ({}): {e}", resolved.display()),
                );
            }
            resolved
        });
        let state_file = file.state_file.as_deref().map(|f| {
            let resolved = self.base_dir.join(f);
            let dir = resolved.parent().filter(|d| !d.as_os_str().is_empty());
            if let Some(dir) = dir {
                if !dir.is_dir() {
                    self.error(
                        &path.key("state_file"),
                        format!("the directory of {f:?} ({}) does not exist", dir.display()),
                    );
                }
            }
            resolved
        });
        Admin {
            token_file,
            metrics_public: file.metrics_public.unwrap_or(false),
            state_file,
        }
    }

    fn client_ip(&mut self, file: Option<&ClientIpFile>) -> ClientIp {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("client_ip").key("trusted_proxies");
        let mut trusted_proxies = Vec::with_capacity(file.trusted_proxies.len());
        for (i, text) in file.trusted_proxies.iter().enumerate() {
            match Cidr::parse(text) {
                Ok(cidr) => trusted_proxies.push(cidr),
                Err(e) => self.error(&path.index(i), e.0),
            }
        }
        ClientIp { trusted_proxies }
    }

    /// `[rate_limits]`, and the plan names tenants must use: `None` when rate limits are
    /// absent or some plan did not parse (plan references are not checked then).
    fn rate_limits(&mut self, raw: &Raw) -> (Option<RateLimits>, Option<Vec<PlanName>>) {
        let Some(file) = raw.rate_limits.parsed() else {
            return (None, None);
        };
        let path = KeyPath::default().key("rate_limits");
        let mut limits = RateLimits::default();

        // Names of well-named plans, even those whose quota is wrong: a tenant naming one is
        // not the problem.
        let mut names: Vec<PlanName> = Vec::new();
        let plans_path = path.key("plans");
        for (_, (name, q)) in raw.plans.parsed() {
            let p = plans_path.key(name);
            let quota = self.quota(&p, q.rps, q.burst);
            if !self.name(&p, name, "plan") {
                continue;
            }
            let name = PlanName::new(name);
            names.push(name.clone());
            if let Some(quota) = quota {
                limits.plans.insert(name, quota);
            }
        }
        let plans_complete = raw.plans.complete();
        let defined = if names.is_empty() {
            "none".to_owned()
        } else {
            let mut shown: Vec<&str> = names.iter().map(PlanName::as_str).collect();
            shown.sort_unstable();
            shown.join(", ")
        };

        if let Some(default_plan) = &file.default_plan {
            let p = path.key("default_plan");
            if self.name(&p, default_plan, "plan") {
                match names.iter().find(|n| n.as_str() == default_plan) {
                    Some(n) => limits.default_plan = Some(n.clone()),
                    None if plans_complete => self.error(
                        &p,
                        format!(
                            "default_plan {default_plan:?} is not a defined plan (defined: \
                             {defined}); add [rate_limits.plans.{default_plan}] with rps = ..."
                        ),
                    ),
                    None => {}
                }
            }
        }

        if let Some(q) = raw.per_client.parsed() {
            limits.per_client = self.quota(&path.key("per_client"), q.rps, q.burst);
        }

        let overrides_path = path.key("tenant_overrides");
        let mut first_override: HashMap<TenantId, usize> = HashMap::new();
        for (i, o) in raw.tenant_overrides.parsed() {
            let p = overrides_path.index(i);
            let quota = self.quota(&p, o.rps, o.burst);
            let tenant = match TenantId::parse(&o.tenant) {
                Ok(tenant) => tenant,
                Err(e) => {
                    self.error(&p.key("tenant"), format!("{:?} is {e}", o.tenant.trim()));
                    continue;
                }
            };
            if let Some(first) = first_override.get(&tenant) {
                self.error(
                    &p.key("tenant"),
                    format!(
                        "tenant {tenant} already has an override at \
                         rate_limits.tenant_overrides[{first}]; keep one"
                    ),
                );
                continue;
            }
            first_override.insert(tenant, i);
            if let Some(quota) = quota {
                limits.tenant_overrides.insert(tenant, quota);
            }
        }

        let routes_path = path.key("routes");
        let mut seen_routes: Vec<(usize, RouteLimit)> = Vec::new();
        for (i, r) in raw.route_limits.parsed() {
            if let Some(route) = self.route_limit(&routes_path.index(i), r) {
                let overlapping = seen_routes.iter().find(|(_, earlier)| {
                    earlier.path_prefix == route.path_prefix
                        && (earlier.methods.is_empty()
                            || route.methods.is_empty()
                            || earlier.methods.iter().any(|m| route.methods.contains(m)))
                });
                if let Some((j, _)) = overlapping {
                    self.error(
                        &routes_path.index(i).key("path_prefix"),
                        format!(
                            "{:?} with these methods overlaps rate_limits.routes[{j}] (the same \
                             prefix and a common method); merge them or make the methods disjoint",
                            route.path_prefix
                        ),
                    );
                    continue;
                }
                seen_routes.push((i, route));
            }
        }
        limits.routes = seen_routes.into_iter().map(|(_, r)| r).collect();

        limits.send_headers = file.send_headers.unwrap_or(true);
        if let Some(v) = file.max_tracked_clients {
            match usize::try_from(v).ok().and_then(NonZeroUsize::new) {
                Some(n) => limits.max_tracked_clients = n,
                None => self.error(
                    &path.key("max_tracked_clients"),
                    format!("{v} is out of range: expected at least 1, e.g. 1000000"),
                ),
            }
        }
        limits.idle_eviction = self.duration(
            &path.key("idle_eviction"),
            file.idle_eviction,
            DEFAULT_IDLE_EVICTION,
            MinDuration::Positive,
        );
        (Some(limits), plans_complete.then_some(names))
    }

    fn route_limit(&mut self, path: &KeyPath, r: &RouteLimitFile) -> Option<RouteLimit> {
        let quota = self.quota(path, r.rps, r.burst);
        let prefix = &r.path_prefix;
        let prefix_ok = self.path_prefix(&path.key("path_prefix"), prefix, "/api/search");
        let methods = match &r.methods {
            None => Some(Vec::new()),
            Some(list) if list.is_empty() => {
                self.error(
                    &path.key("methods"),
                    "methods must not be empty; leave the key out to limit every method",
                );
                None
            }
            Some(list) => self.methods(&path.key("methods"), list),
        };
        let (Some(quota), Some(methods), true) = (quota, methods, prefix_ok) else {
            return None;
        };
        Some(RouteLimit {
            path_prefix: prefix.clone(),
            methods,
            quota,
        })
    }

    /// Whether `prefix` is a route's path prefix: it starts with `/` and holds only visible
    /// ASCII other than `?` and `#`. Reports it otherwise, with `example` as a right one.
    fn path_prefix(&mut self, path: &KeyPath, prefix: &str, example: &str) -> bool {
        let ok = prefix.starts_with('/')
            && prefix
                .bytes()
                .all(|c| c.is_ascii_graphic() && c != b'?' && c != b'#');
        if !ok {
            self.error(
                path,
                format!(
                    "{prefix:?} is not a path prefix: it must start with '/' and hold no spaces, \
                     '?' or '#', e.g. {example:?}"
                ),
            );
        }
        ok
    }

    /// `[limits]` (defaults for whatever is absent or wrong) and `[[limits.routes]]`.
    fn limits(
        &mut self,
        file: Option<&LimitsFile>,
        routes: &Elements<BodyLimitRouteFile>,
    ) -> Limits {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("limits");
        let routes_path = path.key("routes");
        // Index in the file of each distinct, well-formed prefix, for duplicate reports.
        let mut first_at: HashMap<&str, usize> = HashMap::new();
        let mut body_limits = Vec::new();
        for (i, r) in routes.parsed() {
            let p = routes_path.index(i);
            // A negative size is reported here; the prefix is still checked and claimed.
            let bytes_ok = r.max_body_bytes >= 0;
            let bytes = self.int_u64(
                &p.key("max_body_bytes"),
                Some(r.max_body_bytes),
                0,
                0,
                u64::MAX,
            );
            let prefix = r.path_prefix.as_str();
            if !self.path_prefix(&p.key("path_prefix"), prefix, "/upload") {
                continue;
            }
            if let Some(first) = first_at.get(prefix) {
                self.error(
                    &p.key("path_prefix"),
                    format!(
                        "{prefix:?} is listed twice (first at {routes_path}[{first}]); keep one"
                    ),
                );
                continue;
            }
            first_at.insert(prefix, i);
            if bytes_ok {
                body_limits.push(BodyLimit {
                    path_prefix: prefix.to_owned(),
                    max_body_bytes: bytes,
                });
            }
        }
        // Longest first, so the first match is the longest; distinct prefixes of one length
        // never match the same path, so their order does not matter.
        body_limits.sort_by_key(|r| std::cmp::Reverse(r.path_prefix.len()));
        Limits {
            max_connections: self.non_zero(
                &path.key("max_connections"),
                file.max_connections,
                DEFAULT_MAX_CONNECTIONS,
                MAX_CONNECTIONS,
            ),
            tls_handshake_timeout: self.duration(
                &path.key("tls_handshake_timeout"),
                file.tls_handshake_timeout,
                DEFAULT_TLS_HANDSHAKE_TIMEOUT,
                MinDuration::Positive,
            ),
            request_header_timeout: self.duration(
                &path.key("request_header_timeout"),
                file.request_header_timeout,
                DEFAULT_REQUEST_HEADER_TIMEOUT,
                MinDuration::Positive,
            ),
            idle_timeout: self.duration(
                &path.key("idle_timeout"),
                file.idle_timeout,
                DEFAULT_CLIENT_IDLE_TIMEOUT,
                MinDuration::Positive,
            ),
            max_uri_bytes: self.int_usize(
                &path.key("max_uri_bytes"),
                file.max_uri_bytes,
                DEFAULT_MAX_URI_BYTES,
                MIN_URI_BYTES,
                MAX_URI_BYTES,
            ),
            max_header_bytes: self.int_usize(
                &path.key("max_header_bytes"),
                file.max_header_bytes,
                DEFAULT_MAX_HEADER_BYTES,
                MIN_HEADER_BYTES,
                MAX_HEADER_BYTES,
            ),
            max_headers: self.int_usize(
                &path.key("max_headers"),
                file.max_headers,
                DEFAULT_MAX_HEADERS,
                1,
                MAX_HEADERS,
            ),
            max_body_bytes: self.int_u64(
                &path.key("max_body_bytes"),
                file.max_body_bytes,
                DEFAULT_MAX_BODY_BYTES,
                0,
                u64::MAX,
            ),
            h2_max_concurrent_streams: self.non_zero(
                &path.key("h2_max_concurrent_streams"),
                file.h2_max_concurrent_streams,
                DEFAULT_H2_MAX_CONCURRENT_STREAMS,
                MAX_H2_CONCURRENT_STREAMS,
            ),
            keepalive_requests: self.non_zero(
                &path.key("keepalive_requests"),
                file.keepalive_requests,
                DEFAULT_KEEPALIVE_REQUESTS,
                u32::MAX,
            ),
            routes: body_limits,
        }
    }

    /// `rps` and `burst` (default: `rps`) under `path`; `None` after reporting either.
    fn quota(&mut self, path: &KeyPath, rps: i64, burst: Option<i64>) -> Option<Quota> {
        let rps = self.positive(&path.key("rps"), rps);
        let burst = match burst {
            None => rps,
            Some(b) => self.positive(&path.key("burst"), b),
        };
        Some(Quota {
            rps: rps?,
            burst: burst?,
        })
    }

    /// A positive `u32`; `None` after reporting.
    fn positive(&mut self, path: &KeyPath, value: i64) -> Option<NonZeroU32> {
        let n = u32::try_from(value).ok().and_then(NonZeroU32::new);
        if n.is_none() {
            let expected = if value < 1 {
                "at least 1".to_owned()
            } else {
                format!("at most {}", u32::MAX)
            };
            self.error(
                path,
                format!("{value} is out of range: expected {expected}"),
            );
        }
        n
    }
}

#[derive(Debug, Clone, Copy)]
enum MinDuration {
    Any,
    Positive,
    AtLeast(Duration),
}

#[derive(Debug, Clone, Copy)]
enum PemKind {
    Certificate,
    PrivateKey,
}

fn defined_names(geographies: &[Geography]) -> String {
    if geographies.is_empty() {
        return "none".to_owned();
    }
    let mut names: Vec<&str> = geographies.iter().map(|g| g.name.as_str()).collect();
    names.sort_unstable();
    names.join(", ")
}

/// Two listeners cannot both bind: the same address, or a wildcard and anything on its port.
/// `[::]` counts as overlapping IPv4 too, since dual-stack sockets are the Linux default.
/// Port 0 asks the kernel for a free port, so it never collides.
fn listeners_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Checks that `path` looks like a MaxMind DB file: readable, and with the metadata marker
/// near its end. The config crate does not parse the database (the gateway does, with
/// `maxminddb`); this catches the usual mistakes early: a wrong path, a directory, or the
/// `.tar.gz` archive MaxMind's downloads come in. The error completes "<file> ...".
fn check_mmdb(path: &Path) -> Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot be read: {e}"))?
        .len();
    if path.is_dir() {
        return Err(
            "is a directory; expected a .mmdb file such as GeoLite2-Country.mmdb".to_owned(),
        );
    }
    let mut head = [0u8; 2];
    let head_len = file
        .read(&mut head)
        .map_err(|e| format!("cannot be read: {e}"))?;
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(len.saturating_sub(MMDB_METADATA_MAX_LEN)))
        .and_then(|_| file.read_to_end(&mut tail))
        .map_err(|e| format!("cannot be read: {e}"))?;
    if tail
        .windows(MMDB_METADATA_MARKER.len())
        .any(|w| w == MMDB_METADATA_MARKER)
    {
        return Ok(());
    }
    let archive = match head.get(..head_len) {
        Some([0x1f, 0x8b]) => Some("a gzip archive"),
        Some(b"PK") => Some("a zip archive"),
        _ => None,
    };
    Err(match archive {
        Some(kind) => format!(
            "is {kind}, not a MaxMind DB file: MaxMind downloads are archives; extract the \
             .mmdb file inside (e.g. tar xzf GeoLite2-Country_*.tar.gz) and name that"
        ),
        None => "is not a MaxMind DB file (no metadata marker near its end); expected a \
                 GeoIP2 or GeoLite2 Country or City .mmdb file"
            .to_owned(),
    })
}

const TENANT: &str = "{tenant}";

/// Splits a host pattern around its single `{tenant}`, lower-casing both sides.
pub fn parse_host_pattern(pattern: &str) -> Result<(String, String), String> {
    let count = pattern.matches(TENANT).count();
    let Some((prefix, suffix)) = pattern.split_once(TENANT).filter(|_| count == 1) else {
        return Err(format!(
            "host pattern {pattern:?} must contain {TENANT} exactly once (found {count}), e.g. \
             \"{TENANT}.app.example.com\""
        ));
    };
    let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if !prefix.chars().chain(suffix.chars()).all(host_char) {
        return Err(format!(
            "host pattern {pattern:?} may hold only host-name characters (letters, digits, '-', \
             '.') around {TENANT}: no scheme, port or path"
        ));
    }
    Ok((prefix.to_ascii_lowercase(), suffix.to_ascii_lowercase()))
}

/// Checks a path source prefix (`/t/{tenant}`) and returns the text before `{tenant}`.
pub fn parse_path_prefix(prefix: &str) -> Result<String, String> {
    if !prefix.starts_with('/') {
        return Err(format!(
            "path prefix {prefix:?} must start with '/', e.g. \"/t/{TENANT}\""
        ));
    }
    let Some(before) = prefix
        .strip_suffix(TENANT)
        .filter(|before| !before.contains(TENANT))
    else {
        return Err(format!(
            "path prefix {prefix:?} must end with {TENANT} and contain it once, e.g. \
             \"/t/{TENANT}\""
        ));
    };
    if !before
        .bytes()
        .all(|c| c.is_ascii_graphic() && c != b'?' && c != b'#')
    {
        return Err(format!(
            "path prefix {prefix:?} may not contain spaces, '?' or '#' before {TENANT}"
        ));
    }
    Ok(before.to_owned())
}

/// Whether `name` is an HTTP header field name (an RFC 9110 token).
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// Splits an origin address `host:port` / `[ipv6]:port` into host (without brackets) and
/// port.
pub fn split_host_port(address: &str) -> Result<(&str, u16), String> {
    let usage = || {
        format!(
            "{address:?} is not host:port; write e.g. \"10.0.0.1:443\", \"[2001:db8::1]:443\" or \
             \"origin.example.com:443\""
        )
    };
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(usage)?;
        let port = after.strip_prefix(':').ok_or_else(usage)?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!(
                "{address:?}: {host:?} inside brackets is not an IPv6 address"
            ));
        }
        (host, port)
    } else {
        let (host, port) = address.rsplit_once(':').ok_or_else(usage)?;
        if host.contains(':') {
            return Err(format!(
                "{address:?}: an IPv6 address needs brackets, e.g. \"[2001:db8::1]:443\""
            ));
        }
        (host, port)
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(usage());
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok((host, p)),
        _ => Err(format!(
            "{address:?}: the port must be a number from 1 to 65535"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        assert_eq!(
            parse_host_pattern("{tenant}.App.Example.com").unwrap(),
            (String::new(), ".app.example.com".to_owned())
        );
        assert_eq!(
            parse_host_pattern("T-{tenant}.example.com").unwrap(),
            ("t-".to_owned(), ".example.com".to_owned())
        );
        assert_eq!(
            parse_host_pattern("{tenant}").unwrap(),
            (String::new(), String::new())
        );
        assert!(parse_host_pattern("example.com")
            .unwrap_err()
            .contains("found 0"));
        assert!(parse_host_pattern("{tenant}{tenant}")
            .unwrap_err()
            .contains("found 2"));
        for bad in [
            "{tenant}.example.com:8443",
            "{tenant}.example.com/x",
            "*.{tenant}.com",
            "{Tenant}.example.com",
        ] {
            assert!(parse_host_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn path_prefixes() {
        assert_eq!(parse_path_prefix("/t/{tenant}").unwrap(), "/t/");
        assert_eq!(parse_path_prefix("/{tenant}").unwrap(), "/");
        assert_eq!(parse_path_prefix("/api/v1/{tenant}").unwrap(), "/api/v1/");
        assert!(parse_path_prefix("t/{tenant}")
            .unwrap_err()
            .contains("start with '/'"));
        assert!(parse_path_prefix("/t/{tenant}/x")
            .unwrap_err()
            .contains("end with {tenant}"));
        assert!(parse_path_prefix("/{tenant}/{tenant}")
            .unwrap_err()
            .contains("end with {tenant}"));
        assert!(parse_path_prefix("/t").is_err());
        assert!(parse_path_prefix("/a?b/{tenant}").is_err());
        assert!(parse_path_prefix("/a b/{tenant}").is_err());
    }

    #[test]
    fn header_names() {
        assert!(is_header_name("x-tenant-id"));
        assert!(is_header_name("X_Tenant.Id"));
        for bad in ["", "x tenant", "x:tenant", "x-ténant", "x\n"] {
            assert!(!is_header_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("127.0.0.1:9101").unwrap(),
            ("127.0.0.1", 9101)
        );
        assert_eq!(split_host_port("[::1]:443").unwrap(), ("::1", 443));
        assert_eq!(
            split_host_port("origin.example.com:8443").unwrap(),
            ("origin.example.com", 8443)
        );
        for bad in [
            "127.0.0.1",
            "::1:80",
            "[::1]",
            "[::1]80",
            "[nope]:80",
            ":80",
            "host:0",
            "host:65536",
            "host:http",
            "a b:80",
            "http://host:80",
        ] {
            assert!(split_host_port(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_paths_display_like_toml() {
        let p = KeyPath::default()
            .key("regions")
            .index(1)
            .key("origins")
            .index(0)
            .key("address");
        assert_eq!(p.to_string(), "regions[1].origins[0].address");
        assert_eq!(
            KeyPath::default().key("odd key").key("x").to_string(),
            "\"odd key\".x"
        );
    }

    #[test]
    fn locate_finds_the_innermost_item() {
        let text = "[[r]]\nname = \"a\"\no = [ { address = 1 }, { b = 2 } ]\n";
        let doc = DeTable::parse(text).unwrap();
        let r = doc.get_ref().get("r").unwrap();
        let at = |needle: &str| {
            let rel = locate(r, text.find(needle).unwrap());
            KeyPath(rel).to_string()
        };
        assert_eq!(at("\"a\""), "[0].name");
        assert_eq!(at("address"), "[0].o[0].address");
        assert_eq!(at("1 }"), "[0].o[0].address");
        assert_eq!(at("b = 2"), "[0].o[1].b");
        assert_eq!(at("[[r]]"), "[0]");
    }

    #[test]
    fn listener_overlap() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(listeners_overlap(a("0.0.0.0:80"), a("10.0.0.1:80")));
        assert!(listeners_overlap(a("10.0.0.1:80"), a("[::]:80")));
        assert!(listeners_overlap(a("[::1]:80"), a("[::1]:80")));
        assert!(!listeners_overlap(a("10.0.0.1:80"), a("10.0.0.2:80")));
        assert!(!listeners_overlap(a("0.0.0.0:80"), a("0.0.0.0:81")));
        assert!(!listeners_overlap(a("0.0.0.0:0"), a("0.0.0.0:0")));
    }
}
