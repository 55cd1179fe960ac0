//! The measurements: a warm-up, then rounds in which every target gets the same load in
//! turn (A B C A B C …), each run charged with the CPU its proxy spent and the upstream
//! connections it opened.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::confs::Ports;
use super::fleet::Fleet;
use super::model::{round1, Proxy, Sample, Workload};
use super::procs::{reaped_children_ticks, tree_usage};
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
    /// Workloads, in table order.
    pub(super) workloads: &'a [Workload],
    /// The targets.
    pub(super) targets: &'a [Proxy],
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
        w: Workload,
        proxy: Proxy,
        addr: SocketAddr,
        secs: u64,
    ) -> Result<Sample, String> {
        let pid = self
            .fleet
            .pid(proxy)
            .ok_or_else(|| format!("{} is not running", proxy.label()))?;
        let backend = self.fleet.backend_pid();
        let status = self.ports.backend_status;
        let accepts0 = backend_accepts(status);
        let (proxy0, backend0, client0) = (
            tree_usage(pid),
            tree_usage(backend),
            reaped_children_ticks(),
        );
        let result = self.driver.run(w, addr, secs);
        let (proxy1, backend1, client1) = (
            tree_usage(pid),
            tree_usage(backend),
            reaped_children_ticks(),
        );
        let accepts1 = backend_accepts(status);
        let mut s = result?;
        if s.requests > 0 {
            let n = s.requests as f64;
            let us = |ticks: u64| Some(round1(ticks as f64 / self.ticks_per_s * 1e6 / n));
            let p = proxy1.since(proxy0);
            s.cpu_us_per_req = us(p.user + p.system);
            s.cpu_user_us_per_req = us(p.user);
            s.cpu_system_us_per_req = us(p.system);
            s.switches_per_req = Some((p.switches as f64 / n * 100.0).round() / 100.0);
            let b = backend1.since(backend0);
            s.backend_cpu_us_per_req = us(b.user + b.system);
            s.client_cpu_us_per_req = us(client1.saturating_sub(client0));
            s.is_direct = proxy == Proxy::Direct;
            if let (Some(a0), Some(a1)) = (accepts0, accepts1) {
                // The status request itself is one accepted connection.
                let opened = a1.saturating_sub(a0).saturating_sub(1);
                s.upstream_conns_per_1k = Some(round1(opened as f64 * 1000.0 / n));
            }
        }
        Ok(s)
    }
}

/// Every (workload, target) pair to run; the gateway has no plain listener.
fn pairs(schedule: &Schedule<'_>, ports: &Ports) -> Vec<(Workload, Proxy)> {
    schedule
        .workloads
        .iter()
        .flat_map(|&w| {
            Proxy::ALL
                .into_iter()
                .filter(|p| schedule.targets.contains(p))
                .map(move |p| (w, p))
        })
        .filter(|&(w, p)| ports.of(p, w.mode).is_some())
        .collect()
}

/// Runs the warm-up and the rounds; returns every sample by (workload, target). A target
/// whose runs all failed has an empty list.
pub(super) fn run(
    schedule: &Schedule<'_>,
    meter: &Meter<'_>,
) -> BTreeMap<(Workload, Proxy), Vec<Sample>> {
    let ports = meter.ports;
    let plan = pairs(schedule, ports);

    // Warm-up: one short run each (connection pools, caches), not recorded.
    eprintln!("compare: warm-up ({} runs of 1 s)", plan.len());
    for &(w, proxy) in &plan {
        if let Some(addr) = ports.of(proxy, w.mode) {
            let _ = meter.driver.run(w, addr, 1);
        }
    }

    let mut samples: BTreeMap<(Workload, Proxy), Vec<Sample>> = BTreeMap::new();
    let total = plan.len() * schedule.rounds;
    let mut n = 0;
    for round in 1..=schedule.rounds {
        // A B C A B C …: every target once per workload per round, in the same order.
        for &(w, proxy) in &plan {
            let Some(addr) = ports.of(proxy, w.mode) else {
                continue;
            };
            n += 1;
            match meter.measure(w, proxy, addr, schedule.seconds) {
                Ok(s) => {
                    eprintln!(
                        "compare [{n}/{total}] round {round} {:<8} {:<24} {:>9.0} req/s  cpu {:>6} µs/req (all {:>6})  upstream conns/1k {:>6}  errors {}",
                        w.name(),
                        proxy.label(),
                        s.rps,
                        s.cpu_us_per_req.map_or("-".into(), |x| format!("{x:.1}")),
                        s.total_cpu_us_per_req().map_or("-".into(), |x| format!("{x:.1}")),
                        s.upstream_conns_per_1k.map_or("-".into(), |x| format!("{x:.1}")),
                        s.errors
                    );
                    samples.entry((w, proxy)).or_default().push(s);
                }
                Err(e) => {
                    eprintln!("compare [{n}/{total}] {} {}: {e}", w.name(), proxy.label());
                    samples.entry((w, proxy)).or_default();
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    samples
}
