//! session-core's integration tests, one module per subject: the whole
//! contract against the in-memory store, the lifecycle's tracing events,
//! the `metrics` feature (compiled only with it), arbitrary request bytes
//! the per-session data cap, and waiting for a session's end.

mod lifecycle_events;
mod memory_conformance;
#[cfg(feature = "metrics")]
mod metrics;
mod request_never_panics;
mod size_cap;
mod waiting_for_the_end;
