//! A randomized history under faults, with resends on (issue 26). Four
//! clients run random store operations (login under a limit, read, save,
//! take, increment, rotate, logout, revoke one, revoke all, count; half
//! the saves pass what a load just read, as a request does, which lets
//! the store save plainly) against a Redis setup reached through fault
//! proxies ([`FaultProxy`](redis_harness::FaultProxy)) that drop script
//! replies after Redis ran them, drop the next reply, delay and reset
//! connections (and, where the setup can, restart the server). The
//! setups (one Redis, the store's pool, Cluster and Sentinel), the run
//! over them, the final checks and small fixtures are in `setups`
//! (`randomized_setups.rs`).
//!
//! Every operation is expected to end acknowledged: a lost reply is
//! resent within the call deadline under its operation id, so no call
//! reports [`StoreFailure::OutcomeUnknown`]. A call that passes its
//! deadline ([`StoreFailure::TimedOut`]) may or may not have applied: it
//! is counted and printed, and what it touched (its counter, its user's
//! sessions) is left out of the exact checks. An invalidation that no
//! replica acknowledged in time ([`StoreFailure::NotReplicated`], on
//! Sentinel) applied, with what it ended known; any other store failure
//! (unavailable) did not apply; both are counted. The exact checks:
//! * no acknowledged end (logout, revoke, rotation, eviction, revoke-all)
//!   ever comes back: no later load finds it active, no later save is
//!   accepted; at the end each user's active sessions are exactly the
//!   acknowledged creations minus the acknowledged ends, each under the
//!   key of its last acknowledged rotation;
//! * no user ever has more sessions than the limit;
//! * every counter equals its acknowledged increments;
//! * a take returns, and a load reads, exactly what the last acknowledged
//!   save or take left, and so does the final read; a fresh key is never
//!   reported a duplicate (a resend that found its own first send).
//!
//! The seed is printed; `RANDOMIZED_SEED=n` replays one (the interleaving
//! still varies with scheduling).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis_harness::Fault;
use session_core::store::{
    AsLoaded, CreateError, Delta, Loaded, LoadedTimes, RotateError, Rotation, SessionKey,
    SessionStore, UpdateError,
};
use session_core::{EndReason, KeyRing, LimitPolicy, PublicId, SessionId, StoreFailure, UserLimit};

#[path = "randomized_setups.rs"]
mod setups;

use setups::{Rig, Rng, cx, new_session, user_key};

/// Clients running at once.
const CLIENTS: u64 = 4;
/// Operations each client runs.
const OPS_PER_CLIENT: usize = 400;
/// The per-user session limit (evicting the idlest).
const LIMIT: u32 = 2;
/// The users the clients sign in as.
const USERS: [&str; 2] = ["alice", "bob"];
/// Added to every value saved, so that all have ten digits.
const VALUE_BASE: u64 = 1_000_000_000;
/// The share of script replies [`Fault::DropScriptReplies`] drops.
const SCRIPT_DROP_PERCENT: u8 = 20;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Answered: a result, or a refusal that says what the store holds.
    Acked,
    /// [`StoreFailure::OutcomeUnknown`]: what resends must remove.
    Unknown,
    /// [`StoreFailure::TimedOut`]: the deadline passed; may have applied.
    TimedOut,
    /// Applied, but no replica acknowledged it in time
    /// ([`StoreFailure::NotReplicated`]): what it ended is known.
    Unreplicated,
    /// Another store failure: not applied (unavailable, refused).
    Failed,
    /// [`StoreFailure::NotReplicated`] from a call the store does not
    /// report it for: applied, with effects this test cannot tell.
    Unexpected,
}

impl End {
    fn of(f: &StoreFailure) -> End {
        match f {
            StoreFailure::OutcomeUnknown(_) => End::Unknown,
            StoreFailure::TimedOut(_) => End::TimedOut,
            StoreFailure::NotReplicated { .. } => End::Unexpected,
            _ => End::Failed,
        }
    }
    fn of_update(e: &UpdateError) -> End {
        match e {
            UpdateError::Store(f) => End::of(f),
            _ => End::Acked,
        }
    }
    /// Whether what the call changed is not known.
    fn unsure(self) -> bool {
        matches!(self, End::Unknown | End::TimedOut | End::Unexpected)
    }
}

/// How the calls of a run ended, and the faults it injected.
#[derive(Debug, Default)]
struct Tally {
    /// Indexed by [`End`] as declared.
    ends: [AtomicU64; 6],
    resets: AtomicU64,
    restarts: AtomicU64,
}

impl Tally {
    fn record(&self, end: End) -> End {
        self.ends[end as usize].fetch_add(1, Ordering::SeqCst);
        end
    }
    fn count(&self, end: End) -> u64 {
        self.ends[end as usize].load(Ordering::SeqCst)
    }
}

