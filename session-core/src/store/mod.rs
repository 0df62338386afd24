//! For store authors: the [`SessionStore`] trait, the contract every
//! backend keeps, with its request and reply types and errors, and (feature
//! `testkit`) the conformance kit that checks a store against it.
//!
//! The trait has one operation per change, never a generic `save`: `create`
//! refuses a duplicate, `apply` and `increment` refuse an ended or unknown
//! session (so a save can never bring a signed-out user back), and `rotate`
//! moves a session to a new key in one step. Every operation that reads and
//! then writes, or writes more than one thing, must be atomic.
//!
//! Stores never read a clock: [`StoreContext::now`] is the time. They never
//! see a session id either, only its [`SessionKey`].
//!
//! The conformance kit (`session_core::store::testkit`, feature `testkit`) checks a
//! store against this contract; run it against any store you write.
//!
//! # Invariants a store keeps
//!
//! * A session is *active* at `now` iff it exists, has not ended, and
//!   `now < expires_at` (the earlier of idle and absolute deadline).
//! * Ending a session (invalidate, revoke, revoke-all, limit eviction,
//!   rotation) leaves a tombstone with the [`Ending`] for at least
//!   [`StoreContext::ended_retention`]; while it exists, `load` reports it,
//!   `create` with that key fails with `DuplicateId`, and `apply`,
//!   `increment` and `rotate` fail with `Ended`.
//! * A signed-in session is listed in its user's index until it ends or
//!   expires; every user-scoped operation is exact at `now`.

#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

pub use crate::delta::{AsLoaded, Delta, LoadedTimes};
pub use crate::error::{BoxedCause, CreateError, RotateError, UpdateError};
pub use crate::expiry::{idle_deadline, refresh_due};
pub use crate::id::{SessionKey, SlotTag};
pub use crate::record::FORMAT_VERSION;

use crate::ending::{EndReason, Ending};
use crate::error::StoreFailure;
pub use crate::events::{ConsumerName, EventKey, EventKind, ReadFrom, SessionEvent, StreamCursor};
use crate::id::PublicId;
use crate::limit::UserLimit;
use crate::record::{Metadata, SessionRecord, SessionSummary};
use crate::time::Timestamp;
use crate::user::UserId;

/// The time and policy an operation runs under, given by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreContext {
    /// The current time: all expiry is judged against it.
    pub now: Timestamp,
    /// How long an ended session's tombstone must be kept.
    pub ended_retention: Duration,
    /// `load` pushes the idle deadline forward when less than this remains.
    pub refresh_threshold: Duration,
    /// The data cap (guarantee 13): the bytes of a session's data, each
    /// key's length plus its stored value's, that `apply`, `increment` and
    /// `rotate` may not grow a session past, judged against what is stored
    /// when they merge (not the caller's snapshot). A change that shrinks
    /// the data, or keeps its size, is always allowed, so a session at its
    /// cap can still shrink. `usize::MAX` for none.
    pub max_data_bytes: usize,
    /// Whether an anonymous session `create` makes is counted by
    /// `count_active` (guarantee 11; off by default). Off, a store keeps
    /// no analytics entry for it, and the count is of signed-in sessions
    /// (and of anonymous sessions created while it was on). A session that
    /// signs in is counted from then on.
    pub anonymous_analytics: bool,
}

/// A user, the slot all of the user's sessions live in, and the keyed
/// digest a store names the user's keys by.
///
/// ```
/// use session_core::store::UserKey;
/// use session_core::{KeyRing, UserId};
///
/// let alice = UserId::new("alice@example.com").unwrap();
/// let key = UserKey::new(&KeyRing::generate(), alice.clone());
/// // Another secret, another name: a dictionary of e-mail addresses does
/// // not reverse it without the secret.
/// assert_ne!(key.digest_hex(), UserKey::new(&KeyRing::generate(), alice).digest_hex());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserKey {
    /// The user.
    pub user: UserId,
    /// The user's slot tag ([`SlotTag::for_user`]).
    pub slot: SlotTag,
    /// A MAC of the user id under the server secret's slot key (16 bytes):
    /// name anything stored per user (an index key) by it, never by the
    /// user id or an unkeyed hash of it.
    pub digest: [u8; 16],
}

impl UserKey {
    /// The key of `user` under `keys`.
    pub fn new(keys: &crate::KeyRing, user: UserId) -> Self {
        UserKey {
            slot: SlotTag::for_user(keys, &user),
            digest: keys.user_digest(&user),
            user,
        }
    }

