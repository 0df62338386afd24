//! [`Shared`]: what the manager and every request handle share (the store,
//! the configuration, the clock), and the one place where store calls are
//! made.
//!
//! Each helper supplies the time context ([`StoreContext`]), derives the
//! storage key from the id, and emits the lifecycle events (guarantee 12)
//! exactly once: the success event that fits the operation, or the
//! `store_failed` event. Callers never build a context, derive a key or
//! emit an event themselves.

use std::sync::Arc;
use std::time::Duration;

use crate::config::SessionConfig;
use crate::delta::{AsLoaded, Delta};
use crate::ending::EndReason;
use crate::error::{CreateError, RotateError, StoreFailure, UpdateError};
use crate::id::{PublicId, SessionId, SlotTag};
use crate::lifecycle::{self, StoreCall};
use crate::limit::UserLimit;
use crate::record::SessionSummary;
use crate::store::{
    Applied, Created, Loaded, NewSession, Page, PageRequest, Rotation, SessionStore, StoreContext,
    UserKey,
};
use crate::time::Clock;
use crate::user::UserId;

/// The store, configuration and clock of one manager.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) config: SessionConfig,
    pub(crate) clock: Arc<dyn Clock>,
    /// The cookie's name on the wire (with `__Host-` when it applies),
    /// formatted once rather than on every request.
    pub(crate) cookie_name: String,
    /// The pollers behind [`crate::Session::until_ended`].
    pub(crate) watcher: crate::events::EndWatcher,
}

/// Runs one store call; with the `metrics` feature, records how long it
/// took.
async fn timed<T>(operation: StoreCall, call: impl Future<Output = T>) -> T {
    #[cfg(feature = "metrics")]
    {
        let started = std::time::Instant::now();
        let r = call.await;
        lifecycle::store_call(operation, started.elapsed());
        r
    }
    #[cfg(not(feature = "metrics"))]
    {
        let _ = operation;
        call.await
    }
}

/// Reports a failed call once, with the operation's name.
fn observe<T>(operation: StoreCall, r: Result<T, StoreFailure>) -> Result<T, StoreFailure> {
    if let Err(f) = &r {
        lifecycle::store_failed(operation, None, f);
    }
    r
}

impl Shared {
    /// The context a store call made now runs under.
    pub(crate) fn cx(&self) -> StoreContext {
        let expiry = self.config.expiry();
        StoreContext {
            now: self.clock.now(),
            ended_retention: expiry.ended_retention(),
            refresh_threshold: expiry.effective_threshold(),
            max_data_bytes: self.config.max_data_bytes(),
            anonymous_analytics: self.config.anonymous_analytics(),
        }
    }

    /// The user and the slot all of the user's sessions live in.
    pub(crate) fn user_key(&self, user: &UserId) -> UserKey {
        UserKey::new(self.config.keys(), user.clone())
    }

    /// A fresh id in `slot`.
    pub(crate) fn new_id(&self, slot: SlotTag) -> SessionId {
        SessionId::generate(self.config.keys(), slot)
    }

    pub(crate) async fn load(&self, id: &SessionId) -> Result<Loaded, StoreFailure> {
        let r = timed(
            StoreCall::Load,
            self.store.load(&id.storage_key(), &self.cx()),
        )
        .await;
        observe(StoreCall::Load, r)
    }

    /// Loads without refreshing: a zero threshold is never reached.
    pub(crate) async fn peek(&self, id: &SessionId) -> Result<Loaded, StoreFailure> {
        let cx = StoreContext {
            refresh_threshold: Duration::ZERO,
            ..self.cx()
        };
        let r = timed(StoreCall::Load, self.store.load(&id.storage_key(), &cx)).await;
        observe(StoreCall::Load, r)
    }

    /// Creates `new` (signed in when `new.user` is set, under `limit`).
    pub(crate) async fn create(
        &self,
        new: NewSession,
        limit: UserLimit,
    ) -> Result<Created, CreateError> {
        let signed_in = new.user.is_some();
        let cx = self.cx();
        let record = new.record(cx.now)?;
        let r = timed(StoreCall::Create, self.store.create(new, limit, &cx))
            .await
            .map(|evicted| Created { record, evicted });
        match &r {
            Ok(created) => {
                lifecycle::created(&created.record.public_id, signed_in);
                if signed_in {
                    lifecycle::signed_in(&created.record.public_id, &created.evicted);
                }
            }
            Err(CreateError::Store(f)) => lifecycle::store_failed(StoreCall::Create, None, f),
            Err(_) => {}
        }
        r
    }

    pub(crate) async fn apply(
        &self,
        id: &SessionId,
        delta: &Delta,
        as_loaded: &AsLoaded,
        public_id: &PublicId,
    ) -> Result<Applied, UpdateError> {
        let key = id.storage_key();
        let r = timed(
            StoreCall::Apply,
            self.store
                .apply(&key, public_id, delta, as_loaded, &self.cx()),
        )
        .await;
        if let Err(UpdateError::Store(f)) = &r {
            lifecycle::store_failed(StoreCall::Apply, Some(public_id), f);
        }
        r
    }

