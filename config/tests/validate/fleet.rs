//! `[fleet]`: absent changes nothing, defaults, the URL rules (no password in it), the
//! password sources, and errors at their keys with their lines.

use std::time::Duration;

use edge_config::{validate, SecretSource, WhenUnreachable};

use crate::{error_at, errors, examples_dir, line_of, ok, BASE};

#[test]
fn without_fleet_there_is_no_fleet_and_the_summary_does_not_mention_it() {
    let config = ok(BASE);
    assert_eq!(config.fleet, None);
    assert!(!edge_config::summary(&config).contains("fleet:"));
}

#[test]
fn fleet_takes_its_defaults() {
    let config = ok(&format!(
        "{BASE}\n[fleet]\nredis_url = \"redis://127.0.0.1:6379\"\n"
    ));
    let f = config.fleet.unwrap();
    assert_eq!(f.redis_url, "redis://127.0.0.1:6379");
    assert_eq!(f.password, None);
    assert_eq!(f.node_id, None);
    assert_eq!(f.key_prefix, validate::DEFAULT_FLEET_KEY_PREFIX);
    assert_eq!(f.key_prefix, "edge:");
    assert_eq!(f.sync_interval, Duration::from_millis(100));
    assert_eq!(f.timeout, Duration::from_millis(25));
    assert_eq!(f.when_unreachable, WhenUnreachable::FullQuota);
}

#[test]
fn fleet_settings_are_read() {
    let config = ok(&format!(
        "{BASE}\n[fleet]\nredis_url = \"rediss://edge@cache.example:6380/1\"\n\
         password_env = \"EDGE_REDIS_PASSWORD\"\nnode_id = \"gw-7.zone-a\"\n\
         key_prefix = \"edge:prod:\"\nsync_interval = \"250ms\"\ntimeout = \"50ms\"\n\
         when_unreachable = \"divide-quota\"\n"
    ));
    let f = config.fleet.clone().unwrap();
    assert_eq!(
        f.password,
        Some(SecretSource::Env("EDGE_REDIS_PASSWORD".into()))
    );
    assert_eq!(f.node_id.as_deref(), Some("gw-7.zone-a"));
    assert_eq!(f.key_prefix, "edge:prod:");
    assert_eq!(f.sync_interval, Duration::from_millis(250));
    assert_eq!(f.timeout, Duration::from_millis(50));
    assert_eq!(f.when_unreachable, WhenUnreachable::DivideQuota);
    let summary = edge_config::summary(&config);
    assert!(
        summary.contains(
            "fleet: rediss://edge@cache.example:6380/1 (password from $EDGE_REDIS_PASSWORD)"
        ),
        "{summary}"
    );
    // A password file is resolved against the config file's directory.
    let config = ok(&format!(
        "{BASE}\n[fleet]\nredis_url = \"redis+unix:///run/redis.sock\"\npassword_file = \"certs/edge.pem\"\n"
    ));
    assert_eq!(
        config.fleet.unwrap().password,
        Some(SecretSource::File(examples_dir().join("certs/edge.pem")))
    );
}

#[test]
fn bad_fleet_settings_are_reported_at_their_keys() {
    let text = format!(
        "{BASE}\n[fleet]\nredis_url = \"redis://:hunter2@cache:6379\"\n\
         password_env = \"1BAD\"\nnode_id = \"has space\"\nkey_prefix = \"\"\n\
         sync_interval = \"1ms\"\ntimeout = \"0s\"\nwhen_unreachable = \"refuse\"\nredis_port = 1\n"
    );
    let errs = errors(&text);
    let e = error_at(&errs, "fleet.redis_url");
    assert!(e.message.contains("holds a password"), "{e:?}");
    assert!(!e.message.contains("hunter2") || e.message.contains("\"redis://:hunter2"));
    assert_eq!(e.line, Some(line_of(&text, "redis_url")));
    assert!(error_at(&errs, "fleet.password_env")
        .message
        .contains("not an environment variable name"));
    assert!(error_at(&errs, "fleet.node_id")
        .message
        .contains("not a valid node id"));
    assert!(error_at(&errs, "fleet.key_prefix")
        .message
        .contains("not a valid key prefix"));
    let e = error_at(&errs, "fleet.sync_interval");
    assert!(
        e.message
            .contains("1ms is too short: must be at least 10ms"),
        "{e:?}"
    );
    assert_eq!(e.line, Some(line_of(&text, "sync_interval")));
    assert!(error_at(&errs, "fleet.timeout")
        .message
        .contains("too short"));
    assert!(error_at(&errs, "fleet.when_unreachable")
        .message
        .contains("expected \"full-quota\""));
    assert!(error_at(&errs, "fleet.redis_port")
        .message
        .contains("unknown key `redis_port`"));
    assert_eq!(errs.len(), 8, "{errs:#?}");
}

#[test]
fn a_fleet_needs_a_url_one_password_source_and_a_timeout_within_the_interval() {
    let text = format!("{BASE}\n[fleet]\nnode_id = \"a\"\n");
    let errs = errors(&text);
    let e = error_at(&errs, "fleet");
    assert!(
        e.message.starts_with("redis_url is required in [fleet]"),
        "{e:?}"
    );
    assert_eq!(e.line, Some(line_of(&text, "[fleet]")));

    let errs = errors(&format!(
        "{BASE}\n[fleet]\nredis_url = \"redis://h\"\npassword_env = \"A\"\npassword_file = \"x\"\n"
    ));
    assert!(error_at(&errs, "fleet.password_file")
        .message
        .contains("not both"));
    let errs = errors(&format!(
        "{BASE}\n[fleet]\nredis_url = \"redis://h\"\npassword_file = \"no-such-file\"\n"
    ));
    assert!(error_at(&errs, "fleet.password_file")
        .message
        .contains("cannot read"));

    let errs = errors(&format!(
        "{BASE}\n[fleet]\nredis_url = \"redis://h\"\nsync_interval = \"20ms\"\ntimeout = \"30ms\"\n"
    ));
    assert!(error_at(&errs, "fleet.timeout")
        .message
        .contains("timeout 30ms is longer than sync_interval 20ms"));
    // The default timeout (25 ms) is blamed on the interval that is set.
    let errs = errors(&format!(
        "{BASE}\n[fleet]\nredis_url = \"redis://h\"\nsync_interval = \"10ms\"\n"
    ));
    assert!(error_at(&errs, "fleet.sync_interval")
        .message
        .contains("(the default) is longer than sync_interval 10ms"));
    let errs = errors(&format!(
        "{BASE}\n[fleet]\nredis_url = \"redis://h\"\nsync_interval = \"1m\"\n"
    ));
    assert!(error_at(&errs, "fleet.sync_interval")
        .message
        .contains("must be at most 10s"));
    let errs = errors(&format!("{BASE}\n[fleet]\nredis_url = \"memcached://h\"\n"));
    assert!(error_at(&errs, "fleet.redis_url")
        .message
        .contains("unsupported scheme"));
}
