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

mod state;

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
}

/// How a sign-in's session lives, for [`Session::login_with`]: its own
/// absolute lifetime and cookie ("remember me"). The default takes both
/// from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignInOptions {
    /// The absolute lifetime from this sign-in; `None`: the configured one.
    pub absolute_lifetime: Option<Duration>,
    /// The cookie the browser gets; `None`: the configured one.
    pub cookie: Option<CookieLifetime>,
}

impl SignInOptions {
    /// "Remember me": a persistent cookie, and the session lives `lifetime`
    /// from sign-in (30 days, say, instead of the default 7).
    pub fn remember(lifetime: Duration) -> Self {
        SignInOptions {
            absolute_lifetime: Some(lifetime),
            cookie: Some(CookieLifetime::Persistent),
        }
    }

    /// "Do not remember me": a browser-session cookie (no `Max-Age`, gone
    /// when the browser closes), the configured lifetime.
    pub fn browser_session() -> Self {
        SignInOptions {
            absolute_lifetime: None,
            cookie: Some(CookieLifetime::BrowserSession),
        }
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

    /// Signs `user` in. Always gives the session a new id (no session
    /// fixation), keeps the data of an anonymous session or of the same
    /// user's session, starts afresh if another user was signed in (that
    /// session ends as a logout), and applies the per-user limit atomically.
    /// One store call, two when another user's session must end first.
    pub async fn login(&self, user: UserId) -> Result<LoginOutcome, SessionError> {
        self.login_with(user, SignInOptions::default()).await
    }

    /// As [`Self::login`], with this session's own absolute lifetime and
    /// cookie ("remember me"):
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), SessionError> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// let session = manager.session_for_request([]);
    /// let thirty_days = Duration::from_secs(30 * 86_400);
    /// session
    ///     .login_with(UserId::new("alice").unwrap(), SignInOptions::remember(thirty_days))
    ///     .await?;
    /// let cookie = session.finish().await.set_cookie().unwrap().to_owned();
    /// // Thirty days, less the milliseconds since the sign-in (whole seconds).
    /// assert!(cookie.contains("Max-Age=2592000") || cookie.contains("Max-Age=2591999"));
    /// # Ok(()) }
    /// ```
    ///
    /// A lifetime under a second or over [`crate::MAX_DURATION`] fails with
    /// [`SessionError::InvalidDuration`] before any store call. Choosing a
    /// cookie loads the session first when nothing read it yet (one more
    /// round trip); the choice is kept in [`Metadata::cookie`].
    pub async fn login_with(
        &self,
        user: UserId,
        options: SignInOptions,
    ) -> Result<LoginOutcome, SessionError> {
        let lifetime = match options.absolute_lifetime {
            Some(d) => check_duration(d).map_err(|_| SessionError::InvalidDuration)?,
            None => self.shared.config.expiry().absolute_lifetime(),
        };
        let mut inner = match options.cookie {
            Some(cookie) => {
                let mut inner = self.loaded().await;
                inner.state.set_cookie_choice(cookie);
                inner
            }
            None => self.inner.lock().await,
        };
        let s = &self.shared;
        let user_key = s.user_key(&user);
        let new_id = s.new_id(user_key.slot);
        let sign_in = SignIn {
            user: user_key.clone(),
            limit: s.config.limit(),
            absolute_deadline: s.clock.now().plus(lifetime),
        };
        // The stored session to rotate into the signed-in one, if any, and
        // another user's session to end first.
        let (old, other_user) = match &inner.state {
            State::Failed(f) => return Err(SessionError::Store(f.clone())),
            State::Unloaded(id) => (Some(id.clone()), None),
            State::Active(a) if a.record.user.as_ref().is_some_and(|u| *u != user) => {
                (None, Some(a.id.clone()))
            }
            State::Active(a) => (Some(a.id.clone()), None),
            State::New(_) | State::Absent(_) => (None, None),
        };
        if let Some(id) = other_user {
            inner.end_other_user(s, &id).await?;
        }
        if let Some(old_id) = old {
            let (delta, public_id) = match &inner.state {
                State::Active(a) => (a.pending.clone(), Some(a.record.public_id)),
                _ => Default::default(),
            };
            let rotation = Rotation {
                old: old_id.storage_key(),
                new: new_id.storage_key(),
                sign_in: Some(sign_in.clone()),
                delta,
                public_id,
            };
            match s.rotate(rotation).await {
                Ok(created) => {
                    inner.state = State::issued(new_id, created.record.clone());
                    return Ok(LoginOutcome {
                        record: created.record,
                        evicted: created.evicted,
                    });
                }
                Err(RotateError::OtherUser) => inner.end_other_user(s, &old_id).await?,
                // The old session is gone: sign in with a fresh one.
                Err(RotateError::Ended(ending)) => {
                    let settings = inner.state.settings();
                    inner.state = State::Absent(Absent {
                        ended: Some(ending),
                        settings,
                    });
                }
                Err(RotateError::UnknownId) => {
                    inner.state = State::absent_with(inner.state.settings());
                }
                Err(e) => return Err(inner.refused_rotation(e)),
            }
        }
        // A fresh signed-in session, with a new session's data and public id.
        let settings = inner.state.settings();
        let (public_id, data) = match &inner.state {
            State::New(d) => (d.record.public_id, encode_data(&d.record.data)),
            _ => (PublicId::of_key(&new_id.storage_key()), BTreeMap::new()),
        };
        let new = NewSession {
            key: new_id.storage_key(),
            public_id,
            user: Some(user_key),
            idle_timeout: settings
                .idle_timeout
                .unwrap_or(s.config.expiry().idle_timeout()),
            absolute_deadline: sign_in.absolute_deadline,
            metadata: settings.metadata.unwrap_or_default(),
            data,
        };
        match s.create(new, sign_in.limit).await {
            Ok(created) => {
                inner.state = State::issued(new_id, created.record.clone());
                Ok(LoginOutcome {
                    record: created.record,
                    evicted: created.evicted,
                })
            }
            Err(e) => Err(inner.refused_creation(e)),
        }
    }

