//! The edge gateway: TLS termination, tenant identification, residency-preserving routing and
//! failover on Pingora.
//!
//! The crate is organised by *when code runs*; each folder is a plane:
//!
//! | folder | runs | holds |
//! |---|---|---|
//! | `edge/` | per client connection, before a request exists | connection slots, the TLS handshake, the request-head deadline, the plaintext redirect |
//! | `request/` | per request | the `ProxyHttp` phases, admission (framing, tenant, location, route, limits), routing, retries, headers, problems, the access log |
//! | `topology/` | once per config (a leaf) | ids, route tables, the routing snapshot, operators' overrides as a value |
//! | `health/` | read per request, written by probes | origin health state, one probe |
//! | `control/` | in the background and on admin calls | reload, overrides and their state file, the prober service, the admin API |
//! | `dns/` | per DNS query, and in the background | the authoritative responder for tenant host names, its edge prober, the zone export |
//! | `fleet/` | in the background, and one lookup per request | fleet mode: rate limits and overrides shared through Redis, heartbeats |
//! | `app/` | once per process | the command line, launch, logging, `ctl`, the demo |
//!
//! `state.rs` is the hub the planes share (the live generation, metrics, rate limiter);
//! `metrics.rs` defines every Prometheus metric.
//!
//! Where to start reading: `request/proxy.rs` (the phases of one request), then
//! `request/admit.rs` (the admission pipeline, in order). `docs/architecture.md` walks the
//! whole request lifecycle with file names.
//!
//! The modules are private; what is public here is what the command-line binary, the
//! integration tests, the benchmarks and the fuzz targets use.

mod app;
mod control;
mod dns;
mod edge;
mod fleet;
mod health;
mod metrics;
mod request;
mod state;
mod topology;

#[cfg(test)]
mod testing;

#[cfg(feature = "demo")]
pub use app::certs;
pub use app::cli::main;
pub use dns::{
    answer as dns_answer, Outcome as DnsOutcome, Transport as DnsTransport, Zone as DnsZone,
};
pub use edge::{wire, HeadScanner};
pub use fleet::quota::FleetQuotas;
pub use request::framing;
pub use request::problem::ErrorKind;
pub use request::ratelimit;
pub use request::routing;
pub use request::tenancy;
pub use topology::{HealthView, OriginId, Snapshot};
