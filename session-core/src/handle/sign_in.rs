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
    ///
    /// # Examples
    ///
    /// What an anonymous visitor put in the session survives the sign-in:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// let session = manager.session_for_request([]);
    /// session.insert("cart", vec!["apple"]).await?;
    ///
    /// let alice = UserId::new("alice")?;
    /// let outcome = session.login(alice.clone()).await?;
    /// assert_eq!(outcome.record.user.as_ref(), Some(&alice));
    /// assert!(outcome.evicted.is_empty());
    /// assert_eq!(session.get::<Vec<String>>("cart").await?, Some(vec!["apple".to_owned()]));
    /// assert_eq!(manager.count_user_sessions(&alice).await?, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// At the per-user limit, the sign-in ends the user's least recently
    /// active session (with [`crate::LimitPolicy::EvictIdle`]) and says
    /// which:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = SessionConfig::builder(KeyRing::generate())
    ///     .with_limit(UserLimit::at_most(1, LimitPolicy::EvictIdle))
    ///     .build()?;
    /// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// let alice = UserId::new("alice")?;
    ///
    /// let laptop = manager.session_for_request([]);
    /// let first = laptop.login(alice.clone()).await?;
    /// let phone = manager.session_for_request([]);
    /// let second = phone.login(alice.clone()).await?;
    /// assert_eq!(second.evicted, vec![first.record.public_id]);
    /// assert_eq!(manager.count_user_sessions(&alice).await?, 1);
    /// # Ok(()) }
    /// ```
    pub async fn login(&self, user: UserId) -> Result<LoginOutcome, SessionError> {
        self.login_with(user, SignInOptions::default()).await
    }

    /// As [`Self::login`], with this session's own absolute lifetime and
    /// cookie ("remember me").
    ///
    /// A lifetime under a second or over [`crate::MAX_DURATION`] fails with
    /// [`SessionError::InvalidDuration`] before any store call. Choosing a
    /// cookie loads the session first when nothing read it yet (one more
    /// round trip); the choice is kept in [`Metadata::cookie`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// let session = manager.session_for_request([]);
    /// let thirty_days = Duration::from_secs(30 * 86_400);
    /// let outcome = session
    ///     .login_with(UserId::new("alice")?, SignInOptions::remember(thirty_days))
    ///     .await?;
    /// assert_eq!(outcome.record.metadata.cookie, Some(CookieLifetime::Persistent));
    ///
    /// let response = session.finish().await;
    /// let cookie = response.set_cookie().ok_or("a sign-in sets a cookie")?;
    /// // Thirty days, less the milliseconds since the sign-in (whole seconds).
    /// assert!(cookie.contains("Max-Age=2592000") || cookie.contains("Max-Age=2591999"));
    /// # Ok(()) }
    /// ```
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
            user: user_key,
            limit: s.config.limit(),
            absolute_deadline: s.clock.now().plus(lifetime),
        };
        let (old, other_user) = inner.sign_in_plan(&user)?;
        if let Some(id) = other_user {
            inner.end_other_user(s, &id).await?;
        }
        if let Some(old_id) = old
            && let Some(outcome) = inner
                .rotate_to_sign_in(s, &old_id, &new_id, &sign_in)
                .await?
        {
            return Ok(outcome);
        }
        inner.create_signed_in(s, new_id, sign_in).await
    }

    /// Gives the session a new id, keeping its data, user and public id;
    /// the old id ends with the reason "rotated" (guarantee 6). One store
    /// call, no load needed.
    ///
    /// # Examples
    ///
    /// After a privilege change (say, the user confirmed their password):
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use session_core::{store::Loaded, *};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// # let alice = UserId::new("alice")?;
    /// # let (id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let cookie = format!("{}={}", manager.config().cookie().cookie_name(), id.expose_secret());
    /// // A request with alice's session cookie, `id`.
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// let before = session.public_id().await?;
    /// session.rotate().await?;
    /// assert_eq!(session.public_id().await?, before); // the same session…
    ///
    /// // …under a new id: the old one ended as "rotated", the response
    /// // carries the new cookie.
    /// let Loaded::Ended(ending) = manager.get(&id).await? else {
    ///     return Err("the old id should have ended".into());
    /// };
    /// assert_eq!(ending.reason, EndReason::Rotated);
    /// let response = session.finish().await;
    /// let new_cookie = response.set_cookie().ok_or("a rotation sets a cookie")?;
    /// assert!(!new_cookie.contains(id.expose_secret()));
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use session_core::{store::Loaded, *};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// # let alice = UserId::new("alice")?;
    /// # let (id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let cookie = format!("{}={}", manager.config().cookie().cookie_name(), id.expose_secret());
    /// // A request with alice's session cookie, `id`.
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// session.logout().await?;
    /// assert_eq!(session.user().await?, None);
    ///
    /// // The store keeps why the session ended; the response removes the cookie.
    /// let Loaded::Ended(ending) = manager.get(&id).await? else {
    ///     return Err("the session should have ended".into());
    /// };
    /// assert_eq!(ending.reason, EndReason::Logout);
    /// let response = session.finish().await;
    /// assert!(response.set_cookie().is_some_and(|c| c.contains("Max-Age=0")));
    /// # Ok(()) }
    /// ```
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

