//! `[health]`, `[outlier_detection]` and `[routing]`: how origins are probed, when they are
//! ejected, and how requests are retried over them.
//!
//! [`Validator::health`] also resolves each region's `health` override over the global
//! settings, for `topology`.

use super::spans::KeyPath;
use super::validator::Validator;
use super::values::MinDuration;
use crate::defaults::{
    DEFAULT_BASE_EJECTION_TIME, DEFAULT_CONNECT_TIMEOUT, DEFAULT_CONSECUTIVE_FAILURES,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_LATENCY_SENSITIVITY, DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_EJECTION_TIME, DEFAULT_READ_TIMEOUT, DEFAULT_RETRY_MIN_CONCURRENT,
    DEFAULT_RETRY_RATIO, DEFAULT_RETRY_WINDOW, DEFAULT_SLOW_START, DEFAULT_WRITE_TIMEOUT,
    MAX_ATTEMPTS, MAX_CONSECUTIVE_FAILURES, MIN_HEALTH_INTERVAL,
};
use crate::file::{HealthFile, OutlierDetectionFile, RetryBudgetFile, RoutingFile, StatusText};
use crate::model::{HeaderCase, Health, OutlierDetection, RetryBudget, Routing, StatusRange};

impl<'a> Validator<'a> {
    /// Resolves `[health]` (or a region's `health` override at `path`) over `base`: keys
    /// that are absent, or wrong (reported), keep `base`'s value.
    pub(super) fn health(
        &mut self,
        path: &KeyPath,
        file: Option<&HealthFile>,
        base: &Health,
    ) -> Health {
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

    pub(super) fn outlier_detection(
        &mut self,
        file: Option<&OutlierDetectionFile>,
    ) -> OutlierDetection {
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

    pub(super) fn routing(&mut self, file: Option<&RoutingFile>) -> Routing {
        let file = file.cloned().unwrap_or_default();
        let path = KeyPath::default().key("routing");
        let retry_methods = match &file.retry_methods {
            None => Routing::default().retry_methods,
            Some(list) => self
                .methods(&path.key("retry_methods"), list)
                .unwrap_or_else(|| Routing::default().retry_methods),
        };
        let header_case = match file.header_case.as_deref() {
            None | Some("lowercase") => HeaderCase::Lowercase,
            Some("preserve") => HeaderCase::Preserve,
            Some(other) => {
                self.error(
                    &path.key("header_case"),
                    format!(
                        "unknown value {other:?}; expected \"lowercase\" (header names sent \
                         lower-case, a few standard ones title-cased) or \"preserve\" (as the client or \
                         origin spelled them)"
                    ),
                );
                HeaderCase::Lowercase
            }
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
            header_case,
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
}
