//! Client location for the edge gateway.
//!
//! This crate will hold the MaxMind lookups and the trusted-proxy client-address logic shared
//! by rate limiting and geo routing (issue 6). It has no Pingora dependency so it can be tested
//! and benchmarked on its own. It is intentionally empty until that work lands.
