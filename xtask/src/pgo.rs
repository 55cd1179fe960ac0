//! `cargo xtask pgo [--no-default-features] [--locked]`: a profile-guided release build of
//! the gateway.
//!
//! 1. Builds the gateway instrumented (`-Cprofile-generate`) in `target/pgo-gen/`.
//! 2. Trains it with the load-test harness: the `steady` scenario (TLS HTTP/1.1 and h2, many
//!    tenants), `churn` (a new TLS connection per request), `region-outage` (a failover, with
//!    POSTs), each in its short form, then `compare` against the benchmark config (tenant
//!    lookup, one rate-limit plan, geo) in TLS keep-alive, h2 and churn modes. The gateway
//!    writes its counts when it exits (the harness stops it with a signal, not SIGKILL).
//! 3. Merges the counts with `llvm-profdata-19` (Debian package `llvm-19`; rustc 1.95 writes
//!    LLVM 22 profiles, which Debian 12's `llvm-profdata-14` cannot read, while version 19
//!    can), into `target/pgo-gen/merged.profdata`.
//! 4. Rebuilds with `-Cprofile-use` in `target/pgo-use/` and copies the binary to
//!    `target/pgo/edge-gateway`. The plain release build (`target/release/`) is untouched.
//!
//! Measure the gain in one run against the plain build: `loadtests/compare.sh
//! --candidate-bin target/pgo/edge-gateway --candidate-label PGO`, and
//! `cargo xtask profile --tools callgrind --extra-gateway pgo=target/pgo/edge-gateway`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::build::{self, FlaggedBuild};
use crate::{ensure, step, target_dir, Prerequisite, BUILD};

const PGO: &[Prerequisite] = &[
    Prerequisite {
        program: "llvm-profdata-19",
        version_arg: "--version",
        package: "llvm-19",
        why: "merges the training profiles (Debian 12's llvm-profdata-14 cannot read rustc 1.95's)",
    },
    Prerequisite {
        program: "nginx",
        version_arg: "-v",
        package: "nginx",
        why: "the backend of the compare training run",
    },
    Prerequisite {
        program: "wrk",
        version_arg: "-v",
        package: "wrk",
        why: "the compare training run's HTTP/1.1 load",
    },
    Prerequisite {
        program: "h2load",
        version_arg: "--version",
        package: "nghttp2-client",
        why: "the compare training run's h2 load",
    },
];

/// The scenarios that train the instrumented gateway, each in its `--short` form.
const SCENARIOS: [&str; 3] = ["steady", "churn", "region-outage"];

/// Runs `cargo xtask pgo ARGS`.
pub fn pgo(args: &[String]) -> Result<(), String> {
    let extra: Vec<String> = args
        .iter()
        .filter(|a| matches!(a.as_str(), "--no-default-features" | "--locked"))
        .cloned()
        .collect();
    if let Some(a) = args.iter().find(|a| !extra.contains(a)) {
        return Err(format!(
            "pgo: unknown argument {a:?} (accepted: --no-default-features, --locked)"
        ));
    }
    ensure(BUILD)?;
    ensure(PGO)?;

    // 1. Instrumented build.
    let gen_dir = target_dir().join("pgo-gen");
    let raw = gen_dir.join("profraw");
    let _ = std::fs::remove_dir_all(&raw);
    std::fs::create_dir_all(&raw).map_err(|e| format!("cannot create {}: {e}", raw.display()))?;
    let instrumented = FlaggedBuild {
        name: "pgo-gen",
        rustflags: vec![format!("-Cprofile-generate={}", raw.display())],
        targets: &["--bin", "edge-gateway"],
        extra: &extra,
    }
    .build()?
    .join("edge-gateway");

    // 2. Training.
    let loadtest = build::loadtest()?;
    train(&loadtest, &instrumented, &gen_dir.join("training"))?;

    // 3. Merge.
    let profiles: Vec<PathBuf> = std::fs::read_dir(&raw)
        .map_err(|e| format!("cannot read {}: {e}", raw.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "profraw"))
        .collect();
    if profiles.is_empty() {
        return Err(format!(
            "the instrumented gateway wrote no profile into {} (it writes one when it exits \
             normally; was it killed?)",
            raw.display()
        ));
    }
    let merged = gen_dir.join("merged.profdata");
    step(&format!("merge {} profiles", profiles.len()), {
        let mut c = Command::new("llvm-profdata-19");
        c.arg("merge").arg("-o").arg(&merged).args(&profiles);
        c
    })?;

    // 4. Optimised build.
    let built = FlaggedBuild {
        name: "pgo-use",
        rustflags: vec![format!("-Cprofile-use={}", merged.display())],
        targets: &["--bin", "edge-gateway"],
        extra: &extra,
    }
    .build()?
    .join("edge-gateway");
    let out = target_dir().join("pgo");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let dest = out.join("edge-gateway");
    std::fs::copy(&built, &dest)
        .map_err(|e| format!("cannot copy {} to {}: {e}", built.display(), dest.display()))?;
    eprintln!(
        "xtask: PGO build: {}\n\
         xtask: compare it with the plain release build in one run:\n  \
         loadtests/compare.sh --candidate-bin {} --candidate-label PGO\n  \
         cargo xtask profile --tools callgrind --extra-gateway pgo={}",
        dest.display(),
        dest.display(),
        dest.display()
    );
    Ok(())
}

/// Runs the training workloads against `gateway`; the harness's own checks may fail under an
/// instrumented (slower) build without spoiling the profile, a setup error may not.
fn train(loadtest: &Path, gateway: &Path, out: &Path) -> Result<(), String> {
    for s in SCENARIOS {
        let mut c = Command::new(loadtest);
        c.args(["run", s, "--short", "--quiet", "--gateway-bin"])
            .arg(gateway)
            .arg("--out")
            .arg(out);
        training_step(&format!("training: {s}"), c)?;
    }
    let mut c = Command::new(loadtest);
    c.args(["compare", "--targets", "gateway", "--modes", "tls,h2,churn"])
        .args(["--rounds", "1", "--seconds", "3", "--gateway-bin"])
        .arg(gateway)
        .arg("--out")
        .arg(out);
    training_step("training: compare", c)
}

/// Exit code 1 is a failed check (acceptable for training), anything else a failure.
fn training_step(name: &str, mut cmd: Command) -> Result<(), String> {
    eprintln!("xtask: == {name} ==");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(1) => {
            eprintln!("xtask: {name}: a check failed; the run still trained the gateway");
            Ok(())
        }
        _ => Err(format!("{name}: {cmd:?} exited with {status}")),
    }
}
