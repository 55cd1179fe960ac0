//! `cargo xtask`: the project's entry point.
//!
//! Why an xtask rather than a Makefile or a shell script: a fresh machine with only the Rust
//! toolchain is guaranteed to have `cargo`, not `make`; and one Rust program can check and
//! install what Pingora's build needs (`cmake` for zlib-ng, a C compiler) before the real
//! crates are compiled, with the same behaviour everywhere.
//!
//! - `cargo xtask demo [ARGS]`  runs `edge-gateway demo` (ARGS are passed on).
//! - `cargo xtask test`         runs the whole suite: the repository lints (import cycles, the
//!   module map in docs/architecture.md, doc links), fmt, clippy, unit + integration tests.
//! - `cargo xtask lint`         only the repository lints.
//! - `cargo xtask deps`         only installs missing prerequisites.
//! - `cargo xtask profile [ARGS]` instructions and allocations per request under valgrind,
//!   the gateway against the bare Pingora pass-through (`profile.rs`).
//! - `cargo xtask pgo`          a profile-guided build of the gateway in `target/pgo/`
//!   (`pgo.rs`).

mod build;
mod lint;
mod pgo;
mod profile;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// A program the build or the tests need, and the Debian package that provides it.
struct Prerequisite {
    program: &'static str,
    version_arg: &'static str,
    package: &'static str,
    why: &'static str,
}

const BUILD: &[Prerequisite] = &[
    Prerequisite {
        program: "cmake",
        version_arg: "--version",
        package: "cmake",
        why: "Pingora builds zlib-ng with CMake",
    },
    Prerequisite {
        program: "cc",
        version_arg: "--version",
        package: "build-essential",
        why: "ring and zlib-ng compile C code",
    },
];

const TEST: &[Prerequisite] = &[
    Prerequisite {
        program: "openssl",
        version_arg: "version",
        package: "openssl",
        why: "the TLS tests check that a real OpenSSL client is refused TLS 1.0/1.1",
    },
    Prerequisite {
        program: "python3",
        version_arg: "--version",
        package: "python3-venv",
        why: "the TLS grade test runs sslyze from a private virtualenv",
    },
    Prerequisite {
        program: "chromium",
        version_arg: "--version",
        package: "chromium",
        why: "the console tests drive a real headless Chromium",
    },
    Prerequisite {
        program: "chromedriver",
        version_arg: "--version",
        package: "chromium-driver",
        why: "the console tests talk WebDriver to Chromium through chromedriver",
    },
    Prerequisite {
        program: "dig",
        version_arg: "-v",
        package: "bind9-dnsutils",
        why: "the DNS tests query the responder with a real resolver client",
    },
    Prerequisite {
        program: "named-checkzone",
        version_arg: "-v",
        package: "bind9-utils",
        why: "the DNS tests check `edge-gateway dns export` with BIND's zone checker",
    },
    Prerequisite {
        program: "redis-server",
        version_arg: "--version",
        package: "redis-server",
        why: "the fleet tests share rate limits and overrides through a real Redis",
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("lint") => lints(),
        Some("deps") => ensure(BUILD).and_then(|()| ensure(TEST)),
        Some("profile") => profile::profile(&args[1..]),
        Some("pgo") => pgo::pgo(&args[1..]),
        other => {
            eprintln!(
                "usage: cargo xtask <demo [ARGS] | test [CARGO TEST ARGS] | lint | deps | profile [ARGS] | pgo>\n\
                 \n  demo     run the gateway on its embedded demo\
                 \n  test     run every check and test CI runs\
                 \n  lint     the repository lints alone (import cycles, module map, doc links)\
                 \n  deps     install missing build/test prerequisites (Debian: apt-get)\
                 \n  profile  instructions and allocations per request, gateway vs bare Pingora\
                 \n           (valgrind; ARGS: see `edge-loadtest profile --help`)\
                 \n  pgo      profile-guided build of the gateway into target/pgo/\
                 \n           ([--no-default-features] [--locked])"
            );
            match other {
                Some("help" | "--help" | "-h") => Ok(()),
                Some(cmd) => Err(format!("unknown command {cmd:?}")),
                None => Err("no command".into()),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo(args: &[String]) -> Result<(), String> {
    ensure(BUILD)?;
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--package",
        "edge-gateway",
        "--bin",
        "edge-gateway",
        "--",
        "demo",
    ]);
    cmd.args(args);
    run(cmd)
}

fn lints() -> Result<(), String> {
    eprintln!("xtask: == repository lints ==");
    let problems = lint::run(&workspace_root());
    for p in &problems {
        eprintln!("xtask: {p}");
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} repository lint problem(s)", problems.len()))
    }
}

fn test(extra: &[String]) -> Result<(), String> {
    ensure(BUILD)?;
    ensure(TEST)?;
    lints()?;
    step("formatting", {
        let mut c = cargo();
        c.args(["fmt", "--all", "--check"]);
        c
    })?;
    step("clippy", {
        let mut c = cargo();
        c.args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]);
        c
    })?;
    // Integration tests start the real binary; build it first so they don't each try to.
    step("build", {
        let mut c = cargo();
        c.args(["build", "--workspace", "--bins"]);
        c
    })?;
    let bin = target_dir().join("debug").join("edge-gateway");
    let sslyze = sslyze_venv()?;
    step("tests", {
        let mut c = cargo();
        c.args(["test", "--workspace"]);
        c.args(extra);
        c.env("EDGE_GATEWAY_BIN", &bin);
        c.env("EDGE_SSLYZE", &sslyze);
        c
    })
}

