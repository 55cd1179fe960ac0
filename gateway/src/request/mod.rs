//! One request, from its parsed head to its access-log line.
//!
//! Start at [`proxy`]: the Pingora phases, each calling named functions. Admission ([`admit`]) runs the
//! ordered checks (framing → tenant → client location → route and geo-fence → rate limits →
//! body prebuffer); [`respond`] writes every answer the gateway makes itself. The decisions are
//! pure functions with their own tests: [`framing`], [`tenancy`], [`geofence`], [`routing`],
//! [`retry`], [`problem`]; [`ratelimit`] holds the per-process quota state.

pub(crate) mod access_log;
pub(crate) mod admit;
pub(crate) mod ctx;
pub(crate) mod explain;
pub mod framing;
pub(crate) mod geofence;
pub(crate) mod headers;
pub(crate) mod problem;
pub(crate) mod proxy;
pub mod ratelimit;
pub(crate) mod respond;
pub(crate) mod retry;
pub mod routing;
pub mod tenancy;
