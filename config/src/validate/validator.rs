//! The validator: the parsed document, and the errors collected against it with their lines.
//!
//! Every stage reports through [`Validator::error`], so that each error names its key path
//! and the line of that key (or of its nearest parent present in the file). The stages add
//! their own `impl Validator` blocks in the sibling files; this one holds only what they all
//! share.

use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::spans::{KeyPath, Seg};
use crate::error::{ConfigError, ConfigErrors};
use crate::model::Config;

/// One run over one document. Checks never stop at an error: they report it and go on, and
/// [`Validator::finish`] returns the config only if nothing was reported.
pub(super) struct Validator<'a> {
    /// Names the config file in errors.
    source: &'a str,
    /// Relative paths in the file (certificates, tenant file, database) are resolved against
    /// this.
    pub(super) base_dir: &'a Path,
    /// The whole document, spans included.
    pub(super) root: &'a DeTable<'a>,
    line_starts: Vec<usize>,
    errors: Vec<ConfigError>,
    /// Errors located in other files (the tenant file), reported after the config's own.
    pub(super) other_files: Vec<ConfigError>,
}

impl<'a> Validator<'a> {
    pub(super) fn new(
        text: &'a str,
        source: &'a str,
        base_dir: &'a Path,
        root: &'a DeTable<'a>,
    ) -> Self {
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
    pub(super) fn node(&self, path: &KeyPath) -> Option<&'a Spanned<DeValue<'a>>> {
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

    pub(super) fn error(&mut self, path: &KeyPath, message: impl Into<String>) {
        let span = self.span_of(path);
        self.error_at(path, span, message);
    }

    pub(super) fn error_at(
        &mut self,
        path: &KeyPath,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) {
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

    pub(super) fn finish(mut self, config: Config) -> Result<Config, ConfigErrors> {
        if self.errors.is_empty() && self.other_files.is_empty() {
            return Ok(config);
        }
        // Whole-file problems first, then in file order; sort is stable, so problems on one
        // line keep the order they were found in.
        self.errors.sort_by_key(|e| e.line);
        self.errors.append(&mut self.other_files);
        Err(ConfigErrors(self.errors))
    }
}
