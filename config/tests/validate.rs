//! End-to-end validation tests: examples, collected errors with key paths and lines,
//! defaults, and robustness against arbitrary input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use edge_config::{
    parse, summary, validate, Config, ConfigError, TenantId, TenantSource, UnknownTenant,
};
use proptest::prelude::*;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Minimal valid text around which tests vary one thing. Uses the example certificate.
const BASE: &str = r#"
[listeners]
https = ["127.0.0.1:8443"]

[[tls.certificates]]
cert = "certs/edge.pem"
key = "certs/edge.key"

[tenancy]
sources = [{ kind = "header", name = "X-Tenant-Id" }]

[[geographies]]
name = "eu"

[[regions]]
name = "northeurope"
geography = "eu"
origins = [{ address = "127.0.0.1:9101" }]
"#;

fn check(text: &str) -> Result<Config, Vec<ConfigError>> {
    parse(text, "test.toml", &examples_dir()).map_err(|e| e.0)
}

fn ok(text: &str) -> Config {
    match check(text) {
        Ok(c) => c,
        Err(errors) => panic!("expected a valid config, got:\n{errors:#?}"),
    }
}

fn errors(text: &str) -> Vec<ConfigError> {
    match check(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

/// The single error at `key`, failing with the full list when there is not exactly one.
fn error_at<'e>(errors: &'e [ConfigError], key: &str) -> &'e ConfigError {
    let found: Vec<_> = errors.iter().filter(|e| e.key == key).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one error at {key}, got:\n{errors:#?}"
    );
    found[0]
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
        + 1
}

#[test]
fn every_example_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            seen += 1;
            if let Err(e) = edge_config::load(&path) {
                panic!("{} does not validate:\n{e}", path.display());
            }
            // The file structs also describe the format as a whole.
            let text = std::fs::read_to_string(&path).unwrap();
            toml::from_str::<edge_config::file::ConfigFile>(&text).unwrap();
        }
    }
    assert!(seen >= 2);
}

#[test]
fn full_example_model() {
    let config = edge_config::load(&examples_dir().join("edge.toml")).unwrap();
    assert_eq!(config.server.threads.get(), 2);
    assert_eq!(config.listeners.https, ["127.0.0.1:8443".parse().unwrap()]);
    assert_eq!(
        config.listeners.admin,
        Some("127.0.0.1:9901".parse().unwrap())
    );
    assert_eq!(config.tls.certificates.len(), 1);
    assert!(config.tls.certificates[0].cert.ends_with("certs/edge.pem"));
    assert!(config.tls.certificates[0].cert.is_file());
    assert_eq!(
        config.tenancy.sources,
        [
            TenantSource::Host {
                prefix: String::new(),
                suffix: ".app.example.com".into()
            },
            TenantSource::Header {
                name: "x-tenant-id".into()
            },
            TenantSource::Path {
                prefix: "/t/".into()
            },
            TenantSource::JwtClaim {
                claim: "tid".into()
            },
        ]
    );
    assert_eq!(config.tenancy.unknown, UnknownTenant::Reject);
    // 3 inline + 5 from tenants.csv.
    assert_eq!(config.tenants.by_id.len(), 8);
    let t =
        &config.tenants.by_id[&TenantId::parse("4cb17e0c-4fad-4f90-8f94-03428f94daf8").unwrap()];
    assert_eq!(t.geography.as_str(), "na");
    assert_eq!(t.plan.as_ref().map(|p| p.as_str()), Some("premium"));

    let names: Vec<_> = config.regions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["northeurope", "westeurope", "eastus", "westus"]);
    let ne = &config.regions[0];
    assert_eq!(ne.priority.get(), 1);
    assert_eq!(ne.origins.len(), 2);
    assert_eq!(ne.origins[1].weight, 50);
    assert_eq!(ne.origins[1].host.as_deref(), Some("northeurope.internal"));
    assert_eq!(ne.origins[0].sni, "127.0.0.1");
    let ports: Vec<u16> = config
        .regions
        .iter()
        .map(|r| r.origins[0].socket_addr.port())
        .collect();
    assert_eq!(ports, [9101, 9102, 9103, 9104]);
    assert!(config.geographies[1].fail_open);
}

