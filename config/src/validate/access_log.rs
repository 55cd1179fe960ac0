//! `[access_log]`: where one line per request goes, in which format, how much is held in
//! memory, and which successful requests are sampled.

use super::spans::KeyPath;
use super::validator::Validator;
use crate::defaults::{
    DEFAULT_ACCESS_LOG_BUFFER, DEFAULT_ACCESS_LOG_FLUSH, MAX_ACCESS_LOG_BUFFER,
    MAX_ACCESS_LOG_FLUSH, MIN_ACCESS_LOG_BUFFER, MIN_ACCESS_LOG_FLUSH,
};
use crate::file::{AccessLogFile, HumanDuration};
use crate::model::{AccessLog, AccessLogFormat, LogSink};

impl<'a> Validator<'a> {
    /// `[access_log]`; the defaults when absent (on, JSON lines to stderr).
    pub(super) fn access_log(&mut self, file: Option<&AccessLogFile>) -> AccessLog {
        let defaults = AccessLog::default();
        let Some(file) = file else {
            return defaults;
        };
        let path = KeyPath::default().key("access_log");
        let sink = match file.path.as_deref() {
            None | Some("stderr") => LogSink::Stderr,
            Some("stdout") => LogSink::Stdout,
            Some("") => {
                self.error(
                    &path.key("path"),
                    "must not be empty: \"stderr\", \"stdout\" or a file",
                );
                LogSink::Stderr
            }
            Some(written) => LogSink::File(self.base_dir.join(written)),
        };
        let format = match file.format.as_deref() {
            None | Some("json") => AccessLogFormat::Json,
            Some("text") => AccessLogFormat::Text,
            Some(other) => {
                self.error(
                    &path.key("format"),
                    format!("unknown format {other:?}: expected \"json\" or \"text\""),
                );
                defaults.format
            }
        };
        let sample_success = match file.sample_success {
            None => defaults.sample_success,
            Some(r) if (0.0..=1.0).contains(&r) => r,
            Some(r) => {
                self.error(
                    &path.key("sample_success"),
                    format!(
                        "{r} is out of range: expected 0.0 to 1.0 (the share of successful \
                         requests logged; errors are always logged)"
                    ),
                );
                defaults.sample_success
            }
        };
        let buffer_bytes = self.int_usize(
            &path.key("buffer_bytes"),
            file.buffer_bytes,
            DEFAULT_ACCESS_LOG_BUFFER,
            MIN_ACCESS_LOG_BUFFER,
            MAX_ACCESS_LOG_BUFFER,
        );
        let flush_interval = match file.flush_interval {
            None => DEFAULT_ACCESS_LOG_FLUSH,
            Some(HumanDuration(d))
                if (MIN_ACCESS_LOG_FLUSH..=MAX_ACCESS_LOG_FLUSH).contains(&d) =>
            {
                d
            }
            Some(HumanDuration(d)) => {
                self.error(
                    &path.key("flush_interval"),
                    format!(
                        "{} is out of range: expected 10ms to 10s",
                        humantime::format_duration(d)
                    ),
                );
                DEFAULT_ACCESS_LOG_FLUSH
            }
        };
        AccessLog {
            enabled: file.enabled.unwrap_or(true),
            sink,
            format,
            sample_success,
            buffer_bytes,
            flush_interval,
        }
    }
}
