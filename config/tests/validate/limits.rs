//! `[limits]` and `[rate_limits]`: documented defaults, exact values, errors at their keys,
//! schema shapes, and plan references from tenants (inline and in the tenant file).

use std::time::Duration;

use edge_config::{validate, BodyLimit, Limits, RateLimits};

use crate::{error_at, errors, examples_dir, line_of, ok, BASE};

#[test]
fn absent_or_empty_limits_take_the_documented_defaults() {
    for text in [BASE.to_owned(), format!("{BASE}\n[limits]\n")] {
        let l = ok(&text).limits;
        assert_eq!(l, Limits::default());
        assert_eq!(l.max_connections.get(), 10_000);
        assert_eq!(l.tls_handshake_timeout, Duration::from_secs(10));
        assert_eq!(l.request_header_timeout, Duration::from_secs(10));
        assert_eq!(l.idle_timeout, Duration::from_secs(60));
        assert_eq!(l.max_uri_bytes, 8192);
        assert_eq!(l.max_header_bytes, 32_768);
        assert_eq!(l.max_headers, 100);
        assert_eq!(l.max_body_bytes, 10_485_760);
        assert_eq!(l.h2_max_concurrent_streams.get(), 100);
        assert_eq!(l.keepalive_requests.get(), 10_000);
        assert!(l.routes.is_empty());
        assert_eq!(l.max_body_bytes_for("/upload"), 10_485_760);
    }
    assert_eq!(
        Limits::default().max_body_bytes,
        validate::DEFAULT_MAX_BODY_BYTES
    );
}

#[test]
fn a_full_limits_section_takes_exact_values() {
    let text = format!(
        r#"{BASE}
[limits]
max_connections = 1000000
tls_handshake_timeout = "2s"
request_header_timeout = "500ms"
idle_timeout = "5m"
max_uri_bytes = 64
max_header_bytes = 1048575
max_headers = 256
max_body_bytes = 0
h2_max_concurrent_streams = 10000
h2_max_reset_streams = 0
keepalive_requests = 4294967295

[[limits.routes]]
path_prefix = "/"
max_body_bytes = 1024

[[limits.routes]]
path_prefix = "/upload"
max_body_bytes = 104857600

[[limits.routes]]
path_prefix = "/upload/big/"
max_body_bytes = 9223372036854775807

[[limits.routes]]
path_prefix = "/upload/"
max_body_bytes = 0
"#
    );
    let l = ok(&text).limits;
    let route = |prefix: &str, bytes: u64| BodyLimit {
        path_prefix: prefix.into(),
        max_body_bytes: bytes,
    };
    let max = u64::try_from(i64::MAX).unwrap();
    assert_eq!(
        l,
        Limits {
            max_connections: 1_000_000.try_into().unwrap(),
            tls_handshake_timeout: Duration::from_secs(2),
            request_header_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(300),
            max_uri_bytes: 64,
            max_header_bytes: 1_048_575,
            max_headers: 256,
            max_body_bytes: 0,
            h2_max_concurrent_streams: 10_000.try_into().unwrap(),
            h2_max_reset_streams: 0,
            keepalive_requests: u32::MAX.try_into().unwrap(),
            // Longest prefix first.
            routes: vec![
                route("/upload/big/", max),
                route("/upload/", 0),
                route("/upload", 104_857_600),
                route("/", 1024),
            ],
        }
    );
    for (path, expected) in [
        ("/upload", 104_857_600),
        ("/upload?resumable=1", 104_857_600),
        ("/upload/", 0),
        ("/upload/x", 0),
        ("/upload/big", 0),
        ("/upload/big/1", max),
        ("/uploads", 1024),
        ("/", 1024),
        // Not a path: only the global limit applies.
        ("*", 0),
    ] {
        assert_eq!(l.max_body_bytes_for(path), expected, "{path:?}");
    }
}

