//! Integration-test harness for the edge gateway.
//!
//! Everything is real: simulated origins are hyper servers on ephemeral loopback ports, the
//! gateway is the `edge-gateway` binary under test ([`gateway_bin`]) started as a child process with a config file
//! written to a temporary directory, and clients are reqwest (rustls) or raw sockets. The
//! gateway process is killed by PID when its handle drops. The gateway's own listeners get
//! their ports from a process-wide registry ([`ports`]).

// The harness fails the test that calls it by panicking, like a test does; clippy.toml
// allows that only in `#[test]` functions and `#[cfg(test)]` modules, so once for the crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod client;
pub mod dns;
pub mod edges;
pub mod fleet;
pub mod gateway;
pub mod load;
pub mod machine;
pub mod metrics;
pub mod ports;
pub mod raw_origin;
pub mod topology;

pub use client::{https_client, raw_h1, raw_h2, raw_tls_connect, read_all, ClientOptions};
pub use gateway::{gateway_bin, GatewayProcess};
pub use ports::free_addr;
pub use topology::{
    RegionSpec, Topology, ADMIN_TOKEN, EU_TENANT, EU_TENANT_2, NA_TENANT, UNKNOWN_TENANT,
};

/// Installs rustls' ring provider as the process default (idempotent): the gateway and the
/// test clients use the same one.
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
