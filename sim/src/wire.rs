//! The names a client sees besides the echo: the response headers that say who answered, the
//! request header that asks for a slow answer, and the path answered as a health probe.

use std::time::Duration;

/// Response header naming the region of the origin that answered.
pub const HEADER_REGION: &str = "x-sim-region";

/// Response header naming the origin that answered.
pub const HEADER_ORIGIN: &str = "x-sim-origin";

/// Request header asking the origin to take this many milliseconds (at most
/// [`MAX_REQUEST_DELAY`]) after reading the request before it answers, like an endpoint with
/// work to do; the fault latency, if any, comes on top.
pub const HEADER_DELAY: &str = "x-sim-delay-ms";

/// The longest delay [`HEADER_DELAY`] may ask for.
pub const MAX_REQUEST_DELAY: Duration = Duration::from_secs(10);

/// Path answered as a health probe rather than a request.
pub const HEALTH_PATH: &str = "/healthz";
