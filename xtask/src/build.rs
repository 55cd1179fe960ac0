//! Release builds of the gateway with extra compiler flags (DHAT's allocator shim, PGO), each
//! in a target directory of its own so that the plain release build is never rebuilt or
//! overwritten by them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, run, step, target_dir};

/// The host's target triple (`rustc -vV`).
pub fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_owned())
        .ok_or_else(|| "rustc -vV names no host triple".to_owned())
}

/// A build of `-p edge-gateway` with `rustflags`, in `<target>/<name>/`.
///
/// `--target <host>` keeps the flags off build scripts and proc macros (with an explicit
/// target, cargo applies `RUSTFLAGS` to the target's code only), and the separate directory
/// keeps their artifacts apart from every other build's.
pub struct FlaggedBuild<'a> {
    /// Directory name under the target directory, e.g. `dhat`.
    pub name: &'a str,
    /// Flags for rustc.
    pub rustflags: Vec<String>,
    /// Cargo targets, e.g. `["--bin", "edge-gateway"]`.
    pub targets: &'a [&'a str],
    /// More cargo arguments (`--no-default-features`, `--locked`).
    pub extra: &'a [String],
}

impl FlaggedBuild<'_> {
    /// The build's own target directory.
    pub fn dir(&self) -> PathBuf {
        target_dir().join(self.name)
    }

    /// Where its release artifacts land.
    pub fn release_dir(&self) -> Result<PathBuf, String> {
        Ok(self.dir().join(host_triple()?).join("release"))
    }

    /// Builds; returns the release directory.
    pub fn build(&self) -> Result<PathBuf, String> {
        let host = host_triple()?;
        let mut c = cargo();
        c.args([
            "build",
            "--release",
            "--target",
            &host,
            "-p",
            "edge-gateway",
        ])
        .args(self.targets)
        .args(self.extra)
        .env("CARGO_TARGET_DIR", self.dir())
        .env("RUSTFLAGS", self.rustflags.join(" "))
        // It would take precedence over RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
        step(&format!("release build ({})", self.name), c)?;
        self.release_dir()
    }
}

/// The plain release build of the gateway and the bare pass-through (what `compare` and
/// `profile` measure).
pub fn release(extra: &[String]) -> Result<PathBuf, String> {
    let mut c = cargo();
    c.args([
        "build",
        "--release",
        "-p",
        "edge-gateway",
        "--bin",
        "edge-gateway",
        "--example",
        "bare_passthrough",
    ])
    .args(extra);
    step("release build", c)?;
    Ok(target_dir().join("release"))
}

/// The load-test harness (a debug build: the load itself comes from h2load and wrk).
pub fn loadtest() -> Result<PathBuf, String> {
    let mut c = cargo();
    c.args(["build", "-p", "edge-loadtest"]);
    step("edge-loadtest", c)?;
    Ok(target_dir().join("debug").join("edge-loadtest"))
}

/// Compiles the C file `source` (its text) to an object file in `dir`.
pub fn c_object(dir: &Path, name: &str, source: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let src = dir.join(format!("{name}.c"));
    let obj = dir.join(format!("{name}.o"));
    std::fs::write(&src, source).map_err(|e| format!("cannot write {}: {e}", src.display()))?;
    let mut c = Command::new("cc");
    c.args(["-O2", "-fPIC", "-c", "-o"]).arg(&obj).arg(&src);
    run(c)?;
    Ok(obj)
}
