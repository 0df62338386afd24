//! Lifecycle events (guarantee 12): every creation, rotation, sign-in,
//! ending and store failure is a `tracing` event under the target
//! `session_core::lifecycle`, carrying the public id and never the session id.

use crate::ending::EndReason;
use crate::error::StoreFailure;
use crate::id::PublicId;

/// The `tracing` target of every lifecycle event.
pub const TARGET: &str = "session_core::lifecycle";

pub(crate) fn created(public_id: &PublicId, signed_in: bool) {
    tracing::info!(target: TARGET, event = "created", public_id = %public_id, signed_in, "session created");
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
}

pub(crate) fn revoked_all(count: u64) {
    tracing::info!(target: TARGET, event = "revoked_all", count, "user's sessions revoked");
}

pub(crate) fn store_failed(
    operation: &'static str,
    public_id: Option<&PublicId>,
    failure: &StoreFailure,
) {
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
