//! The process: the command line ([`cli`]), assembling and running the server ([`launch`]),
//! logging, the `ctl` client of the admin API, and the demo (feature `demo`).

pub mod cli;
pub(crate) mod ctl;
pub(crate) mod launch;
pub(crate) mod logging;

#[cfg(feature = "demo")]
pub mod certs;
#[cfg(feature = "demo")]
pub(crate) mod demo;
