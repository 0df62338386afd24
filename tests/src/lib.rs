//! Test support shared by the workspace-level tests.
//!
//! * [`http_contract`]: the demo contract over real HTTP, written once and
//!   run against every framework's demo on every store.
//!
//! [`BrokenStore`] is the in-memory store with one deliberate fault, each
//! a bug seen in real session libraries. The test
//! `kit_catches_broken_stores` runs the conformance kit against each one and
//! requires the matching check to fail, so no check passes vacuously.

#![deny(missing_docs)]

pub mod http_contract;

/// The Rust blocks of the workspace README and of the guides in `docs/`,
/// compiled (and, unless marked `no_run`, run) as this crate's doc tests,
/// so application code a reader copies compiles. The peers' "before"
/// blocks are marked `ignore`: they need the peers' crates.
#[cfg(doctest)]
mod docs_compile {
    #[doc = include_str!("../../README.md")]
    struct Readme;

    #[doc = include_str!("../../docs/migrating-from-tower-sessions.md")]
    struct MigratingFromTowerSessions;

    #[doc = include_str!("../../docs/migrating-from-actix-session.md")]
    struct MigratingFromActixSession;

    #[doc = include_str!("../../docs/operations.md")]
    struct Operations;

    #[doc = include_str!("../../docs/performance.md")]
    struct Performance;

    #[doc = include_str!("../../docs/demo-api.md")]
    struct DemoApi;
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use session_core::store::testkit::{Harness, MemoryHarness};
use session_core::store::{
    Applied, AsLoaded, CreateError, Created, Delta, Loaded, NewSession, RotateError, Rotation,
    SessionKey, SessionStore, StoreContext, UpdateError, UserKey, idle_deadline,
};
use session_core::{
    EndReason, Ending, LimitPolicy, Page, PageRequest, PublicId, SessionSummary, StoreFailure,
    Timestamp, UserLimit,
};

/// The bug a [`BrokenStore`] has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A save to an ended or unknown session re-creates it (guarantee 1).
    SaveResurrects,
    /// A save writes the whole data map: keys it did not change are lost (2).
    SaveOverwritesAll,
    /// Increment reads, yields, then writes (3).
    IncrementReadThenWrite,
    /// Take reads, yields, then removes: two racing takes both get the
    /// value (3).
    TakeReadThenRemove,
    /// A signed-in session is created without the data it was given (a
    /// store that expects sign-ins to carry none) (4).
    SignedInCreateDropsData,
    /// The per-user limit is counted, then acted on (4).
    LimitCountThenAct,
    /// Evict-idle evicts the oldest instead (4).
    EvictIdleIsOldest,
    /// Revoke-all ignores the exception (5).
    RevokeAllIgnoresException,
    /// Rotation copies the session but leaves the old id alive (6).
    RotationKeepsOldId,
    /// Rotation reads, yields, creates, then ends the old id (6).
    RotationReadThenWrite,
    /// Sessions expire a second late (7).
    ExpiresLate,
    /// Every load pushes the idle deadline (7).
    RefreshesEveryLoad,
    /// An ended session loads as unknown: the reason is lost (8).
    ForgetsReasons,
    /// Tombstones are kept twice as long as asked (8).
    KeepsTombstonesTooLong,
    /// A record that does not decode loads as unknown (9).
    CorruptLoadsAsUnknown,
    /// The active count never goes down (11).
    CountsNeverDecrease,
    /// An instance whose clock runs ahead prunes a still-live session from
    /// its user's index without ending it; a later refresh by an on-time
    /// instance leaves it active outside the index, a ghost (7).
    IndexPrunedByFastClock,
    /// A load that finds a session expired says so but records nothing
    /// (a plain read judged by the caller's clock): an instance whose
    /// clock is behind refreshes it afterwards (7).
    LoadExpiryNotFinal,
    /// Once any record is damaged, sign-out-everywhere fails midway as
    /// "unavailable" (13).
    DamageBlocksRevokeAll,
    /// Entries for ended sessions are never dropped: the store's size grows
    /// with every session ever created (7).
    AnalyticsNeverShrink,
    /// Durations are cut to ten years (a store keeping seconds in a narrow
    /// type or times in floats) (7).
    TruncatesLongDurations,
}

