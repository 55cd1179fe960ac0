//! `edge-loadtest`: the edge gateway's load-test harness.
//!
//! It starts simulated regions of origins (the `edge-sim` library the demo and the tests use),
//! writes a gateway config for them, starts the gateway (or targets a running one on
//! loopback), drives a scenario — steady load, a regional outage, a brownout, a weight shift
//! through the admin API, a reload storm, a flooding tenant, connection churn — and checks
//! every answer: its status, the region that served it, and whether that region is in the
//! tenant's home geography. The results are a Markdown summary on stdout, a JSON file and an
//! SVG chart per scenario.
//!
//! `edge-loadtest compare` runs the same workload through the gateway, nginx, HAProxy and a
//! bare Pingora pass-through, interleaved, and prints medians and ratios.

pub mod bench;
pub mod chart;
pub mod cli;
pub mod compare;
pub mod gateway;
pub mod load;
pub mod pki;
pub mod profile;
pub mod progress;
pub mod report;
pub mod run;
pub mod scenario;
pub mod topology;
pub mod util;