#[test]
fn minimal_example_defaults() {
    let config = edge_config::load(&examples_dir().join("minimal.toml")).unwrap();
    assert_eq!(config.server.threads, validate::default_threads());
    assert_eq!(config.server.grace_period, Duration::from_secs(10));
    assert!(config.listeners.http.is_empty());
    assert_eq!(config.listeners.admin, None);
    assert_eq!(config.tls.hsts_max_age, Duration::from_secs(365 * 86_400));
    assert!(!config.tls.hsts_include_subdomains);
    assert_eq!(config.tenancy.unknown, UnknownTenant::Reject);
    assert!(config.tenants.by_id.is_empty());
    assert!(!config.geographies[0].fail_open);
    let region = &config.regions[0];
    assert_eq!((region.priority.get(), region.weight), (1, 100));
    let origin = &region.origins[0];
    assert_eq!(
        (origin.weight, origin.tls, origin.host.as_deref()),
        (100, false, None)
    );
    assert_eq!(config.health, edge_config::Health::default());
    assert_eq!(config.health.path, "/healthz");
    assert_eq!(config.health.interval, Duration::from_secs(1));
    assert_eq!(config.health.timeout, Duration::from_millis(500));
    assert_eq!((config.health.rise.get(), config.health.fall.get()), (2, 2));
    assert_eq!(config.routing, edge_config::Routing::default());
    assert_eq!(config.routing.max_attempts.get(), 3);
    assert_eq!(config.routing.connect_timeout, Duration::from_secs(1));
    assert_eq!(config.routing.read_timeout, Duration::from_secs(30));
    assert_eq!(config.routing.write_timeout, Duration::from_secs(30));
    assert_eq!(config.routing.idle_timeout, Duration::from_secs(55));
    assert!(!config.routing.debug_headers);
}

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

#[test]
fn broken_config_reports_every_mistake_with_key_and_line() {
    let text = r#"
colour = "blue"

[listeners]
https = ["0.0.0.0:8443"]
http = ["127.0.0.1:8443"]

[[tls.certificates]]
cert = "certs/missing.pem"
key = "certs/edge.key"

[tenancy]
sources = [{ kind = "header", name = "x-tenant-id" }]

[[tenants]]
id = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b"
geography = "eu"

[[tenants]]
id = "3F0B1F5E-8A7C-4C57-9A53-0C1D2E3F4A5B"
geography = "eu"

[[tenants]]
id = "not-a-uuid"
geography = "eu"

[[geographies]]
name = "eu"

[[geographies]]
name = "na"

[[regions]]
name = "northeurope"
geography = "eu"
origins = [{ address = "127.0.0.1:9101" }]

[[regions]]
name = "eastus"
geography = "na"
zone = 3
origins = [{ address = "127.0.0.1:9103" }]

[[regions]]
name = "westus"
geography = "naa"
origins = [{ address = "127.0.0.1:9104" }]

[[regions]]
name = "westeurope"
geography = "eu"
origins = []
"#;
    let errs = errors(text);
    let at = |key| error_at(&errs, key);

    let e = at("colour");
    assert!(e.message.contains("unknown top-level key"), "{}", e.message);
    assert_eq!(e.line, Some(line_of(text, "colour")));

    let e = at("listeners.http[0]");
    assert!(
        e.message
            .contains("overlaps listeners.https[0] (0.0.0.0:8443)"),
        "{}",
        e.message
    );
    assert_eq!(e.line, Some(line_of(text, "http = ")));

    let e = at("tls.certificates[0].cert");
    assert!(e.message.contains("cannot read"), "{}", e.message);
    assert!(e.message.contains("certs/missing.pem"));
    assert_eq!(e.line, Some(line_of(text, "missing.pem")));

    let e = at("tenants[1].id");
    assert!(e.message.contains("duplicate tenant id"), "{}", e.message);
    assert!(e.message.contains("tenants[0]"));
    assert_eq!(e.line, Some(line_of(text, "3F0B1F5E")));

    let e = at("tenants[2].id");
    assert!(e.message.contains("not a valid tenant id"), "{}", e.message);
    assert!(e.message.contains("UUID"));
    assert_eq!(e.line, Some(line_of(text, "not-a-uuid")));

    let e = at("regions[1].zone");
    assert!(e.message.contains("unknown key `zone`"), "{}", e.message);
    assert_eq!(e.line, Some(line_of(text, "zone = 3")));

    let e = at("regions[2].geography");
    assert_eq!(
        e.message,
        r#"region "westus" names geography "naa", which is not defined (defined: eu, na)"#
    );
    assert_eq!(e.line, Some(line_of(text, "\"naa\"")));

    let e = at("regions[3].origins");
    assert!(e.message.contains("has no origins"), "{}", e.message);
    assert_eq!(e.line, Some(line_of(text, "origins = []")));

    // Region eastus did not parse, so "geography na has no regions" would be noise.
    assert_eq!(errs.len(), 8, "{errs:#?}");
    // Sorted by line.
    let lines: Vec<_> = errs.iter().map(|e| e.line.unwrap()).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
    assert!(errs.iter().all(|e| e.file == "test.toml"));

    let shown = edge_config::ConfigErrors(errs.clone()).to_string();
    assert!(shown.contains(&format!(
        "test.toml:{}: regions[1].zone: unknown key `zone`",
        line_of(text, "zone = 3")
    )));
}

