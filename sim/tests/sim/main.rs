//! Integration tests of simulated origins over real sockets on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod executions;
mod faults;
mod host;
mod origin;
mod region;
mod support;
