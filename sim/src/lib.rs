//! Simulated HTTP origins for the edge gateway.
//!
//! One library serves the gateway's `demo` command, the integration tests and the
//! load-test harness, so that all three see origins that behave identically and can be
//! broken in the same ways.
//!
//! A [`SimOrigin`] is a hyper HTTP/1.1 (and h2c prior-knowledge) server that answers
//! every request with a JSON echo of what it received ([`EchoBody`]) and tags each
//! response with [`HEADER_REGION`] and [`HEADER_ORIGIN`]. Besides the echo it serves:
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /healthz` | `ok` with the configured health status; counted apart from requests |
//! | `/status/NNN` | status `NNN` with the JSON echo |
//! | `/stream?chunks=N&interval_ms=M` | `N` newline-delimited JSON chunks, `M` ms apart |
//! | any request with `x-sim-delay-ms: N` ([`HEADER_DELAY`]) | answered `N` ms (at most 10 s) after its body is read; another value is a `400` |
//! | `Connection: upgrade` + `Upgrade: websocket` | `101`, then the raw stream echoes bytes |
//! | a non-idempotent method (`POST`, `PATCH`, …) with a JSON body `{"id": "..."}` | the echo; one execution of that id is counted once the body is read ([`SimOrigin::executions`]) |
//!
//! Executions tell whether a proxy had a request carried out twice. The id is the body's
//! string member `id` (1 to [`EXECUTION_ID_MAX_LEN`] bytes, body at most
//! [`EXECUTION_BODY_LIMIT`] bytes, other members ignored); other non-idempotent requests
//! count as executions without id. An origin keeps counts for [`EXECUTION_ID_CAPACITY`]
//! ids; executions of further new ids are only counted as untracked. [`SimRegion`] and
//! [`SimHost`] sum them over their origins.
//!
//! Faults (kill, refuse, hang, latency, error rate, health status) can be changed at run
//! time from any thread without `async`. [`SimRegion`] groups the origins of a region, and
//! [`SimHost`] runs origins on a dedicated runtime for callers that have none.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::time::Duration;
//! let origin = edge_sim::SimOrigin::start("westus", "westus-1", "127.0.0.1:0".parse().map_err(std::io::Error::other)?).await?;
//! origin.set_latency(Duration::from_millis(50), Duration::from_millis(10));
//! origin.kill();
//! origin.revive().await?;
//! # Ok(())
//! # }
//! ```

mod conn;
mod echo;
mod execution;
mod faults;
mod handler;
mod host;
mod origin;
mod record;
mod region;
mod sha1;
mod stream;
mod upgrade;
mod wire;

pub use echo::EchoBody;
pub use execution::{
    Executions, EXECUTION_BODY_LIMIT, EXECUTION_ID_CAPACITY, EXECUTION_ID_MAX_LEN,
};
pub use host::SimHost;
pub use origin::SimOrigin;
pub use record::{RecordedRequest, RECORD_CAPACITY};
pub use region::SimRegion;
pub use wire::{HEADER_DELAY, HEADER_ORIGIN, HEADER_REGION, HEALTH_PATH, MAX_REQUEST_DELAY};
