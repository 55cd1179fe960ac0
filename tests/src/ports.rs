//! Ports for the gateway's listeners: a process-wide registry instead of bind-release-reuse.
//!
//! The gateway is a child process that binds its own listeners, so a test has to choose their
//! ports before it starts. Binding port 0 and releasing it (the old way) hands out a port from
//! the kernel's ephemeral range, where any outgoing connection of the same machine, or the
//! next `bind(0)` of another test running in parallel, can take it before the gateway binds
//! it: the gateway then fails to start ("address in use") or a client reaches a stranger.
//!
//! [`free_port`] instead:
//!
//! - draws from a window *outside* the ephemeral range (read from
//!   `/proc/sys/net/ipv4/ip_local_port_range`; 20000-31999 with Linux's default
//!   32768-60999), so the kernel never picks these ports for an outgoing connection or a
//!   `bind(0)`;
//! - never hands out the same port twice in this process, so two tests (threads) of one test
//!   binary never share one, even after the first gateway has exited;
//! - probes each candidate with `bind()` on 127.0.0.1 and skips it if something already
//!   listens there (another program, another test process).
//!
//! Limits:
//!
//! - Between the probe and the gateway's own `bind()` the port is free: another *process* that
//!   binds explicit ports in the same window (e.g. a second test binary running at the same
//!   time) can still take it. Each process starts its walk through the window at an offset
//!   derived from its PID, so two of them rarely probe the same ports; the registry does not
//!   coordinate across processes.
//! - A process can hand out each port of the window once (about 12,000 with the default
//!   range); the test suite uses a few hundred. When the window is exhausted, [`free_port`]
//!   panics.
//! - If the ephemeral range leaves no window of at least [`MIN_WINDOW`] ports, the preferred
//!   window is used anyway: the probe still applies, but the kernel may then also pick those
//!   ports for outgoing connections.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::sync::{Mutex, OnceLock};

/// Where test ports come from when the ephemeral range allows it.
const PREFERRED: RangeInclusive<u16> = 20_000..=31_999;
/// The smallest window worth using.
pub const MIN_WINDOW: u32 = 1_000;
/// Linux's default ephemeral range, when `/proc` cannot be read.
const DEFAULT_EPHEMERAL: RangeInclusive<u16> = 32_768..=60_999;

/// A free TCP address on 127.0.0.1 for a listener the gateway will bind: see the module doc.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()))
}

/// A TCP port that is free on 127.0.0.1 now, outside the ephemeral range, and that this
/// process has not handed out before: see the module doc.
pub fn free_port() -> u16 {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    let mut registry = REGISTRY
        .get_or_init(|| {
            let window = window_outside(&ephemeral_range());
            Mutex::new(Registry::new(window, std::process::id()))
        })
        .lock()
        // A panic while holding the lock cannot leave the registry inconsistent: `issued`
        // is only ever added to.
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registry
        .issue(|port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok())
        .unwrap_or_else(|| {
            panic!(
                "no free port left in {:?}: {} handed out by this process, the rest in use",
                registry.window,
                registry.issued.len()
            )
        })
}

/// The kernel's ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`).
pub fn ephemeral_range() -> RangeInclusive<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| parse_range(&text))
        .unwrap_or(DEFAULT_EPHEMERAL)
}

fn parse_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut parts = text.split_whitespace().map(str::parse::<u16>);
    let (low, high) = (parts.next()?.ok()?, parts.next()?.ok()?);
    (low <= high).then_some(low..=high)
}

