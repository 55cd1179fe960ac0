//! End-to-end tests of the edge gateway: one test binary, one module per area (see
//! `tests/README.md` for which module covers what and how to run one area).
//!
//! Every test starts the real `edge-gateway` binary against simulated origins on loopback
//! sockets, through the `edge_tests` harness. One binary rather than one per area: the
//! gateway, reqwest and rustls are linked once.

// Helper functions outside `#[test]` fail a test the same way (`clippy.toml` only covers
// `#[test]` functions and `#[cfg(test)]` modules).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access_log;
mod cli;
mod console;
mod control;
mod dns;
mod failover;
mod fleet;
mod geo;
mod header_case;
mod hostile;
mod lifecycle;
mod limits;
mod proxy_faults;
mod ratelimit;
mod residency_edge;
mod scale;
mod spine;
mod tls_grade;
