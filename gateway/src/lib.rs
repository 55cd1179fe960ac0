//! The edge gateway: TLS termination, tenant identification, residency-preserving routing and
//! failover on Pingora.
//!
//! Request path: [`proxy`] (the thin Pingora glue) calls [`tenancy`] to find the tenant,
//! [`routing`] to order the origins of the tenant's home geography, [`headers`] to set what the
//! origin may trust, and [`error`] to turn any refusal into a problem+json response.
//! [`snapshot`] holds what a request reads, [`state`] holds the swappable snapshot.

pub mod access_log;
pub mod admin;
pub mod certs;
pub mod cli;
pub mod control;
pub mod ctl;
pub mod demo;
pub mod downstream;
pub mod error;
pub mod explain;
pub mod framing;
pub mod geofence;
pub mod headers;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod overrides;
pub mod proxy;
pub mod ratelimit;
pub mod redirect;
pub mod reload;
pub mod retry_budget;
pub mod routing;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod tenancy;
pub mod tls;