#[test]
fn schema_errors_in_nested_elements_name_their_element() {
    let text = r#"
[listeners]
https = ["127.0.0.1:8443"]

[[tls.certificates]]
cert = "certs/edge.pem"

[tenancy]
sources = [
  { kind = "header", name = "x-tenant-id" },
  { kind = "hots", pattern = "{tenant}.example.com" },
  { kind = "jwt-claim", claim = "tid", issuer = "me" },
  { kind = "path" },
]

[[geographies]]
name = "eu"
fail_open = "yes"

[[regions]]
name = "northeurope"
geography = "eu"
origins = [
  { address = "127.0.0.1:9101" },
  { address = "127.0.0.1:9102", wieght = 5 },
]

[[regions]]
geography = "eu"
origins = [{ address = "127.0.0.1:9103" }]
"#;
    let errs = errors(text);
    let at = |key| error_at(&errs, key);
    let e = at("tls.certificates[0].key");
    assert!(
        e.message.contains("missing required key `key`"),
        "{}",
        e.message
    );
    assert_eq!(e.line, Some(line_of(text, "[[tls.certificates]]")));

    let e = at("tenancy.sources[1].kind");
    assert!(e.message.contains("unknown value `hots`"), "{}", e.message);
    assert_eq!(e.line, Some(line_of(text, "hots")));
    let e = at("tenancy.sources[2].issuer");
    assert_eq!(e.line, Some(line_of(text, "issuer")));
    let e = at("tenancy.sources[3].prefix");
    assert!(
        e.message.contains("missing required key `prefix`"),
        "{}",
        e.message
    );
    assert_eq!(e.line, Some(line_of(text, "kind = \"path\"")));

    let e = at("geographies[0].fail_open");
    assert!(e.message.contains("expected a boolean"), "{}", e.message);

    let e = at("regions[0].origins[1].wieght");
    assert_eq!(e.line, Some(line_of(text, "wieght")));
    let e = at("regions[1].name");
    assert!(e.message.contains("missing required key `name`"));
    assert_eq!(errs.len(), 7, "{errs:#?}");
}

