//! [`MemoryStore`]: the embedded default store, and the reference model the
//! Redis store is tested against.
//!
//! Everything lives behind one mutex, so every operation is atomic by
//! construction. Data values are kept as JSON text and decoded on load, as a
//! remote store would, so a damaged value is reported as corrupt.
//!
//! # No garbage
//!
//! Every entry has a wake-up time in an ordered queue: an active session at
//! its expiry, a tombstone when its retention ends. Every operation first
//! handles the wake-ups that are due, so expired sessions and old tombstones
//! are dropped as a side effect of normal use, with no background task, and
//! the counts stay exact. The cost is amortised O(log n) per operation.
//! A process that stops calling the store keeps its memory until the next
//! call.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::delta::Delta;
use crate::ending::EndReason;
use crate::error::{CreateError, RotateError, StoreFailure, UpdateError};
use crate::events::{ConsumerName, EventKey, EventKind, ReadFrom, SessionEvent, StreamCursor};
use crate::expiry::idle_deadline;
use crate::id::SlotTag;
use crate::id::{PublicId, SessionKey};
use crate::limit::UserLimit;
use crate::record::SessionSummary;
use crate::store::{
    Applied, AsLoaded, Created, Loaded, NewSession, Page, PageRequest, Rotation, SessionStore,
    SlotKeyPin, StoreContext, UserKey,
};
use crate::user::UserId;

mod events;
mod live;
mod state;

use live::Live;
use state::{Entry, State};

