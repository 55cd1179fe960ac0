//! `[tenancy]`, `[[tenants]]` and the tenant file: how a request names its tenant, which
//! tenants exist, and where requests without one go.
//!
//! Runs after `[[geographies]]`, `[geo]` and `[rate_limits]` are known, since tenants name a
//! geography and a plan, and `unknown = "nearest"` and `allowed_countries` need `[geo]`.

use super::schema::{Elements, Piece, Raw, SOURCE_EXAMPLE};
use super::spans::KeyPath;
use super::syntax::{is_header_name, parse_host_pattern, parse_path_prefix};
use super::topology::defined_names;
use super::validator::Validator;
use crate::file::{TenancyFile, TenantSourceFile};
use crate::model::{
    CountryCode, Geography, GeographyName, PlanName, Tenancy, TenantSource, UnknownTenant,
};
use crate::tenants_file::DirectoryBuilder;

impl<'a> Validator<'a> {
    /// `[tenancy]` without `default_geography`, which needs the geographies
    /// (see [`Validator::default_geography`]).
    pub(super) fn tenancy(
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

    /// `tenancy.default_geography`: required with `unknown = "nearest"`, refused otherwise (it
    /// would do nothing, which is more likely a mistake than an intention). Also reports
    /// "nearest" without `[geo]`, in the same message when both are missing.
    pub(super) fn default_geography(
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

    /// `plans`: the plans tenants must name, when `[rate_limits]` is present and every plan
    /// in it parsed (otherwise plan references are not checked).
    pub(super) fn tenants(
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
}