    /// [`Self::digest`] as 32 lowercase hex characters.
    pub fn digest_hex(&self) -> String {
        use std::fmt::Write as _;
        let mut hex = String::with_capacity(32);
        for b in self.digest {
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }
}

/// A session to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    /// Where to file it.
    pub key: SessionKey,
    /// Its public id.
    pub public_id: PublicId,
    /// The signed-in user, if any (the key's slot must be the user's slot).
    pub user: Option<UserKey>,
    /// Its idle timeout.
    pub idle_timeout: Duration,
    /// Its absolute deadline.
    pub absolute_deadline: Timestamp,
    /// Client facts.
    pub metadata: Metadata,
    /// Initial data: keys to JSON text.
    pub data: BTreeMap<String, String>,
}

impl NewSession {
    /// The record of this session once created at `now`: what
    /// [`SessionStore::create`] stores, so a store need not build it. Fails
    /// with [`StoreFailure::Corrupt`] when a data value is not JSON.
    pub fn record(&self, now: Timestamp) -> Result<SessionRecord, StoreFailure> {
        let mut data = BTreeMap::new();
        for (k, v) in &self.data {
            let value = serde_json::from_str(v)
                .map_err(|e| StoreFailure::Corrupt(format!("data key {k:?} is not JSON: {e}")))?;
            data.insert(k.clone(), value);
        }
        Ok(SessionRecord {
            format_version: FORMAT_VERSION,
            public_id: self.public_id,
            user: self.user.as_ref().map(|u| u.user.clone()),
            created_at: now,
            last_seen_at: now,
            idle_timeout: self.idle_timeout,
            idle_deadline: idle_deadline(now, self.idle_timeout, self.absolute_deadline),
            absolute_deadline: self.absolute_deadline,
            metadata: self.metadata.clone(),
            data,
        })
    }
}

/// What [`SessionStore::load`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// An active session. `refreshed` is true when this load pushed the idle
    /// deadline forward (the cookie's expiry should follow).
    Active {
        /// The record (after any refresh).
        record: SessionRecord,
        /// Whether the idle deadline moved.
        refreshed: bool,
    },
    /// The session ended, and why (kept for the retention period).
    Ended(Ending),
    /// Nothing is known under this key: never existed, or long gone.
    Unknown,
}

/// A successful create (as the manager reports it) or rotate.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    /// The new session's record.
    pub record: SessionRecord,
    /// Public ids of the sessions ended to keep the user within the limit.
    pub evicted: Vec<PublicId>,
}

/// The deadlines after a successful [`SessionStore::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The new idle deadline.
    pub idle_deadline: Timestamp,
    /// The absolute deadline (unchanged).
    pub absolute_deadline: Timestamp,
}

/// A rotation: move the session under `old` to `new` in one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    /// The session's current key.
    pub old: SessionKey,
    /// Its new key.
    pub new: SessionKey,
    /// Sign the session in while moving it (login).
    pub sign_in: Option<SignIn>,
    /// Changes to apply on the way (the request's unsaved delta).
    pub delta: Delta,
    /// The session's public id when the caller knows it, which it always
    /// does when `delta` is not empty (stores that bind values to their
    /// session, as encryption at rest does, need it then).
    pub public_id: Option<PublicId>,
}

/// Signing a session in during a [`Rotation`].
///
/// The old session must be anonymous or already this user's, else the
/// rotation fails with [`RotateError::OtherUser`] and changes nothing. The
/// old session does not count toward `limit`. Signing in starts the
/// session's life anew: `created_at` becomes now and the absolute deadline
/// becomes `absolute_deadline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The user to bind.
    pub user: UserKey,
    /// The per-user limit to apply atomically.
    pub limit: UserLimit,
    /// The new absolute deadline.
    pub absolute_deadline: Timestamp,
}

/// One page request for [`SessionStore::active_users`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Start after this user (exclusive); `None` for the first page.
    pub after: Option<UserId>,
    /// At most this many users (1 to 1000).
    pub limit: u32,
}

/// A page of users, in ascending byte order of their ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The users on this page.
    pub users: Vec<UserId>,
    /// Pass this as `after` for the next page; `None` on the last.
    pub next: Option<UserId>,
}

/// What [`SessionStore::pin_slot_key`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKeyPin {
    /// The fingerprint is the one the store keeps (it keeps this one now
    /// if it kept none).
    Same,
    /// The store keeps another: the key behind users' slot tags changed
    /// since the store was first used, and users' sessions would leave
    /// their indexes.
    Changed,
    /// The store does not keep one (the default for a store that outlives
    /// no process, or one that does not implement it).
    Unchecked,
}