#[test]
fn bad_limits_are_all_reported_at_their_keys() {
    let text = format!(
        r#"{BASE}
[limits]
max_connections = 0
tls_handshake_timeout = "0s"
request_header_timeout = "soon"
idle_timeout = 60
max_uri_bytes = 63
max_header_bytes = 1048576
max_headers = 257
max_body_bytes = -1
h2_max_concurrent_streams = 10001
h2_max_reset_streams = 100001
keepalive_requests = 0
max_body_size = 5

[[limits.routes]]
path_prefix = "/upload"
max_body_bytes = 1

[[limits.routes]]
path_prefix = "upload"
max_body_bytes = 1

[[limits.routes]]
path_prefix = "/upload"
max_body_bytes = 2

[[limits.routes]]
path_prefix = "/big"
max_body_bytes = -5

[[limits.routes]]
path_prefix = "/x"
max_body_bytes = 1
methods = ["POST"]

[[limits.routes]]
path_prefix = "/y"
"#
    );
    let errs = errors(&text);
    let has = |key, part: &str, line_needle: &str| {
        let e = error_at(&errs, key);
        assert!(
            e.message.contains(part),
            "{key}: {:?} lacks {part:?}",
            e.message
        );
        assert_eq!(e.line, Some(line_of(&text, line_needle)), "{key}: {e:?}");
    };
    has(
        "limits.max_connections",
        "0 is out of range: expected 1 to 1000000",
        "max_connections",
    );
    has(
        "limits.tls_handshake_timeout",
        "must be greater than 0",
        "tls_handshake_timeout",
    );
    has(
        "limits.request_header_timeout",
        "\"soon\" is not a duration",
        "request_header_timeout",
    );
    has(
        "limits.idle_timeout",
        "expected a duration string",
        "idle_timeout",
    );
    has(
        "limits.max_uri_bytes",
        "63 is out of range: expected 64 to 1048575",
        "max_uri_bytes",
    );
    has(
        "limits.max_header_bytes",
        "1048576 is out of range: expected 1024 to 1048575",
        "max_header_bytes",
    );
    has(
        "limits.max_headers",
        "257 is out of range: expected 1 to 256",
        "max_headers",
    );
    has(
        "limits.max_body_bytes",
        "-1 is out of range: expected at least 0",
        "max_body_bytes = -1",
    );
    has(
        "limits.h2_max_concurrent_streams",
        "10001 is out of range: expected 1 to 10000",
        "h2_max_concurrent_streams",
    );
    has(
        "limits.h2_max_reset_streams",
        "100001 is out of range: expected 0 to 100000",
        "h2_max_reset_streams",
    );
    has(
        "limits.keepalive_requests",
        "0 is out of range: expected at least 1",
        "keepalive_requests",
    );
    has(
        "limits.max_body_size",
        "unknown key `max_body_size`",
        "max_body_size",
    );
    has(
        "limits.routes[1].path_prefix",
        "\"upload\" is not a path prefix: it must start with '/'",
        "\"upload\"",
    );
    let e = error_at(&errs, "limits.routes[2].path_prefix");
    assert_eq!(
        e.message,
        "\"/upload\" is listed twice (first at limits.routes[0]); keep one"
    );
    // The second `path_prefix = "/upload"` line.
    let second = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "path_prefix = \"/upload\"")
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert_eq!(e.line, Some(second));
    has(
        "limits.routes[3].max_body_bytes",
        "-5 is out of range: expected at least 0",
        "max_body_bytes = -5",
    );
    has(
        "limits.routes[4].methods",
        "unknown key `methods`",
        "methods",
    );
    let e = error_at(&errs, "limits.routes[5].max_body_bytes");
    assert!(
        e.message.contains("missing required key `max_body_bytes`"),
        "{e:?}"
    );
    assert_eq!(e.line, Some(line_of(&text, "path_prefix = \"/y\"") - 1));
    assert_eq!(errs.len(), 17, "{errs:#?}");
    // Sorted by line, every one in this file.
    let lines: Vec<_> = errs.iter().map(|e| e.line.unwrap()).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn limits_schema_shapes_and_upper_bounds() {
    let errs = errors(&format!(
        "{BASE}\n[limits]\nroutes = {{ path_prefix = \"/\" }}\n"
    ));
    assert!(error_at(&errs, "limits.routes")
        .message
        .contains("expected an array, e.g. [[limits.routes]]"));
    assert_eq!(errs.len(), 1, "{errs:#?}");

    let errs = errors(&format!("limits = 5\n{BASE}"));
    assert!(error_at(&errs, "limits")
        .message
        .contains("expected a table, e.g. [limits]"));
    assert_eq!(errs.len(), 1, "{errs:#?}");

    // A count past u32 says what the bound is, rather than "at least 1".
    let errs = errors(&format!(
        "{BASE}\n[limits]\nkeepalive_requests = 4294967296\n"
    ));
    assert_eq!(
        error_at(&errs, "limits.keepalive_requests").message,
        "4294967296 is out of range: expected at most 4294967295"
    );

    // A route may allow no body; "/a" and "/a/" are different prefixes.
    let l = ok(&format!(
        "{BASE}\n[[limits.routes]]\npath_prefix = \"/a\"\nmax_body_bytes = 0\n\n\
         [[limits.routes]]\npath_prefix = \"/a/\"\nmax_body_bytes = 7\n"
    ))
    .limits;
    assert_eq!(l.max_body_bytes_for("/a"), 0);
    assert_eq!(l.max_body_bytes_for("/a/b"), 7);
    assert_eq!(
        l.max_body_bytes_for("/ab"),
        validate::DEFAULT_MAX_BODY_BYTES
    );
}

