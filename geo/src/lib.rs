//! Client location for the edge gateway.
//!
//! [`client_ip()`] finds the address of the client behind trusted proxies; rate limiting keys
//! clients by it and geo-IP will look it up. The MaxMind lookups (issue 6) will join it here.
//! The crate has no Pingora dependency so it can be tested and benchmarked on its own.
//!
//! [`mmdb`] looks clients up in a MaxMind (GeoIP2/GeoLite2) database and reloads it when the
//! file is replaced; [`locate`] picks a geography or region by location; [`writer`] and
//! [`testdata`] make small databases for tests, benchmarks and the demo.

pub mod client_ip;
pub mod locate;
pub mod mmdb;
pub mod testdata;
pub mod writer;

pub use client_ip::{client_ip, MAX_HOPS};