/// `cx` a minute earlier: how [`Fault::IndexPrunedByFastClock`] reads the
/// model store without letting it end what it finds expired.
fn a_minute_before(cx: &StoreContext) -> StoreContext {
    let mut earlier = *cx;
    earlier.now = Timestamp::from_unix_millis(cx.now.as_unix_millis().saturating_sub(60_000));
    earlier
}

/// Ten years: what [`Fault::TruncatesLongDurations`] keeps at most.
const TEN_YEARS: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The in-memory store with one [`Fault`].
#[derive(Debug)]
pub struct BrokenStore {
    inner: Arc<dyn SessionStore>,
    fault: Fault,
    created: AtomicU64,
    /// Sessions pruned from their index ([`Fault::IndexPrunedByFastClock`]).
    pruned: std::sync::Mutex<std::collections::HashSet<PublicId>>,
    /// Whether the harness damaged a record ([`Fault::DamageBlocksRevokeAll`]).
    damaged: AtomicBool,
}

/// Makes [`BrokenStore`]s; corrupts records through the memory harness.
#[derive(Debug)]
pub struct BrokenHarness {
    fault: Fault,
    memory: MemoryHarness,
    last: std::sync::Mutex<Option<Arc<BrokenStore>>>,
}

impl BrokenHarness {
    /// A harness whose stores have `fault`.
    pub fn new(fault: Fault) -> Self {
        BrokenHarness {
            fault,
            memory: MemoryHarness::default(),
            last: std::sync::Mutex::new(None),
        }
    }
}

#[async_trait]
impl Harness for BrokenHarness {
    async fn store(&self) -> Arc<dyn SessionStore> {
        let store = Arc::new(BrokenStore {
            inner: self.memory.store().await,
            fault: self.fault,
            created: AtomicU64::new(0),
            pruned: Default::default(),
            damaged: AtomicBool::new(false),
        });
        if let Ok(mut last) = self.last.lock() {
            *last = Some(store.clone());
        }
        store
    }

    async fn corrupt(&self, key: &SessionKey) -> bool {
        let damaged = self.memory.corrupt(key).await;
        if let Some(last) = self.last.lock().ok().and_then(|l| l.clone()) {
            last.damaged.fetch_or(damaged, Ordering::SeqCst);
        }
        damaged
    }

    async fn footprint(&self) -> Option<u64> {
        let size = self.memory.footprint().await?;
        if self.fault != Fault::AnalyticsNeverShrink {
            return Some(size);
        }
        // Everything ever created is still held.
        let last = self.last.lock().ok()?.clone()?;
        Some(size + last.created.load(Ordering::SeqCst))
    }
}

impl BrokenStore {
    fn is(&self, fault: Fault) -> bool {
        self.fault == fault
    }

    fn cx(&self, cx: &StoreContext) -> StoreContext {
        let mut cx = *cx;
        match self.fault {
            Fault::ExpiresLate => {
                cx.now = Timestamp::from_unix_millis(cx.now.as_unix_millis().saturating_sub(1000));
            }
            Fault::RefreshesEveryLoad => cx.refresh_threshold = Duration::MAX,
            Fault::KeepsTombstonesTooLong => cx.ended_retention *= 2,
            _ => {}
        }
        cx
    }

