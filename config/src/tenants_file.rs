//! The tenant file (`tenancy.file`) and the tenant directory builder shared with the inline
//! `[[tenants]]` tables.
//!
//! The file holds one tenant per line, `id,geography[,plan]`; blank lines and lines starting
//! with `#` are ignored, as is an optional first header line `id,geography[,plan]`. Fields are
//! trimmed. The file has no column for `allowed_countries`: the few tenants restricted to
//! countries are written inline as `[[tenants]]`, and file rows stay three fields.
//!
//! Tenant files can hold millions of rows, so parsing borrows from the text and the builder
//! interns geography and plan names: each row costs one map entry and nothing else.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use crate::error::ConfigError;
use crate::model::{CountryCode, GeographyName, PlanName, Tenant, TenantDirectory, TenantId};
use crate::names::{is_valid_name, NAME_RULE};

/// At most this many errors are reported from one tenant file; the rest are counted in one
/// final error, so a wrong file does not print a million lines.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// One data row of a tenant file, borrowed from the text, fields trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row<'a> {
    /// 1-based line number.
    pub line: usize,
    /// The tenant id as written.
    pub id: &'a str,
    /// The geography name as written.
    pub geography: &'a str,
    /// The plan name, when the third field is present and not empty.
    pub plan: Option<&'a str>,
}

/// A line that is not `id,geography[,plan]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with the line.
    pub message: String,
}

/// Iterates over the data rows of tenant-file text, skipping blank lines, comments and the
/// optional header.
pub fn rows(text: &str) -> Rows<'_> {
    Rows {
        lines: text.strip_prefix('\u{feff}').unwrap_or(text).lines(),
        line: 0,
        seen_first: false,
    }
}

/// Iterator returned by [`rows`].
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    lines: std::str::Lines<'a>,
    line: usize,
    seen_first: bool,
}

impl<'a> Iterator for Rows<'a> {
    type Item = Result<Row<'a>, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let raw = self.lines.next()?;
            self.line += 1;
            let text = raw.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let first = !self.seen_first;
            self.seen_first = true;
            let mut fields = text.split(',').map(str::trim);
            let id = fields.next().unwrap_or_default();
            let Some(geography) = fields.next() else {
                return Some(Err(RowError {
                    line: self.line,
                    message: "expected `id,geography[,plan]`, found a single field".to_owned(),
                }));
            };
            let plan = fields.next();
            let extra = fields.count();
            if extra > 0 {
                return Some(Err(RowError {
                    line: self.line,
                    message: format!("expected `id,geography[,plan]`, found {} fields", 3 + extra),
                }));
            }
            if first && is_header(id, geography, plan) {
                continue;
            }
            return Some(Ok(Row {
                line: self.line,
                id,
                geography,
                plan: plan.filter(|p| !p.is_empty()),
            }));
        }
    }
}

fn is_header(id: &str, geography: &str, plan: Option<&str>) -> bool {
    id.eq_ignore_ascii_case("id")
        && geography.eq_ignore_ascii_case("geography")
        && plan.is_none_or(|p| p.eq_ignore_ascii_case("plan"))
}

/// Which field of a tenant a [`TenantProblem`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantField {
    /// The id.
    Id,
    /// The geography.
    Geography,
    /// The plan.
    Plan,
}

impl TenantField {
    /// The TOML key of the field in `[[tenants]]`.
    pub fn key(self) -> &'static str {
        match self {
            TenantField::Id => "id",
            TenantField::Geography => "geography",
            TenantField::Plan => "plan",
        }
    }
}

/// One thing wrong with one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantProblem {
    /// The field at fault.
    pub field: TenantField,
    /// What is wrong, and what would be right.
    pub message: String,
}

