//! `[access_log]`: the defaults, exact values, and errors at their keys.

use std::time::Duration;

use edge_config::{AccessLog, AccessLogFormat, LogSink};

use crate::{error_at, errors, examples_dir, line_of, ok, BASE};

#[test]
fn absent_access_log_is_json_to_stderr_for_every_request() {
    let a = ok(BASE).access_log;
    assert_eq!(a, AccessLog::default());
    assert!(a.enabled);
    assert_eq!(a.sink, LogSink::Stderr);
    assert_eq!(a.format, AccessLogFormat::Json);
    assert_eq!(a.sample_success, 1.0);
    assert_eq!(a.buffer_bytes, 1 << 20);
    assert_eq!(a.flush_interval, Duration::from_millis(100));
}

#[test]
fn a_full_access_log_section_takes_exact_values() {
    let a = ok(&format!(
        "{BASE}\n[access_log]\nenabled = false\npath = \"logs/access.log\"\nformat = \"text\"\n\
         sample_success = 0.25\nbuffer_bytes = 4096\nflush_interval = \"1s\"\n"
    ))
    .access_log;
    assert!(!a.enabled);
    assert_eq!(
        a.sink,
        LogSink::File(examples_dir().join("logs/access.log"))
    );
    assert_eq!(a.format, AccessLogFormat::Text);
    assert_eq!(a.sample_success, 0.25);
    assert_eq!(a.buffer_bytes, 4096);
    assert_eq!(a.flush_interval, Duration::from_secs(1));
    let stdout = ok(&format!("{BASE}\n[access_log]\npath = \"stdout\"\n")).access_log;
    assert_eq!(stdout.sink, LogSink::Stdout);
}

#[test]
fn bad_access_log_values_are_reported_at_their_keys() {
    let text = format!(
        "{BASE}\n[access_log]\npath = \"\"\nformat = \"xml\"\nsample_success = 1.5\n\
         buffer_bytes = 10\nflush_interval = \"1h\"\nrotate = true\n"
    );
    let errs = errors(&text);
    for (key, part, needle) in [
        ("access_log.path", "must not be empty", "path ="),
        ("access_log.format", "unknown format \"xml\"", "format ="),
        (
            "access_log.sample_success",
            "1.5 is out of range",
            "sample_success",
        ),
        (
            "access_log.buffer_bytes",
            "10 is out of range",
            "buffer_bytes",
        ),
        (
            "access_log.flush_interval",
            "out of range: expected 10ms to 10s",
            "flush_interval",
        ),
        ("access_log.rotate", "unknown key", "rotate"),
    ] {
        let e = error_at(&errs, key);
        assert!(e.message.contains(part), "{key}: {}", e.message);
        assert_eq!(e.line, Some(line_of(&text, needle)), "{key}: {e:?}");
    }
}
