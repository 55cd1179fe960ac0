//! The command line: `check` like `nginx -t`, `--version`, `--help`.

use std::path::PathBuf;

use edge_tests::gateway::run_cli;

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("config")
        .join("examples")
}

#[test]
fn check_accepts_every_example_config() {
    let mut seen = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            seen += 1;
            let out = run_cli(&["check", "--config", path.to_str().unwrap()]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}: {}{}",
                path.display(),
                stdout,
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(stdout.contains("is valid"), "{stdout}");
        }
    }
    assert!(seen >= 2, "expected example configs in config/examples");
}

#[test]
fn check_lists_every_error_with_key_and_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        r#"[listeners]
https = ["127.0.0.1:8443", "127.0.0.1:8443"]

[[tls.certificates]]
cert = "missing.pem"
key = "missing.key"

[tenancy]
sources = [{ kind = "header", name = "x-tenant-id" }]

[[tenants]]
id = "not-a-uuid"
geography = "eu"

[[geographies]]
name = "eu"

[[regions]]
name = "westus"
geography = "naa"
origins = []
colour = "blue"
"#,
    )
    .unwrap();
    let out = run_cli(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "listeners.https[1]",
        "tls.certificates[0].cert",
        "tenants[0].id",
        "regions[0]",
        "colour",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    // Every error line names the file and a line number.
    let located = err
        .lines()
        .filter(|l| l.starts_with(path.to_str().unwrap()))
        .filter(|l| l[path.to_str().unwrap().len()..].starts_with(':'))
        .count();
    assert!(located >= 4, "errors without file:line in:\n{err}");
    assert!(err.contains("configuration is invalid"), "{err}");
}

#[test]
fn run_refuses_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "this is not toml = = =").unwrap();
    let out = run_cli(&["run", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to start"));
}

#[test]
fn version_and_help() {
    let out = run_cli(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("edge-gateway "));
    let out = run_cli(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "check", "demo"] {
        assert!(help.contains(cmd), "{help}");
    }
}
