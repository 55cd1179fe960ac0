//! What is compared and what comes out: the modes and targets, one run's sample, and the
//! medians over the rounds.

use std::collections::BTreeMap;

use serde::Serialize;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Plain HTTP/1.1 keep-alive (wrk).
    Plain,
    /// HTTP/1.1 keep-alive over TLS (wrk).
    Tls,
    /// h2 over TLS (h2load).
    H2,
    /// A new TLS connection per request (wrk, `Connection: close`).
    Churn,
}

impl Mode {
    /// Every mode, in table order.
    pub const ALL: [Mode; 4] = [Mode::Plain, Mode::Tls, Mode::H2, Mode::Churn];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Tls => "tls",
            Mode::H2 => "h2",
            Mode::Churn => "churn",
        }
    }

    /// What it is.
    pub fn describe(self) -> &'static str {
        match self {
            Mode::Plain => "plain HTTP/1.1 keep-alive (wrk)",
            Mode::Tls => "TLS HTTP/1.1 keep-alive (wrk)",
            Mode::H2 => "TLS h2 keep-alive (h2load)",
            Mode::Churn => "TLS, new connection per request (wrk, Connection: close)",
        }
    }

    /// Parses a comma-separated list of modes.
    pub fn parse_list(s: &str) -> Result<Vec<Mode>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| {
                Mode::ALL
                    .into_iter()
                    .find(|m| m.name() == x)
                    .ok_or_else(|| format!("unknown mode {x:?}; use plain, tls, h2, churn"))
            })
            .collect()
    }
}

/// Who serves the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proxy {
    /// edge-gateway (TLS only by design).
    Gateway,
    /// A second edge-gateway build on the same config (`--candidate-bin`: a PGO build, or
    /// the gateway before/after a change), measured in the same rounds.
    Candidate,
    /// edge-gateway with `[fleet]` on a local `redis-server` (`compare --fleet`).
    GatewayFleet,
    /// nginx.
    Nginx,
    /// HAProxy.
    Haproxy,
    /// The bare Pingora pass-through example.
    Bare,
    /// No proxy: straight to the backend.
    Direct,
}

impl Proxy {
    /// Every target, in run order.
    pub const ALL: [Proxy; 7] = [
        Proxy::Gateway,
        Proxy::Candidate,
        Proxy::GatewayFleet,
        Proxy::Nginx,
        Proxy::Haproxy,
        Proxy::Bare,
        Proxy::Direct,
    ];

    /// Label in tables (the candidate's is the comparison's `candidate_label`).
    pub fn label(self) -> &'static str {
        match self {
            Proxy::Gateway => "edge-gateway",
            Proxy::Candidate => "edge-gateway (candidate)",
            Proxy::GatewayFleet => "edge-gateway [fleet]",
            Proxy::Nginx => "nginx",
            Proxy::Haproxy => "HAProxy",
            Proxy::Bare => "bare Pingora",
            Proxy::Direct => "direct to backend",
        }
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Proxy::Gateway => "gateway",
            Proxy::Candidate => "candidate",
            Proxy::GatewayFleet => "gateway-fleet",
            Proxy::Nginx => "nginx",
            Proxy::Haproxy => "haproxy",
            Proxy::Bare => "bare",
            Proxy::Direct => "direct",
        }
    }

    /// Whether it is an edge-gateway build (started on the gateway's config).
    pub fn is_gateway(self) -> bool {
        matches!(self, Proxy::Gateway | Proxy::Candidate)
    }

    /// Parses a comma-separated list of targets.
    pub fn parse_list(s: &str) -> Result<Vec<Proxy>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| {
                Proxy::ALL
                    .into_iter()
                    .find(|p| p.name() == x)
                    .ok_or_else(|| {
                        format!(
                            "unknown target {x:?}; use gateway, candidate, gateway-fleet, nginx, \
                         haproxy, bare, direct"
                        )
                    })
            })
            .collect()
    }
}

/// A mode with the h2 streams per connection it runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Workload {
    /// The mode.
    pub mode: Mode,
    /// Streams in flight per h2 connection (h2load `-m`); 1 for the HTTP/1.1 modes.
    pub streams: usize,
}

impl Workload {
    /// Short name for progress lines: `tls`, `h2 m=16`.
    pub fn name(self) -> String {
        match self.mode {
            Mode::H2 => format!("h2 m={}", self.streams),
            m => m.name().to_owned(),
        }
    }
}

