//! Stores that wrap the store under test, for checks that need to count
//! calls or to make the store fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;

use crate::store::{
    Applied, AsLoaded, ConsumerName, CreateError, Created, Delta, EventKey, Loaded, NewSession,
    Page, PageRequest, ReadFrom, RotateError, Rotation, SessionEvent, SessionKey, SessionStore,
    SlotKeyPin, SlotTag, StoreContext, StreamCursor, UpdateError, UserKey,
};
use crate::{EndReason, PublicId, SessionSummary, StoreFailure, UserLimit};

/// Wraps a store, counting every call and, when switched off, failing every
/// call with [`StoreFailure::Unavailable`] without reaching the store (as a
/// store whose server went down would).
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn SessionStore>,
    calls: AtomicU64,
    down: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
#[error("the store was switched off by the conformance kit")]
struct SwitchedOff;

impl FaultyStore {
    /// Wraps `inner`, healthy.
    pub fn new(inner: Arc<dyn SessionStore>) -> Self {
        FaultyStore {
            inner,
            calls: AtomicU64::new(0),
            down: AtomicBool::new(false),
        }
    }

    /// How many calls reached the wrapper so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Switches the store off (every call fails) or back on.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn gate(&self) -> Result<(), StoreFailure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreFailure::unavailable(SwitchedOff));
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for FaultyStore {
    async fn create(
        &self,
        s: NewSession,
        limit: UserLimit,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, CreateError> {
        self.gate()?;
        self.inner.create(s, limit, cx).await
    }

    async fn load(&self, key: &SessionKey, cx: &StoreContext) -> Result<Loaded, StoreFailure> {
        self.gate()?;
        self.inner.load(key, cx).await
    }

    async fn apply(
        &self,
        key: &SessionKey,
        public_id: &PublicId,
        delta: &Delta,
        as_loaded: &AsLoaded,
        cx: &StoreContext,
    ) -> Result<Applied, UpdateError> {
        self.gate()?;
        self.inner.apply(key, public_id, delta, as_loaded, cx).await
    }

    async fn increment(
        &self,
        key: &SessionKey,
        field: &str,
        by: i64,
        cx: &StoreContext,
    ) -> Result<i64, UpdateError> {
        self.gate()?;
        self.inner.increment(key, field, by, cx).await
    }

    async fn take(
        &self,
        key: &SessionKey,
        public_id: &PublicId,
        field: &str,
        cx: &StoreContext,
    ) -> Result<Option<String>, UpdateError> {
        self.gate()?;
        self.inner.take(key, public_id, field, cx).await
    }

    async fn rotate(&self, rotation: Rotation, cx: &StoreContext) -> Result<Created, RotateError> {
        self.gate()?;
        self.inner.rotate(rotation, cx).await
    }

    async fn invalidate(
        &self,
        key: &SessionKey,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Option<PublicId>, StoreFailure> {
        self.gate()?;
        self.inner.invalidate(key, reason, cx).await
    }

    async fn revoke_by_public_id(
        &self,
        user: &UserKey,
        public_id: &PublicId,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<bool, StoreFailure> {
        self.gate()?;
        self.inner
            .revoke_by_public_id(user, public_id, reason, cx)
            .await
    }

    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&PublicId>,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, StoreFailure> {
        self.gate()?;
        self.inner.revoke_all(user, except, reason, cx).await
    }

    async fn list_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<Vec<SessionSummary>, StoreFailure> {
        self.gate()?;
        self.inner.list_user_sessions(user, cx).await
    }

    async fn count_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<u64, StoreFailure> {
        self.gate()?;
        self.inner.count_user_sessions(user, cx).await
    }

    async fn count_active(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        self.gate()?;
        self.inner.count_active(cx).await
    }

    async fn count_active_users(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        self.gate()?;
        self.inner.count_active_users(cx).await
    }

    async fn active_users(
        &self,
        page: PageRequest,
        cx: &StoreContext,
    ) -> Result<Page, StoreFailure> {
        self.gate()?;
        self.inner.active_users(page, cx).await
    }

    async fn pin_slot_key(&self, fingerprint: &str) -> Result<SlotKeyPin, StoreFailure> {
        self.gate()?;
        self.inner.pin_slot_key(fingerprint).await
    }

    async fn read_events(
        &self,
        name: &ConsumerName,
        from: ReadFrom,
        max: usize,
        cx: &StoreContext,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        self.gate()?;
        self.inner.read_events(name, from, max, cx).await
    }

    async fn ack_events(&self, name: &ConsumerName, keys: &[EventKey]) -> Result<(), StoreFailure> {
        self.gate()?;
        self.inner.ack_events(name, keys).await
    }

    async fn sweep_expired(&self, max: usize, cx: &StoreContext) -> Result<u64, StoreFailure> {
        self.gate()?;
        self.inner.sweep_expired(max, cx).await
    }

    async fn tail_events(
        &self,
        slot: SlotTag,
        after: Option<&StreamCursor>,
        max: usize,
    ) -> Result<(Vec<SessionEvent>, StreamCursor), StoreFailure> {
        self.gate()?;
        self.inner.tail_events(slot, after, max).await
    }

    async fn user_events(
        &self,
        user: &UserKey,
        max: usize,
        cx: &StoreContext,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        self.gate()?;
        self.inner.user_events(user, max, cx).await
    }
}
