//! Signing in and out on the request's handle: [`Session::login`] and
//! [`Session::login_with`] (always a new id, the user bound and the
//! per-user limit applied in one store call), [`Session::rotate`] and
//! [`Session::logout`].

use super::*;

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
            Err(StoreFailure::NotReplicated { .. }) => {
                inner.state = ended;
                Ok(())
            }
            Err(f) => {
                inner.state = State::Failed(f.clone());
                Err(SessionError::Store(f))
            }
        }
    }
}