/// A session backend. Object safe: `Arc<dyn SessionStore>` works.
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug {
    /// Creates a session: the record [`NewSession::record`] describes at
    /// `cx.now`. Fails with `DuplicateId` if anything (active or tombstone)
    /// exists under the key. When `session.user` is set, enforces `limit`
    /// atomically with the creation (guarantee 4) and returns the public
    /// ids of the sessions it ended to keep the user within it.
    async fn create(
        &self,
        session: NewSession,
        limit: UserLimit,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, CreateError>;

    /// Loads a session, pushing its idle deadline forward when less than
    /// the refresh threshold remains (one round trip).
    async fn load(&self, key: &SessionKey, cx: &StoreContext) -> Result<Loaded, StoreFailure>;

    /// Writes a delta to an active session, pushing its idle deadline when
    /// less than the refresh threshold remains or the delta changes the idle
    /// timeout (as `load` does; a zero threshold never pushes). Refused
    /// with `Ended`/`UnknownId` otherwise; never re-creates. `public_id` is
    /// the session's (stores that bind values to their session, as
    /// encryption at rest does, use it); `as_loaded` is what the request
    /// saw of it, which a store may use to skip a judgement (or ignore).
    async fn apply(
        &self,
        key: &SessionKey,
        public_id: &PublicId,
        delta: &Delta,
        as_loaded: &AsLoaded,
        cx: &StoreContext,
    ) -> Result<Applied, UpdateError>;

    /// Atomically adds `by` to the integer under data key `field` (absent
    /// counts as 0) and returns the new value. Same refusals as `apply`.
    async fn increment(
        &self,
        key: &SessionKey,
        field: &str,
        by: i64,
        cx: &StoreContext,
    ) -> Result<i64, UpdateError>;

    /// Reads and removes data key `field` of an active session in one
    /// atomic step, returning its JSON text (`None` when the key is
    /// absent): of two takes racing on one key, exactly one gets the value
    /// (flash messages, one-time tokens). Pushes the idle deadline as
    /// `apply` does; same refusals as `apply`, and nothing changes when
    /// refused. `public_id` is the session's, as for `apply`.
    async fn take(
        &self,
        key: &SessionKey,
        public_id: &PublicId,
        field: &str,
        cx: &StoreContext,
    ) -> Result<Option<String>, UpdateError>;

    /// Moves a session to a new key in one step, ending the old key with
    /// [`EndReason::Rotated`] (guarantee 6). Of two rotations racing on one
    /// key, exactly one succeeds.
    async fn rotate(&self, rotation: Rotation, cx: &StoreContext) -> Result<Created, RotateError>;

    /// Ends the session under `key` with `reason`. Returns its public id if
    /// an active session was ended, `None` if there was none.
    async fn invalidate(
        &self,
        key: &SessionKey,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Option<PublicId>, StoreFailure>;

    /// Ends `user`'s session with public id `public_id`; false when the user
    /// has no such active session (another user's public id is never found).
    async fn revoke_by_public_id(
        &self,
        user: &UserKey,
        public_id: &PublicId,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<bool, StoreFailure>;

    /// Ends every active session of `user` but `except`, in one atomic step
    /// (guarantee 5), each with `reason`. Returns the public ids it ended.
    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&PublicId>,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, StoreFailure>;

    /// The user's active sessions, newest first.
    async fn list_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<Vec<SessionSummary>, StoreFailure>;

    /// How many active sessions the user has. The default counts
    /// [`Self::list_user_sessions`]; a store with a cheaper count (Redis's
    /// `ZCOUNT`) overrides it.
    async fn count_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<u64, StoreFailure> {
        let listed = self.list_user_sessions(user, cx).await?;
        Ok(u64::try_from(listed.len()).unwrap_or(u64::MAX))
    }

    /// How many sessions are active in all.
    async fn count_active(&self, cx: &StoreContext) -> Result<u64, StoreFailure>;

    /// How many users have at least one active session. The default counts
    /// the pages of [`Self::active_users`] (one call per 1,000 users); a
    /// store that keeps a count overrides it (Redis and the memory store
    /// do).
    async fn count_active_users(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        count_users_by_pages(self, cx, MAX_PAGE).await
    }

    /// Users with at least one active session, a page at a time.
    async fn active_users(
        &self,
        page: PageRequest,
        cx: &StoreContext,
    ) -> Result<Page, StoreFailure>;

    /// Keeps `fingerprint` (of the key behind users' slot tags) the first
    /// time, and says whether a later one is the same: a store that
    /// outlives processes implements it, so that retiring that key cannot
    /// silently move users away from their sessions. The default keeps
    /// nothing ([`SlotKeyPin::Unchecked`]).
    async fn pin_slot_key(&self, fingerprint: &str) -> Result<SlotKeyPin, StoreFailure> {
        let _ = fingerprint;
        Ok(SlotKeyPin::Unchecked)
    }

    /// Reads up to `max` events of the lifecycle stream for consumer
    /// `name` (creating its group, at the stream's start, on first use):
    /// see [`ReadFrom`] for which. Every stream of the store is read (on
    /// Cluster, every primary's). Events handed out stay pending for this
    /// consumer until [`Self::ack_events`].
    ///
    /// The default reports [`StoreFailure::Unsupported`]: a store without
    /// a lifecycle stream.
    async fn read_events(
        &self,
        name: &ConsumerName,
        from: ReadFrom,
        max: usize,
        cx: &StoreContext,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        let _ = (name, from, max, cx);
        Err(StoreFailure::Unsupported("the lifecycle stream"))
    }

    /// Acknowledges events `keys` for `name`'s group: they are done and
    /// never handed out again. Acknowledging twice is harmless.
    async fn ack_events(&self, name: &ConsumerName, keys: &[EventKey]) -> Result<(), StoreFailure> {
        let _ = (name, keys);
        Err(StoreFailure::Unsupported("the lifecycle stream"))
    }

    /// Expires up to `max` sessions per stream that are past their
    /// deadline at `cx.now` and that no step has expired yet, writing
    /// their `ended` events (reason expired, at the deadline), and trims
    /// the streams by age. Returns how many it expired: call again while
    /// that is `max` or more.
    async fn sweep_expired(&self, max: usize, cx: &StoreContext) -> Result<u64, StoreFailure> {
        let _ = (max, cx);
        Err(StoreFailure::Unsupported("the expiry sweep"))
    }

    /// The events after `after` in the stream that records sessions filed
    /// under `slot`, at most `max`, and the cursor after them. With no
    /// `after`, no events and the cursor at the stream's end. For waiters
    /// on one session ([`crate::Session::ended`]); no group, no
    /// acknowledgement.
    async fn tail_events(
        &self,
        slot: SlotTag,
        after: Option<&StreamCursor>,
        max: usize,
    ) -> Result<(Vec<SessionEvent>, StreamCursor), StoreFailure> {
        let _ = (slot, after, max);
        Err(StoreFailure::Unsupported("the lifecycle stream"))
    }

    /// The most recent events (newest first, at most `max`) of `user`'s
    /// sessions still in the stream: an audit view.
    async fn user_events(
        &self,
        user: &UserKey,
        max: usize,
        cx: &StoreContext,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        let _ = (user, max, cx);
        Err(StoreFailure::Unsupported("the lifecycle stream"))
    }
}

/// The most users [`SessionStore::active_users`] returns in one page.
const MAX_PAGE: u32 = 1000;

/// [`SessionStore::count_active_users`]'s default: the users of every page
/// of [`SessionStore::active_users`], `page` at a time. A cursor that does
/// not move forward is a corrupt store, not an endless loop.
async fn count_users_by_pages<S: SessionStore + ?Sized>(
    store: &S,
    cx: &StoreContext,
    page: u32,
) -> Result<u64, StoreFailure> {
    let mut count: u64 = 0;
    let mut after: Option<UserId> = None;
    loop {
        let request = PageRequest {
            after: after.clone(),
            limit: page,
        };
        let found = store.active_users(request, cx).await?;
        count = count.saturating_add(u64::try_from(found.users.len()).unwrap_or(u64::MAX));
        match found.next {
            Some(next) if after.as_ref().is_none_or(|a| next > *a) => after = Some(next),
            Some(_) => {
                return Err(StoreFailure::Corrupt(
                    "active_users returned a cursor that does not advance".into(),
                ));
            }
            None => return Ok(count),
        }
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use crate::MemoryStore;

    /// The default count walks every page: on the memory store it agrees
    /// with the store's own count, pages of 2 or 1,000 alike.
    #[tokio::test]
    async fn counting_by_pages_agrees_with_the_store_s_own_count() {
        let store = MemoryStore::new();
        let keys = crate::KeyRing::generate();
        let cx = StoreContext {
            now: Timestamp::from_unix_millis(1_000_000),
            ended_retention: Duration::from_secs(60),
            refresh_threshold: Duration::from_secs(60),
            max_data_bytes: 4096,
            anonymous_analytics: false,
        };
        for n in 0..7 {
            let user = UserKey::new(&keys, UserId::new(format!("user-{n}")).expect("a user id"));
            let key = crate::SessionId::generate(&keys, user.slot).storage_key();
            let new = NewSession {
                key,
                public_id: PublicId::of_key(&key),
                user: Some(user),
                idle_timeout: Duration::from_secs(600),
                absolute_deadline: cx.now.plus(Duration::from_secs(3600)),
                metadata: Metadata::default(),
                data: BTreeMap::new(),
            };
            store
                .create(new, UserLimit::unlimited(), &cx)
                .await
                .expect("create");
        }
        let own = store.count_active_users(&cx).await.expect("count");
        assert_eq!(own, 7);
        for page in [2, 3, MAX_PAGE] {
            let walked = count_users_by_pages(&store, &cx, page).await.expect("walk");
            assert_eq!(walked, own, "pages of {page}");
        }
    }
}