#[test]
fn semantic_checks() {
    let text = r#"
[listeners]
https = ["127.0.0.1:8443", "localhost:8443"]
http = ["[::]:8080", "127.0.0.1:8080"]
admin = "127.0.0.1:8443"

[[tls.certificates]]
cert = "certs/edge.key"
key = "certs/edge.pem"

[tenancy]
sources = [
  { kind = "host", pattern = "app.example.com" },
  { kind = "host", pattern = "{tenant}.{tenant}.example.com" },
  { kind = "host", pattern = "https://{tenant}.example.com" },
  { kind = "header", name = "x tenant" },
  { kind = "path", prefix = "t/{tenant}" },
  { kind = "path", prefix = "/t/{tenant}/x" },
  { kind = "jwt-claim", claim = "" },
]
unknown = "nearest"

[[tenants]]
id = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b"
geography = "mars"
plan = "Gold"

[[geographies]]
name = "EU"

[[geographies]]
name = "eu"

[[geographies]]
name = "eu"

[[geographies]]
name = "na"

[[geographies]]
name = "ap"

[[regions]]
name = "AP"
geography = "ap"
origins = [{ address = "127.0.0.1:9109" }]

[[regions]]
name = "north europe"
geography = "eu"
priority = 0
weight = 1001
origins = [
  { address = "127.0.0.1" },
  { address = "::1:80" },
  { address = "127.0.0.1:0" },
  { address = "does-not-exist.invalid:80" },
  { address = "127.0.0.1:9101", weight = -1, sni = "" },
]

[[regions]]
name = "westeurope"
geography = "eu"
origins = [{ address = "[::1]:9102", tls = true }]

[[regions]]
name = "westeurope"
geography = "eu"
origins = [{ address = "127.0.0.1:9103" }]
"#;
    let errs = errors(text);
    let msg = |key| error_at(&errs, key).message.clone();
    let has = |key, part: &str| {
        let m = msg(key);
        assert!(m.contains(part), "{key}: {m:?} does not contain {part:?}");
    };
    has("listeners.https[1]", "not a listen address");
    has("listeners.http[1]", "wildcard");
    has("listeners.admin", "the same address is listed twice");
    has("tls.certificates[0].cert", "no PEM CERTIFICATE");
    has("tls.certificates[0].key", "no private key");
    has("tenancy.sources[0].pattern", "exactly once (found 0)");
    has("tenancy.sources[1].pattern", "exactly once (found 2)");
    has("tenancy.sources[2].pattern", "no scheme, port or path");
    has("tenancy.sources[3].name", "not a valid HTTP header name");
    has("tenancy.sources[4].prefix", "must start with '/'");
    has("tenancy.sources[5].prefix", "must end with {tenant}");
    has("tenancy.sources[6].claim", "must not be empty");
    has(
        "tenancy.unknown",
        "not supported yet (planned: route by client location)",
    );
    has(
        "tenants[0].geography",
        "which is not defined (defined: ap, eu, na)",
    );
    has("tenants[0].plan", "not a valid plan name");
    has("geographies[0].name", "not a valid geography name");
    has(
        "geographies[2].name",
        "defined twice (first at geographies[1])",
    );
    has("geographies[3].name", "geography \"na\" has no regions");
    // A region with a bad name still counts as a region of "ap".
    has("regions[0].name", "not a valid region name");
    has("regions[1].name", "not a valid region name");
    has("regions[1].priority", "at least 1");
    has("regions[1].weight", "0 to 1000");
    has("regions[1].origins[0].address", "is not host:port");
    has("regions[1].origins[1].address", "needs brackets");
    has("regions[1].origins[2].address", "from 1 to 65535");
    has("regions[1].origins[3].address", "cannot resolve");
    has("regions[1].origins[4].weight", "0 to 1000");
    has("regions[1].origins[4].sni", "not a valid server name");
    has("regions[3].name", "defined twice (first at regions[2])");
    assert_eq!(errs.len(), 29, "{errs:#?}");
}