/// An in-process session store. Cheap to create; share it as
/// `Arc<MemoryStore>` or `Arc<dyn SessionStore>`.
///
/// Sessions live as long as the process and are not shared between
/// instances: use it for development, tests and single-instance apps.
///
/// ```
/// use session_core::MemoryStore;
/// use session_core::store::SessionStore;
/// use std::sync::Arc;
/// let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries (active sessions and tombstones) the store holds
    /// after handling the wake-ups due at `now`: a diagnostic for "no
    /// garbage" checks.
    pub fn entry_count(&self, cx: &StoreContext) -> usize {
        let mut state = self.lock();
        state.sweep(cx);
        state.entries.len()
    }

    /// Everything the store holds right now, without handling due
    /// wake-ups: entries (sessions and tombstones), user-index members and
    /// queued wake-ups. The conformance kit's size measure: it must follow
    /// the live sessions, not the sessions ever created.
    pub fn footprint(&self) -> u64 {
        let state = self.lock();
        let indexed: usize = state.users.values().map(BTreeMap::len).sum();
        (state.entries.len() + indexed + state.wakeups.len()) as u64
    }

    /// How many events the lifecycle stream holds (capped at
    /// [`crate::events::DEFAULT_STREAM_LENGTH`]; trimmed by age too).
    pub fn stream_len(&self) -> usize {
        self.lock().log.len()
    }

    /// Damages the stored data of the session under `key` so that it no
    /// longer decodes (for the conformance kit's corrupt-record check).
    /// Returns false if there is no active session under `key`.
    #[cfg(feature = "testkit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
    pub fn damage_for_tests(&self, key: &SessionKey) -> bool {
        let mut state = self.lock();
        match state.entries.get_mut(key) {
            Some(Entry::Live(live)) => {
                live.data.insert("damaged".into(), "{not json".into());
                true
            }
            _ => false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-done change:
        // every operation validates before it mutates. Keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(
        &self,
        session: NewSession,
        limit: UserLimit,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, CreateError> {
        let mut state = self.lock();
        state.sweep(cx);
        if state.entries.contains_key(&session.key) {
            return Err(CreateError::DuplicateId);
        }
        let user = session.user.map(|u| u.user);
        let evicted = match &user {
            Some(u) => state
                .make_room(u, limit, None, cx)
                .map_err(|limit| CreateError::LimitReached { limit })?,
            None => Vec::new(),
        };
        let live = Live {
            public_id: session.public_id,
            counted: user.is_some() || cx.anonymous_analytics,
            user,
            created_at: cx.now,
            last_seen_at: cx.now,
            idle_timeout: session.idle_timeout,
            idle_deadline: idle_deadline(cx.now, session.idle_timeout, session.absolute_deadline),
            absolute_deadline: session.absolute_deadline,
            metadata: session.metadata,
            data: session.data,
        };
        if live.user.is_some() {
            let (p, u) = (live.public_id, live.user.clone());
            state
                .log
                .push(EventKind::SignedIn, p, u, None, cx.now, cx.now);
        }
        state.insert_live(session.key, live);
        Ok(evicted)
    }

    async fn load(&self, key: &SessionKey, cx: &StoreContext) -> Result<Loaded, StoreFailure> {
        let mut state = self.lock();
        state.sweep(cx);
        let live = match state.entries.get_mut(key) {
            None => return Ok(Loaded::Unknown),
            Some(Entry::Ended { ending, .. }) => return Ok(Loaded::Ended(ending.clone())),
            Some(Entry::Live(live)) => live,
        };
        let mut record = live.record()?;
        let due = live.refresh_due(cx);
        if due {
            live.touch(cx.now);
            record.last_seen_at = live.last_seen_at;
            record.idle_deadline = live.idle_deadline;
            let wake = live.expires_at();
            state.wakeups.insert((wake, *key));
        }
        Ok(Loaded::Active {
            record,
            refreshed: due,
        })
    }

    async fn apply(
        &self,
        key: &SessionKey,
        _public_id: &PublicId,
        delta: &Delta,
        _as_loaded: &AsLoaded,
        cx: &StoreContext,
    ) -> Result<Applied, UpdateError> {
        let mut state = self.lock();
        state.sweep(cx);
        let live = state.live_mut(key)?;
        let (before, after) = (live.data_size(), live.data_size_after(delta));
        if Live::over_cap(before, after, cx) {
            return Err(UpdateError::TooLarge {
                size: after,
                limit: cx.max_data_bytes,
            });
        }
        live.apply(delta);
        let due = live.refresh_due(cx);
        if due || delta.idle_timeout.is_some() {
            live.touch(cx.now);
        }
        let applied = Applied {
            idle_deadline: live.idle_deadline,
            absolute_deadline: live.absolute_deadline,
        };
        let wake = live.expires_at();
        state.wakeups.insert((wake, *key));
        Ok(applied)
    }

    async fn increment(
        &self,
        key: &SessionKey,
        field: &str,
        by: i64,
        cx: &StoreContext,
    ) -> Result<i64, UpdateError> {
        let mut state = self.lock();
        state.sweep(cx);
        let live = state.live_mut(key)?;
        let current = match live.data.get(field) {
            None => 0,
            Some(json) => {
                serde_json::from_str::<i64>(json).map_err(|_| UpdateError::NotAnInteger {
                    key: field.to_owned(),
                })?
            }
        };
        let next = current
            .checked_add(by)
            .ok_or_else(|| UpdateError::NotAnInteger {
                key: field.to_owned(),
            })?;
        let text = next.to_string();
        let before = live.data_size();
        let old = live.data.get(field).map_or(0, |v| field.len() + v.len());
        let after = before - old + field.len() + text.len();
        if Live::over_cap(before, after, cx) {
            return Err(UpdateError::TooLarge {
                size: after,
                limit: cx.max_data_bytes,
            });
        }
        live.data.insert(field.to_owned(), text);
        if live.refresh_due(cx) {
            live.touch(cx.now);
            let wake = live.expires_at();
            state.wakeups.insert((wake, *key));
        }
        Ok(next)
    }

    async fn take(
        &self,
        key: &SessionKey,
        _public_id: &PublicId,
        field: &str,
        cx: &StoreContext,
    ) -> Result<Option<String>, UpdateError> {
        let mut state = self.lock();
        state.sweep(cx);
        let live = state.live_mut(key)?;
        let taken = live.data.remove(field);
        if live.refresh_due(cx) {
            live.touch(cx.now);
            let wake = live.expires_at();
            state.wakeups.insert((wake, *key));
        }
        Ok(taken)
    }

    async fn rotate(&self, rotation: Rotation, cx: &StoreContext) -> Result<Created, RotateError> {
        let mut state = self.lock();
        state.sweep(cx);
        let mut live = match state.entries.get(&rotation.old) {
            None => return Err(RotateError::UnknownId),
            Some(Entry::Ended { ending, .. }) => return Err(RotateError::Ended(ending.clone())),
            Some(Entry::Live(live)) => (**live).clone(),
        };
        if state.entries.contains_key(&rotation.new) {
            return Err(RotateError::DuplicateId);
        }
        let (before, after) = (live.data_size(), live.data_size_after(&rotation.delta));
        if Live::over_cap(before, after, cx) {
            return Err(RotateError::TooLarge {
                size: after,
                limit: cx.max_data_bytes,
            });
        }
        let mut evicted = Vec::new();
        let kind = match (&rotation.sign_in, &live.user) {
            (Some(_), _) => Some(EventKind::SignedIn),
            (None, Some(_)) => Some(EventKind::Rotated),
            (None, None) => None,
        };
        if let Some(sign_in) = &rotation.sign_in {
            if live.user.as_ref().is_some_and(|u| *u != sign_in.user.user) {
                return Err(RotateError::OtherUser);
            }
            evicted = state
                .make_room(&sign_in.user.user, sign_in.limit, Some(&rotation.old), cx)
                .map_err(|limit| RotateError::LimitReached { limit })?;
            live.user = Some(sign_in.user.user.clone());
            live.counted = true;
            live.created_at = cx.now;
            live.absolute_deadline = sign_in.absolute_deadline;
        }
        live.apply(&rotation.delta);
        live.touch(cx.now);
        let record = live.record()?;
        state.end(&rotation.old, EndReason::Rotated, cx.now, cx);
        if let Some(kind) = kind {
            let (p, u) = (live.public_id, live.user.clone());
            state.log.push(kind, p, u, None, cx.now, cx.now);
        }
        state.insert_live(rotation.new, live);
        Ok(Created { record, evicted })
    }

    async fn invalidate(
        &self,
        key: &SessionKey,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Option<PublicId>, StoreFailure> {
        let mut state = self.lock();
        state.sweep(cx);
        Ok(state.end(key, reason, cx.now, cx))
    }

    async fn revoke_by_public_id(
        &self,
        user: &UserKey,
        public_id: &PublicId,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<bool, StoreFailure> {
        let mut state = self.lock();
        state.sweep(cx);
        let key = state
            .users
            .get(&user.user)
            .and_then(|index| index.get(public_id))
            .copied();
        Ok(match key {
            Some(key) => state.end(&key, reason, cx.now, cx).is_some(),
            None => false,
        })
    }

    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&PublicId>,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, StoreFailure> {
        let mut state = self.lock();
        state.sweep(cx);
        let keys: Vec<SessionKey> = state
            .users
            .get(&user.user)
            .map(|index| {
                index
                    .iter()
                    .filter(|(p, _)| Some(*p) != except)
                    .map(|(_, k)| *k)
                    .collect()
            })
            .unwrap_or_default();
        Ok(keys
            .iter()
            .filter_map(|key| state.end(key, reason.clone(), cx.now, cx))
            .collect())
    }

    async fn list_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<Vec<SessionSummary>, StoreFailure> {
        let mut state = self.lock();
        state.sweep(cx);
        let mut list: Vec<SessionSummary> = Vec::new();
        for (_, live) in state.user_sessions(&user.user) {
            // One damaged session leaves the list, reported, not the list
            // (guarantee 13).
            match live.record() {
                Ok(record) => list.push(record.summary()),
                Err(e) => tracing::warn!(
                    target: "session_core::memory",
                    error = %e,
                    "a damaged session record was left out of its user's list"
                ),
            }
        }
        list.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.public_id)));
        Ok(list)
    }

    async fn count_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<u64, StoreFailure> {
        let mut state = self.lock();
        state.sweep(cx);
        Ok(state.users.get(&user.user).map_or(0, |i| i.len() as u64))
    }

    async fn count_active(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        let mut state = self.lock();
        state.sweep(cx);
        Ok(state.active)
    }

    async fn count_active_users(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        let mut state = self.lock();
        state.sweep(cx);
        Ok(state.users.len() as u64)
    }

    async fn active_users(
        &self,
        page: PageRequest,
        cx: &StoreContext,
    ) -> Result<Page, StoreFailure> {
        use std::ops::Bound;
        let mut state = self.lock();
        state.sweep(cx);
        let limit = usize::try_from(page.limit.clamp(1, 1000)).unwrap_or(1000);
        let lower = match &page.after {
            Some(after) => Bound::Excluded(after.clone()),
            None => Bound::Unbounded,
        };
        let mut iter = state.users.range((lower, Bound::Unbounded)).map(|(u, _)| u);
        let users: Vec<UserId> = iter.by_ref().take(limit).cloned().collect();
        let next = if iter.next().is_some() {
            users.last().cloned()
        } else {
            None
        };
        Ok(Page { users, next })
    }

    async fn read_events(
        &self,
        name: &ConsumerName,
        from: ReadFrom,
        max: usize,
        cx: &StoreContext,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        let mut state = self.lock();
        state.sweep(cx);
        Ok(state.log.read(name, from, max, cx.now))
    }

    async fn ack_events(&self, name: &ConsumerName, keys: &[EventKey]) -> Result<(), StoreFailure> {
        self.lock().log.ack(name, keys);
        Ok(())
    }

    async fn sweep_expired(&self, _max: usize, cx: &StoreContext) -> Result<u64, StoreFailure> {
        // Every call sweeps what is due; this one only trims by age too.
        let mut state = self.lock();
        state.sweep(cx);
        state.log.trim_by_age(cx.now);
        Ok(0)
    }

    async fn tail_events(
        &self,
        _slot: SlotTag,
        after: Option<&StreamCursor>,
        max: usize,
    ) -> Result<(Vec<SessionEvent>, StreamCursor), StoreFailure> {
        Ok(self.lock().log.tail(after, max))
    }

    async fn user_events(
        &self,
        user: &UserKey,
        max: usize,
        cx: &StoreContext,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        let mut state = self.lock();
        state.sweep(cx);
        Ok(state.log.of_user(&user.user, max))
    }

    async fn pin_slot_key(&self, fingerprint: &str) -> Result<SlotKeyPin, StoreFailure> {
        let mut state = self.lock();
        let kept = state.slot_key.get_or_insert_with(|| fingerprint.to_owned());
        Ok(if kept == fingerprint {
            SlotKeyPin::Same
        } else {
            SlotKeyPin::Changed
        })
    }
}

#[cfg(test)]
mod tests;