#[test]
fn empty_rate_limits_table_takes_defaults() {
    let c = ok(&format!(
        "{BASE}
[rate_limits]
"
    ));
    let l = c.rate_limits.unwrap();
    assert_eq!(l, RateLimits::default());
    assert!(l.plans.is_empty() && l.default_plan.is_none() && l.per_client.is_none());
    assert!(l.tenant_overrides.is_empty() && l.routes.is_empty());
    assert!(l.send_headers);
    assert_eq!(l.max_tracked_clients.get(), 1_000_000);
    assert_eq!(l.idle_eviction, Duration::from_secs(60));
}

#[test]
fn bad_rate_limits_are_reported_at_their_keys() {
    let text = format!(
        r#"{BASE}
[rate_limits]
default_plan = "Gold"
max_tracked_clients = 0
idle_eviction = "0s"
send_headers = "yes"

[rate_limits.plans.standard]
rps = 0
burst = -5

[rate_limits.plans."Big Plan"]
rps = 10

[rate_limits.plans.nobody]
burst = 10

[rate_limits.plans.flat]
rps = 1
bursts = 2

[rate_limits.per_client]
rps = 4294967296

[[rate_limits.tenant_overrides]]
tenant = "not-a-uuid"
rps = 1

[[rate_limits.tenant_overrides]]
tenant = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b"
rps = 1

[[rate_limits.tenant_overrides]]
tenant = "3F0B1F5E-8A7C-4C57-9A53-0C1D2E3F4A5B"
rps = 2

[[rate_limits.tenant_overrides]]
rps = 2

[[rate_limits.routes]]
path_prefix = "api"
methods = []
rps = 1

[[rate_limits.routes]]
path_prefix = "/api"
methods = ["GET"]
rps = 1

[[rate_limits.routes]]
path_prefix = "/api"
methods = ["POST", "get"]
rps = 1

[[rate_limits.routes]]
path_prefix = "/api"
methods = ["HEAD", "G E T"]
rps = 1
"#
    );
    let errs = errors(&text);
    let has = |key, part: &str, line_needle: &str| {
        let e = error_at(&errs, key);
        assert!(
            e.message.contains(part),
            "{key}: {:?} lacks {part:?}",
            e.message
        );
        assert_eq!(e.line, Some(line_of(&text, line_needle)), "{key}: {e:?}");
    };
    has(
        "rate_limits.default_plan",
        "\"Gold\" is not a valid plan name",
        "default_plan",
    );
    has(
        "rate_limits.max_tracked_clients",
        "expected at least 1",
        "max_tracked_clients",
    );
    has(
        "rate_limits.idle_eviction",
        "greater than 0",
        "idle_eviction",
    );
    has(
        "rate_limits.send_headers",
        "expected a boolean",
        "send_headers",
    );
    has(
        "rate_limits.plans.standard.rps",
        "0 is out of range: expected at least 1",
        "rps = 0",
    );
    has(
        "rate_limits.plans.standard.burst",
        "expected at least 1",
        "burst = -5",
    );
    has(
        "rate_limits.plans.\"Big Plan\"",
        "not a valid plan name",
        "Big Plan",
    );
    has(
        "rate_limits.plans.nobody.rps",
        "missing required key `rps`",
        "plans.nobody",
    );
    has(
        "rate_limits.plans.flat.bursts",
        "unknown key `bursts`",
        "bursts",
    );
    has(
        "rate_limits.per_client.rps",
        "expected at most 4294967295",
        "4294967296",
    );
    has(
        "rate_limits.tenant_overrides[0].tenant",
        "not a valid tenant id",
        "not-a-uuid",
    );
    has(
        "rate_limits.tenant_overrides[2].tenant",
        "already has an override at rate_limits.tenant_overrides[1]",
        "3F0B1F5E",
    );
    let e = error_at(&errs, "rate_limits.tenant_overrides[3].tenant");
    assert!(e.message.contains("missing required key `tenant`"));
    has(
        "rate_limits.routes[0].path_prefix",
        "must start with '/'",
        "\"api\"",
    );
    has(
        "rate_limits.routes[0].methods",
        "must not be empty",
        "methods = []",
    );
    let e = error_at(&errs, "rate_limits.routes[2].path_prefix");
    assert!(
        e.message
            .contains("\"/api\" with these methods overlaps rate_limits.routes[1]"),
        "{}",
        e.message
    );
    assert_eq!(e.line, Some(line_of(&text, "[\"POST\", \"get\"]") - 1));
    has(
        "rate_limits.routes[3].methods[1]",
        "is not an HTTP method",
        "G E T",
    );
    assert_eq!(errs.len(), 17, "{errs:#?}");
}

