//! Origin health: the per-origin state machine (active-probe verdicts, passive ejection,
//! latency, slow start), one HTTP probe, and the binding of that state to a snapshot.
//!
//! [`state`] is the state machine, [`probe`] one probe, [`bound`] the per-snapshot view
//! routing reads. Running probes on a schedule is the control plane's job
//! (`control::prober`): this module only holds state and knows how to probe once.

mod bound;
pub(crate) mod probe;
mod state;

pub use bound::{log_transition, LiveHealth, OriginStates};
pub use state::{HealthRegistry, OriginHealth, OriginKey, Status};
