//! How a scenario is run: which gateway takes the load, for how long, how hard, and where
//! the files go.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which gateway the load goes to.
#[derive(Debug, Clone)]
pub enum GatewayChoice {
    /// Start this binary with a generated config.
    Spawn {
        /// The `edge-gateway` binary.
        bin: PathBuf,
        /// `server.threads`.
        threads: usize,
        /// Keep the gateway's per-request access log on (it is off by default).
        access_log: bool,
    },
    /// An already running gateway on loopback (e.g. `edge-gateway demo`).
    External {
        /// Its HTTPS listener.
        addr: SocketAddr,
        /// The CA its certificate chains to (PEM).
        ca: PathBuf,
        /// The host name to ask for (SNI).
        server_name: String,
        /// Its admin API and token, if the scenario needs it.
        admin: Option<(SocketAddr, String)>,
    },
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run length (default: the scenario's).
    pub duration: Option<Duration>,
    /// Offered rate, all streams together (default: the scenario's).
    pub rps: Option<f64>,
    /// Closed loop with this many workers instead of a fixed rate.
    pub concurrency: Option<usize>,
    /// The short CI form: a few seconds, fast health checks.
    pub short: bool,
    /// Where the JSON, SVG and gateway log go.
    pub out: PathBuf,
    /// The gateway.
    pub gateway: GatewayChoice,
    /// Upper bound on requests (default: 1.5 × rate × duration, at most 5 million).
    pub max_requests: Option<u64>,
    /// No progress line.
    pub quiet: bool,
}