/// One session a client created, under its current key.
#[derive(Clone)]
struct Mine {
    key: SessionKey,
    user: usize,
    public: PublicId,
    /// The client's data value as the client last left it (`None` inside:
    /// absent); `None` once a call on the session was unsure.
    value: Option<Option<u64>>,
}

/// What happened, in the order of a global sequence number.
#[derive(Default)]
struct History {
    seq: AtomicU64,
    /// Session key → the sequence number when its invalidation returned.
    invalidated: Mutex<HashMap<SessionKey, u64>>,
    /// Session key → its user and when its (first) creation returned.
    created: Mutex<HashMap<SessionKey, (usize, u64)>>,
    /// Revoke-all cuts: user, when they began, when they returned.
    cuts: Mutex<Vec<(usize, u64, u64)>>,
    /// Public ids of acknowledged creations, by user.
    born: Mutex<Vec<BTreeSet<PublicId>>>,
    /// Public ids an acknowledged call reported ended.
    ended: Mutex<HashSet<PublicId>>,
    /// Users an unsure call may have changed.
    tainted: Mutex<HashSet<usize>>,
    violations: Mutex<Vec<String>>,
}

/// Locks `m`, whatever a panicking client left.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl History {
    fn tick(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst)
    }
    fn violation(&self, what: String) {
        lock(&self.violations).push(what);
    }
    fn invalidated(&self, key: SessionKey, at: u64) {
        lock(&self.invalidated).entry(key).or_insert(at);
    }
    fn ended(&self, ids: impl IntoIterator<Item = PublicId>) {
        lock(&self.ended).extend(ids);
    }

    /// Whether `key`, observed live by an operation that started at
    /// `started`, should have been ended by then.
    fn should_be_gone(&self, key: &SessionKey, started: u64) -> Option<String> {
        if let Some(at) = lock(&self.invalidated).get(key)
            && *at < started
        {
            return Some(format!("invalidated at {at}, active at {started}"));
        }
        let (user, born) = *lock(&self.created).get(key)?;
        for &(u, begin, end) in lock(&self.cuts).iter() {
            if u == user && born < begin && end < started {
                return Some(format!(
                    "created at {born}, cut by revoke-all {begin}..{end}, active at {started}"
                ));
            }
        }
        None
    }
}

/// One client: its store, its key ring, the shared history and tally.
struct Client {
    id: u64,
    rig: Arc<Rig>,
    ring: KeyRing,
    h: Arc<History>,
    t: Arc<Tally>,
    /// The data key this client saves and takes.
    field: String,
}

/// What one client leaves for the final checks.
struct ClientEnd {
    field: String,
    counter: SessionKey,
    acked: u64,
    unsure: u64,
    sessions: Vec<Mine>,
}

