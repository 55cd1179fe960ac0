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
//!
//! # Where things are
//!
//! This file runs the stages in order ([`parse_str`], then `build` for stage 3). The rest is
//! one file per stage, and stage 3 is one file per group of config sections, each adding its
//! own `impl Validator` block:
//!
//! - `spans`: key paths, and where they are in the document (its nodes and lines).
//! - `validator`: the `Validator` itself: the document, and errors collected with their lines.
//! - `schema`: stage 2, and serde's messages reworded for a TOML file.
//! - `values`: checks that several sections share: integer ranges, durations, names, lists
//!   of codes and of HTTP methods.
//! - `listeners`: `[server]`, `[listeners]`, `[tls]` and `[admin]`: what the process binds
//!   and serves.
//! - `tenancy`: `[tenancy]`, `[[tenants]]` and the tenant file.
//! - `topology`: `[[geographies]]` and `[[regions]]` with their origins.
//! - `health`: `[health]`, `[outlier_detection]` and `[routing]`.
//! - `limits`: `[limits]` and `[rate_limits]`.
//! - `client`: `[client_ip]` and `[geo]`: the client's address, then its location.
//! - `access_log`: `[access_log]`.
//! - `dns`: `[dns]` and `[[dns.edges]]`: the DNS responder, its zone and each geography's
//!   edges.
//! - `edge`: `[edge]` and `[[edge.peers]]`: where this gateway stands and the edges of the
//!   other geographies.
//! - `fleet`: `[fleet]`: the Redis the replicas share and how they use it.
//! - `syntax`: pure parsers for host patterns, path prefixes, header names and `host:port`.
//!
//! The defaults every section falls back to are in `crate::defaults`, re-exported here.
//!
//! `Validator` is defined in `validator`, not here, so that the section files import it from
//! a module that imports none of them: this file names `schema::Raw` to run the stages, so
//! defining `Validator` here would make `schema` and this file import each other. Imports
//! run one way: this file → section files → `schema`, `values` → `validator` → `spans`, with
//! `syntax` a leaf; the imports between section files are `tenancy` and `edge` → `topology`
//! (the defined geographies, for messages), `dns` → `listeners` (listen addresses and their
//! overlap, for the DNS listeners) and `edge` → `listeners` (the PEM file check).

mod access_log;
mod client;
mod dns;
mod edge;
mod fleet;
mod health;
mod limits;
mod listeners;
mod schema;
mod spans;
mod syntax;
mod tenancy;
mod topology;
mod validator;
mod values;

use std::path::Path;

use toml::de::DeTable;

use crate::error::{ConfigError, ConfigErrors};
use crate::model::{Config, Health};
use schema::{Piece, Raw};
use spans::{line_at, KeyPath};
use validator::Validator;

// The public paths of the single-file validator, kept: the defaults and the name rule have
// crate modules of their own, the rest live in the submodules above.
pub use crate::defaults::*;
pub use crate::names::{is_valid_name, NAME_RULE};
pub use client::MMDB_METADATA_MARKER;
pub use dns::MAX_ZONE_NAME;
pub use fleet::check_redis_url;
pub use syntax::{is_header_name, parse_host_pattern, parse_path_prefix, split_host_port};

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

impl<'a> Validator<'a> {
    /// Stage 3, section by section. A section that needs another's result comes after it:
    /// regions need the geographies and `[health]`, tenants need the plans and `[geo]`.
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
        let access_log = self.access_log(raw.access_log.parsed());
        let dns = self.dns(
            &raw.dns,
            &raw.dns_edges,
            &listeners,
            &geographies,
            raw.geographies.complete(),
        );
        let edge = self.edge(
            &raw.edge,
            &raw.edge_peers,
            &geographies,
            raw.geographies.complete(),
            &listeners.https,
        );
        let fleet = self.fleet(raw.fleet.parsed());
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
            access_log,
            dns,
            edge,
            fleet,
        }
    }
}