    /// Re-creates a session from a delta, as a "save" that falls back to
    /// creating would.
    async fn resurrect(
        &self,
        key: &SessionKey,
        delta: &Delta,
        cx: &StoreContext,
    ) -> Result<Applied, UpdateError> {
        let data = delta
            .data
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        let fresh = NewSession {
            key: *key,
            public_id: PublicId::generate(),
            user: None,
            idle_timeout: Duration::from_secs(3600),
            absolute_deadline: cx.now.plus(Duration::from_secs(86_400)),
            metadata: Default::default(),
            data,
        };
        match self
            .inner
            .create(fresh.clone(), UserLimit::unlimited(), cx)
            .await
        {
            Ok(_) => Ok(Applied {
                idle_deadline: idle_deadline(cx.now, fresh.idle_timeout, fresh.absolute_deadline),
                absolute_deadline: fresh.absolute_deadline,
            }),
            // The tombstone blocks a create in the memory store; pretend the
            // save worked, as a store that ignores the reply would.
            Err(_) => Ok(Applied {
                idle_deadline: cx.now.plus(Duration::from_secs(3600)),
                absolute_deadline: cx.now.plus(Duration::from_secs(86_400)),
            }),
        }
    }
}

#[async_trait]
impl SessionStore for BrokenStore {
    async fn create(
        &self,
        mut s: NewSession,
        limit: UserLimit,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, CreateError> {
        let cx = self.cx(cx);
        if self.is(Fault::TruncatesLongDurations) {
            s.idle_timeout = s.idle_timeout.min(TEN_YEARS);
            s.absolute_deadline = s.absolute_deadline.min(cx.now.plus(TEN_YEARS));
        }
        if self.is(Fault::SignedInCreateDropsData) && s.user.is_some() {
            s.data.clear();
        }
        self.created.fetch_add(1, Ordering::SeqCst);
        let (Some(user), Some(max)) = (s.user.clone(), limit.max()) else {
            return self.inner.create(s, limit, &cx).await;
        };
        match self.fault {
            Fault::LimitCountThenAct => {
                let list = self.inner.list_user_sessions(&user, &cx).await?;
                tokio::task::yield_now().await;
                if list.len() >= max as usize {
                    if limit.policy() == LimitPolicy::Deny {
                        return Err(CreateError::LimitReached { limit: max });
                    }
                    if let Some(oldest) = list.last() {
                        self.inner
                            .revoke_by_public_id(&user, &oldest.public_id, EndReason::Limit, &cx)
                            .await?;
                    }
                }
                self.inner.create(s, UserLimit::unlimited(), &cx).await
            }
            Fault::EvictIdleIsOldest if limit.policy() == LimitPolicy::EvictIdle => {
                self.inner
                    .create(s, UserLimit::at_most(max, LimitPolicy::EvictOldest), &cx)
                    .await
            }
            _ => self.inner.create(s, limit, &cx).await,
        }
    }

    async fn load(&self, key: &SessionKey, cx: &StoreContext) -> Result<Loaded, StoreFailure> {
        if self.is(Fault::LoadExpiryNotFinal) {
            // Read as the model store would a minute ago, without a refresh
            // (so it neither ends nor refreshes anything), and judge by this
            // caller's clock.
            let read = StoreContext {
                refresh_threshold: Duration::ZERO,
                ..a_minute_before(cx)
            };
            if let Loaded::Active { record, .. } = self.inner.load(key, &read).await?
                && record.expires_at() <= cx.now
            {
                return Ok(Loaded::Ended(Ending {
                    reason: EndReason::Expired,
                    at: record.expires_at(),
                }));
            }
        }
        match self.inner.load(key, &self.cx(cx)).await {
            Ok(Loaded::Ended(_)) if self.is(Fault::ForgetsReasons) => Ok(Loaded::Unknown),
            Err(StoreFailure::Corrupt(_)) if self.is(Fault::CorruptLoadsAsUnknown) => {
                Ok(Loaded::Unknown)
            }
            other => other,
        }
    }

    async fn apply(
        &self,
        key: &SessionKey,
        public_id: &PublicId,
        delta: &Delta,
        as_loaded: &AsLoaded,
        cx: &StoreContext,
    ) -> Result<Applied, UpdateError> {
        let cx = self.cx(cx);
        match self.fault {
            Fault::TruncatesLongDurations => {
                let mut delta = delta.clone();
                delta.idle_timeout = delta.idle_timeout.map(|t| t.min(TEN_YEARS));
                self.inner
                    .apply(key, public_id, &delta, as_loaded, &cx)
                    .await
            }
            Fault::SaveResurrects => match self
                .inner
                .apply(key, public_id, delta, as_loaded, &cx)
                .await
            {
                Err(UpdateError::Ended(_) | UpdateError::UnknownId) => {
                    self.resurrect(key, delta, &cx).await
                }
                other => other,
            },
            Fault::SaveOverwritesAll => {
                let mut whole = delta.clone();
                if let Ok(Loaded::Active { record, .. }) = self.inner.load(key, &cx).await {
                    for k in record.data.keys() {
                        whole.data.entry(k.clone()).or_insert(None);
                    }
                }
                self.inner
                    .apply(key, public_id, &whole, as_loaded, &cx)
                    .await
            }
            _ => {
                self.inner
                    .apply(key, public_id, delta, as_loaded, &cx)
                    .await
            }
        }
    }

    async fn increment(
        &self,
        key: &SessionKey,
        field: &str,
        by: i64,
        cx: &StoreContext,
    ) -> Result<i64, UpdateError> {
        let cx = self.cx(cx);
        match self.fault {
            Fault::IncrementReadThenWrite => {
                let (current, public_id) = match self.inner.load(key, &cx).await? {
                    Loaded::Active { record, .. } => (
                        record.data.get(field).and_then(|v| v.as_i64()).unwrap_or(0),
                        record.public_id,
                    ),
                    Loaded::Ended(e) => return Err(UpdateError::Ended(e)),
                    Loaded::Unknown => return Err(UpdateError::UnknownId),
                };
                tokio::task::yield_now().await;
                let mut delta = Delta::default();
                delta
                    .data
                    .insert(field.to_owned(), Some((current + by).to_string()));
                self.inner
                    .apply(key, &public_id, &delta, &AsLoaded::default(), &cx)
                    .await?;
                Ok(current + by)
            }
            Fault::SaveResurrects => match self.inner.increment(key, field, by, &cx).await {
                Err(UpdateError::Ended(_) | UpdateError::UnknownId) => Ok(by),
                other => other,
            },
            _ => self.inner.increment(key, field, by, &cx).await,
        }
    }

    async fn take(
        &self,
        key: &SessionKey,
        public_id: &PublicId,
        field: &str,
        cx: &StoreContext,
    ) -> Result<Option<String>, UpdateError> {
        let cx = self.cx(cx);
        if self.is(Fault::SaveResurrects) {
            return match self.inner.take(key, public_id, field, &cx).await {
                Err(UpdateError::Ended(_) | UpdateError::UnknownId) => Ok(None),
                other => other,
            };
        }
        if !self.is(Fault::TakeReadThenRemove) {
            return self.inner.take(key, public_id, field, &cx).await;
        }
        let value = match self.inner.load(key, &cx).await? {
            Loaded::Active { record, .. } => record.data.get(field).map(|v| v.to_string()),
            Loaded::Ended(e) => return Err(UpdateError::Ended(e)),
            Loaded::Unknown => return Err(UpdateError::UnknownId),
        };
        tokio::task::yield_now().await;
        let mut delta = Delta::default();
        delta.data.insert(field.to_owned(), None);
        self.inner
            .apply(key, public_id, &delta, &AsLoaded::default(), &cx)
            .await?;
        Ok(value)
    }

    async fn rotate(&self, rotation: Rotation, cx: &StoreContext) -> Result<Created, RotateError> {
        let cx = self.cx(cx);
        if !(self.is(Fault::RotationKeepsOldId) || self.is(Fault::RotationReadThenWrite)) {
            return self.inner.rotate(rotation, &cx).await;
        }
        let record = match self.inner.load(&rotation.old, &cx).await? {
            Loaded::Active { record, .. } => record,
            Loaded::Ended(e) => return Err(RotateError::Ended(e)),
            Loaded::Unknown => return Err(RotateError::UnknownId),
        };
        tokio::task::yield_now().await;
        let mut data: std::collections::BTreeMap<String, String> = record
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        for (k, v) in &rotation.delta.data {
            match v {
                Some(v) => data.insert(k.clone(), v.clone()),
                None => data.remove(k),
            };
        }
        let user = match &rotation.sign_in {
            Some(s) => Some(s.user.clone()),
            // The memory store files users by id: the keyed digest, which
            // this wrapper has no secret to make, goes unused.
            None => record.user.clone().map(|u| UserKey {
                slot: rotation.new.slot(),
                user: u,
                digest: [0; 16],
            }),
        };
        let fresh = NewSession {
            key: rotation.new,
            public_id: record.public_id,
            user,
            idle_timeout: record.idle_timeout,
            absolute_deadline: record.absolute_deadline,
            metadata: rotation.delta.metadata.clone().unwrap_or(record.metadata),
            data,
        };
        let record = fresh.record(cx.now)?;
        let evicted = self
            .inner
            .create(fresh, UserLimit::unlimited(), &cx)
            .await
            .map_err(|e| match e {
                CreateError::Store(f) => RotateError::Store(f),
                _ => RotateError::DuplicateId,
            })?;
        let created = Created { record, evicted };
        if self.is(Fault::RotationReadThenWrite) {
            self.inner
                .invalidate(&rotation.old, EndReason::Rotated, &cx)
                .await?;
        }
        Ok(created)
    }

    async fn invalidate(
        &self,
        key: &SessionKey,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Option<PublicId>, StoreFailure> {
        self.inner.invalidate(key, reason, &self.cx(cx)).await
    }

    async fn revoke_by_public_id(
        &self,
        user: &UserKey,
        public_id: &PublicId,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<bool, StoreFailure> {
        self.inner
            .revoke_by_public_id(user, public_id, reason, &self.cx(cx))
            .await
    }

    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&PublicId>,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, StoreFailure> {
        if self.is(Fault::DamageBlocksRevokeAll) && self.damaged.load(Ordering::SeqCst) {
            return Err(StoreFailure::unavailable(std::io::Error::other(
                "a script met a damaged record midway",
            )));
        }
        let except = if self.is(Fault::RevokeAllIgnoresException) {
            None
        } else {
            except
        };
        self.inner
            .revoke_all(user, except, reason, &self.cx(cx))
            .await
    }

    async fn list_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<Vec<SessionSummary>, StoreFailure> {
        if !self.is(Fault::IndexPrunedByFastClock) {
            return self.inner.list_user_sessions(user, &self.cx(cx)).await;
        }
        // Read the index as the model store would a minute ago (so it does
        // not end what it finds expired), then prune by this caller's clock
        // without ending anything.
        let list = self
            .inner
            .list_user_sessions(user, &a_minute_before(cx))
            .await?;
        let Ok(mut pruned) = self.pruned.lock() else {
            return Ok(list);
        };
        for s in &list {
            if s.expires_at <= cx.now {
                pruned.insert(s.public_id);
            }
        }
        Ok(list
            .into_iter()
            .filter(|s| !pruned.contains(&s.public_id))
            .collect())
    }

    async fn count_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<u64, StoreFailure> {
        if self.is(Fault::IndexPrunedByFastClock) {
            return Ok(self.list_user_sessions(user, cx).await?.len() as u64);
        }
        self.inner.count_user_sessions(user, &self.cx(cx)).await
    }

    async fn count_active(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        if self.is(Fault::IndexPrunedByFastClock) {
            // Counting never ends a session here: only the index is pruned.
            return self.inner.count_active(&a_minute_before(cx)).await;
        }
        if self.is(Fault::CountsNeverDecrease) {
            return Ok(self.created.load(Ordering::SeqCst));
        }
        self.inner.count_active(&self.cx(cx)).await
    }

    async fn count_active_users(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        self.inner.count_active_users(&self.cx(cx)).await
    }

    async fn active_users(
        &self,
        page: PageRequest,
        cx: &StoreContext,
    ) -> Result<Page, StoreFailure> {
        self.inner.active_users(page, &self.cx(cx)).await
    }
}