#[test]
fn listeners_and_certificates_are_required() {
    let text = BASE
        .replace("https = [\"127.0.0.1:8443\"]", "admin = \"127.0.0.1:9901\"")
        .replace(
            "[[tls.certificates]]\ncert = \"certs/edge.pem\"\nkey = \"certs/edge.key\"",
            "",
        );
    let errs = errors(&text);
    error_at(&errs, "listeners.https");
    assert_eq!(errs.len(), 1, "{errs:#?}");

    let text = BASE.replace(
        "[[tls.certificates]]\ncert = \"certs/edge.pem\"\nkey = \"certs/edge.key\"",
        "",
    );
    let errs = errors(&text);
    assert!(error_at(&errs, "tls.certificates")
        .message
        .contains("at least one certificate"));

    let errs = errors("");
    error_at(&errs, "listeners.https");
    error_at(&errs, "tenancy.sources");
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn listener_overlap_rules() {
    let with = |https: &str, http: &str| {
        BASE.replace(
            "https = [\"127.0.0.1:8443\"]",
            &format!("https = [{https}]\nhttp = [{http}]"),
        )
    };
    // Different ports, different addresses on one port, and port 0 never overlap.
    ok(&with(r#""127.0.0.1:8443""#, r#""127.0.0.1:8080""#));
    ok(&with(r#""127.0.0.1:8443", "127.0.0.2:8443""#, ""));
    ok(&with(r#""0.0.0.0:0""#, r#""0.0.0.0:0""#));
    let c = ok(&with(r#""[::1]:8443""#, ""));
    assert_eq!(
        c.listeners.https,
        ["[::1]:8443".parse::<SocketAddr>().unwrap()]
    );
    // [::] overlaps IPv4 too.
    let errs = errors(&with(r#""[::]:8443""#, r#""10.1.2.3:8443""#));
    error_at(&errs, "listeners.http[0]");
    let errs = errors(&with(r#""127.0.0.1:8443", "127.0.0.1:8443""#, ""));
    error_at(&errs, "listeners.https[1]");
}

#[test]
fn syntax_error_is_reported_alone_with_its_line() {
    let text = "[listeners]\nhttps = [\"127.0.0.1:8443\"\n\n[tenancy]\nsources = 3\nbogus = 1\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].key, "");
    assert!(
        errs[0].line.is_some_and(|l| (2..=4).contains(&l)),
        "{errs:?}"
    );
    assert!(errs[0].message.starts_with("invalid TOML"));

    let errs = errors("a = 1\na = 2\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, Some(2));
}

#[test]
fn wrong_shapes_are_schema_errors() {
    let text = "server = 1\nregions = 2\ngeographies = [1]\n[tenancy]\nsources = \"host\"\n";
    let errs = errors(text);
    assert!(error_at(&errs, "server")
        .message
        .contains("expected a table"));
    assert!(error_at(&errs, "regions")
        .message
        .contains("expected an array"));
    assert!(error_at(&errs, "geographies[0]")
        .message
        .contains("expected a table"));
    assert!(error_at(&errs, "tenancy.sources")
        .message
        .contains("expected an array"));
    error_at(&errs, "listeners.https");
    assert_eq!(errs.len(), 5, "{errs:#?}");
}

#[test]
fn tenant_file_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["edge.pem", "edge.key"] {
        std::fs::copy(examples_dir().join("certs").join(f), dir.path().join(f)).unwrap();
    }
    let csv = "id,geography\n3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b,eu\n\n# ok\nnope,eu\n3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b,eu\n";
    std::fs::write(dir.path().join("t.csv"), csv).unwrap();
    let config = BASE
        .replace("certs/", "")
        .replace("[tenancy]", "[tenancy]\nfile = \"t.csv\"");
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, &config).unwrap();
    let errs = edge_config::load(&path).unwrap_err().0;
    assert_eq!(errs.len(), 2, "{errs:#?}");
    let file = dir.path().join("t.csv").display().to_string();
    assert!(errs.iter().all(|e| e.file == file && e.key.is_empty()));
    assert_eq!(errs[0].line, Some(5));
    assert!(errs[0].message.contains("not a valid tenant id"));
    assert_eq!(errs[1].line, Some(6));
    assert!(errs[1].message.contains("duplicate tenant id"));

    std::fs::remove_file(dir.path().join("t.csv")).unwrap();
    let errs = edge_config::load(&path).unwrap_err().0;
    let e = error_at(&errs, "tenancy.file");
    assert!(e.message.contains("cannot read tenant file"));
    assert_eq!(e.line, Some(line_of(&config, "file = ")));
}

#[test]
fn missing_config_file() {
    let errs = edge_config::load(Path::new("/nonexistent/edge.toml"))
        .unwrap_err()
        .0;
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].file, "/nonexistent/edge.toml");
    assert!(errs[0].message.contains("cannot read"));
}

#[test]
fn summary_describes_the_topology() {
    let config = edge_config::load(&examples_dir().join("edge.toml")).unwrap();
    let s = summary(&config);
    for part in [
        "https 127.0.0.1:8443",
        "http 127.0.0.1:8080",
        "admin 127.0.0.1:9901",
        "tenants: 8",
        "geography eu (fail closed, 4 tenants)",
        "geography na (fail open, 4 tenants)",
        "region northeurope priority 1 weight 100: 2 origin(s): 127.0.0.1:9101, 127.0.0.1:9105 (weight 50, host northeurope.internal)",
        "region westus priority 2 weight 100: 1 origin(s): 127.0.0.1:9104",
        "host {tenant}.app.example.com",
        "HSTS max-age 365d",
        "health: GET /healthz every 1s, timeout 500ms, rise 2, fall 2",
    ] {
        assert!(s.contains(part), "summary lacks {part:?}:\n{s}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = parse(&text, "fuzz.toml", Path::new("/nonexistent"));
    }

    #[test]
    fn parse_never_panics_on_toml_like_text(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("[listeners]".to_owned()),
                Just("[[regions]]".to_owned()),
                Just("[[geographies]]".to_owned()),
                Just("[tenancy]".to_owned()),
                Just("[[tls.certificates]]".to_owned()),
                Just("[health]".to_owned()),
                "[a-z_]{1,12} = \"[a-z0-9{}:./ -]{0,20}\"",
                "[a-z_]{1,12} = -?[0-9]{1,12}",
                "[a-z_]{1,12} = \\[\\{ [a-z]{1,8} = \"[a-z0-9.:]{0,12}\" \\}\\]",
                "\\PC{0,30}",
            ],
            0..30,
        )
    ) {
        let text = lines.join("\n");
        let _ = parse(&text, "fuzz.toml", Path::new("/nonexistent"));
    }
}