impl fmt::Display for TenantProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Builds a [`TenantDirectory`] from inline tenants and tenant files, checking ids,
/// geographies, plans (their names, and with [`DirectoryBuilder::require_plans`] that they
/// are defined) and duplicates.
#[derive(Debug, Clone)]
pub struct DirectoryBuilder {
    /// A handful at most: a linear scan beats hashing every row's geography.
    geographies: Vec<GeographyName>,
    /// `eu, na`, for messages; built once since a bad file can cite it a million times.
    defined: String,
    check_geographies: bool,
    plans: HashSet<PlanName>,
    /// Only the plans already in `plans` are accepted (see [`DirectoryBuilder::require_plans`]).
    restrict_plans: bool,
    /// `premium, standard`, for messages about undefined plans.
    defined_plans: String,
    /// Rows tend to repeat one plan; checking the last one first skips a hash per row.
    last_plan: Option<PlanName>,
    /// Index in `[[tenants]]` of each inline tenant, to say where a duplicate was first seen.
    inline: HashMap<TenantId, usize>,
    directory: TenantDirectory,
}

impl DirectoryBuilder {
    /// A builder that accepts tenants of the given geographies only.
    pub fn new(geographies: impl IntoIterator<Item = GeographyName>) -> Self {
        let mut geographies: Vec<GeographyName> = geographies.into_iter().collect();
        geographies.sort_unstable();
        geographies.dedup();
        let defined = if geographies.is_empty() {
            "none".to_owned()
        } else {
            let names: Vec<&str> = geographies.iter().map(GeographyName::as_str).collect();
            names.join(", ")
        };
        Self {
            geographies,
            defined,
            check_geographies: true,
            plans: HashSet::new(),
            restrict_plans: false,
            defined_plans: String::new(),
            last_plan: None,
            inline: HashMap::new(),
            directory: TenantDirectory::default(),
        }
    }

    /// Stops reporting tenants whose geography is unknown (they are skipped instead).
    ///
    /// For when the geographies themselves had errors: the set is incomplete, and blaming
    /// every tenant for it would bury the real problem.
    pub fn skip_unknown_geographies(mut self) -> Self {
        self.check_geographies = false;
        self
    }

    /// Accepts only tenants whose plan (when they name one) is one of `plans`: for when
    /// `[rate_limits]` is present. Call it before adding tenants.
    pub fn require_plans(mut self, plans: impl IntoIterator<Item = PlanName>) -> Self {
        let mut names: Vec<PlanName> = plans.into_iter().collect();
        names.sort_unstable();
        names.dedup();
        self.defined_plans = if names.is_empty() {
            "none".to_owned()
        } else {
            let shown: Vec<&str> = names.iter().map(PlanName::as_str).collect();
            shown.join(", ")
        };
        self.plans = names.into_iter().collect();
        self.last_plan = None;
        self.restrict_plans = true;
        self
    }

    /// Adds the inline tenant `tenants[index]`, with its already validated
    /// `allowed_countries`.
    pub fn add_inline(
        &mut self,
        index: usize,
        id: &str,
        geography: &str,
        plan: Option<&str>,
        allowed_countries: Option<Box<[CountryCode]>>,
    ) -> Vec<TenantProblem> {
        let mut problems = Vec::new();
        let parsed = self.check(id, geography, plan, &mut problems);
        if let Some((tenant_id, mut tenant)) = parsed {
            tenant.allowed_countries = allowed_countries;
            match self.directory.by_id.entry(tenant_id) {
                Entry::Occupied(_) => {
                    let first = self
                        .inline
                        .get(&tenant_id)
                        .map(|i| format!(" at tenants[{i}]"))
                        .unwrap_or_default();
                    problems.push(TenantProblem {
                        field: TenantField::Id,
                        message: format!(
                            "duplicate tenant id {}: already defined{first}",
                            id.trim()
                        ),
                    });
                }
                Entry::Vacant(slot) => {
                    slot.insert(tenant);
                    self.inline.insert(tenant_id, index);
                }
            }
        }
        problems
    }