/// The steps of [`Session::login_with`].
impl Inner {
    /// The stored session to rotate into the signed-in one, if any, and
    /// another user's session to end first.
    fn sign_in_plan(
        &self,
        user: &UserId,
    ) -> Result<(Option<SessionId>, Option<SessionId>), SessionError> {
        let plan = match &self.state {
            State::Failed(f) => return Err(SessionError::Store(f.clone())),
            State::Unloaded(id) => (Some(id.clone()), None),
            State::Active(a) if a.record.user.as_ref().is_some_and(|u| u != user) => {
                (None, Some(a.id.clone()))
            }
            State::Active(a) => (Some(a.id.clone()), None),
            State::New(_) | State::Absent(_) => (None, None),
        };
        Ok(plan)
    }

    /// Signs in by rotating the stored session `old_id` into `new_id`,
    /// keeping its data. `None` when that session cannot be signed in (it
    /// ended, is unknown, or is another user's, now ended): the caller then
    /// signs in with a fresh session.
    async fn rotate_to_sign_in(
        &mut self,
        s: &Shared,
        old_id: &SessionId,
        new_id: &SessionId,
        sign_in: &SignIn,
    ) -> Result<Option<LoginOutcome>, SessionError> {
        let (delta, public_id) = match &self.state {
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
                self.state = State::issued(new_id.clone(), created.record.clone());
                return Ok(Some(LoginOutcome {
                    record: created.record,
                    evicted: created.evicted,
                }));
            }
            Err(RotateError::OtherUser) => self.end_other_user(s, old_id).await?,
            // The old session is gone: sign in with a fresh one.
            Err(RotateError::Ended(ending)) => {
                let settings = self.state.settings();
                self.state = State::Absent(Absent {
                    ended: Some(ending),
                    settings,
                });
            }
            Err(RotateError::UnknownId) => {
                self.state = State::absent_with(self.state.settings());
            }
            Err(e) => return Err(self.refused_rotation(e)),
        }
        Ok(None)
    }

    /// Signs in with a fresh session, which takes over the data and public
    /// id of a new session this request started.
    async fn create_signed_in(
        &mut self,
        s: &Shared,
        new_id: SessionId,
        sign_in: SignIn,
    ) -> Result<LoginOutcome, SessionError> {
        let settings = self.state.settings();
        let (public_id, data) = match &self.state {
            State::New(d) => (d.record.public_id, encode_data(&d.record.data)),
            _ => (PublicId::of_key(&new_id.storage_key()), BTreeMap::new()),
        };
        let new = NewSession {
            key: new_id.storage_key(),
            public_id,
            user: Some(sign_in.user),
            idle_timeout: settings
                .idle_timeout
                .unwrap_or(s.config.expiry().idle_timeout()),
            absolute_deadline: sign_in.absolute_deadline,
            metadata: settings.metadata.unwrap_or_default(),
            data,
        };
        match s.create(new, sign_in.limit).await {
            Ok(created) => {
                self.state = State::issued(new_id, created.record.clone());
                Ok(LoginOutcome {
                    record: created.record,
                    evicted: created.evicted,
                })
            }
            Err(e) => Err(self.refused_creation(e)),
        }
    }
}