    pub(crate) async fn increment(
        &self,
        id: &SessionId,
        field: &str,
        by: i64,
    ) -> Result<i64, UpdateError> {
        let r = timed(
            StoreCall::Increment,
            self.store
                .increment(&id.storage_key(), field, by, &self.cx()),
        )
        .await;
        if let Err(UpdateError::Store(f)) = &r {
            lifecycle::store_failed(StoreCall::Increment, None, f);
        }
        r
    }

    pub(crate) async fn take(
        &self,
        id: &SessionId,
        public_id: &PublicId,
        field: &str,
    ) -> Result<Option<String>, UpdateError> {
        let r = timed(
            StoreCall::Take,
            self.store
                .take(&id.storage_key(), public_id, field, &self.cx()),
        )
        .await;
        if let Err(UpdateError::Store(f)) = &r {
            lifecycle::store_failed(StoreCall::Take, Some(public_id), f);
        }
        r
    }

    pub(crate) async fn rotate(&self, rotation: Rotation) -> Result<Created, RotateError> {
        let signed_in = rotation.sign_in.is_some();
        let r = timed(StoreCall::Rotate, self.store.rotate(rotation, &self.cx())).await;
        match &r {
            Ok(created) => {
                lifecycle::rotated(&created.record.public_id);
                if signed_in {
                    lifecycle::signed_in(&created.record.public_id, &created.evicted);
                }
            }
            Err(RotateError::Store(f)) => lifecycle::store_failed(StoreCall::Rotate, None, f),
            Err(_) => {}
        }
        r
    }

    /// Ends the session `id`; its public id if an active session ended.
    pub(crate) async fn invalidate(
        &self,
        id: &SessionId,
        reason: EndReason,
    ) -> Result<Option<PublicId>, StoreFailure> {
        let r = timed(
            StoreCall::Invalidate,
            self.store
                .invalidate(&id.storage_key(), reason.clone(), &self.cx()),
        )
        .await;
        let ended = observe(StoreCall::Invalidate, r)?;
        if let Some(p) = &ended {
            lifecycle::ended(p, &reason);
        }
        Ok(ended)
    }

    pub(crate) async fn revoke_device(
        &self,
        user: &UserId,
        public_id: &PublicId,
        reason: EndReason,
    ) -> Result<bool, StoreFailure> {
        let r = timed(
            StoreCall::RevokeByPublicId,
            self.store.revoke_by_public_id(
                &self.user_key(user),
                public_id,
                reason.clone(),
                &self.cx(),
            ),
        )
        .await;
        let r = observe(StoreCall::RevokeByPublicId, r);
        // Ended, also when no replica acknowledged it in time.
        if matches!(&r, Ok(true))
            || matches!(&r, Err(StoreFailure::NotReplicated { ended, .. }) if !ended.is_empty())
        {
            lifecycle::ended(public_id, &reason);
        }
        r
    }

    pub(crate) async fn revoke_all(
        &self,
        user: &UserId,
        except: Option<&PublicId>,
        reason: EndReason,
    ) -> Result<u64, StoreFailure> {
        let r = timed(
            StoreCall::RevokeAll,
            self.store
                .revoke_all(&self.user_key(user), except, reason.clone(), &self.cx()),
        )
        .await;
        let r = observe(StoreCall::RevokeAll, r);
        // Ended, also when no replica acknowledged it in time.
        if let Ok(ended) | Err(StoreFailure::NotReplicated { ended, .. }) = &r {
            for p in ended {
                lifecycle::ended(p, &reason);
            }
            lifecycle::revoked_all(ended.len() as u64);
        }
        r.map(|ended| ended.len() as u64)
    }

    pub(crate) async fn list_user_sessions(
        &self,
        user: &UserId,
    ) -> Result<Vec<SessionSummary>, StoreFailure> {
        let r = timed(
            StoreCall::ListUserSessions,
            self.store
                .list_user_sessions(&self.user_key(user), &self.cx()),
        )
        .await;
        observe(StoreCall::ListUserSessions, r)
    }

    pub(crate) async fn count_user_sessions(&self, user: &UserId) -> Result<u64, StoreFailure> {
        let r = timed(
            StoreCall::CountUserSessions,
            self.store
                .count_user_sessions(&self.user_key(user), &self.cx()),
        )
        .await;
        observe(StoreCall::CountUserSessions, r)
    }

    pub(crate) async fn count_active(&self) -> Result<u64, StoreFailure> {
        observe(
            StoreCall::CountActive,
            timed(StoreCall::CountActive, self.store.count_active(&self.cx())).await,
        )
    }

    pub(crate) async fn count_active_users(&self) -> Result<u64, StoreFailure> {
        observe(
            StoreCall::CountActiveUsers,
            timed(
                StoreCall::CountActiveUsers,
                self.store.count_active_users(&self.cx()),
            )
            .await,
        )
    }

    pub(crate) async fn active_users(&self, page: PageRequest) -> Result<Page, StoreFailure> {
        observe(
            StoreCall::ActiveUsers,
            timed(
                StoreCall::ActiveUsers,
                self.store.active_users(page, &self.cx()),
            )
            .await,
        )
    }
}