    /// Adds one tenant-file row.
    pub fn add_row(&mut self, row: &Row<'_>) -> Vec<TenantProblem> {
        let mut problems = Vec::new();
        if let Some((tenant_id, tenant)) =
            self.check(row.id, row.geography, row.plan, &mut problems)
        {
            match self.directory.by_id.entry(tenant_id) {
                Entry::Occupied(_) => {
                    let first = match self.inline.get(&tenant_id) {
                        Some(i) => format!("in the config file at tenants[{i}]"),
                        None => "earlier in this file".to_owned(),
                    };
                    problems.push(TenantProblem {
                        field: TenantField::Id,
                        message: format!("duplicate tenant id {}: already defined {first}", row.id),
                    });
                }
                Entry::Vacant(slot) => {
                    slot.insert(tenant);
                }
            }
        }
        problems
    }

    /// Adds every row of tenant-file text; `file` names it in the errors. At most
    /// [`MAX_REPORTED_ERRORS`] errors are returned, plus one counting the rest.
    pub fn add_text(&mut self, text: &str, file: &str) -> Vec<ConfigError> {
        // One reservation up front: rehashing a million-entry map while growing costs more
        // than the parsing itself.
        let estimate = text.bytes().filter(|&b| b == b'\n').count() + 1;
        self.directory.by_id.reserve(estimate);

        let mut sink = CappedErrors::new(file);
        for row in rows(text) {
            match row {
                Ok(row) => {
                    for problem in self.add_row(&row) {
                        sink.push(row.line, problem.message);
                    }
                }
                Err(e) => sink.push(e.line, e.message),
            }
        }
        sink.finish()
    }

    /// Reads the tenant file at `path` and adds its rows; `file` names it in the errors.
    /// A file that cannot be read is an `Err`, for the caller to report at its config key.
    pub fn add_file(&mut self, path: &Path, file: &str) -> std::io::Result<Vec<ConfigError>> {
        let text = std::fs::read_to_string(path)?;
        Ok(self.add_text(&text, file))
    }

    /// The tenants added so far.
    pub fn len(&self) -> usize {
        self.directory.by_id.len()
    }

    /// Whether no tenant was added.
    pub fn is_empty(&self) -> bool {
        self.directory.by_id.is_empty()
    }

    /// The finished directory.
    pub fn finish(self) -> TenantDirectory {
        self.directory
    }

    fn check(
        &mut self,
        id: &str,
        geography: &str,
        plan: Option<&str>,
        problems: &mut Vec<TenantProblem>,
    ) -> Option<(TenantId, Tenant)> {
        let tenant_id = match TenantId::parse(id) {
            Ok(tenant_id) => Some(tenant_id),
            Err(e) => {
                problems.push(TenantProblem {
                    field: TenantField::Id,
                    message: format!("{:?} is {e}", id.trim()),
                });
                None
            }
        };
        let geography = match self.geographies.iter().find(|g| g.as_str() == geography) {
            Some(g) => Some(g.clone()),
            None => {
                if self.check_geographies {
                    problems.push(TenantProblem {
                        field: TenantField::Geography,
                        message: format!(
                            "tenant {} names geography {geography:?}, which is not defined \
                             (defined: {})",
                            id.trim(),
                            self.defined
                        ),
                    });
                }
                None
            }
        };
        let plan = match plan {
            None => Some(None),
            Some(p) => match self.last_plan.as_ref().filter(|l| l.as_str() == p) {
                Some(last) => Some(Some(last.clone())),
                None => self.intern_plan(id, p, problems).map(Some),
            },
        };
        let (Some(tenant_id), Some(geography), Some(plan)) = (tenant_id, geography, plan) else {
            return None;
        };
        Some((
            tenant_id,
            Tenant {
                id: tenant_id,
                geography,
                plan,
                allowed_countries: None,
            },
        ))
    }

    fn intern_plan(
        &mut self,
        id: &str,
        p: &str,
        problems: &mut Vec<TenantProblem>,
    ) -> Option<PlanName> {
        let name = match self.plans.get(p) {
            Some(known) => known.clone(),
            None if is_valid_name(p) && self.restrict_plans => {
                problems.push(TenantProblem {
                    field: TenantField::Plan,
                    message: format!(
                        "tenant {} names plan {p:?}, which is not defined in [rate_limits.plans] \
                         (defined: {})",
                        id.trim(),
                        self.defined_plans
                    ),
                });
                return None;
            }
            None if is_valid_name(p) => {
                let name = PlanName::new(p);
                self.plans.insert(name.clone());
                name
            }
            None => {
                problems.push(TenantProblem {
                    field: TenantField::Plan,
                    message: format!("{p:?} is not a valid plan name: {NAME_RULE}"),
                });
                return None;
            }
        };
        self.last_plan = Some(name.clone());
        Some(name)
    }
}