/// A private virtualenv with sslyze (from PyPI) for the TLS grade test.
fn sslyze_venv() -> Result<PathBuf, String> {
    let venv = target_dir().join("sslyze-venv");
    let bin = venv.join("bin").join("sslyze");
    if bin.exists() {
        return Ok(bin);
    }
    step("sslyze (TLS grade tool)", {
        let mut c = Command::new("python3");
        c.args(["-m", "venv"]).arg(&venv);
        c
    })?;
    step("sslyze install", {
        let mut c = Command::new(venv.join("bin").join("pip"));
        c.args(["install", "--quiet", "sslyze"]);
        c
    })?;
    Ok(bin)
}

fn step(name: &str, cmd: Command) -> Result<(), String> {
    eprintln!("xtask: == {name} ==");
    run(cmd).map_err(|e| format!("{name} failed: {e}"))
}

fn run(mut cmd: Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} exited with {status}"))
    }
}

fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn target_dir() -> PathBuf {
    if let Some(dir) = env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    workspace_root().join("target")
}

/// The workspace root. xtask lives one level below it; `cargo run` sets CARGO_MANIFEST_DIR at
/// run time, and the compile-time value is only a fallback, since a binary built from another
/// checkout sharing this target directory would point there.
fn workspace_root() -> PathBuf {
    env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Whether `p` can be run at all. Its exit status is not asked: some tools exit non-zero
/// after printing their version (`wrk -v` exits 1).
fn present(p: &Prerequisite) -> bool {
    Command::new(p.program).arg(p.version_arg).output().is_ok()
}

/// Installs whatever in `prereqs` is missing, with apt-get (as root, or through sudo).
fn ensure(prereqs: &[Prerequisite]) -> Result<(), String> {
    let missing: Vec<&Prerequisite> = prereqs.iter().filter(|p| !present(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    for p in &missing {
        eprintln!("xtask: `{}` is missing ({})", p.program, p.why);
    }
    let packages: Vec<&str> = missing.iter().map(|p| p.package).collect();
    let have_apt = Command::new("apt-get")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_apt {
        return Err(format!(
            "install these packages with your system's package manager, then retry: {}",
            packages.join(" ")
        ));
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let sudo: &[&str] = if is_root { &[] } else { &["sudo"] };
    eprintln!("xtask: installing {} with apt-get", packages.join(" "));
    let apt = |args: &[&str]| -> Result<(), String> {
        let mut full: Vec<&str> = sudo.to_vec();
        full.push("apt-get");
        full.extend_from_slice(args);
        let mut cmd = Command::new(full[0]);
        cmd.args(&full[1..])
            .env("DEBIAN_FRONTEND", "noninteractive");
        run(cmd)
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend_from_slice(&packages);
    apt(&install)?;
    match missing.iter().find(|p| !present(p)) {
        Some(p) => Err(format!("`{}` is still missing after installing", p.program)),
        None => Ok(()),
    }
}
