//! `cargo xtask profile [ARGS]`: instructions and heap allocations per request, the gateway
//! against the bare Pingora pass-through, under valgrind.
//!
//! Installs what is missing (valgrind, h2load, nginx for the backend), builds
//!
//! - the release gateway and bare pass-through (`target/release/`): callgrind runs these. The
//!   release profile keeps line tables (`debug = "line-tables-only"`), which is all callgrind
//!   needs to name functions, so no separate profiling profile is needed and the counted code
//!   is exactly the shipped code;
//! - the same two with the C library's allocator (`target/dhat/<host>/release/`, see
//!   `libc_alloc.c`): DHAT runs these, since it only sees `malloc` & co.;
//!
//! then runs `edge-loadtest profile` with ARGS (see `edge-loadtest profile --help`: requests,
//! protocols, access-log variants, more gateway builds to count). Output:
//! `loadtests/out/profile/` (`profile.md`, `profile.json`, the callgrind and DHAT files).
//! `--tools callgrind` skips the DHAT build and runs.

use std::path::PathBuf;
use std::process::Command;

use crate::build::{self, FlaggedBuild};
use crate::{ensure, run, workspace_root, Prerequisite, BUILD};

const PROFILE: &[Prerequisite] = &[
    Prerequisite {
        program: "valgrind",
        version_arg: "--version",
        package: "valgrind",
        why: "instructions (callgrind) and allocations (DHAT) are counted under valgrind",
    },
    Prerequisite {
        program: "h2load",
        version_arg: "--version",
        package: "nghttp2-client",
        why: "h2load sends the fixed number of requests",
    },
    Prerequisite {
        program: "nginx",
        version_arg: "-v",
        package: "nginx",
        why: "the backend behind both proxies is an nginx answering 100 bytes",
    },
];

/// The mimalloc entry points the Rust global allocator calls (mimalloc crate 0.1).
const WRAPPED: [&str; 4] = [
    "mi_malloc_aligned",
    "mi_zalloc_aligned",
    "mi_realloc_aligned",
    "mi_free",
];

/// Runs `cargo xtask profile ARGS`.
pub fn profile(args: &[String]) -> Result<(), String> {
    ensure(BUILD)?;
    ensure(PROFILE)?;
    let release = build::release(&[])?;
    let dhat = wants_dhat(args);
    let dhat_dir = if dhat { Some(dhat_build()?) } else { None };
    let loadtest = build::loadtest()?;

    let mut c = Command::new(loadtest);
    c.arg("profile")
        .arg("--gateway-bin")
        .arg(release.join("edge-gateway"))
        .arg("--bare-bin")
        .arg(release.join("examples").join("bare_passthrough"));
    if let Some(d) = &dhat_dir {
        c.arg("--gateway-dhat-bin")
            .arg(d.join("edge-gateway"))
            .arg("--bare-dhat-bin")
            .arg(d.join("examples").join("bare_passthrough"));
    }
    if !args.iter().any(|a| a == "--out" || a.starts_with("--out=")) {
        c.arg("--out").arg(
            workspace_root()
                .join("loadtests")
                .join("out")
                .join("profile"),
        );
    }
    c.args(args);
    eprintln!("xtask: == profile ==");
    run(c)
}

/// False when `--tools` leaves DHAT out.
fn wants_dhat(args: &[String]) -> bool {
    let mut tools = None;
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--tools=") {
            tools = Some(v.to_owned());
        } else if a == "--tools" {
            tools = args.get(i + 1).cloned();
        }
    }
    tools.is_none_or(|t| t.split(',').any(|x| x.trim() == "dhat"))
}

/// The gateway and the bare pass-through with every mimalloc call sent to the C library's
/// allocator; returns their release directory.
fn dhat_build() -> Result<PathBuf, String> {
    let mut b = FlaggedBuild {
        name: "dhat",
        rustflags: Vec::new(),
        targets: &["--bin", "edge-gateway", "--example", "bare_passthrough"],
        extra: &[],
    };
    let shim = build::c_object(&b.dir(), "libc_alloc", include_str!("libc_alloc.c"))?;
    for f in WRAPPED {
        b.rustflags.push(format!("-Clink-arg=-Wl,--wrap={f}"));
    }
    b.rustflags.push(format!("-Clink-arg={}", shim.display()));
    b.build()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn dhat_is_skipped_only_when_the_tools_leave_it_out() {
        assert!(wants_dhat(&args(&[])));
        assert!(wants_dhat(&args(&["--tools", "callgrind,dhat"])));
        assert!(!wants_dhat(&args(&["--tools", "callgrind"])));
        assert!(!wants_dhat(&args(&[
            "--requests",
            "10",
            "--tools=callgrind"
        ])));
    }
}
