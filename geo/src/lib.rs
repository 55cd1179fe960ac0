//! Client location for the edge gateway.
//!
//! [`client_ip()`] finds the address of the client behind trusted proxies (rate limiting keys
//! clients by it, and it is what the location database is asked about). [`mmdb`] looks
//! clients up in a MaxMind (GeoIP2/GeoLite2) database and reloads it when the file is
//! replaced; [`locate`] picks a geography or region by location. The crate has no Pingora
//! dependency so it can be tested and benchmarked on its own.
//!
//! With the `testdata` feature (tests, benchmarks, the gateway's demo), `writer` and
//! `testdata` make small MaxMind databases; production builds do not include them.

pub mod client_ip;
pub mod locate;
pub mod mmdb;
#[cfg(any(test, feature = "testdata"))]
pub mod testdata;
#[cfg(any(test, feature = "testdata"))]
pub mod writer;

pub use client_ip::{client_ip, MAX_HOPS};