/// The ports to hand out: [`PREFERRED`] minus `ephemeral`, if that leaves at least
/// [`MIN_WINDOW`] ports; else the larger of the unprivileged ports below and above
/// `ephemeral`, if large enough; else [`PREFERRED`] (see the module doc's limits).
fn window_outside(ephemeral: &RangeInclusive<u16>) -> RangeInclusive<u16> {
    let (e_low, e_high) = (*ephemeral.start(), *ephemeral.end());
    let (p_low, p_high) = (*PREFERRED.start(), *PREFERRED.end());
    let len = |r: &RangeInclusive<u16>| u32::from(*r.end()) + 1 - u32::from(*r.start());
    let mut candidates = Vec::new();
    // Within the preferred window: the part below the ephemeral range, then the part above.
    if e_low > p_low {
        candidates.push(p_low..=p_high.min(e_low - 1));
    }
    if e_high < p_high {
        candidates.push(p_low.max(e_high + 1)..=p_high);
    }
    if let Some(best) = candidates
        .into_iter()
        .filter(|r| r.start() <= r.end() && len(r) >= MIN_WINDOW)
        .max_by_key(len)
    {
        return best;
    }
    // Outside the preferred window: everything unprivileged below or above.
    let mut outside = Vec::new();
    if e_low > 1_024 {
        outside.push(1_024..=e_low - 1);
    }
    if e_high < u16::MAX {
        outside.push(e_high + 1..=u16::MAX);
    }
    outside
        .into_iter()
        .filter(|r| len(r) >= MIN_WINDOW)
        .max_by_key(len)
        .unwrap_or(PREFERRED)
}

/// The process's ports: a cursor walking the window, and every port handed out so far.
struct Registry {
    window: RangeInclusive<u16>,
    next: u16,
    issued: HashSet<u16>,
}

impl Registry {
    /// A registry over `window` whose walk starts at an offset derived from `seed` (the PID),
    /// so that concurrent test processes start in different places.
    fn new(window: RangeInclusive<u16>, seed: u32) -> Registry {
        let span = u32::from(*window.end()) - u32::from(*window.start()) + 1;
        // 7919 is prime: consecutive PIDs land far apart in the window.
        let offset = (u64::from(seed) * 7_919 % u64::from(span)) as u16;
        Registry {
            next: *window.start() + offset,
            window,
            issued: HashSet::new(),
        }
    }

    /// The next port of the walk that was never issued and that `is_free` accepts; `None`
    /// once every port of the window was issued or refused.
    fn issue(&mut self, is_free: impl Fn(u16) -> bool) -> Option<u16> {
        let span = usize::from(*self.window.end() - *self.window.start()) + 1;
        for _ in 0..span {
            let port = self.next;
            self.next = if port == *self.window.end() {
                *self.window.start()
            } else {
                port + 1
            };
            if !self.issued.contains(&port) && is_free(port) {
                self.issued.insert(port);
                return Some(port);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_avoids_the_ephemeral_range() {
        // Linux's default: the whole preferred window is below it.
        assert_eq!(window_outside(&(32_768..=60_999)), 20_000..=31_999);
        // A range that starts inside the preferred window clips it.
        assert_eq!(window_outside(&(28_000..=60_999)), 20_000..=27_999);
        // A range that covers it moves the window out of it, to the larger side.
        assert_eq!(window_outside(&(15_000..=40_000)), 40_001..=65_535);
        assert_eq!(window_outside(&(10_000..=62_000)), 1_024..=9_999);
        // Nothing large enough outside: the preferred window, with the probe only.
        assert_eq!(window_outside(&(1_024..=65_000)), PREFERRED);
    }

    #[test]
    fn the_proc_file_is_parsed() {
        assert_eq!(parse_range("32768\t60999\n"), Some(32_768..=60_999));
        assert_eq!(parse_range("garbage"), None);
        assert_eq!(parse_range("5 4"), None);
    }

    #[test]
    fn a_port_is_never_issued_twice_and_busy_ports_are_skipped() {
        let mut r = Registry::new(100..=109, 3);
        let busy = [101, 105];
        let mut seen: Vec<u16> = (0..8)
            .map(|_| r.issue(|p| !busy.contains(&p)).unwrap())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, [100, 102, 103, 104, 106, 107, 108, 109]);
        // Every port not busy was issued: the next call finds none.
        assert_eq!(r.issue(|p| !busy.contains(&p)), None);
    }

    #[test]
    fn free_port_is_outside_the_ephemeral_range_and_unique() {
        let ephemeral = ephemeral_range();
        let ports: HashSet<u16> = (0..50).map(|_| free_port()).collect();
        assert_eq!(ports.len(), 50);
        assert!(ports.iter().all(|p| !ephemeral.contains(p)), "{ports:?}");
    }
}