#[test]
fn rate_limit_plan_references_are_checked() {
    const T1: &str = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b";
    const T2: &str = "9d6c2a4e-1b3f-4e5a-8c7d-0f1e2d3c4b5a";
    let tenants = format!(
        "[[tenants]]\nid = \"{T1}\"\ngeography = \"eu\"\nplan = \"standard\"\n\n\
         [[tenants]]\nid = \"{T2}\"\ngeography = \"eu\"\nplan = \"gold\"\n"
    );
    // Without [rate_limits], plans are not checked.
    let c = ok(&format!("{BASE}\n{tenants}"));
    assert_eq!(c.rate_limits, None);

    let text = format!(
        "{BASE}\n{tenants}\n[rate_limits]\ndefault_plan = \"free\"\n\n\
         [rate_limits.plans.standard]\nrps = 10\n\n[rate_limits.plans.premium]\nrps = 100\n"
    );
    let errs = errors(&text);
    let e = error_at(&errs, "rate_limits.default_plan");
    assert_eq!(
        e.message,
        "default_plan \"free\" is not a defined plan (defined: premium, standard); add \
         [rate_limits.plans.free] with rps = ..."
    );
    assert_eq!(e.line, Some(line_of(&text, "default_plan")));
    let e = error_at(&errs, "tenants[1].plan");
    assert_eq!(
        e.message,
        format!(
            "tenant {T2} names plan \"gold\", which is not defined in [rate_limits.plans] \
             (defined: premium, standard)"
        )
    );
    assert_eq!(e.line, Some(line_of(&text, "plan = \"gold\"")));
    assert_eq!(errs.len(), 2, "{errs:#?}");

    // An empty [rate_limits] defines no plans: any plan is unknown.
    let errs = errors(&format!("{BASE}\n{tenants}\n[rate_limits]\n"));
    assert!(error_at(&errs, "tenants[0].plan")
        .message
        .contains("(defined: none)"));
    assert_eq!(errs.len(), 2, "{errs:#?}");

    // When a plan did not parse, references are not checked (that would be noise).
    let errs = errors(&format!(
        "{BASE}\n{tenants}\n[rate_limits]\ndefault_plan = \"gold\"\n[rate_limits.plans.standard]\nrsp = 1\n"
    ));
    assert!(
        errs.iter()
            .all(|e| e.key.starts_with("rate_limits.plans.standard")),
        "{errs:#?}"
    );

    // A plan whose quota is wrong is still a defined plan.
    let errs = errors(&format!(
        "{BASE}\n{tenants}\n[rate_limits]\n[rate_limits.plans.standard]\nrps = 0\n[rate_limits.plans.gold]\nrps = 1\n"
    ));
    error_at(&errs, "rate_limits.plans.standard.rps");
    assert_eq!(errs.len(), 1, "{errs:#?}");
}

