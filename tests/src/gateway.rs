//! The gateway under test, as a child process.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a gateway may take to open its listeners.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// The `edge-gateway` binary: `$EDGE_GATEWAY_BIN` (what `cargo xtask test` sets after
/// building it), else next to the test executable (`target/<profile>/edge-gateway`), brought
/// up to date with `cargo build` once per test process so a stale binary is never tested.
pub fn gateway_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(locate_or_build).clone()
}

fn locate_or_build() -> PathBuf {
    if let Some(p) = std::env::var_os("EDGE_GATEWAY_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test-exe> -> target/<profile>/edge-gateway
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test exe under target/<profile>/deps");
    let bin = profile_dir.join("edge-gateway");
    {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "--package",
            "edge-gateway",
            "--bin",
            "edge-gateway",
        ]);
        // Without the variables cargo sets for this test binary: build scripts that watch
        // them (ring's watches `CARGO_MANIFEST_DIR`) would see them change between this build
        // and the outer one, and each would rebuild half the tree.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let set_for_tests = [
                "CARGO_PKG_",
                "CARGO_BIN_",
                "CARGO_CRATE_",
                "CARGO_MANIFEST_",
            ]
            .iter()
            .any(|p| name.starts_with(p))
                || matches!(
                    &*name,
                    "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "OUT_DIR"
                );
            if set_for_tests {
                build.env_remove(&*name);
            }
        }
        let status = build.status().expect("run cargo build for edge-gateway");
        assert!(status.success(), "building edge-gateway failed");
    }
    bin
}

/// A running gateway; killed (by PID) when dropped.
pub struct GatewayProcess {
    child: Child,
    /// The HTTPS listener.
    pub https: SocketAddr,
    log: PathBuf,
}

impl GatewayProcess {
    /// Starts `edge-gateway run --config <config>` and waits until `https` accepts
    /// connections (the process's own readiness signal: its listening socket).
    pub fn start(config: &Path, https: SocketAddr) -> GatewayProcess {
        Self::start_with(config, https, &[])
    }

    /// Like [`GatewayProcess::start`], with extra arguments after `run --config FILE`.
    pub fn start_with(config: &Path, https: SocketAddr, extra: &[&str]) -> GatewayProcess {
        Self::start_full(config, https, extra, &[])
    }

    /// Like [`GatewayProcess::start`], with extra arguments and environment variables.
    pub fn start_full(
        config: &Path,
        https: SocketAddr,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> GatewayProcess {
        let dir = config.parent().expect("config in a directory");
        let log = dir.join(format!("gateway-{}-{}.log", https.port(), unique()));
        let out = File::create(&log).expect("create gateway log");
        let err = out.try_clone().expect("clone log handle");
        let child = Command::new(gateway_bin())
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(extra)
            .env("RUST_LOG", "info,pingora_core=warn,pingora_proxy=warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn edge-gateway");
        let mut gw = GatewayProcess { child, https, log };
        // The admin listener is a service of its own that may open a moment after the HTTPS
        // one: a test that talks to it right away waits for both.
        let admin = edge_config::load(config)
            .ok()
            .and_then(|c| c.listeners.admin);
        gw.wait_listening(https);
        if let Some(admin) = admin {
            gw.wait_listening(admin);
        }
        gw
    }

    fn wait_listening(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                panic!(
                    "edge-gateway exited before listening ({status}):\n{}",
                    self.log_text()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "edge-gateway did not listen on {} within {START_DEADLINE:?}:\n{}",
                addr,
                self.log_text()
            );
            // Polling a socket for readiness: the process offers no other signal.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's resident memory, in KiB (`VmRSS` from `/proc`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// Everything the gateway logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` to the gateway.
    pub fn signal(&self, signal: i32) {
        // SAFETY-free: kill(2) through libc is a plain syscall on our own child's PID.
        let rc = unsafe_kill(self.child.id(), signal);
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.child.id());
    }

    /// Waits for the process to exit, up to `timeout`; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Sends `signal` to process `pid` (a child the test started); panics if it cannot.
pub fn send_signal(pid: u32, signal: i32) {
    assert_eq!(unsafe_kill(pid, signal), 0, "kill({pid}, {signal}) failed");
}

#[allow(unsafe_code)]
fn unsafe_kill(pid: u32, signal: i32) -> i32 {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, signal) }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `edge-gateway <args>` to completion (for `check`, `--version`, ...).
pub fn run_cli(args: &[&str]) -> Output {
    Command::new(gateway_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run edge-gateway")
}