impl Client {
    /// Injects the fault `rng` picks (most often none) on one of the
    /// proxies; client 0 restarts the server a third and two thirds of the
    /// way through, where the rig can.
    async fn inject(&self, rng: &mut Rng, op: usize) {
        let proxies = &self.rig.proxies;
        let proxy = &proxies[rng.below(proxies.len() as u64) as usize];
        match rng.below(16) {
            0 => proxy.set(Fault::DropNextReply),
            1 => proxy.set(Fault::Delay(Duration::from_millis(2))),
            2 => {
                self.t.resets.fetch_add(1, Ordering::SeqCst);
                proxy.reset_all();
            }
            3 => proxy.set(Fault::None),
            4 | 5 => proxy.set(Fault::DropScriptReplies(SCRIPT_DROP_PERCENT)),
            _ => {}
        }
        if let Some(restart) = self.rig.restart.clone()
            && self.id == 0
            && (op == OPS_PER_CLIENT / 3 || op == 2 * OPS_PER_CLIENT / 3)
        {
            tokio::task::spawn_blocking(move || restart())
                .await
                .expect("the restart panicked");
            self.t.restarts.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Records how a call that changed `user`'s sessions ended.
    fn ended_for(&self, user: usize, end: End) -> End {
        if self.t.record(end).unsure() {
            lock(&self.h.tainted).insert(user);
        }
        end
    }

    /// Runs the client's operations.
    async fn run(self, seed: u64) -> ClientEnd {
        let mut rng = Rng(seed ^ (self.id + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let store = &self.rig.store;
        // The counter session: anonymous, never rotated or ended.
        let counter = loop {
            let s = new_session(&self.ring, None);
            let key = s.key;
            match store.create(s, UserLimit::unlimited(), &cx()).await {
                Ok(_) => break key,
                Err(CreateError::Store(f)) => self.t.record(End::of(&f)),
                Err(e) => {
                    let what = format!("a create of a fresh key answered {e}");
                    self.h.violation(what);
                    self.t.record(End::Acked)
                }
            };
        };
        self.t.record(End::Acked);
        let (mut acked, mut unsure) = (0u64, 0u64);
        // Every key this client made, with its session's index in `mine`
        // (rotated keys stay, to be used after their end).
        let mut keys: Vec<(SessionKey, usize)> = Vec::new();
        let mut mine: Vec<Mine> = Vec::new();
        for op in 0..OPS_PER_CLIENT {
            self.inject(&mut rng, op).await;
            let u = rng.below(USERS.len() as u64) as usize;
            let kind = match rng.below(13) {
                k @ 7.. if keys.is_empty() => k % 3,
                k => k,
            };
            match kind {
                0..=2 => {
                    if let Some(m) = self.create(u).await {
                        keys.push((m.key, mine.len()));
                        mine.push(m);
                    }
                }
                3 => self.revoke_all(u).await,
                4 => {
                    let user = user_key(&self.ring, u);
                    let end = match store.count_user_sessions(&user, &cx()).await {
                        Ok(n) if n > u64::from(LIMIT) => {
                            let name = USERS[u];
                            self.h
                                .violation(format!("G4: {name} has {n} sessions, limit {LIMIT}"));
                            End::Acked
                        }
                        Ok(_) => End::Acked,
                        Err(f) => End::of(&f),
                    };
                    self.t.record(end);
                }
                5 | 6 => match store.increment(&counter, "n", 1, &cx()).await {
                    Ok(_) => {
                        acked += 1;
                        self.t.record(End::Acked);
                    }
                    Err(e) => {
                        if self.t.record(End::of_update(&e)).unsure() {
                            unsure += 1;
                        }
                    }
                },
                _ => {
                    let (key, i) = keys[rng.below(keys.len() as u64) as usize];
                    let after_load = rng.below(2) == 0;
                    let on = self.on_session(kind, key, &mut mine[i], after_load);
                    if let Some(new) = on.await {
                        keys.push((new, i));
                    }
                }
            }
        }
        ClientEnd {
            field: self.field,
            counter,
            acked,
            unsure,
            sessions: mine,
        }
    }

    /// What a request that loads `key` passes to its save (the default
    /// when the load finds no active session or fails).
    async fn as_loaded(&self, key: &SessionKey) -> AsLoaded {
        match self.rig.store.load(key, &cx()).await {
            Ok(Loaded::Active { record, .. }) => {
                self.t.record(End::Acked);
                let replaced = record.data.get(&self.field).map(|v| v.to_string().len());
                AsLoaded {
                    times: Some(LoadedTimes::of(&record)),
                    replaced: replaced
                        .map(|n| BTreeMap::from([(self.field.clone(), n)]))
                        .unwrap_or_default(),
                }
            }
            Ok(_) => {
                self.t.record(End::Acked);
                AsLoaded::default()
            }
            Err(f) => {
                self.t.record(End::of(&f));
                AsLoaded::default()
            }
        }
    }

    /// Signs `u` in on a fresh key under the limit.
    async fn create(&self, u: usize) -> Option<Mine> {
        let s = new_session(&self.ring, Some(user_key(&self.ring, u)));
        let (key, public) = (s.key, s.public_id);
        let limit = UserLimit::at_most(LIMIT, LimitPolicy::EvictIdle);
        let (end, made) = match self.rig.store.create(s, limit, &cx()).await {
            Ok(evicted) => {
                let at = self.h.tick();
                lock(&self.h.created).insert(key, (u, at));
                lock(&self.h.born)[u].insert(public);
                self.h.ended(evicted);
                let m = Mine {
                    key,
                    user: u,
                    public,
                    value: Some(None),
                };
                (End::Acked, Some(m))
            }
            Err(CreateError::Store(f)) => (End::of(&f), None),
            Err(e) => {
                self.h
                    .violation(format!("a create of a fresh key answered {e}"));
                (End::Acked, None)
            }
        };
        self.ended_for(u, end);
        made
    }

    /// Ends every session of `u`.
    async fn revoke_all(&self, u: usize) {
        let begin = self.h.tick();
        let user = user_key(&self.ring, u);
        let reason = EndReason::revoked_all("");
        let end = match self.rig.store.revoke_all(&user, None, reason, &cx()).await {
            Ok(ended) => {
                lock(&self.h.cuts).push((u, begin, self.h.tick()));
                self.h.ended(ended);
                End::Acked
            }
            Err(StoreFailure::NotReplicated { ended, .. }) => {
                lock(&self.h.cuts).push((u, begin, self.h.tick()));
                self.h.ended(ended);
                End::Unreplicated
            }
            Err(f) => End::of(&f),
        };
        self.ended_for(u, end);
    }

    /// Runs operation `kind` (7 to 12) on `key`, one of `m`'s keys (its
    /// current one or an older); returns the new key of a rotation. A save
    /// `after_load` passes what a load just read, as a request does (the
    /// store's plain save, when the times still match).
    async fn on_session(
        &self,
        kind: u64,
        key: SessionKey,
        m: &mut Mine,
        after_load: bool,
    ) -> Option<SessionKey> {
        let (store, h) = (&self.rig.store, &self.h);
        let current = m.key == key;
        let started = h.tick();
        let mut rotated = None;
        let end = match kind {
            7 => match store.load(&key, &cx()).await {
                Ok(Loaded::Active { record, .. }) => {
                    if let Some(why) = h.should_be_gone(&key, started) {
                        h.violation(format!(
                            "G1/G5: a load found an ended session active: {why}"
                        ));
                    }
                    let read = record.data.get(&self.field).and_then(|v| v.as_u64());
                    if let Some(left) = m.value.filter(|left| current && *left != read) {
                        h.violation(format!("a load read {read:?} where {left:?} was left"));
                    }
                    End::Acked
                }
                Ok(_) => End::Acked,
                Err(f) => End::of(&f),
            },
            8 => {
                // Values of one length, so a save may replace one plainly.
                let value = VALUE_BASE + started;
                let mut delta = Delta::default();
                delta
                    .data
                    .insert(self.field.clone(), Some(value.to_string()));
                let seen = match after_load {
                    true => self.as_loaded(&key).await,
                    false => AsLoaded::default(),
                };
                match store.apply(&key, &m.public, &delta, &seen, &cx()).await {
                    Ok(_) => {
                        if let Some(why) = h.should_be_gone(&key, started) {
                            h.violation(format!(
                                "G1/G5: a save to an ended session was accepted: {why}"
                            ));
                        }
                        m.value = m.value.map(|_| Some(value));
                        End::Acked
                    }
                    Err(e) => End::of_update(&e),
                }
            }
            9 => match store.take(&key, &m.public, &self.field, &cx()).await {
                Ok(taken) => {
                    let got = taken.and_then(|v| v.parse::<u64>().ok());
                    if let Some(left) = m.value.filter(|left| *left != got) {
                        h.violation(format!("a take returned {got:?} where {left:?} was left"));
                    }
                    m.value = m.value.map(|_| None);
                    End::Acked
                }
                Err(e) => End::of_update(&e),
            },
            10 => {
                let new = SessionId::generate(&self.ring, user_key(&self.ring, m.user).slot)
                    .storage_key();
                let r = Rotation {
                    old: key,
                    new,
                    sign_in: None,
                    delta: Delta::default(),
                    public_id: Some(m.public),
                };
                match store.rotate(r, &cx()).await {
                    Ok(_) => {
                        let at = h.tick();
                        h.invalidated(key, at);
                        let born = lock(&h.created).get(&key).copied();
                        lock(&h.created).insert(new, born.unwrap_or((m.user, at)));
                        m.key = new;
                        rotated = Some(new);
                        End::Acked
                    }
                    Err(RotateError::Store(f)) => End::of(&f),
                    Err(RotateError::DuplicateId) => {
                        h.violation("a rotation to a fresh key answered DuplicateId".into());
                        End::Acked
                    }
                    Err(_) => End::Acked,
                }
            }
            11 => match store.invalidate(&key, EndReason::Logout, &cx()).await {
                Ok(ended) => {
                    h.invalidated(key, h.tick());
                    h.ended(ended);
                    End::Acked
                }
                // Applied: the key has ended; if it is the session's current
                // one, so has the session (only this client rotates it).
                Err(StoreFailure::NotReplicated { .. }) => {
                    h.invalidated(key, h.tick());
                    if current {
                        h.ended([m.public]);
                    }
                    End::Unreplicated
                }
                Err(f) => End::of(&f),
            },
            _ => {
                let user = user_key(&self.ring, m.user);
                let reason = EndReason::revoked("");
                match store
                    .revoke_by_public_id(&user, &m.public, reason, &cx())
                    .await
                {
                    Ok(true) => {
                        h.ended([m.public]);
                        End::Acked
                    }
                    Ok(false) => End::Acked,
                    Err(StoreFailure::NotReplicated { ended, .. }) => {
                        h.ended(ended);
                        End::Unreplicated
                    }
                    Err(f) => End::of(&f),
                }
            }
        };
        if self.ended_for(m.user, end).unsure() {
            m.value = None;
        }
        rotated
    }
}