    /// Gives the session a new id, keeping its data, user and public id;
    /// the old id ends with the reason "rotated" (guarantee 6). One store
    /// call, no load needed.
    pub async fn rotate(&self) -> Result<(), SessionError> {
        let mut inner = self.inner.lock().await;
        let s = &self.shared;
        let (old, delta) = match &mut inner.state {
            State::Failed(f) => return Err(SessionError::Store(f.clone())),
            State::Absent(_) => return Err(SessionError::NoSession),
            State::New(d) => {
                d.id = s.new_id(d.id.slot());
                return Ok(());
            }
            State::Unloaded(id) => (id.clone(), (Default::default(), None)),
            State::Active(a) => (a.id.clone(), (a.pending.clone(), Some(a.record.public_id))),
        };
        let (delta, public_id) = delta;
        let new_id = s.new_id(old.slot());
        let rotation = Rotation {
            old: old.storage_key(),
            new: new_id.storage_key(),
            sign_in: None,
            delta,
            public_id,
        };
        match s.rotate(rotation).await {
            Ok(created) => {
                inner.state = State::issued(new_id, created.record);
                Ok(())
            }
            Err(e) => Err(inner.refused_rotation(e)),
        }
    }

    /// Ends this session (one store call, no load needed) and removes the
    /// cookie. Without a session this does nothing. A logout the primary
    /// applied but no replica acknowledged in time (Sentinel, or
    /// `with_replica_acks`) is answered as done: the user is signed out; a
    /// warning event and the `not_replicated` failure metric record that a
    /// failover could undo it.
    pub async fn logout(&self) -> Result<(), SessionError> {
        let mut inner = self.inner.lock().await;
        let id = match &inner.state {
            State::Failed(f) => return Err(SessionError::Store(f.clone())),
            State::Absent(_) => return Ok(()),
            State::New(_) => {
                inner.state = State::absent();
                return Ok(());
            }
            State::Unloaded(id) => id.clone(),
            State::Active(a) => a.id.clone(),
        };
        let ended = State::ended(Some(Ending {
            reason: EndReason::Logout,
            at: self.shared.clock.now(),
        }));
        match self.shared.invalidate(&id, EndReason::Logout).await {
            Ok(_) => {
                inner.state = ended;
                Ok(())
            }
            // Applied on the primary, not yet acknowledged by a replica:
            // the user is signed out (the cookie goes) and answered so, as
            // the contract's durability paragraph asks: a 503 would tell a
            // signed-out user that signing out failed. The store's warning
            // event and the `not_replicated` failure metric say it was not
            // durable; `SessionManager` calls report it as an error.
            Err(StoreFailure::NotReplicated(_)) => {
                inner.state = ended;
                Ok(())
            }
            Err(f) => {
                inner.state = State::Failed(f.clone());
                Err(SessionError::Store(f))
            }
        }
    }

