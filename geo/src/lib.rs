//! Client location for the edge gateway.
//!
//! [`client_ip`] finds the address of the client behind trusted proxies; rate limiting keys
//! clients by it and geo-IP will look it up. The MaxMind lookups (issue 6) will join it here.
//! The crate has no Pingora dependency so it can be tested and benchmarked on its own.

pub mod client_ip;

pub use client_ip::{client_ip, MAX_HOPS};
