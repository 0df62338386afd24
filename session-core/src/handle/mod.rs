//! [`Session`]: the per-request handle an adapter hands to the handler.
//!
//! What the request presented (an [`IncomingId`], from a browser or a
//! header [`Client`]) and where the session stands ([`state::State`]) are
//! explicit enums; [`Session::finish`] is one `match` over them. Store
//! calls go through [`Shared`], which supplies the time, the storage key
//! and the lifecycle events.
//!
//! `Failed` is sticky: after a store failure the request is treated as not
//! signed in, every later call reports the failure, and nothing is written
//! (guarantee 9). A write whose outcome is unknown is never sent twice.

mod devices;
mod sign_in;
mod state;

pub use sign_in::{LoginOutcome, SignInOptions};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, MutexGuard};

use crate::cookie::CookieLifetime;
use crate::ending::{EndReason, Ending};
use crate::error::{CreateError, RotateError, SessionError, StoreFailure, UpdateError};
use crate::expiry::check_duration;
use crate::id::{PublicId, SessionId};
use crate::record::{Metadata, SessionRecord};
use crate::request::{Client, IncomingId, Rejection};
use crate::response::ResponseUpdate;
use crate::shared::Shared;
use crate::store::{NewSession, Rotation, SignIn};
use crate::user::UserId;
use state::{Absent, IdOrigin, State};

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
/// let session = manager.session_for_request([]);
/// session.login(UserId::new("alice").unwrap()).await?;
/// session.insert("theme", "dark").await?;
/// let response = session.finish().await;
/// let set_cookie = response.set_cookie().expect("a new session sets its cookie");
///
/// // The next request presents the cookie.
/// let cookie = set_cookie.split(';').next().unwrap().to_owned();
/// let session = manager.session_for_request([cookie.as_bytes()]);
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
    /// Who is asking: where the id comes from and goes to.
    client: Client,
    /// What the request presented.
    incoming: IncomingId,
    /// Where the session stands.
    state: State,
    /// What a signed-in guard answered for this request (401, 503), kept
    /// for the end of the request: [`ResponseUpdate::answer_for`].
    guard_failure: Option<crate::http::HttpError>,
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, client: Client, incoming: IncomingId) -> Self {
        let state = match &incoming {
            IncomingId::Present(id) => State::Unloaded(id.clone()),
            IncomingId::None | IncomingId::Rejected(_) => State::absent(),
        };
        Session {
            shared,
            inner: Arc::new(Mutex::new(Inner {
                client,
                incoming,
                state,
                guard_failure: None,
            })),
        }
    }

    /// Reads `key` as a `T`; `None` if absent or there is no session.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let inner = self.loaded().await;
        let Some(record) = inner.state.record()? else {
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
        let limit = self.shared.config.max_data_bytes();
        let size = inner.state.data_size_with(key, &value);
        if size > limit {
            return Err(SessionError::TooLarge { size, limit });
        }
        inner.state.set_data(key, Some(value));
        Ok(())
    }

    /// Removes `key`; true if it was there.
    pub async fn remove(&self, key: &str) -> Result<bool, SessionError> {
        let mut inner = self.loaded().await;
        let present = inner
            .state
            .record()?
            .is_some_and(|r| r.data.contains_key(key));
        if present {
            inner.state.set_data(key, None);
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
        let (id, unsaved_same_key) = match &mut inner.state {
            State::Unloaded(id) => (id.clone(), false),
            State::Active(a) => (a.id.clone(), a.pending.data.contains_key(key)),
            State::Failed(f) => return Err(SessionError::Store(f.clone())),
            State::New(d) => return add_locally(&mut d.record, key, by),
            // A counter belongs to an existing session: none is started here.
            State::Absent(Absent { ended, .. }) => {
                return Err(match ended {
                    Some(e) => SessionError::Ended(e.clone()),
                    None => SessionError::NoSession,
                });
            }
        };
        // An unsaved change to the same key goes first, or it would overwrite.
        if unsaved_same_key {
            inner.flush(&self.shared).await?;
        }
        match self.shared.increment(&id, key, by).await {
            Ok(n) => {
                if let State::Active(a) = &mut inner.state {
                    a.record.data.insert(key.to_owned(), n.into());
                }
                Ok(n)
            }
            Err(e) => Err(inner.refused(e)),
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

    /// Sets this session's idle timeout (saved like data). Before a session
    /// exists it is kept for the session this request starts. At most
    /// [`crate::MAX_DURATION`], at least a second, else
    /// [`SessionError::InvalidDuration`].
    pub async fn set_idle_timeout(&self, timeout: Duration) -> Result<(), SessionError> {
        let timeout = check_duration(timeout).map_err(|_| SessionError::InvalidDuration)?;
        let mut inner = self.loaded().await;
        inner.state.record()?;
        inner.state.set_idle_timeout(timeout);
        Ok(())
    }

    /// Replaces the session's metadata (ip, user agent, device, …). Kept
    /// until the session is stored or signed in; does not by itself start a
    /// session. Each text is cut to [`crate::MAX_METADATA_FIELD_BYTES`];
    /// metadata over [`crate::MAX_METADATA_BYTES`] in all is refused with
    /// [`SessionError::MetadataTooLarge`] (a 400) and nothing changes.
    pub async fn set_metadata(&self, metadata: Metadata) -> Result<(), SessionError> {
        let metadata = metadata.bounded()?;
        let mut inner = self.loaded().await;
        inner.state.record()?;
        inner.state.set_metadata(metadata);
        Ok(())
    }

    /// A copy of the session's record (user, times, metadata, data); `None`
    /// when there is no session.
    pub async fn record(&self) -> Result<Option<SessionRecord>, SessionError> {
        Ok(self.loaded().await.state.record()?.cloned())
    }

    /// The signed-in user, if any.
    pub async fn user(&self) -> Result<Option<UserId>, SessionError> {
        Ok(self
            .loaded()
            .await
            .state
            .record()?
            .and_then(|r| r.user.clone()))
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
        Ok(self.loaded().await.state.record()?.map(|r| r.public_id))
    }

    /// Why the session the request presented has ended, when known
    /// (guarantee 8), or why it ended during this request.
    pub async fn ended(&self) -> Result<Option<Ending>, SessionError> {
        let inner = self.loaded().await;
        match &inner.state {
            State::Failed(f) => Err(SessionError::Store(f.clone())),
            State::Absent(a) => Ok(a.ended.clone()),
            _ => Ok(None),
        }
    }

    /// Ends the request: saves unsaved changes, stores a new session that
    /// holds data, and says what to change in the response. Adapters call
    /// it once, after the handler.
    ///
    /// The cookie rules (guarantees 1 and 10):
    /// * a newly issued id goes to a browser as `Set-Cookie`, to a header
    ///   client in the id header, never both;
    /// * a presented id that is ended or unknown is removed from a browser,
    ///   except when it ended by **rotation** (the browser may already hold
    ///   the successor's cookie, from a request that overlapped this one)
    ///   and when the request carried the cookie **twice** (a removal would
    ///   delete only the host-only one, leaving the planted cookie);
    /// * a store failure changes nothing.
    pub async fn finish(&self) -> ResponseUpdate {
        let mut inner = self.inner.lock().await;
        let error = inner.flush(&self.shared).await.err();
        let cookie = self.shared.config.cookie();
        let mut update = ResponseUpdate::new(error);
        update.set_guard_failure(inner.guard_failure.take());
        match (&inner.state, &inner.incoming, inner.client) {
            (State::Active(a), _, client) if a.id_is == IdOrigin::Issued => match client {
                Client::Browser => {
                    let max_age = self.shared.clock.now().until(a.record.absolute_deadline);
                    let lifetime = a.record.metadata.cookie.unwrap_or(cookie.lifetime());
                    update.push_cookie(cookie.set_cookie_as(&a.id, max_age, lifetime));
                }
                Client::Header => {
                    if let Some(name) = self.shared.config.id_header() {
                        update.push_id_header(name, a.id.expose_secret());
                    }
                }
            },
            (State::Absent(Absent { ended: Some(e), .. }), _, _)
                if e.reason == EndReason::Rotated => {}
            (_, IncomingId::Rejected(Rejection::Duplicate), _) => {}
            (
                State::Absent(_),
                IncomingId::Present(_) | IncomingId::Rejected(_),
                Client::Browser,
            ) => update.push_cookie(cookie.removal()),
            // Untouched, unchanged, empty and never stored, failed (fail
            // closed: no change), or a header client (nothing to remove).
            (
                State::Unloaded(_)
                | State::Active(_)
                | State::Absent(_)
                | State::New(_)
                | State::Failed(_),
                _,
                _,
            ) => {}
        }
        update
    }

    /// Keeps what a signed-in guard answered, for
    /// [`ResponseUpdate::answer_for`] at the end of the request.
    pub(crate) async fn note_guard_failure(&self, answer: crate::http::HttpError) {
        self.inner.lock().await.guard_failure = Some(answer);
    }

    async fn loaded(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().await;
        if let State::Unloaded(id) = &inner.state {
            let id = id.clone();
            let loaded = self.shared.load(&id).await;
            inner.state = State::loaded(id, loaded);
        }
        inner
    }
}

impl Inner {
    /// Makes sure there is a session to write to, starting a new one if the
    /// request has none.
    fn writable(&mut self, shared: &Shared) -> Result<(), SessionError> {
        match &mut self.state {
            State::Failed(f) => Err(SessionError::Store(f.clone())),
            State::Absent(a) => {
                let settings = std::mem::take(&mut a.settings);
                self.state = State::started(shared, settings);
                Ok(())
            }
            State::Unloaded(_) | State::New(_) | State::Active(_) => Ok(()),
        }
    }

    /// Stores what is unsaved: a delta on an active session, or a new
    /// session that holds data. Sends nothing when nothing changed.
    async fn flush(&mut self, shared: &Shared) -> Result<(), SessionError> {
        match &mut self.state {
            State::Active(a) if !a.pending.is_empty() => {
                let now = shared.clock.now();
                // The store calls are boxed here so that `finish`, whose
                // future every adapter boxes on every request, stays small
                // for the requests that save nothing.
                match Box::pin(shared.apply(&a.id, &a.pending, &a.record.public_id)).await {
                    Ok(applied) => {
                        a.record.last_seen_at = now;
                        a.record.idle_deadline = applied.idle_deadline;
                        a.pending = Default::default();
                        Ok(())
                    }
                    Err(e) => Err(self.refused(e)),
                }
            }
            State::New(d) if !d.record.data.is_empty() => {
                let new = NewSession {
                    key: d.id.storage_key(),
                    public_id: d.record.public_id,
                    user: None,
                    idle_timeout: d.record.idle_timeout,
                    absolute_deadline: d.record.absolute_deadline,
                    metadata: d.record.metadata.clone(),
                    data: encode_data(&d.record.data),
                };
                match Box::pin(shared.create(new, crate::UserLimit::unlimited())).await {
                    Ok(created) => {
                        let id = d.id.clone();
                        self.state = State::issued(id, created.record);
                        Ok(())
                    }
                    Err(e) => Err(self.refused_creation(e)),
                }
            }
            _ => Ok(()),
        }
    }

    /// Records a refused change: an ended or unknown session becomes absent
    /// (its cookie is removed at the end, unless it was rotated); a store
    /// failure makes the request fail closed.
    fn refused(&mut self, e: UpdateError) -> SessionError {
        match &e {
            UpdateError::Ended(ending) => self.state = State::ended(Some(ending.clone())),
            UpdateError::UnknownId => self.state = State::absent(),
            UpdateError::Store(f) => self.state = State::Failed(f.clone()),
            UpdateError::NotAnInteger { .. } | UpdateError::TooLarge { .. } => {}
        }
        e.into()
    }

    fn refused_rotation(&mut self, e: RotateError) -> SessionError {
        match &e {
            RotateError::Ended(ending) => self.state = State::ended(Some(ending.clone())),
            RotateError::UnknownId => self.state = State::absent(),
            RotateError::Store(f) => self.state = State::Failed(f.clone()),
            _ => {}
        }
        e.into()
    }

    fn refused_creation(&mut self, e: CreateError) -> SessionError {
        let e = SessionError::from(e);
        if let SessionError::Store(f) = &e {
            self.state = State::Failed(f.clone());
        }
        e
    }

    /// Ends the session of the user being replaced by a sign-in, keeping
    /// this request's settings for the new session.
    async fn end_other_user(
        &mut self,
        shared: &Shared,
        id: &SessionId,
    ) -> Result<(), SessionError> {
        match shared.invalidate(id, EndReason::Logout).await {
            Ok(_) => {
                self.state = State::absent_with(self.state.settings());
                Ok(())
            }
            Err(f) => {
                self.state = State::Failed(f.clone());
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
mod tests;
