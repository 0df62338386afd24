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

mod data;
mod read_once;
pub use read_once::FLASH_PREFIX;
mod devices;
mod sign_in;
mod state;
mod waiting;

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
use crate::store::{AsLoaded, Delta, NewSession, Rotation, SignIn};
use crate::user::UserId;
use state::{Absent, IdOrigin, State};

/// The longest data key accepted, in bytes.
pub const MAX_DATA_KEY_BYTES: usize = 256;

/// The per-request session handle. Cheap to clone (clones share state);
/// `Send + Sync`. Nothing touches the store until the handler uses it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager, UserId};
/// use std::sync::Arc;
///
/// let config = SessionConfig::builder(KeyRing::generate()).build()?;
/// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
///
/// // A first request, without a cookie: sign in.
/// let session = manager.session_for_request([]);
/// session.login(UserId::new("alice")?).await?;
/// session.insert("theme", "dark").await?;
/// let response = session.finish().await;
/// let set_cookie = response.set_cookie().ok_or("a new session sets its cookie")?;
///
/// // The next request presents the cookie (the `name=value` part).
/// let cookie = set_cookie.split(';').next().unwrap_or_default();
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

    /// A copy of the session's record (user, times, metadata, data); `None`
    /// when there is no session.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// # let alice = UserId::new("alice")?;
    /// # let (id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let cookie = format!("{}={}", manager.config().cookie().cookie_name(), id.expose_secret());
    /// // A request with alice's session cookie:
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// let record = session.record().await?.ok_or("no session")?;
    /// assert_eq!(record.user.as_ref(), Some(&alice));
    /// assert!(record.expires_at() <= record.absolute_deadline);
    ///
    /// // Without a session there is no record.
    /// let anonymous = manager.session_for_request([]);
    /// assert!(anonymous.record().await?.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn record(&self) -> Result<Option<SessionRecord>, SessionError> {
        Ok(self.loaded().await.state.record()?.cloned())
    }

    /// The current session's record, read passively: loading it here does
    /// not count as activity, so its idle deadline stays where it is
    /// whatever the refresh threshold (guarantee 7). For status polls and
    /// idle warnings, so that an open page does not keep its session alive.
    /// Once the request has loaded the session, this is [`Self::record`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(1_000_000)));
    /// # let expiry = ExpiryPolicy::default()
    /// #     .with_idle_timeout(Duration::from_secs(600))
    /// #     .with_refresh_threshold(Duration::from_secs(600));
    /// # let config = SessionConfig::builder(KeyRing::generate()).with_expiry(expiry).build()?;
    /// # let manager = SessionManager::with_clock(Arc::new(MemoryStore::new()), config, clock.clone());
    /// # let alice = UserId::new("alice")?;
    /// # let (id, created) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let cookie = format!("{}={}", manager.config().cookie().cookie_name(), id.expose_secret());
    /// clock.advance(Duration::from_secs(60));
    /// // A status poll: the session is there, its idle deadline unmoved.
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// let status = session.peek().await?.ok_or("no session")?;
    /// assert_eq!(status.idle_deadline, created.idle_deadline);
    ///
    /// // Activity (any other read) pushes it.
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// let record = session.record().await?.ok_or("no session")?;
    /// assert!(record.idle_deadline > created.idle_deadline);
    /// # Ok(()) }
    /// ```
    pub async fn peek(&self) -> Result<Option<SessionRecord>, SessionError> {
        let mut inner = self.inner.lock().await;
        if let State::Unloaded(id) = &inner.state {
            let id = id.clone();
            let loaded = self.shared.peek(&id).await;
            inner.state = State::loaded(id, loaded);
        }
        Ok(inner.state.record()?.cloned())
    }

    /// The signed-in user, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// # let alice = UserId::new("alice")?;
    /// let session = manager.session_for_request([]);
    /// assert_eq!(session.user().await?, None);
    ///
    /// session.login(alice.clone()).await?;
    /// assert_eq!(session.user().await?, Some(alice));
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// # let alice = UserId::new("alice")?;
    /// # let (id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let cookie = format!("{}={}", manager.config().cookie().cookie_name(), id.expose_secret());
    /// // A "signed in only" route, with alice's session cookie:
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// assert_eq!(session.require_user().await?, alice);
    ///
    /// // Once her session is revoked, the route learns why.
    /// manager.revoke(&id, EndReason::revoked("account review")).await?;
    /// let next = manager.session_for_request([cookie.as_bytes()]);
    /// match next.require_user().await {
    ///     Err(SessionError::Ended(ending)) => assert_eq!(ending.reason.code(), "revoked"),
    ///     other => return Err(format!("expected Ended, got {other:?}").into()),
    /// }
    ///
    /// // A request without a session cookie:
    /// let anonymous = manager.session_for_request([]);
    /// assert!(matches!(anonymous.require_user().await, Err(SessionError::NoSession)));
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// # let alice = UserId::new("alice")?;
    /// let session = manager.session_for_request([]);
    /// assert_eq!(session.public_id().await?, None);
    ///
    /// session.login(alice.clone()).await?;
    /// let public_id = session.public_id().await?.ok_or("no session")?;
    /// // The id the device list shows, which "revoke that device" takes.
    /// assert_eq!(manager.list_user_sessions(&alice).await?[0].public_id, public_id);
    /// assert!(manager.revoke_device(&alice, &public_id, "lost").await?);
    /// # Ok(()) }
    /// ```
    pub async fn public_id(&self) -> Result<Option<PublicId>, SessionError> {
        Ok(self.loaded().await.state.record()?.map(|r| r.public_id))
    }

    /// Why the session the request presented has ended, when known
    /// (guarantee 8), or why it ended during this request.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// # let alice = UserId::new("alice")?;
    /// # let (id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let cookie = format!("{}={}", manager.config().cookie().cookie_name(), id.expose_secret());
    /// // An administrator revokes alice's session…
    /// manager.revoke(&id, EndReason::revoked("account review")).await?;
    ///
    /// // …and her next request learns why.
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// assert_eq!(session.user().await?, None);
    /// let ending = session.ended().await?.ok_or("the session should have ended")?;
    /// assert_eq!(ending.reason, EndReason::revoked("account review"));
    ///
    /// // A request that presented no session has nothing that ended.
    /// assert_eq!(manager.session_for_request([]).ended().await?, None);
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// # let alice = UserId::new("alice")?;
    /// let session = manager.session_for_request([]);
    /// session.login(alice).await?;
    ///
    /// // After the handler, the adapter ends the request:
    /// let response = session.finish().await;
    /// assert!(response.replacement().is_none()); // keep the handler's answer
    /// let headers: Vec<(&str, &str)> = response.headers().collect();
    /// assert_eq!(headers.len(), 1);
    /// assert_eq!(headers[0].0, "set-cookie"); // the new session's cookie
    ///
    /// // A request that changes nothing sends nothing back.
    /// # let cookie = headers[0].1.split(';').next().unwrap_or_default();
    /// let next = manager.session_for_request([cookie.as_bytes()]);
    /// assert!(next.user().await?.is_some());
    /// assert_eq!(next.finish().await.headers().count(), 0);
    /// # Ok(()) }
    /// ```
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
                let saving = shared.apply(&a.id, &a.pending, &a.as_loaded, &a.record.public_id);
                match Box::pin(saving).await {
                    Ok(applied) => {
                        a.record.last_seen_at = now;
                        a.record.idle_deadline = applied.idle_deadline;
                        a.pending = Delta::default();
                        a.as_loaded = AsLoaded::default();
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

fn encode_data(data: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, String> {
    data.iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests;
