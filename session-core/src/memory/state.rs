//! The memory store's state behind its lock: entries, user indexes,
//! wake-ups and the lifecycle stream, with the steps every call shares
//! (sweep, end, index, make room).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::ending::{EndReason, Ending};
use crate::error::UpdateError;
use crate::events::EventKind;
use crate::id::{PublicId, SessionKey};
use crate::limit::{LimitPolicy, UserLimit};
use crate::store::StoreContext;
use crate::time::Timestamp;
use crate::user::UserId;

use super::events::EventLog;
use super::live::Live;

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) entries: HashMap<SessionKey, Entry>,
    /// Each user's active sessions: public id → key.
    pub(super) users: BTreeMap<UserId, BTreeMap<PublicId, SessionKey>>,
    /// When to look at an entry again (stale items are skipped).
    pub(super) wakeups: BTreeSet<(Timestamp, SessionKey)>,
    /// The live sessions `count_active` counts (signed-in ones, and
    /// anonymous ones made with anonymous analytics on).
    pub(super) active: u64,
    /// The slot key's fingerprint, kept by the first manager to ask.
    pub(super) slot_key: Option<String>,
    /// The lifecycle stream.
    pub(super) log: EventLog,
}

#[derive(Debug)]
pub(super) enum Entry {
    Live(Box<Live>),
    Ended {
        ending: Ending,
        forget_at: Timestamp,
    },
}

impl State {
    /// Handles every wake-up due at `now`: expires sessions, forgets tombstones.
    pub(super) fn sweep(&mut self, cx: &StoreContext) {
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
    pub(super) fn end(
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
        if let Some(user) = &user {
            self.unindex(user, &public_id);
        }
        if counted {
            self.active -= 1;
            // A rotation is recorded by the step as `rotated`, not as an end.
            if reason != EndReason::Rotated {
                let reason = Some(reason.clone());
                self.log
                    .push(EventKind::Ended, public_id, user, reason, at, cx.now);
            }
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

    pub(super) fn unindex(&mut self, user: &UserId, public_id: &PublicId) {
        if let Some(index) = self.users.get_mut(user) {
            index.remove(public_id);
            if index.is_empty() {
                self.users.remove(user);
            }
        }
    }

    pub(super) fn insert_live(&mut self, key: SessionKey, live: Live) {
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

    pub(super) fn live_mut(&mut self, key: &SessionKey) -> Result<&mut Live, UpdateError> {
        match self.entries.get_mut(key) {
            None => Err(UpdateError::UnknownId),
            Some(Entry::Ended { ending, .. }) => Err(UpdateError::Ended(ending.clone())),
            Some(Entry::Live(live)) => Ok(live),
        }
    }

    pub(super) fn user_sessions(
        &self,
        user: &UserId,
    ) -> impl Iterator<Item = (&SessionKey, &Live)> {
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
    pub(super) fn make_room(
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
