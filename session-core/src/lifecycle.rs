//! Lifecycle events (guarantee 12): every creation, rotation, sign-in,
//! ending and store failure is a `tracing` event under the target
//! `session_core::lifecycle`, carrying the public id and never the session id.
//!
//! With the `metrics` feature, the same moments also go through the
//! [`metrics`](https://docs.rs/metrics) facade (install any recorder, a
//! Prometheus exporter say):
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `session_created_total` | counter | `signed_in` (`true`/`false`) |
//! | `session_ended_total` | counter | `reason` ([`EndReason::code`]: `logout`, `revoked`, `revoke-all`, `limit`, `rotated`) |
//! | `session_store_failures_total` | counter | `operation`, `kind` ([`StoreFailure::kind`]) |
//! | `session_store_duration_seconds` | histogram | `operation` (`load`, `create`, `apply`, `increment`, `take`, `rotate`, `invalidate`, …) |
//!
//! Sessions that simply expire are not counted as ended: stores let them
//! lapse without telling the core.

#[cfg(feature = "metrics")]
use std::time::Duration;

use crate::ending::EndReason;
use crate::error::StoreFailure;
use crate::id::PublicId;

/// The `tracing` target of every lifecycle event.
pub const TARGET: &str = "session_core::lifecycle";

pub(crate) fn created(public_id: &PublicId, signed_in: bool) {
    tracing::info!(target: TARGET, event = "created", public_id = %public_id, signed_in, "session created");
    #[cfg(feature = "metrics")]
    metrics::counter!("session_created_total", "signed_in" => if signed_in { "true" } else { "false" })
        .increment(1);
}

pub(crate) fn rotated(public_id: &PublicId) {
    tracing::info!(target: TARGET, event = "rotated", public_id = %public_id, "session id rotated");
}

pub(crate) fn signed_in(public_id: &PublicId, evicted: &[PublicId]) {
    tracing::info!(
        target: TARGET,
        event = "signed_in",
        public_id = %public_id,
        evicted = evicted.len(),
        "session signed in"
    );
    for p in evicted {
        ended(p, &EndReason::Limit);
    }
}

pub(crate) fn ended(public_id: &PublicId, reason: &EndReason) {
    tracing::info!(
        target: TARGET,
        event = "ended",
        public_id = %public_id,
        reason = reason.code(),
        "session ended"
    );
    #[cfg(feature = "metrics")]
    metrics::counter!("session_ended_total", "reason" => reason.code()).increment(1);
}

/// Every call the manager and the handle make to a [`SessionStore`]
/// (named as its method), the one name logs and metrics give it: the
/// `operation` field of a `store_failed` event, and the `operation` label
/// of `session_store_duration_seconds` and `session_store_failures_total`.
///
/// [`SessionStore`]: crate::store::SessionStore
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreCall {
    Create,
    Load,
    Apply,
    Increment,
    Take,
    Rotate,
    Invalidate,
    RevokeByPublicId,
    RevokeAll,
    ListUserSessions,
    CountUserSessions,
    CountActive,
    CountActiveUsers,
    ActiveUsers,
}

impl StoreCall {
    /// The name: the store method's.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StoreCall::Create => "create",
            StoreCall::Load => "load",
            StoreCall::Apply => "apply",
            StoreCall::Increment => "increment",
            StoreCall::Take => "take",
            StoreCall::Rotate => "rotate",
            StoreCall::Invalidate => "invalidate",
            StoreCall::RevokeByPublicId => "revoke_by_public_id",
            StoreCall::RevokeAll => "revoke_all",
            StoreCall::ListUserSessions => "list_user_sessions",
            StoreCall::CountUserSessions => "count_user_sessions",
            StoreCall::CountActive => "count_active",
            StoreCall::CountActiveUsers => "count_active_users",
            StoreCall::ActiveUsers => "active_users",
        }
    }
}

/// How long a store call took.
#[cfg(feature = "metrics")]
pub(crate) fn store_call(call: StoreCall, took: Duration) {
    metrics::histogram!("session_store_duration_seconds", "operation" => call.as_str())
        .record(took.as_secs_f64());
}

pub(crate) fn revoked_all(count: u64) {
    tracing::info!(target: TARGET, event = "revoked_all", count, "user's sessions revoked");
}

pub(crate) fn store_failed(call: StoreCall, public_id: Option<&PublicId>, failure: &StoreFailure) {
    let operation = call.as_str();
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "session_store_failures_total",
        "operation" => operation,
        "kind" => failure.kind()
    )
    .increment(1);
    match public_id {
        Some(p) => tracing::warn!(
            target: TARGET,
            event = "store_failed",
            operation,
            public_id = %p,
            error = %failure,
            "session store failure"
        ),
        None => tracing::warn!(
            target: TARGET,
            event = "store_failed",
            operation,
            error = %failure,
            "session store failure"
        ),
    }
}