    /// Signs the user out of every session ("sign out everywhere") in one
    /// store call after the load, keeping this one when `keep_current` is
    /// true. Otherwise this session ends too, as "revoke-all", and its
    /// cookie is removed without a further call. Returns how many sessions
    /// ended. [`Self::revoke_all_with_reason`] also says why.
    pub async fn revoke_all(&self, keep_current: bool) -> Result<u64, SessionError> {
        self.revoke_all_with_reason(keep_current, "").await
    }

    /// As [`Self::revoke_all`], with a reason text ("password changed")
    /// that each signed-out device is shown in its 401, as a revoked
    /// device is (cut to [`crate::MAX_REASON_BYTES`]).
    pub async fn revoke_all_with_reason(
        &self,
        keep_current: bool,
        reason: &str,
    ) -> Result<u64, SessionError> {
        let reason = EndReason::revoked_all(reason);
        let user = self.require_user().await?;
        let mut inner = self.inner.lock().await;
        let public_id = match &inner.state {
            State::Active(a) => a.record.public_id,
            _ => return Err(SessionError::NoSession),
        };
        let except = keep_current.then_some(&public_id);
        let result = self.shared.revoke_all(&user, except, reason.clone()).await;
        let applied = matches!(result, Ok(_) | Err(StoreFailure::NotReplicated(_)));
        if applied && !keep_current {
            inner.state = State::ended(Some(Ending {
                reason,
                at: self.shared.clock.now(),
            }));
        }
        Ok(result?)
    }