/// Keeps the first [`MAX_REPORTED_ERRORS`] errors and counts the rest.
struct CappedErrors<'a> {
    file: &'a str,
    errors: Vec<ConfigError>,
    suppressed: usize,
}

impl<'a> CappedErrors<'a> {
    fn new(file: &'a str) -> Self {
        Self {
            file,
            errors: Vec::new(),
            suppressed: 0,
        }
    }

    fn push(&mut self, line: usize, message: String) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(ConfigError {
                file: self.file.to_owned(),
                key: String::new(),
                line: Some(line),
                message,
            });
        } else {
            self.suppressed += 1;
        }
    }

    fn finish(mut self) -> Vec<ConfigError> {
        if self.suppressed > 0 {
            self.errors.push(ConfigError {
                file: self.file.to_owned(),
                key: String::new(),
                line: None,
                message: format!(
                    "{} more errors in this file were not shown (only the first {} are)",
                    self.suppressed, MAX_REPORTED_ERRORS
                ),
            });
        }
        self.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b";
    const B: &str = "9d6c2a4e-1b3f-4e5a-8c7d-0f1e2d3c4b5a";

    fn builder() -> DirectoryBuilder {
        DirectoryBuilder::new([GeographyName::new("eu"), GeographyName::new("na")])
    }

    #[test]
    fn rows_skip_comments_blank_lines_and_header() {
        let text = format!(
            "\u{feff}# tenants\n\n  id , geography , plan \n{A},eu\r\n  # indented comment\n{B} , na , gold \n"
        );
        let rows: Vec<_> = rows(&text).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            rows,
            vec![
                Row {
                    line: 4,
                    id: A,
                    geography: "eu",
                    plan: None
                },
                Row {
                    line: 6,
                    id: B,
                    geography: "na",
                    plan: Some("gold")
                },
            ]
        );
    }

    #[test]
    fn header_only_counts_as_first_data_line() {
        let text = format!("{A},eu\nid,geography\n");
        let rows: Vec<_> = rows(&text).collect();
        assert_eq!(rows.len(), 2);
        // A second "header" is an ordinary (bad) row, reported as such by the builder.
        let mut b = builder();
        let errors = b.add_text(&text, "t.csv");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().all(|e| e.line == Some(2)));
    }

    #[test]
    fn empty_plan_field_means_no_plan() {
        let text = format!("{A},eu,\n");
        let row = rows(&text).next().unwrap().unwrap();
        assert_eq!(row.plan, None);
    }

    #[test]
    fn bad_rows_are_reported_with_their_lines() {
        let text = format!(
            "id,geography,plan\n{A},eu,standard\nnot-a-uuid,eu\n{B},mars\n{A},na\njustone\n{B},eu,Gold Plan\n{B},eu,x,y\n"
        );
        let mut b = builder();
        let errors = b.add_text(&text, "tenants.csv");
        let got: Vec<(Option<usize>, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(got.len(), 6, "{errors:#?}");
        assert_eq!(got[0].0, Some(3));
        assert!(got[0].1.contains("not a valid tenant id"), "{}", got[0].1);
        assert!(got[0].1.contains("UUID"));
        assert_eq!(got[1].0, Some(4));
        assert!(got[1]
            .1
            .contains("\"mars\", which is not defined (defined: eu, na)"));
        assert_eq!(got[2].0, Some(5));
        assert!(got[2].1.contains("duplicate tenant id"));
        assert!(got[2].1.contains("earlier in this file"));
        assert_eq!(got[3].0, Some(6));
        assert!(got[3].1.contains("single field"));
        assert_eq!(got[4].0, Some(7));
        assert!(got[4].1.contains("not a valid plan name"));
        assert_eq!(got[5].0, Some(8));
        assert!(got[5].1.contains("found 4 fields"));
        assert!(errors
            .iter()
            .all(|e| e.file == "tenants.csv" && e.key.is_empty()));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn duplicates_across_inline_and_file() {
        let mut b = builder();
        assert!(b.add_inline(0, A, "eu", Some("standard"), None).is_empty());
        let again = b.add_inline(1, &A.to_uppercase(), "eu", None, None);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].field, TenantField::Id);
        assert!(
            again[0].message.contains("at tenants[0]"),
            "{}",
            again[0].message
        );

        let errors = b.add_text(&format!("{A},na\n"), "t.csv");
        assert_eq!(errors.len(), 1);
        assert!(errors[0]
            .message
            .contains("in the config file at tenants[0]"));
        assert_eq!(errors[0].line, Some(1));
    }

    #[test]
    fn names_are_interned() {
        let mut b = builder();
        let text = format!("{A},eu,gold\n{B},eu,gold\n");
        assert!(b.add_text(&text, "t").is_empty());
        let dir = b.finish();
        let a = &dir.by_id[&TenantId::parse(A).unwrap()];
        let bb = &dir.by_id[&TenantId::parse(B).unwrap()];
        assert!(std::ptr::eq(a.geography.as_str(), bb.geography.as_str()));
        let (pa, pb) = (a.plan.as_ref().unwrap(), bb.plan.as_ref().unwrap());
        assert!(std::ptr::eq(pa.as_str(), pb.as_str()));
    }

    #[test]
    fn errors_are_capped() {
        let text = "bad,eu\n".repeat(1000);
        let mut b = builder();
        let errors = b.add_text(&text, "t.csv");
        assert_eq!(errors.len(), MAX_REPORTED_ERRORS + 1);
        let last = errors.last().unwrap();
        assert_eq!(last.line, None);
        assert!(
            last.message.starts_with("900 more errors"),
            "{}",
            last.message
        );
        assert_eq!(errors[99].line, Some(100));
    }

    #[test]
    fn plans_can_be_required() {
        let mut b = builder().require_plans([PlanName::new("standard"), PlanName::new("gold")]);
        let text = format!("{A},eu,standard\n{B},eu,silver\n{B},eu,silver\n");
        let errors = b.add_text(&text, "t.csv");
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert_eq!(errors[0].line, Some(2));
        assert!(
            errors[0]
                .message
                .contains("names plan \"silver\", which is not defined in [rate_limits.plans] (defined: gold, standard)"),
            "{}",
            errors[0].message
        );
        assert_eq!(errors[1].line, Some(3));
        let inline = b.add_inline(0, B, "eu", Some("Gold"), None);
        assert_eq!(inline.len(), 1);
        assert_eq!(inline[0].field, TenantField::Plan);
        assert!(inline[0].message.contains("not a valid plan name"));
        assert_eq!(b.len(), 1);

        let mut none = builder().require_plans([]);
        let problems = none.add_inline(0, A, "eu", Some("standard"), None);
        assert!(problems[0].message.contains("(defined: none)"));
        assert!(none.add_inline(1, B, "eu", None, None).is_empty());
    }

    #[test]
    fn unknown_geographies_can_be_skipped() {
        let mut b = builder().skip_unknown_geographies();
        assert!(b.add_text(&format!("{A},mars\n"), "t").is_empty());
        assert!(b.is_empty());
    }

    #[test]
    fn a_million_rows_load_quickly() {
        use std::fmt::Write as _;
        let mut text = String::from("id,geography,plan\n");
        for i in 0..1_000_000u128 {
            let id = uuid::Uuid::from_u128(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let geo = if i % 2 == 0 { "eu" } else { "na" };
            writeln!(text, "{id},{geo},standard").unwrap();
        }
        let mut b = builder();
        let start = std::time::Instant::now();
        let errors = b.add_text(&text, "big.csv");
        let elapsed = start.elapsed();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(b.len(), 1_000_000);
        // Generous: this runs in debug builds too; release is several times faster.
        assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
    }
}
