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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::delta::Delta;
use crate::ending::{EndReason, Ending};
use crate::error::{CreateError, RotateError, StoreFailure, UpdateError};
use crate::expiry::idle_deadline;
use crate::id::{PublicId, SessionKey};
use crate::limit::{LimitPolicy, UserLimit};
use crate::record::SessionSummary;
use crate::store::{
    Applied, AsLoaded, Created, Loaded, NewSession, Page, PageRequest, Rotation, SessionStore,
    SlotKeyPin, StoreContext, UserKey,
};
use crate::time::Timestamp;
use crate::user::UserId;

mod live;

use live::Live;

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

#[derive(Debug, Default)]
struct State {
    entries: HashMap<SessionKey, Entry>,
    /// Each user's active sessions: public id → key.
    users: BTreeMap<UserId, BTreeMap<PublicId, SessionKey>>,
    /// When to look at an entry again (stale items are skipped).
    wakeups: BTreeSet<(Timestamp, SessionKey)>,
    /// The live sessions `count_active` counts (signed-in ones, and
    /// anonymous ones made with anonymous analytics on).
    active: u64,
    /// The slot key's fingerprint, kept by the first manager to ask.
    slot_key: Option<String>,
}

#[derive(Debug)]
enum Entry {
    Live(Box<Live>),
    Ended {
        ending: Ending,
        forget_at: Timestamp,
    },
}

impl State {
    /// Handles every wake-up due at `now`: expires sessions, forgets tombstones.
    fn sweep(&mut self, cx: &StoreContext) {
        while let Some(&(at, key)) = self.wakeups.first() {
            if at > cx.now {
                break;
            }
            self.wakeups.pop_first();
            match self.entries.get(&key) {
                Some(Entry::Live(live)) if live.expires_at() <= cx.now => {
                    let at = live.expires_at();
                    self.end(&key, EndReason::Expired, at, cx);
                }
                Some(Entry::Ended { forget_at, .. }) if *forget_at <= cx.now => {
                    self.entries.remove(&key);
                }
                _ => {}
            }
        }
    }

    /// Ends the live session under `key`, leaving a tombstone.
    fn end(
        &mut self,
        key: &SessionKey,
        reason: EndReason,
        at: Timestamp,
        cx: &StoreContext,
    ) -> Option<PublicId> {
        let Some(Entry::Live(live)) = self.entries.get(key) else {
            return None;
        };
        let (public_id, user, counted) = (live.public_id, live.user.clone(), live.counted);
        if let Some(user) = user {
            self.unindex(&user, &public_id);
        }
        if counted {
            self.active -= 1;
        }
        let forget_at = at.plus(cx.ended_retention);
        if forget_at <= cx.now {
            self.entries.remove(key);
        } else {
            let ending = Ending { reason, at };
            self.entries
                .insert(*key, Entry::Ended { ending, forget_at });
            self.wakeups.insert((forget_at, *key));
        }
        Some(public_id)
    }

    fn unindex(&mut self, user: &UserId, public_id: &PublicId) {
        if let Some(index) = self.users.get_mut(user) {
            index.remove(public_id);
            if index.is_empty() {
                self.users.remove(user);
            }
        }
    }

    fn insert_live(&mut self, key: SessionKey, live: Live) {
        if let Some(user) = &live.user {
            self.users
                .entry(user.clone())
                .or_default()
                .insert(live.public_id, key);
        }
        self.wakeups.insert((live.expires_at(), key));
        if live.counted {
            self.active += 1;
        }
        self.entries.insert(key, Entry::Live(Box::new(live)));
    }

    fn live_mut(&mut self, key: &SessionKey) -> Result<&mut Live, UpdateError> {
        match self.entries.get_mut(key) {
            None => Err(UpdateError::UnknownId),
            Some(Entry::Ended { ending, .. }) => Err(UpdateError::Ended(ending.clone())),
            Some(Entry::Live(live)) => Ok(live),
        }
    }

    fn user_sessions(&self, user: &UserId) -> impl Iterator<Item = (&SessionKey, &Live)> {
        self.users.get(user).into_iter().flat_map(move |index| {
            index
                .values()
                .filter_map(move |key| match self.entries.get(key) {
                    Some(Entry::Live(live)) => Some((key, &**live)),
                    _ => None,
                })
        })
    }

    /// Ends sessions of `user` until one more fits under `limit`, or refuses.
    fn make_room(
        &mut self,
        user: &UserId,
        limit: UserLimit,
        exclude: Option<&SessionKey>,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, u32> {
        let Some(max) = limit.max() else {
            return Ok(Vec::new());
        };
        let mut sessions: Vec<(Timestamp, Timestamp, SessionKey)> = self
            .user_sessions(user)
            .filter(|(k, _)| Some(*k) != exclude)
            .map(|(k, l)| (l.last_seen_at, l.created_at, *k))
            .collect();
        let max_usize = usize::try_from(max).unwrap_or(usize::MAX);
        if sessions.len() < max_usize {
            return Ok(Vec::new());
        }
        match limit.policy() {
            LimitPolicy::Deny => return Err(max),
            LimitPolicy::EvictIdle => sessions.sort(),
            LimitPolicy::EvictOldest => {
                sessions.sort_by_key(|(seen, created, k)| (*created, *seen, *k))
            }
        }
        let excess = sessions.len() + 1 - max_usize;
        Ok(sessions
            .iter()
            .take(excess)
            .filter_map(|(_, _, key)| self.end(key, EndReason::Limit, cx.now, cx))
            .collect())
    }
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