    /// The signed-in user's sessions ("your devices"), newest first, each
    /// marked whether it is this one. One store call after the load;
    /// [`SessionError::NoSession`] or [`SessionError::Ended`] (a 401) when
    /// nobody is signed in.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), session_core::SessionError> {
    /// use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager, UserId};
    /// use std::sync::Arc;
    ///
    /// let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
    /// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// let alice = UserId::new("alice").unwrap();
    /// let laptop = manager.session_for_request([]);
    /// laptop.login(alice.clone()).await?;
    /// let phone = manager.session_for_request([]);
    /// phone.login(alice).await?;
    ///
    /// // On the phone: list the devices, sign the laptop out.
    /// let devices = phone.devices().await?;
    /// assert_eq!(devices.len(), 2);
    /// let laptop_entry = devices.iter().find(|d| !d.current).unwrap();
    /// assert!(phone.revoke_device(&laptop_entry.summary.public_id, "not mine").await?);
    /// assert_eq!(phone.devices().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn devices(&self) -> Result<Vec<crate::record::Device>, SessionError> {
        let user = self.require_user().await?;
        let current = self.public_id().await?;
        let list = self.shared.list_user_sessions(&user).await?;
        Ok(list
            .into_iter()
            .map(|summary| crate::record::Device {
                current: Some(summary.public_id) == current,
                summary,
            })
            .collect())
    }

    /// Ends one of the signed-in user's sessions by its public id ("revoke
    /// that device"), with a reason text its owner is shown (cut to
    /// [`crate::MAX_REASON_BYTES`]). False when the user has no such active
    /// session: another user's public id is never found. Naming this
    /// session ends it too, and its cookie is removed.
    pub async fn revoke_device(
        &self,
        public_id: &PublicId,
        reason: &str,
    ) -> Result<bool, SessionError> {
        let user = self.require_user().await?;
        let reason = EndReason::revoked(reason);
        let mut inner = self.inner.lock().await;
        let is_current = match &inner.state {
            State::Active(a) => a.record.public_id == *public_id,
            _ => return Err(SessionError::NoSession),
        };
        let result = self
            .shared
            .revoke_device(&user, public_id, reason.clone())
            .await;
        let applied = matches!(result, Ok(true) | Err(StoreFailure::NotReplicated(_)));
        if applied && is_current {
            inner.state = State::ended(Some(Ending {
                reason,
                at: self.shared.clock.now(),
            }));
        }
        Ok(result?)
    }

    /// Signs the user out of every other session ("sign out my other
    /// devices"), keeping this one: [`Self::revoke_all`] with
    /// `keep_current`. Returns how many ended.
    pub async fn sign_out_others(&self) -> Result<u64, SessionError> {
        self.revoke_all(true).await
    }

    /// The manager this request's session belongs to, for work beyond this
    /// session (counts, another user's sessions in an admin route) without
    /// wiring it into the handler's state.
    pub fn manager(&self) -> crate::SessionManager {
        crate::SessionManager::from_shared(self.shared.clone())
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
            UpdateError::NotAnInteger { .. } => {}
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
        let s = manager.session_for_request([]);
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

    /// Non-browser clients: a request carrying the id header (even empty)
    /// gets a new id back in that header and never a `Set-Cookie`; a
    /// browser (no header) never gets the id in a header, only the cookie.
    #[tokio::test]
    async fn the_id_header_goes_only_to_header_clients() {
        use crate::adapter::begin_request;
        let config = crate::SessionConfig::builder(crate::KeyRing::generate())
            .with_id_header("X-Session-Id")
            .build()
            .unwrap();
        let manager = crate::SessionManager::new(Arc::new(crate::MemoryStore::new()), config);
        let login = |headers: &[(&str, &[u8])]| {
            let s = begin_request(&manager, "POST", headers).unwrap();
            async move {
                s.login(UserId::new("api-client").unwrap()).await.unwrap();
                s.finish().await
            }
        };
        // A header client, with an empty header: no session yet.
        let update = login(&[("x-session-id", b"")]).await;
        assert!(
            update.set_cookie().is_none(),
            "no cookie for a header client"
        );
        let id = update
            .id_header("X-Session-Id")
            .expect("a new id is sent in the header")
            .to_owned();
        let s = begin_request(&manager, "GET", &[("x-session-id", id.as_bytes())]).unwrap();
        assert_eq!(
            s.user().await.unwrap(),
            Some(UserId::new("api-client").unwrap())
        );
        assert_eq!(s.finish().await.headers().count(), 0);

        // A browser: the cookie only, never the id in a header.
        let update = login(&[]).await;
        assert!(update.set_cookie().is_some());
        assert!(update.id_header("x-session-id").is_none());
        assert_eq!(update.headers().count(), 1);

        // A header client that ends its session gets no cookie removal.
        let s = begin_request(&manager, "POST", &[("x-session-id", id.as_bytes())]).unwrap();
        s.logout().await.unwrap();
        assert_eq!(s.finish().await.headers().count(), 0);

        // Without the setting, the header means nothing.
        let plain = crate::SessionManager::new(
            manager.store().clone(),
            crate::SessionConfig::builder(manager.config().keys().clone())
                .build()
                .unwrap(),
        );
        let s = begin_request(&plain, "GET", &[("x-session-id", id.as_bytes())]).unwrap();
        assert_eq!(s.user().await.unwrap(), None);
    }

    /// Guarantee 13: a client-sized user agent is stored cut, and metadata
    /// over the whole cap is refused, leaving the stored metadata as it was,
    /// on a session started here and on a stored one, and through
    /// `create_for_user`.
    #[tokio::test]
    async fn metadata_is_cut_or_refused_never_stored_whole() {
        let manager = crate::SessionManager::new(
            Arc::new(crate::MemoryStore::new()),
            crate::SessionConfig::builder(crate::KeyRing::generate())
                .build()
                .unwrap(),
        );
        let huge = Metadata {
            user_agent: Some("x".repeat(60_000)),
            device: Some("laptop".into()),
            ..Metadata::default()
        };
        let s = manager.session_for_request([]);
        s.set_metadata(huge.clone()).await.unwrap();
        s.login(UserId::new("alice").unwrap()).await.unwrap();
        let cookie = s.finish().await.set_cookie().unwrap().to_owned();
        let pair = cookie.split(';').next().unwrap().to_owned();
        let s = manager.session_for_request([pair.as_bytes()]);
        let stored = s.record().await.unwrap().unwrap().metadata;
        assert_eq!(stored.user_agent.map(|ua| ua.len()), Some(512));
        let too_much = Metadata {
            extra: (0..8).map(|i| (format!("k{i}"), "v".repeat(500))).collect(),
            ..Metadata::default()
        };
        assert!(matches!(
            s.set_metadata(too_much.clone()).await,
            Err(SessionError::MetadataTooLarge { .. })
        ));
        assert_eq!(
            s.record()
                .await
                .unwrap()
                .unwrap()
                .metadata
                .device
                .as_deref(),
            Some("laptop"),
            "a refused change leaves the metadata as it was"
        );
        let alice = UserId::new("alice").unwrap();
        assert!(matches!(
            manager.create_for_user(&alice, too_much, None).await,
            Err(SessionError::MetadataTooLarge { .. })
        ));
        let (_, made) = manager.create_for_user(&alice, huge, None).await.unwrap();
        assert_eq!(made.metadata.user_agent.map(|ua| ua.len()), Some(512));
    }

    /// Guarantee 13: with the default configuration a user's sessions are
    /// capped: the 1,001st sign-in evicts the least recently active.
    #[tokio::test]
    async fn a_user_has_at_most_1000_sessions_by_default() {
        let clock = crate::ManualClock::starting_now();
        let manager = crate::SessionManager::with_clock(
            Arc::new(crate::MemoryStore::new()),
            crate::SessionConfig::builder(crate::KeyRing::generate())
                .build()
                .unwrap(),
            Arc::new(clock.clone()),
        );
        let alice = UserId::new("alice").unwrap();
        let (_, first) = manager
            .create_for_user(&alice, Metadata::default(), None)
            .await
            .unwrap();
        // The first is the least recently active by a second, not by a tie.
        clock.advance(Duration::from_secs(1));
        for _ in 0..1000 {
            manager
                .create_for_user(&alice, Metadata::default(), None)
                .await
                .unwrap();
        }
        assert_eq!(manager.count_user_sessions(&alice).await.unwrap(), 1000);
        let listed = manager.list_user_sessions(&alice).await.unwrap();
        assert!(
            listed.iter().all(|s| s.public_id != first.public_id),
            "the least recently active went"
        );
    }

    /// The budget path: changes, then settings, then an explicit save, then
    /// the end of the request cost one write, on a stored session (one
    /// `apply`) as on a new one (one `create`).
    #[tokio::test]
    async fn changes_settings_and_save_cost_one_write() {
        let config = crate::SessionConfig::builder(crate::KeyRing::generate())
            .build()
            .unwrap();
        let probe = Arc::new(crate::store::testkit::FaultyStore::new(Arc::new(
            crate::MemoryStore::new(),
        )));
        let manager = crate::SessionManager::new(probe.clone(), config);
        let s = manager.session_for_request([]);
        s.insert("k", 1).await.unwrap();
        s.set_metadata(Metadata::default()).await.unwrap();
        s.set_idle_timeout(Duration::from_secs(60)).await.unwrap();
        s.save().await.unwrap();
        let cookie = s.finish().await.set_cookie().unwrap().to_owned();
        assert_eq!(probe.calls(), 1, "a new session: one create");

        let pair = cookie.split(';').next().unwrap().to_owned();
        let s = manager.session_for_request([pair.as_bytes()]);
        s.insert("k", 2).await.unwrap();
        s.set_metadata(Metadata::default()).await.unwrap();
        s.set_idle_timeout(Duration::from_secs(90)).await.unwrap();
        s.save().await.unwrap();
        assert!(s.finish().await.error().is_none());
        assert_eq!(probe.calls(), 3, "a stored session: one load, one apply");
    }

    /// Durations past 100 years are refused before any store call.
    #[tokio::test]
    async fn oversized_idle_timeouts_are_refused() {
        let config = crate::SessionConfig::builder(crate::KeyRing::generate())
            .build()
            .unwrap();
        let manager = crate::SessionManager::new(Arc::new(crate::MemoryStore::new()), config);
        let s = manager.session_for_request([]);
        assert!(matches!(
            s.set_idle_timeout(Duration::MAX).await,
            Err(SessionError::InvalidDuration)
        ));
        s.set_idle_timeout(crate::MAX_DURATION).await.unwrap();
        let alice = UserId::new("alice").unwrap();
        assert!(matches!(
            manager
                .create_for_user(&alice, Metadata::default(), Some(Duration::MAX))
                .await,
            Err(SessionError::InvalidDuration)
        ));
    }
}
