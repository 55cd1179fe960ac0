//! Durations and integer ranges, over several sections: explicit values are taken exactly,
//! and wrong ones are reported at their keys (`validate/values.rs`).

use std::time::Duration;

use crate::{error_at, errors, line_of, ok, BASE};

#[test]
fn durations_and_explicit_values() {
    let text = format!(
        "{BASE}
[server]
threads = 3
grace_period = \"1m 30s\"

[health]
path = \"/ready\"
interval = \"250ms\"
timeout = \"2s\"
rise = 1
fall = 5

[routing]
max_attempts = 10
connect_timeout = \"200ms\"
read_timeout = \"2m\"
write_timeout = \"45s\"
idle_timeout = \"0s\"
debug_headers = true
"
    )
    .replace(
        "[[tls.certificates]]",
        "[tls]\nhsts_max_age = \"0s\"\nhsts_include_subdomains = true\n\n[[tls.certificates]]",
    );
    let c = ok(&text);
    assert_eq!(c.server.threads.get(), 3);
    assert_eq!(c.server.grace_period, Duration::from_secs(90));
    assert_eq!(c.tls.hsts_max_age, Duration::ZERO);
    assert!(c.tls.hsts_include_subdomains);
    assert_eq!(c.health.path, "/ready");
    assert_eq!(c.health.interval, Duration::from_millis(250));
    assert_eq!(c.health.timeout, Duration::from_secs(2));
    assert_eq!((c.health.rise.get(), c.health.fall.get()), (1, 5));
    assert_eq!(c.routing.max_attempts.get(), 10);
    assert_eq!(c.routing.connect_timeout, Duration::from_millis(200));
    assert_eq!(c.routing.read_timeout, Duration::from_secs(120));
    assert_eq!(c.routing.write_timeout, Duration::from_secs(45));
    assert_eq!(c.routing.idle_timeout, Duration::ZERO);
    assert!(c.routing.debug_headers);
}

#[test]
fn bad_durations_and_ranges_are_reported_at_their_keys() {
    let text = format!(
        "{BASE}
[server]
threads = 0
grace_period = \"10 parsecs\"

[health]
path = \"healthz\"
interval = \"10ms\"
timeout = \"0s\"
rise = 0

[routing]
max_attempts = 11
read_timeout = 30
"
    );
    let errs = errors(&text);
    let at = |key| error_at(&errs, key);
    assert!(at("server.threads").message.contains("expected 1 to 1024"));
    assert_eq!(
        at("server.threads").line,
        Some(line_of(&text, "threads = 0"))
    );
    assert!(at("server.grace_period")
        .message
        .contains("is not a duration"));
    assert!(at("health.path").message.contains("must start with '/'"));
    assert!(at("health.interval").message.contains("at least 100ms"));
    assert!(at("health.timeout").message.contains("greater than 0"));
    assert!(at("health.rise").message.contains("at least 1"));
    assert!(at("routing.max_attempts").message.contains("1 to 10"));
    // A type error is a schema error; the rest of [routing] is still checked.
    let read = at("routing.read_timeout");
    assert!(
        read.message.contains("expected a duration string"),
        "{}",
        read.message
    );
    assert_eq!(read.line, Some(line_of(&text, "read_timeout = 30")));
    assert_eq!(errs.len(), 8, "{errs:#?}");
}