#[test]
fn tenant_file_plans_must_be_defined_when_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["edge.pem", "edge.key"] {
        std::fs::copy(examples_dir().join("certs").join(f), dir.path().join(f)).unwrap();
    }
    let mut csv =
        String::from("id,geography,plan\n3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b,eu,standard\n");
    for i in 0..150u128 {
        csv.push_str(&format!("{},eu,gold\n", uuid::Uuid::from_u128(i + 1)));
    }
    std::fs::write(dir.path().join("t.csv"), csv).unwrap();
    let config = format!(
        "{}\n[rate_limits]\n[rate_limits.plans.standard]\nrps = 5\n",
        BASE.replace("certs/", "")
            .replace("[tenancy]", "[tenancy]\nfile = \"t.csv\"")
    );
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, &config).unwrap();
    let errs = edge_config::load(&path).unwrap_err().0;
    let file = dir.path().join("t.csv").display().to_string();
    assert!(errs.iter().all(|e| e.file == file && e.key.is_empty()));
    // The first 100 with their lines, then a count.
    assert_eq!(errs.len(), 101, "{errs:#?}");
    assert_eq!(errs[0].line, Some(3));
    assert!(
        errs[0].message.ends_with(
            "names plan \"gold\", which is not defined in [rate_limits.plans] (defined: standard)"
        ),
        "{}",
        errs[0].message
    );
    assert_eq!(errs[99].line, Some(102));
    assert!(
        errs[100].message.starts_with("50 more errors"),
        "{}",
        errs[100].message
    );
}

#[test]
fn rate_limits_schema_shapes() {
    let text = format!(
        "{BASE}\n[rate_limits]\nplans = 3\nper_client = \"fast\"\nroutes = {{ rps = 1 }}\ntenant_overrides = [1]\n"
    );
    let errs = errors(&text);
    assert!(error_at(&errs, "rate_limits.plans")
        .message
        .contains("expected a table"));
    assert!(error_at(&errs, "rate_limits.per_client")
        .message
        .contains("expected a table"));
    assert!(error_at(&errs, "rate_limits.routes")
        .message
        .contains("expected an array"));
    assert!(error_at(&errs, "rate_limits.tenant_overrides[0]")
        .message
        .contains("expected a table"));
    assert_eq!(errs.len(), 4, "{errs:#?}");

    let errs = errors(&format!("{BASE}\n[rate_limits.plans]\nstandard = 50\n"));
    let e = error_at(&errs, "rate_limits.plans.standard");
    assert!(
        e.message
            .contains("expected a table, e.g. { rps = 50, burst = 10 }"),
        "{}",
        e.message
    );

    let errs = errors(&format!("rate_limits = 1\nclient_ip = []\n{BASE}"));
    error_at(&errs, "rate_limits");
    error_at(&errs, "client_ip");
    assert_eq!(errs.len(), 2, "{errs:#?}");
}
