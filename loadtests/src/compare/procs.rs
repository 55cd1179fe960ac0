//! The processes of a comparison, read through `/proc`: started and stopped by PID, the CPU
//! time of a process and its descendants, and the machine they all run on.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process this harness started; stopped by PID (TERM, then KILL for it and its children).
pub(crate) struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    pub(crate) fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Proc, String> {
        let out = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot duplicate a file handle: {e}"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// TERM, then KILL after 10 s (the gateway's graceful stop takes its 1 s grace period
    /// and then some; an instrumented build writes its profile on the way out).
    pub(crate) fn stop(&mut self) {
        self.stop_within(Duration::from_secs(10));
    }

    /// TERM, then KILL after `grace` (a process under valgrind writes its profile when it
    /// exits, which takes a while); returns whether it exited on its own.
    pub(crate) fn stop_within(&mut self, grace: Duration) -> bool {
        if !self.alive() {
            return true;
        }
        let pid = self.pid();
        let children = descendants(pid);
        signal(pid, "TERM");
        let deadline = Instant::now() + grace;
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let exited = !self.alive();
        if !exited {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Workers of a master process that did not take them down.
        for c in children {
            if Path::new(&format!("/proc/{c}")).exists() {
                signal(c, "KILL");
            }
        }
        exited
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `SIG<sig>` to `pid` with kill(1): a process this harness started, by PID.
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// What `/proc/PID/stat` says about a process (times in clock ticks, all its threads).
#[derive(Debug, Clone, Copy, Default)]
struct Stat {
    ppid: u32,
    utime: u64,
    stime: u64,
    /// User + system time of its children that it has waited for.
    children: u64,
}

fn proc_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
    let n = |i: usize| -> Option<u64> { f.get(i)?.parse().ok() };
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        utime: n(11)?,
        stime: n(12)?,
        children: n(13)? + n(14)?,
    })
}

/// Every descendant of `root` (children, grandchildren, …).
fn descendants(root: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| proc_stat(pid).map(|s| (pid, s.ppid)))
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    // Bounded by the number of processes.
    while let Some(p) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == p && !out.contains(&pid) && out.len() < parents.len() {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

/// CPU time of a process tree, and how often its threads were switched out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Usage {
    /// User time, clock ticks.
    pub(super) user: u64,
    /// System time (system calls, and the interrupts and softirqs that ran while it was on
    /// the CPU), clock ticks.
    pub(super) system: u64,
    /// Context switches (voluntary: it waited; involuntary: it was preempted) of its live
    /// threads.
    pub(super) switches: u64,
}

impl Usage {
    /// `self - before`, field by field (0 when a counter went backwards: a thread exited).
    pub(super) fn since(self, before: Usage) -> Usage {
        Usage {
            user: self.user.saturating_sub(before.user),
            system: self.system.saturating_sub(before.system),
            switches: self.switches.saturating_sub(before.switches),
        }
    }
}

/// Voluntary + involuntary context switches of every thread of `pid`.
fn switches(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// CPU time and context switches of `root` and its descendants.
pub(super) fn tree_usage(root: u32) -> Usage {
    std::iter::once(root)
        .chain(descendants(root))
        .filter_map(|p| proc_stat(p).map(|s| (p, s)))
        .fold(Usage::default(), |acc, (p, s)| Usage {
            user: acc.user + s.utime,
            system: acc.system + s.stime,
            switches: acc.switches + switches(p),
        })
}

/// CPU ticks of the children this process has waited for: the load tools, once each run
/// has ended.
pub(super) fn reaped_children_ticks() -> u64 {
    proc_stat(std::process::id()).map_or(0, |s| s.children)
}

/// Clock ticks per second of `/proc/PID/stat` times.
pub(super) fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Waits (at most 15 s) until `addr` accepts connections.
pub(super) fn wait_port(addr: SocketAddr, proc: &mut Proc, log: &Path) -> Result<(), String> {
    wait_port_within(addr, proc, log, Duration::from_secs(15))
}

/// Waits (at most `limit`) until `addr` accepts connections; fails early if `proc` exits.
pub(crate) fn wait_port_within(
    addr: SocketAddr,
    proc: &mut Proc,
    log: &Path,
    limit: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if !proc.alive() || Instant::now() >= deadline {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!(
                "{} did not listen on {addr}; its log ({}):\n{}",
                proc.name,
                log.display(),
                tail.lines().rev().take(20).collect::<Vec<_>>().join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A short description of this machine: CPU model, cores, memory, kernel, OS.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(String::new(), |kb| {
            format!(", {:.0} GiB RAM", kb / 1_048_576.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("PRETTY_NAME="))
        .map(|l| {
            l.trim_start_matches("PRETTY_NAME=")
                .trim_matches('"')
                .to_owned()
        })
        .unwrap_or_default();
    format!("{model}, {cores} vCPUs{mem}, Linux {kernel}, {os}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn own_process_stat_reads() {
        let s = proc_stat(std::process::id()).unwrap();
        assert!(s.ppid > 0);
        let u = tree_usage(std::process::id());
        assert!(u.switches > 0, "{u:?}");
        let before = reaped_children_ticks();
        // A child that burns CPU, waited for: its time lands in this process's cutime.
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg("i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
            .status()
            .unwrap();
        assert!(status.success());
        assert!(reaped_children_ticks() > before);
    }
}
