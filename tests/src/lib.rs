//! Integration-test harness for the edge gateway.
//!
//! Everything is real: simulated origins are hyper servers on ephemeral loopback ports, the
//! gateway is the release binary under test started as a child process with a config file
//! written to a temporary directory, and clients are reqwest (rustls) or raw sockets. The
//! gateway process is killed by PID when its handle drops.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod client;
pub mod fleet;
pub mod gateway;
pub mod load;
pub mod metrics;
pub mod topology;

pub use client::{https_client, raw_h1, raw_h2, raw_tls_connect, ClientOptions};
pub use gateway::{gateway_bin, GatewayProcess};
pub use topology::{
    RegionSpec, Topology, ADMIN_TOKEN, EU_TENANT, EU_TENANT_2, NA_TENANT, UNKNOWN_TENANT,
};

use std::net::{SocketAddr, TcpListener};

/// A free TCP port on 127.0.0.1 (bound then released; the gateway binds it right after).
pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr")
}

/// Installs rustls' ring provider as the process default (idempotent): the gateway and the
/// test clients use the same one.
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