/// One measured run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    /// Requests completed.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency (ms; h2load: mean).
    pub p50_ms: Option<f64>,
    /// p99 latency (ms; not reported by h2load).
    pub p99_ms: Option<f64>,
    /// Non-2xx answers and socket errors.
    pub errors: u64,
    /// The run went straight to the backend (no proxy).
    #[serde(skip)]
    pub is_direct: bool,
    /// Proxy CPU time per request (µs): user + system of all its processes.
    pub cpu_us_per_req: Option<f64>,
    /// Of which user time (µs).
    pub cpu_user_us_per_req: Option<f64>,
    /// Of which system time (µs): system calls, and the softirqs (such as the loopback
    /// delivery of what it sent) and wake-ups of other processes that ran on its time.
    pub cpu_system_us_per_req: Option<f64>,
    /// The load tool's CPU time per request (µs).
    pub client_cpu_us_per_req: Option<f64>,
    /// The backend's CPU time per request (µs; for "direct" the same as the proxy's).
    pub backend_cpu_us_per_req: Option<f64>,
    /// Context switches of the proxy's threads per request (each one a wait for work, or a
    /// preemption).
    pub switches_per_req: Option<f64>,
    /// Upstream connections opened per 1,000 requests.
    pub upstream_conns_per_1k: Option<f64>,
}

impl Sample {
    /// Client + proxy + backend CPU per request: all the work of one request on this
    /// machine, wherever the kernel charged it (µs).
    pub fn total_cpu_us_per_req(&self) -> Option<f64> {
        let proxy = self.cpu_us_per_req?;
        let client = self.client_cpu_us_per_req?;
        let backend = self.backend_cpu_us_per_req?;
        // For "direct" the proxy is the backend: count it once.
        Some(if self.is_direct {
            client + backend
        } else {
            client + proxy + backend
        })
    }
}

/// Medians of one (mode, target) over the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// Mode.
    pub mode: Mode,
    /// h2 streams per connection (1 for HTTP/1.1).
    pub streams: usize,
    /// Target.
    pub proxy: Proxy,
    /// Every round's sample.
    pub samples: Vec<Sample>,
    /// Median requests per second.
    pub rps: f64,
    /// Median p50 (ms).
    pub p50_ms: Option<f64>,
    /// Median p99 (ms).
    pub p99_ms: Option<f64>,
    /// Median CPU per request (µs).
    pub cpu_us_per_req: Option<f64>,
    /// Median user CPU per request (µs).
    pub cpu_user_us_per_req: Option<f64>,
    /// Median system CPU per request (µs).
    pub cpu_system_us_per_req: Option<f64>,
    /// Median client + proxy + backend CPU per request (µs).
    pub total_cpu_us_per_req: Option<f64>,
    /// Median context switches of the proxy per request.
    pub switches_per_req: Option<f64>,
    /// Median upstream connections per 1,000 requests.
    pub upstream_conns_per_1k: Option<f64>,
    /// Errors over all rounds.
    pub errors: u64,
}

/// The whole comparison, as written to `compare.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// When (UTC).
    pub date: String,
    /// The machine.
    pub machine: String,
    /// Tool and proxy versions.
    pub versions: BTreeMap<String, String>,
    /// The command that produced it.
    pub command: String,
    /// Rounds, seconds per run, connections.
    pub rounds: usize,
    /// Seconds per run.
    pub seconds: u64,
    /// Connections (wrk).
    pub connections: usize,
    /// h2load connections (each with `streams` of its cell in flight).
    pub h2_connections: usize,
    /// What the candidate is (`--candidate-label`, and its binary), when there is one.
    pub candidate: Option<String>,
    /// Results.
    pub cells: Vec<Cell>,
    /// Anything that makes a result suspect (e.g. the gateway ejected its origin).
    pub notes: Vec<String>,
}

/// Rounded to one decimal.
pub(super) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// The medians of one (workload, target) over its samples.
pub(super) fn cell(w: Workload, proxy: Proxy, samples: Vec<Sample>) -> Cell {
    let med = |f: fn(&Sample) -> Option<f64>| median(samples.iter().filter_map(f).collect());
    Cell {
        mode: w.mode,
        streams: w.streams,
        proxy,
        rps: med(|s| Some(s.rps)).map_or(0.0, round1),
        p50_ms: med(|s| s.p50_ms),
        p99_ms: med(|s| s.p99_ms),
        cpu_us_per_req: med(|s| s.cpu_us_per_req).map(round1),
        cpu_user_us_per_req: med(|s| s.cpu_user_us_per_req).map(round1),
        cpu_system_us_per_req: med(|s| s.cpu_system_us_per_req).map(round1),
        total_cpu_us_per_req: med(Sample::total_cpu_us_per_req).map(round1),
        switches_per_req: med(|s| s.switches_per_req).map(|x| (x * 100.0).round() / 100.0),
        upstream_conns_per_1k: med(|s| s.upstream_conns_per_1k).map(round1),
        errors: samples.iter().map(|s| s.errors).sum(),
        samples,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_modes() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(
            Mode::parse_list("plain, h2").unwrap(),
            vec![Mode::Plain, Mode::H2]
        );
        assert!(Mode::parse_list("x").is_err());
        assert_eq!(
            Proxy::parse_list("gateway,bare").unwrap(),
            vec![Proxy::Gateway, Proxy::Bare]
        );
        assert!(Proxy::parse_list("envoy").is_err());
        let w = Workload {
            mode: Mode::H2,
            streams: 16,
        };
        assert_eq!(w.name(), "h2 m=16");
    }
}
