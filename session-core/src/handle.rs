//! [`Session`]: the per-request handle an adapter hands to the handler.
//!
//! # States
//!
//! What the request presented ([`IncomingId`]) and where the session stands
//! ([`State`]) are explicit enums; [`Session::finish`] is one `match` over
//! them. The state moves like this:
//!
//! ```text
//!  Unloaded(id) ──first read──▶ Active | Absent(ended?) | Failed
//!  Absent ──first write──▶ New (stored at finish if it holds data)
//!  Active | New ──login/rotate──▶ Active(issued: new cookie)
//!  Unloaded | Active ──logout──▶ Absent(ended: logout)
//!  Active ──save refused (ended elsewhere)──▶ Absent(ended)
//! ```
//!
//! `Failed` is sticky: after a store failure the request is treated as not
//! signed in, every later call reports the failure, and nothing is written
//! (guarantee 9).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, MutexGuard};

use crate::delta::Delta;
use crate::ending::{EndReason, Ending};
use crate::error::{CreateError, RotateError, SessionError, StoreFailure, UpdateError};
use crate::expiry::idle_deadline;
use crate::id::{PublicId, SessionId, SlotTag};
use crate::lifecycle;
use crate::manager::Shared;
use crate::record::{FORMAT_VERSION, Metadata, SessionRecord};
use crate::request::IncomingId;
use crate::store::{Loaded, NewSession, Rotation, SignIn};
use crate::user::UserId;

/// The longest data key accepted, in bytes.
pub const MAX_DATA_KEY_BYTES: usize = 256;

/// The per-request session handle. Cheap to clone (clones share state);
/// `Send + Sync`. Nothing touches the store until the handler uses it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), session_core::SessionError> {
/// use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager, UserId};
/// use std::sync::Arc;
///
/// let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
/// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
///
/// // A first request, without a cookie: sign in.
/// let session = manager.session_for_request([], None);
/// session.login(UserId::new("alice").unwrap()).await?;
/// session.insert("theme", "dark").await?;
/// let response = session.finish().await;
/// let set_cookie = response.set_cookie.expect("a new session sets its cookie");
///
/// // The next request presents the cookie.
/// let cookie = set_cookie.split(';').next().unwrap().to_owned();
/// let session = manager.session_for_request([cookie.as_bytes()], None);
/// assert_eq!(session.get::<String>("theme").await?.as_deref(), Some("dark"));
/// assert_eq!(session.increment("visits", 1).await?, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Session {
    shared: Arc<Shared>,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    /// What the request presented.
    incoming: IncomingId,
    /// Where the session stands.
    state: State,
    /// Unsaved changes to an `Active` session.
    pending: Delta,
}

/// Where the session stands within this request.
#[derive(Debug)]
enum State {
    /// The request presented a valid id; nothing is loaded yet.
    Unloaded(SessionId),
    /// No session: none presented, or the one presented is unknown or
    /// ended (`ended` says why, when known).
    Absent { ended: Option<Ending> },
    /// A session made in this request, not yet stored.
    New {
        id: SessionId,
        record: SessionRecord,
    },
    /// A stored, active session. `issued` is true when its id is new in this
    /// request (the cookie must be sent).
    Active {
        id: SessionId,
        record: SessionRecord,
        issued: bool,
    },
    /// The store failed; the request is not signed in.
    Failed(StoreFailure),
}

/// What the adapter must do to the response, from [`Session::finish`].
#[derive(Debug, Default)]
pub struct ResponseUpdate {
    /// A `Set-Cookie` header value to send (a new id, or a removal).
    pub set_cookie: Option<String>,
    /// For non-browser clients: the configured id header and the new id.
    pub id_header: Option<(String, String)>,
    /// What went wrong while saving, if anything. With
    /// [`SessionError::Ended`] the save was refused because the session
    /// ended meanwhile (the cookie is being removed); with a store failure,
    /// nothing was written and the adapter answers 503.
    pub error: Option<SessionError>,
}

