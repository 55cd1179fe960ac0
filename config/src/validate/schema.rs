//! Stage 2, the schema: each top-level table, and each element of every array of tables, is
//! deserialized into its [`crate::file`] struct on its own, so one bad element does not hide
//! the others. Runs once per load, before any semantic check.
//!
//! serde stops at the first error; [`Validator::de`] reports it at the key it is about,
//! removes that key and tries again. serde's messages are reworded here too (`humanize`),
//! since this is the only stage that sees them.

use serde::de::DeserializeOwned;
use toml::de::{DeValue, ValueDeserializer};
use toml::Spanned;

use super::spans::{locate, remove_key, table_at, KeyPath, Seg};
use super::validator::Validator;
use crate::file::{
    AccessLogFile, AdminFile, BodyLimitRouteFile, CertificateFile, ClientIpFile, DnsEdgesFile,
    DnsFile, EdgeFile, EdgePeerFile, FleetFile, GeoFile, GeographyFile, HealthFile, LimitsFile,
    ListenersFile, OriginFile, OutlierDetectionFile, QuotaFile, RateLimitsFile, RegionFile,
    RouteLimitFile, RoutingFile, ServerFile, TenancyFile, TenantFile, TenantOverrideFile,
    TenantSourceFile, TlsFile,
};

/// A top-level table after the schema stage.
pub(super) enum Piece<T> {
    Absent,
    Broken,
    Parsed(T),
}

impl<T> Piece<T> {
    pub(super) fn parsed(&self) -> Option<&T> {
        match self {
            Piece::Parsed(t) => Some(t),
            Piece::Absent | Piece::Broken => None,
        }
    }

    pub(super) fn is_broken(&self) -> bool {
        matches!(self, Piece::Broken)
    }
}

/// An array after the schema stage: each element parsed on its own, `None` where it failed,
/// so indices in key paths stay those of the file.
pub(super) struct Elements<T> {
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
    pub(super) fn complete(&self) -> bool {
        !self.broken && self.items.iter().all(Option::is_some)
    }

    /// Really empty (not merely unparsed).
    pub(super) fn is_empty(&self) -> bool {
        !self.broken && self.items.is_empty()
    }

    pub(super) fn parsed(&self) -> impl Iterator<Item = (usize, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (i, t)))
    }
}

pub(super) struct Raw {
    pub(super) server: Piece<ServerFile>,
    pub(super) listeners: Piece<ListenersFile>,
    pub(super) tls: Piece<TlsFile>,
    pub(super) certificates: Elements<CertificateFile>,
    pub(super) tenancy: Piece<TenancyFile>,
    pub(super) sources: Elements<TenantSourceFile>,
    pub(super) tenants: Elements<TenantFile>,
    pub(super) geographies: Elements<GeographyFile>,
    pub(super) regions: Elements<(RegionFile, Elements<OriginFile>)>,
    pub(super) health: Piece<HealthFile>,
    pub(super) outlier_detection: Piece<OutlierDetectionFile>,
    pub(super) routing: Piece<RoutingFile>,
    pub(super) client_ip: Piece<ClientIpFile>,
    pub(super) limits: Piece<LimitsFile>,
    pub(super) body_limits: Elements<BodyLimitRouteFile>,
    pub(super) rate_limits: Piece<RateLimitsFile>,
    pub(super) admin: Piece<AdminFile>,
    pub(super) plans: Elements<(String, QuotaFile)>,
    pub(super) per_client: Piece<QuotaFile>,
    pub(super) tenant_overrides: Elements<TenantOverrideFile>,
    pub(super) route_limits: Elements<RouteLimitFile>,
    pub(super) geo: Piece<GeoFile>,
    pub(super) access_log: Piece<AccessLogFile>,
    pub(super) dns: Piece<DnsFile>,
    pub(super) dns_edges: Elements<DnsEdgesFile>,
    pub(super) edge: Piece<EdgeFile>,
    pub(super) edge_peers: Elements<EdgePeerFile>,
    pub(super) fleet: Piece<FleetFile>,
}

const TOP_LEVEL_KEYS: [&str; 19] = [
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
    "access_log",
    "dns",
    "edge",
    "fleet",
];

pub(super) const SOURCE_EXAMPLE: &str =
    "{ kind = \"host\", pattern = \"{tenant}.app.example.com\" }";

pub(super) const ORIGIN_EXAMPLE: &str = "{ address = \"10.0.0.1:443\" }";

const QUOTA_EXAMPLE: &str = "{ rps = 50, burst = 10 }";

/// Removes `key` from a table value so it can be deserialized on its own.
fn take<'a>(value: &mut Spanned<DeValue<'a>>, key: &str) -> Option<Spanned<DeValue<'a>>> {
    match value.get_mut() {
        DeValue::Table(t) => t.remove(key),
        _ => None,
    }
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

impl<'a> Validator<'a> {
    pub(super) fn read_schema(&mut self) -> Raw {
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
        let access_log = self.table(top("access_log"), &path("access_log"), "[access_log]");

        let mut dns_value = top("dns");
        let dns_edges_value = dns_value.as_mut().and_then(|v| take(v, "edges"));
        let dns = self.table(dns_value, &path("dns"), "[dns]");
        let dns_edges = self.elements(dns_edges_value, &path("dns").key("edges"), "[[dns.edges]]");

        let mut edge_value = top("edge");
        let edge_peers_value = edge_value.as_mut().and_then(|v| take(v, "peers"));
        let edge = self.table(edge_value, &path("edge"), "[edge]");
        let edge_peers = self.elements(
            edge_peers_value,
            &path("edge").key("peers"),
            "[[edge.peers]]",
        );

        let fleet = self.table(top("fleet"), &path("fleet"), "[fleet]");

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
            access_log,
            dns,
            dns_edges,
            edge,
            edge_peers,
            fleet,
        }
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
}
