//! The measurements: a warm-up, then rounds in which every target gets the same load in
//! turn (A B C A B C …), each run charged with the CPU its proxy spent and the upstream
//! connections it opened.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::confs::Ports;
use super::fleet::Fleet;
use super::model::{round1, Mode, Proxy, Sample};
use super::procs::tree_ticks;
use super::tools::Driver;

/// The backend's accepted-connections counter (nginx `stub_status`).
fn backend_accepts(status: SocketAddr) -> Option<u64> {
    let mut s = TcpStream::connect_timeout(&status, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /status HTTP/1.0\r\nHost: status\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    // "... server accepts handled requests\n 12 12 40 \n..."
    let line = text.lines().skip_while(|l| !l.contains("accepts")).nth(1)?;
    line.split_whitespace().next()?.parse().ok()
}

/// What the rounds run.
pub(super) struct Schedule<'a> {
    pub(super) modes: &'a [Mode],
    pub(super) rounds: usize,
    pub(super) seconds: u64,
}

/// Measures one run on top of the load tool's numbers.
pub(super) struct Meter<'a> {
    pub(super) driver: &'a Driver<'a>,
    pub(super) fleet: &'a Fleet,
    pub(super) ports: &'a Ports,
    /// Clock ticks per second of the CPU times.
    pub(super) ticks_per_s: f64,
}

impl Meter<'_> {
    /// One run of `mode` through `proxy`, with its CPU time per request and upstream
    /// connections per 1,000 requests.
    fn measure(
        &self,
        mode: Mode,
        proxy: Proxy,
        addr: SocketAddr,
        secs: u64,
    ) -> Result<Sample, String> {
        let pid = self.fleet.pid(proxy);
        let status = self.ports.backend_status;
        let accepts0 = backend_accepts(status);
        let ticks0 = tree_ticks(pid);
        let result = self.driver.run(mode, addr, secs);
        let ticks1 = tree_ticks(pid);
        let accepts1 = backend_accepts(status);
        let mut s = result?;
        if s.requests > 0 {
            let cpu_s = ticks1.saturating_sub(ticks0) as f64 / self.ticks_per_s;
            s.cpu_us_per_req = Some(round1(cpu_s * 1e6 / s.requests as f64));
            if let (Some(a0), Some(a1)) = (accepts0, accepts1) {
                // The status request itself is one accepted connection.
                let opened = a1.saturating_sub(a0).saturating_sub(1);
                s.upstream_conns_per_1k = Some(round1(opened as f64 * 1000.0 / s.requests as f64));
            }
        }
        Ok(s)
    }
}

/// Every (mode, target) pair to run; the gateway has no plain listener.
fn pairs(modes: &[Mode], ports: &Ports, targets: &[Proxy]) -> Vec<(Mode, Proxy)> {
    modes
        .iter()
        .flat_map(|&m| Proxy::ALL.into_iter().map(move |p| (m, p)))
        .filter(|&(m, p)| targets.contains(&p) && ports.of(p, m).is_some())
        .collect()
}

/// Runs the warm-up and the rounds; returns every sample by (mode, target). A target whose
/// runs all failed has an empty list.
pub(super) fn run(
    schedule: &Schedule<'_>,
    meter: &Meter<'_>,
    targets: &[Proxy],
) -> BTreeMap<(Mode, Proxy), Vec<Sample>> {
    let ports = meter.ports;
    let plan = pairs(schedule.modes, ports, targets);

    // Warm-up: one short run each (connection pools, caches), not recorded.
    eprintln!("compare: warm-up ({} runs of 1 s)", plan.len());
    for &(mode, proxy) in &plan {
        if let Some(addr) = ports.of(proxy, mode) {
            let _ = meter.driver.run(mode, addr, 1);
        }
    }

    let mut samples: BTreeMap<(Mode, Proxy), Vec<Sample>> = BTreeMap::new();
    let total = plan.len() * schedule.rounds;
    let mut n = 0;
    for round in 1..=schedule.rounds {
        for &mode in schedule.modes {
            // A B C A B C …: every target once per mode per round, in the same order.
            for &(m, proxy) in plan.iter().filter(|(m, _)| *m == mode) {
                let Some(addr) = ports.of(proxy, m) else {
                    continue;
                };
                n += 1;
                match meter.measure(m, proxy, addr, schedule.seconds) {
                    Ok(s) => {
                        eprintln!(
                            "compare [{n}/{total}] round {round} {:<6} {:<18} {:>9.0} req/s  cpu {:>6} µs/req  upstream conns/1k {:>6}  errors {}",
                            m.name(),
                            proxy.label(),
                            s.rps,
                            s.cpu_us_per_req.map_or("-".into(), |x| format!("{x:.1}")),
                            s.upstream_conns_per_1k.map_or("-".into(), |x| format!("{x:.1}")),
                            s.errors
                        );
                        samples.entry((m, proxy)).or_default().push(s);
                    }
                    Err(e) => {
                        eprintln!("compare [{n}/{total}] {} {}: {e}", m.name(), proxy.label());
                        samples.entry((m, proxy)).or_default();
                    }
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
    samples
}