impl ResponseUpdate {
    /// The response to send instead of the handler's, if any: 503 when the
    /// end-of-request save failed in the store (the handler's answer would
    /// claim a change that was not stored), 401 when it was refused because
    /// the session ended meanwhile.
    pub fn replacement(&self) -> Option<crate::HttpError> {
        self.error.as_ref().and_then(|e| match e {
            SessionError::Store(_) | SessionError::Ended(_) => Some(crate::HttpError::from(e)),
            _ => None,
        })
    }
}

/// The result of [`Session::login`].
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// The signed-in session's record.
    pub record: SessionRecord,
    /// Sessions of the same user ended to respect the limit.
    pub evicted: Vec<PublicId>,
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, incoming: IncomingId) -> Self {
        let state = match &incoming {
            IncomingId::Present(id) => State::Unloaded(id.clone()),
            IncomingId::None | IncomingId::Rejected(_) => State::Absent { ended: None },
        };
        Session {
            shared,
            inner: Arc::new(Mutex::new(Inner {
                incoming,
                state,
                pending: Delta::default(),
            })),
        }
    }

    /// Reads `key` as a `T`; `None` if absent or there is no session.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let inner = self.loaded().await;
        let Some(record) = inner.record()? else {
            return Ok(None);
        };
        match record.data.get(key) {
            None => Ok(None),
            Some(v) => T::deserialize(v)
                .map(Some)
                .map_err(|e| SessionError::Deserialize {
                    key: key.to_owned(),
                    message: e.to_string(),
                }),
        }
    }

    /// Sets `key` to `value`, starting a session if there is none. Saved at
    /// the end of the request (or by [`Session::save`]).
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), SessionError> {
        check_key(key)?;
        let value = serde_json::to_value(value).map_err(|e| SessionError::Serialize {
            key: key.to_owned(),
            message: e.to_string(),
        })?;
        let mut inner = self.loaded().await;
        inner.writable(&self.shared)?;
        inner.set(key, Some(value));
        Ok(())
    }

    /// Removes `key`; true if it was there.
    pub async fn remove(&self, key: &str) -> Result<bool, SessionError> {
        let mut inner = self.loaded().await;
        let present = match inner.record()? {
            Some(r) => r.data.contains_key(key),
            None => false,
        };
        if present {
            inner.set(key, None);
        }
        Ok(present)
    }

    /// Atomically adds `by` to the integer under `key` (absent counts as 0)
    /// and returns the new value. On a stored session this is one store
    /// call, with no load; it is refused if the session ended (guarantee 3).
    /// Without a session it fails with [`SessionError::NoSession`] (or
    /// `Ended`): it never starts one.
    pub async fn increment(&self, key: &str, by: i64) -> Result<i64, SessionError> {
        check_key(key)?;
        let mut inner = self.inner.lock().await;
        let id = match &mut inner.state {
            State::Unloaded(id) | State::Active { id, .. } => id.clone(),
            State::Failed(f) => return Err(SessionError::Store(f.clone())),
            State::New { record, .. } => return add_locally(record, key, by),
            // A counter belongs to an existing session: none is started here.
            State::Absent { ended } => {
                return Err(match ended {
                    Some(e) => SessionError::Ended(e.clone()),
                    None => SessionError::NoSession,
                });
            }
        };
        // An unsaved change to the same key goes first, or it would overwrite.
        if inner.pending.data.contains_key(key) {
            inner.flush(&self.shared).await?;
        }
        let cx = self.shared.cx();
        match self
            .shared
            .store
            .increment(&id.storage_key(), key, by, &cx)
            .await
        {
            Ok(n) => {
                if let State::Active { record, .. } = &mut inner.state {
                    record.data.insert(key.to_owned(), n.into());
                }
                Ok(n)
            }
            Err(e) => Err(inner.refused("increment", e)),
        }
    }

    /// Writes unsaved changes now (or creates a new session now), so the
    /// handler learns whether the save was accepted. With
    /// [`SessionError::Ended`] the session ended meanwhile (guarantee 1):
    /// answer as signed out.
    pub async fn save(&self) -> Result<(), SessionError> {
        let mut inner = self.inner.lock().await;
        inner.flush(&self.shared).await
    }

    /// Signs `user` in. Always gives the session a new id (no session
    /// fixation), keeps the data of an anonymous session or of the same
    /// user's session, starts afresh if another user was signed in (that
    /// session ends as a logout), and applies the per-user limit atomically.
    pub async fn login(&self, user: UserId) -> Result<LoginOutcome, SessionError> {
        let mut inner = self.inner.lock().await;
        let s = &self.shared;
        let cx = s.cx();
        let user_key = s.user_key(&user);
        let new_id = SessionId::generate(s.config.keys(), user_key.slot);
        let sign_in = SignIn {
            user: user_key.clone(),
            limit: s.config.limit(),
            absolute_deadline: cx.now.plus(s.config.expiry().absolute_lifetime()),
        };
        // Fresh data for a new session, or the current one's to carry over.
        let mut fresh_data = BTreeMap::new();
        let mut old: Option<SessionId> = None;
        let mut other_user: Option<SessionId> = None;
        match &inner.state {
            State::Failed(f) => return Err(SessionError::Store(f.clone())),
            State::Unloaded(id) => old = Some(id.clone()),
            State::Active { id, record, .. } => {
                if record.user.as_ref().is_some_and(|u| *u != user) {
                    other_user = Some(id.clone());
                } else {
                    old = Some(id.clone());
                }
            }
            State::New { record, .. } => fresh_data = encode_data(&record.data),
            State::Absent { .. } => {}
        }
        if let Some(id) = other_user {
            inner.end_other_user(s, id).await?;
        }
        if let Some(old_id) = old {
            let rotation = Rotation {
                old: old_id.storage_key(),
                new: new_id.storage_key(),
                sign_in: Some(sign_in.clone()),
                delta: inner.pending.clone(),
            };
            match s.store.rotate(rotation, &cx).await {
                Ok(created) => {
                    inner.pending = Delta::default();
                    lifecycle::rotated(&created.record.public_id);
                    lifecycle::signed_in(&created.record.public_id, &created.evicted);
                    inner.state = State::Active {
                        id: new_id,
                        record: created.record.clone(),
                        issued: true,
                    };
                    return Ok(LoginOutcome {
                        record: created.record,
                        evicted: created.evicted,
                    });
                }
                Err(RotateError::OtherUser) => inner.end_other_user(s, old_id).await?,
                // The old session is gone: sign in with a fresh one (and if
                // that fails, the dead cookie is removed).
                Err(RotateError::Ended(ending)) => {
                    inner.state = State::Absent {
                        ended: Some(ending),
                    }
                }
                Err(RotateError::UnknownId) => inner.state = State::Absent { ended: None },
                Err(e) => return Err(inner.refused_rotation(e)),
            }
        }
        let metadata = inner
            .pending
            .metadata
            .take()
            .or_else(|| match &inner.state {
                State::New { record, .. } => Some(record.metadata.clone()),
                _ => None,
            });
        let public_id = match &inner.state {
            State::New { record, .. } => record.public_id,
            _ => PublicId::generate(),
        };
        let new = NewSession {
            key: new_id.storage_key(),
            public_id,
            user: Some(user_key),
            idle_timeout: inner
                .pending
                .idle_timeout
                .unwrap_or(s.config.expiry().idle_timeout()),
            absolute_deadline: sign_in.absolute_deadline,
            metadata: metadata.unwrap_or_default(),
            data: fresh_data,
        };
        match s.store.create(new, sign_in.limit, &cx).await {
            Ok(created) => {
                inner.pending = Delta::default();
                lifecycle::created(&created.record.public_id, true);
                lifecycle::signed_in(&created.record.public_id, &created.evicted);
                inner.state = State::Active {
                    id: new_id,
                    record: created.record.clone(),
                    issued: true,
                };
                Ok(LoginOutcome {
                    record: created.record,
                    evicted: created.evicted,
                })
            }
            Err(CreateError::Store(f)) => {
                lifecycle::store_failed("create", None, &f);
                Err(SessionError::Store(f))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the session a new id, keeping its data, user and public id;
    /// the old id ends with the reason "rotated" (guarantee 6). One store
    /// call, no load needed.
    pub async fn rotate(&self) -> Result<(), SessionError> {
        let mut inner = self.inner.lock().await;
        let s = &self.shared;
        let id = match &mut inner.state {
            State::Failed(f) => return Err(SessionError::Store(f.clone())),
            State::Absent { .. } => return Err(SessionError::NoSession),
            State::New { id, .. } => {
                *id = SessionId::generate(s.config.keys(), id.slot());
                return Ok(());
            }
            State::Unloaded(id) | State::Active { id, .. } => id.clone(),
        };
        let new_id = SessionId::generate(s.config.keys(), id.slot());
        let rotation = Rotation {
            old: id.storage_key(),
            new: new_id.storage_key(),
            sign_in: None,
            delta: inner.pending.clone(),
        };
        match s.store.rotate(rotation, &s.cx()).await {
            Ok(created) => {
                lifecycle::rotated(&created.record.public_id);
                inner.pending = Delta::default();
                inner.state = State::Active {
                    id: new_id,
                    record: created.record,
                    issued: true,
                };
                Ok(())
            }
            Err(e) => Err(inner.refused_rotation(e)),
        }
    }

    /// Ends this session (one store call, no load needed) and removes the
    /// cookie. Without a session this does nothing.
    pub async fn logout(&self) -> Result<(), SessionError> {
        let mut inner = self.inner.lock().await;
        let s = &self.shared;
        let id = match &inner.state {
            State::Failed(f) => return Err(SessionError::Store(f.clone())),
            State::Absent { .. } => return Ok(()),
            State::New { .. } => {
                inner.state = State::Absent { ended: None };
                return Ok(());
            }
            State::Unloaded(id) | State::Active { id, .. } => id.clone(),
        };
        let cx = s.cx();
        match s
            .store
            .invalidate(&id.storage_key(), EndReason::Logout, &cx)
            .await
        {
            Ok(ended) => {
                if let Some(p) = &ended {
                    lifecycle::ended(p, &EndReason::Logout);
                }
                inner.pending = Delta::default();
                inner.state = State::Absent {
                    ended: Some(Ending {
                        reason: EndReason::Logout,
                        at: cx.now,
                    }),
                };
                Ok(())
            }
            Err(f) => {
                lifecycle::store_failed("invalidate", None, &f);
                Err(SessionError::Store(f))
            }
        }
    }

    /// Signs the user out of every session ("sign out everywhere") in one
    /// store call after the load, keeping this one when `keep_current` is
    /// true. Otherwise this session ends too, as "revoke-all", and its
    /// cookie is removed without a further call. Returns how many sessions
    /// ended.
    pub async fn revoke_all(&self, keep_current: bool) -> Result<u64, SessionError> {
        let user = self.require_user().await?;
        let mut inner = self.inner.lock().await;
        let public_id = match &inner.state {
            State::Active { record, .. } => record.public_id,
            _ => return Err(SessionError::NoSession),
        };
        let manager = crate::SessionManager::from_shared(self.shared.clone());
        let except = keep_current.then_some(&public_id);
        let ended = manager.revoke_all(&user, except).await?;
        if !keep_current {
            inner.pending = Delta::default();
            inner.state = State::Absent {
                ended: Some(Ending {
                    reason: EndReason::RevokeAll,
                    at: self.shared.clock.now(),
                }),
            };
        }
        Ok(ended)
    }

    /// Sets this session's idle timeout (saved like data).
    pub async fn set_idle_timeout(&self, timeout: std::time::Duration) -> Result<(), SessionError> {
        let mut inner = self.loaded().await;
        inner.writable(&self.shared)?;
        match &mut inner.state {
            State::Active { record, .. } | State::New { record, .. } => {
                record.idle_timeout = timeout;
                record.idle_deadline =
                    idle_deadline(record.last_seen_at, timeout, record.absolute_deadline);
            }
            _ => return Err(SessionError::NoSession),
        }
        inner.pending.idle_timeout = Some(timeout);
        Ok(())
    }

    /// Replaces the session's metadata (ip, user agent, device, …). Kept
    /// until the session is stored or signed in; does not by itself start a
    /// session.
    pub async fn set_metadata(&self, metadata: Metadata) -> Result<(), SessionError> {
        let mut inner = self.loaded().await;
        match &mut inner.state {
            State::Failed(f) => return Err(SessionError::Store(f.clone())),
            State::Active { record, .. } | State::New { record, .. } => {
                record.metadata = metadata.clone()
            }
            _ => {}
        }
        inner.pending.metadata = Some(metadata);
        Ok(())
    }

    /// A copy of the session's record (user, times, metadata, data); `None`
    /// when there is no session.
    pub async fn record(&self) -> Result<Option<SessionRecord>, SessionError> {
        Ok(self.loaded().await.record()?.cloned())
    }

    /// The signed-in user, if any.
    pub async fn user(&self) -> Result<Option<UserId>, SessionError> {
        Ok(self.loaded().await.record()?.and_then(|r| r.user.clone()))
    }

    /// The signed-in user, or why there is none: [`SessionError::Ended`]
    /// with the reason when the presented session ended (guarantee 8),
    /// [`SessionError::NoSession`] otherwise. What "signed in only" routes
    /// call; adapters turn the error into 401 (503 for a store failure).
    pub async fn require_user(&self) -> Result<UserId, SessionError> {
        if let Some(user) = self.user().await? {
            return Ok(user);
        }
        Err(match self.ended().await? {
            Some(ending) => SessionError::Ended(ending),
            None => SessionError::NoSession,
        })
    }

    /// The session's public id, if there is a session.
    pub async fn public_id(&self) -> Result<Option<PublicId>, SessionError> {
        Ok(self.loaded().await.record()?.map(|r| r.public_id))
    }

    /// Why the session the request presented has ended, when known
    /// (guarantee 8), or why it ended during this request.
    pub async fn ended(&self) -> Result<Option<Ending>, SessionError> {
        let inner = self.loaded().await;
        match &inner.state {
            State::Failed(f) => Err(SessionError::Store(f.clone())),
            State::Absent { ended } => Ok(ended.clone()),
            _ => Ok(None),
        }
    }

    /// The manager this handle belongs to, for user-level operations
    /// (list devices, revoke one, revoke all).
    pub fn manager(&self) -> crate::SessionManager {
        crate::SessionManager::from_shared(self.shared.clone())
    }

    /// Ends the request: saves unsaved changes, stores a new session that
    /// holds data, and says which cookie to send. Adapters call it once,
    /// after the handler.
    pub async fn finish(&self) -> ResponseUpdate {
        let mut inner = self.inner.lock().await;
        let error = inner.flush(&self.shared).await.err();
        let config = &self.shared.config;
        let presented = !matches!(inner.incoming, IncomingId::None);
        let mut update = ResponseUpdate {
            error,
            ..ResponseUpdate::default()
        };
        match &inner.state {
            State::Active {
                id,
                record,
                issued: true,
            } => {
                let max_age = self.shared.clock.now().until(record.absolute_deadline);
                update.set_cookie = Some(config.cookie().set_cookie(id, max_age));
                if let Some(h) = config.id_header() {
                    update.id_header = Some((h.to_owned(), id.expose_secret().to_owned()));
                }
            }
            State::Absent { .. } if presented => {
                update.set_cookie = Some(config.cookie().removal())
            }
            // Untouched, unchanged, empty and never stored, or failed
            // (fail closed: no change).
            State::Unloaded(_)
            | State::Active { issued: false, .. }
            | State::Absent { .. }
            | State::New { .. }
            | State::Failed(_) => {}
        }
        update
    }

    async fn loaded(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().await;
        if let State::Unloaded(id) = &inner.state {
            let id = id.clone();
            let cx = self.shared.cx();
            inner.state = match self.shared.store.load(&id.storage_key(), &cx).await {
                Ok(Loaded::Active { record, .. }) => State::Active {
                    id,
                    record,
                    issued: false,
                },
                Ok(Loaded::Ended(ending)) => State::Absent {
                    ended: Some(ending),
                },
                Ok(Loaded::Unknown) => State::Absent { ended: None },
                Err(f) => {
                    lifecycle::store_failed("load", None, &f);
                    State::Failed(f)
                }
            };
        }
        inner
    }
}

impl Inner {
    /// The record, if there is a session; the failure if the store failed.
    fn record(&self) -> Result<Option<&SessionRecord>, SessionError> {
        match &self.state {
            State::Active { record, .. } | State::New { record, .. } => Ok(Some(record)),
            State::Failed(f) => Err(SessionError::Store(f.clone())),
            State::Absent { .. } | State::Unloaded(_) => Ok(None),
        }
    }

    /// Makes sure there is a session to write to, starting a new one if the
    /// request has none.
    fn writable(&mut self, shared: &Shared) -> Result<(), SessionError> {
        match &self.state {
            State::Failed(f) => Err(SessionError::Store(f.clone())),
            State::Absent { .. } => {
                let now = shared.clock.now();
                let expiry = shared.config.expiry();
                let absolute = now.plus(expiry.absolute_lifetime());
                let idle_timeout = self
                    .pending
                    .idle_timeout
                    .take()
                    .unwrap_or(expiry.idle_timeout());
                let record = SessionRecord {
                    format_version: FORMAT_VERSION,
                    public_id: PublicId::generate(),
                    user: None,
                    created_at: now,
                    last_seen_at: now,
                    idle_timeout,
                    idle_deadline: idle_deadline(now, idle_timeout, absolute),
                    absolute_deadline: absolute,
                    metadata: self.pending.metadata.take().unwrap_or_default(),
                    data: BTreeMap::new(),
                };
                let id = SessionId::generate(shared.config.keys(), SlotTag::random());
                self.state = State::New { id, record };
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn set(&mut self, key: &str, value: Option<serde_json::Value>) {
        match &mut self.state {
            State::Active { record, .. } => {
                let text = value.as_ref().map(serde_json::Value::to_string);
                match value {
                    Some(v) => record.data.insert(key.to_owned(), v),
                    None => record.data.remove(key),
                };
                self.pending.data.insert(key.to_owned(), text);
            }
            State::New { record, .. } => {
                match value {
                    Some(v) => record.data.insert(key.to_owned(), v),
                    None => record.data.remove(key),
                };
            }
            _ => {}
        }
    }

    /// Stores what is unsaved: a delta on an active session, or a new
    /// session that holds data.
    async fn flush(&mut self, shared: &Shared) -> Result<(), SessionError> {
        let cx = shared.cx();
        match &mut self.state {
            State::Active { id, record, .. } if !self.pending.is_empty() => {
                match shared
                    .store
                    .apply(&id.storage_key(), &self.pending, &cx)
                    .await
                {
                    Ok(applied) => {
                        record.last_seen_at = cx.now;
                        record.idle_deadline = applied.idle_deadline;
                        self.pending = Delta::default();
                        Ok(())
                    }
                    Err(e) => Err(self.refused("apply", e)),
                }
            }
            State::New { id, record } if !record.data.is_empty() => {
                let new = NewSession {
                    key: id.storage_key(),
                    public_id: record.public_id,
                    user: None,
                    idle_timeout: record.idle_timeout,
                    absolute_deadline: record.absolute_deadline,
                    metadata: record.metadata.clone(),
                    data: encode_data(&record.data),
                };
                match shared
                    .store
                    .create(new, crate::UserLimit::unlimited(), &cx)
                    .await
                {
                    Ok(created) => {
                        lifecycle::created(&created.record.public_id, false);
                        let id = id.clone();
                        self.state = State::Active {
                            id,
                            record: created.record,
                            issued: true,
                        };
                        Ok(())
                    }
                    Err(CreateError::Store(f)) => {
                        lifecycle::store_failed("create", Some(&record.public_id), &f);
                        Err(SessionError::Store(f))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Records a refused change: an ended or unknown session becomes
    /// `Absent` (the cookie will be removed); a store failure is reported.
    fn refused(&mut self, operation: &'static str, e: UpdateError) -> SessionError {
        let public_id = match &self.state {
            State::Active { record, .. } => Some(record.public_id),
            _ => None,
        };
        match &e {
            UpdateError::Ended(ending) => {
                self.pending = Delta::default();
                self.state = State::Absent {
                    ended: Some(ending.clone()),
                };
            }
            UpdateError::UnknownId => {
                self.pending = Delta::default();
                self.state = State::Absent { ended: None };
            }
            UpdateError::Store(f) => lifecycle::store_failed(operation, public_id.as_ref(), f),
            UpdateError::NotAnInteger { .. } => {}
        }
        e.into()
    }

    fn refused_rotation(&mut self, e: RotateError) -> SessionError {
        match &e {
            RotateError::Ended(ending) => {
                self.pending = Delta::default();
                self.state = State::Absent {
                    ended: Some(ending.clone()),
                };
            }
            RotateError::UnknownId => self.state = State::Absent { ended: None },
            RotateError::Store(f) => lifecycle::store_failed("rotate", None, f),
            _ => {}
        }
        e.into()
    }

    /// Ends the session of the user being replaced by a sign-in.
    async fn end_other_user(&mut self, shared: &Shared, id: SessionId) -> Result<(), SessionError> {
        match shared
            .store
            .invalidate(&id.storage_key(), EndReason::Logout, &shared.cx())
            .await
        {
            Ok(ended) => {
                if let Some(p) = &ended {
                    lifecycle::ended(p, &EndReason::Logout);
                }
                self.pending.data.clear();
                self.state = State::Absent { ended: None };
                Ok(())
            }
            Err(f) => {
                lifecycle::store_failed("invalidate", None, &f);
                Err(SessionError::Store(f))
            }
        }
    }
}

fn check_key(key: &str) -> Result<(), SessionError> {
    if key.is_empty() || key.len() > MAX_DATA_KEY_BYTES {
        return Err(SessionError::InvalidKey);
    }
    Ok(())
}

fn add_locally(record: &mut SessionRecord, key: &str, by: i64) -> Result<i64, SessionError> {
    let not_int = || SessionError::NotAnInteger {
        key: key.to_owned(),
    };
    let current = match record.data.get(key) {
        None => 0,
        Some(v) => v.as_i64().ok_or_else(not_int)?,
    };
    let next = current.checked_add(by).ok_or_else(not_int)?;
    record.data.insert(key.to_owned(), next.into());
    Ok(next)
}

fn encode_data(data: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, String> {
    data.iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync_clone<T: Send + Sync + Clone>(_: &T) {}
    fn send<T: Send>(_: T) {}

    /// Framework handlers need the handle, and the futures of its methods,
    /// to be `Send`; extractors need it `Clone + Sync`.
    #[test]
    fn the_handle_and_its_futures_are_send() {
        let config = crate::SessionConfig::builder(crate::KeyRing::generate())
            .build()
            .unwrap();
        let manager = crate::SessionManager::new(Arc::new(crate::MemoryStore::new()), config);
        let s = manager.session_for_request([], None);
        send_sync_clone(&s);
        send(s.get::<i64>("k"));
        send(s.insert("k", 1));
        send(s.increment("k", 1));
        send(s.login(UserId::new("a").unwrap()));
        send(s.rotate());
        send(s.logout());
        send(s.save());
        send(s.finish());
    }

    /// Non-browser clients: the id travels in the configured header, a new
    /// id comes back in it, and the cookie path keeps working alongside.
    #[tokio::test]
    async fn the_id_header_carries_the_session_for_non_browser_clients() {
        let config = crate::SessionConfig::builder(crate::KeyRing::generate())
            .with_id_header("X-Session-Id")
            .build()
            .unwrap();
        let manager = crate::SessionManager::new(Arc::new(crate::MemoryStore::new()), config);
        let s = manager.session_for_request([], None);
        s.login(UserId::new("api-client").unwrap()).await.unwrap();
        let update = s.finish().await;
        let (name, id) = update.id_header.expect("a new id is sent in the header");
        assert_eq!(name, "x-session-id");
        let s = manager.session_for_request([], Some(id.as_bytes()));
        assert_eq!(
            s.user().await.unwrap(),
            Some(UserId::new("api-client").unwrap())
        );
        let update = s.finish().await;
        assert!(update.id_header.is_none() && update.set_cookie.is_none());

        // Without the setting, the header is ignored.
        let plain = crate::SessionManager::new(
            manager.store().clone(),
            crate::SessionConfig::builder(manager.config().keys().clone())
                .build()
                .unwrap(),
        );
        let s = plain.session_for_request([], Some(id.as_bytes()));
        assert_eq!(s.user().await.unwrap(), None);
    }
}
