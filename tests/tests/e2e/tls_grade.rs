//! TLS grade: `sslyze --mozilla_config=intermediate` against the gateway (TLS 1.2/1.3 only,
//! forward-secret AEAD suites, full chain, short-lived certificate) exits 0.
//!
//! sslyze comes from PyPI into a private virtualenv: `$EDGE_SSLYZE` when set (what
//! `cargo xtask test` prepares), else `target/sslyze-venv`, created on first use.

use std::path::PathBuf;
use std::process::Command;

use edge_tests::{GatewayProcess, Topology};

fn sslyze() -> PathBuf {
    if let Some(p) = std::env::var_os("EDGE_SSLYZE") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/sslyze-venv");
    let bin = venv.join("bin/sslyze");
    if !bin.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap()
            .success();
        assert!(ok, "python3 -m venv failed");
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "sslyze"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "pip install sslyze failed");
    }
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_configuration_meets_mozilla_intermediate() {
    let topo = Topology::standard().await;
    let _gw = GatewayProcess::start(&topo.write_config(), topo.https);
    let ca = topo.dir.path().join("ca.pem");
    std::fs::write(&ca, topo.pki.ca_pem()).unwrap();
    let target = format!("localhost:{}", topo.https.port());
    let tool = sslyze();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(tool)
            .args(["--mozilla_config=intermediate", "--certinfo_ca_file"])
            .arg(&ca)
            .arg(&target)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sslyze: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("OK - Compliant"), "{text}");
    // And the details that matter, as sslyze saw them.
    for refused in ["SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1"] {
        let line = text
            .lines()
            .skip_while(|l| !l.contains(&format!("{refused} Cipher Suites")))
            .nth(1)
            .unwrap_or_default();
        assert!(
            line.contains("rejected all cipher suites"),
            "{refused}: {line}"
        );
    }
}
