//! The names a client sees besides the echo: the response headers that say who answered, and
//! the path answered as a health probe.

/// Response header naming the region of the origin that answered.
pub const HEADER_REGION: &str = "x-sim-region";

/// Response header naming the origin that answered.
pub const HEADER_ORIGIN: &str = "x-sim-origin";

/// Path answered as a health probe rather than a request.
pub const HEALTH_PATH: &str = "/healthz";
