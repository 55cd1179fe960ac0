//! End-to-end validation tests: examples, collected errors with key paths and lines,
//! defaults, and robustness against arbitrary input.
//!
//! One test binary, one file per area; a section's file is named like the
//! `src/validate/` file that checks it:
//!
//! - `examples`: the shipped example files validate, and what they build.
//! - `reporting`: every problem is reported at once, with its key path and line: syntax,
//!   shape (schema) and semantic errors across sections, and an unreadable file.
//! - `values`: durations and integer ranges, over several sections.
//! - `listeners`, `tenancy`, `topology`, `health`, `limits`, `client`, `dns`, `edge`: the keys
//!   of those sections, their defaults and their errors.
//! - `fleet`: `[fleet]`, the Redis the replicas share.
//! - `summary`: the summary `edge-gateway check` prints.
//! - `arbitrary_input`: no text makes parsing panic.
//!
//! Most tests vary one thing in [`BASE`]. Run one area with e.g.
//! `cargo test -p edge-config --test validate limits::`.

// clippy.toml allows panics in #[test] functions only; `ok`, `errors` and `line_of` below
// are helpers that fail the calling test by panicking.
#![allow(clippy::panic)]

mod access_log;
mod arbitrary_input;
mod client;
mod dns;
mod edge;
mod examples;
mod fleet;
mod health;
mod limits;
mod listeners;
mod reporting;
mod summary;
mod tenancy;
mod topology;
mod values;

use std::path::{Path, PathBuf};

use edge_config::{parse, Config, ConfigError, CountryCode};

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

/// `[geo]` with the example demo database (relative to the examples directory).
const GEO: &str = "\n[geo]\ndatabase = \"geo-demo.mmdb\"\n";

/// BASE with `unknown = "nearest"`, `default_geography = "eu"` and `[geo]`.
fn nearest_base() -> String {
    BASE.replace(
        "[tenancy]\n",
        "[tenancy]\nunknown = \"nearest\"\ndefault_geography = \"eu\"\n",
    ) + GEO
}

/// The codes as text.
fn codes(list: &[CountryCode]) -> Vec<&str> {
    list.iter().map(CountryCode::as_str).collect()
}

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
