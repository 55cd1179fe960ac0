//! How problems are reported: all at once, each with its key path and line, sorted by line.
//! A syntax error stops at stage 1 and is reported alone; shape (schema) errors and semantic
//! errors across sections are collected together; an unreadable file is one error.

use std::path::Path;

use crate::{error_at, errors, line_of, BASE};

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
fn a_mistyped_array_element_does_not_hide_sibling_keys() {
    let text = format!(
        "{BASE}\n[health]\nexpected_statuses = [\"200\", 2.5, \"999\"]\nhost = \"\"\n\n\
         [client_ip]\ntrusted_proxies = [\"10.0.0.0/8\", 7]\n"
    );
    let errs = errors(&text);
    let e = error_at(&errs, "health.expected_statuses[1]");
    assert_eq!(
        e.message,
        "invalid type: floating point `2.5`, expected a status code or range such as \"200\" or \
         \"200-399\""
    );
    assert_eq!(e.line, Some(line_of(&text, "2.5")));
    // The rest of [health] is still checked; the array itself is not (no "999" error).
    assert!(error_at(&errs, "health.host")
        .message
        .contains("not a valid Host header"));
    assert!(error_at(&errs, "client_ip.trusted_proxies[1]")
        .message
        .contains("expected a string"));
    assert_eq!(errs.len(), 3, "{errs:#?}");
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
        "needs a MaxMind database ([geo] with database = \"GeoLite2-Country.mmdb\") and \
         default_geography",
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
fn missing_config_file() {
    let errs = edge_config::load(Path::new("/nonexistent/edge.toml"))
        .unwrap_err()
        .0;
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].file, "/nonexistent/edge.toml");
    assert!(errs[0].message.contains("cannot read"));
}
