//! Checks of single values that several sections share: integer ranges, durations, names,
//! and lists of codes and HTTP methods. Each reports at the key it is given and returns the
//! default (or `None`) when the value is wrong, so a section always gets a usable value.
//!
//! `codes` serves `[geo]`, `[[tenants]]` and `[[geographies]]`, and `methods` serves
//! `routing.retry_methods` and `rate_limits.routes[].methods`: they live here rather than in
//! one of those section files so that no section file depends on another for them.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use super::spans::KeyPath;
use super::syntax::is_header_name;
use super::validator::Validator;
use crate::file::HumanDuration;
use crate::names::{is_valid_name, NAME_RULE};

impl<'a> Validator<'a> {
    /// An integer in `min..=max` (`default` when absent or out of range).
    pub(super) fn int(
        &mut self,
        path: &KeyPath,
        value: Option<i64>,
        default: u32,
        min: u32,
        max: u32,
    ) -> u32 {
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
    pub(super) fn int_u64(
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
    pub(super) fn int_usize(
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

    pub(super) fn non_zero(
        &mut self,
        path: &KeyPath,
        value: Option<i64>,
        default: u32,
        max: u32,
    ) -> NonZeroU32 {
        NonZeroU32::new(self.int(path, value, default, 1, max)).unwrap_or(NonZeroU32::MIN)
    }

    pub(super) fn duration(
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

    pub(super) fn name(&mut self, path: &KeyPath, name: &str, what: &str) -> bool {
        if is_valid_name(name) {
            return true;
        }
        self.error(
            path,
            format!("{name:?} is not a valid {what} name: {NAME_RULE}"),
        );
        false
    }

    /// A list of codes with their indices; wrong or repeated entries are reported and left
    /// out.
    pub(super) fn codes<T, E>(
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

    /// HTTP methods, upper-cased; `None` (after reporting) when any is wrong or repeated.
    pub(super) fn methods(&mut self, path: &KeyPath, list: &[String]) -> Option<Vec<String>> {
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
}

/// The shortest duration [`Validator::duration`] accepts.
#[derive(Debug, Clone, Copy)]
pub(super) enum MinDuration {
    /// Zero too.
    Any,
    /// Anything but zero.
    Positive,
    /// This or longer.
    AtLeast(Duration),
}
