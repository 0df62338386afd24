//! Sessions made outside a request: [`SessionManager::session_builder`]
//! creates a signed-in session with its data, metadata, idle timeout and
//! sign-in options in one store call, and hands back what an API client or
//! a sign-in link needs (the id, the public id, a `Set-Cookie` value).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::SessionManager;
use crate::cookie::CookieLifetime;
use crate::error::SessionError;
use crate::expiry::check_duration;
use crate::handle::{MAX_DATA_KEY_BYTES, SignInOptions};
use crate::id::{PublicId, SessionId};
use crate::record::{Metadata, SessionRecord};
use crate::store::NewSession;
use crate::user::UserId;

/// A signed-in session to create outside a request, made by
/// [`SessionManager::session_builder`]: set what it starts with, then
/// [`SessionBuilder::create`].
#[must_use = "a builder creates nothing until `create` is awaited"]
pub struct SessionBuilder<'m> {
    manager: &'m SessionManager,
    user: UserId,
    metadata: Metadata,
    data: BTreeMap<String, String>,
    idle_timeout: Option<Duration>,
    options: SignInOptions,
}

/// A session created by [`SessionBuilder::create`]: what to hand out.
/// Its `Debug` output redacts the id.
pub struct IssuedSession {
    /// The session id: `id.expose_secret()` is the token an API client
    /// presents (in the session cookie, or wherever the application
    /// reads it with [`SessionManager::parse_id`]).
    pub id: SessionId,
    /// The public id: what device lists show and revocation takes; safe to
    /// log.
    pub public_id: PublicId,
    /// The record as created.
    pub record: SessionRecord,
    set_cookie: String,
}

impl IssuedSession {
    /// The `Set-Cookie` value that hands this session to a browser (for a
    /// sign-in link, say), with the cookie kind chosen by the
    /// [`SignInOptions`]: persistent until the absolute deadline, or for
    /// the browser's session.
    pub fn set_cookie(&self) -> &str {
        &self.set_cookie
    }
}

impl fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedSession")
            .field("id", &self.id)
            .field("public_id", &self.public_id)
            .field("record", &self.record)
            .field("set_cookie", &"<redacted>")
            .finish()
    }
}

impl SessionManager {
    /// Starts building a signed-in session for `user` outside a request:
    /// an API client's session, a session made by a sign-in link, a token
    /// store's session created with its tokens. It is created in one store
    /// call, under the per-user limit, with the data, metadata, idle
    /// timeout and [`SignInOptions`] given.
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
    /// # let alice = UserId::new("alice")?;
    /// let thirty_days = Duration::from_secs(30 * 86_400);
    /// let issued = manager
    ///     .session_builder(&alice)
    ///     .insert("oauth_refresh_token", "r-123")?
    ///     .metadata(Metadata { device: Some("CLI".into()), ..Metadata::default() })
    ///     .sign_in_options(SignInOptions::remember(thirty_days))
    ///     .create()
    ///     .await?;
    /// assert!(issued.set_cookie().contains("Max-Age="));
    ///
    /// // The client presents the id; a request reads the data.
    /// let cookie = format!("{}={}", manager.config().cookie().cookie_name(), issued.id.expose_secret());
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// assert_eq!(session.get::<String>("oauth_refresh_token").await?.as_deref(), Some("r-123"));
    /// assert_eq!(session.user().await?, Some(alice.clone()));
    /// // The device list shows it, under its public id.
    /// assert_eq!(manager.list_user_sessions(&alice).await?[0].public_id, issued.public_id);
    /// # Ok(()) }
    /// ```
    pub fn session_builder(&self, user: &UserId) -> SessionBuilder<'_> {
        SessionBuilder {
            manager: self,
            user: user.clone(),
            metadata: Metadata::default(),
            data: BTreeMap::new(),
            idle_timeout: None,
            options: SignInOptions::default(),
        }
    }
}

impl SessionBuilder<'_> {
    /// Sets data key `key` to `value` (as [`crate::Session::insert`]
    /// does; the data cap is checked by [`Self::create`]).
    pub fn insert<T: Serialize>(mut self, key: &str, value: T) -> Result<Self, SessionError> {
        if key.is_empty() || key.len() > MAX_DATA_KEY_BYTES {
            return Err(SessionError::InvalidKey);
        }
        let json = serde_json::to_string(&value).map_err(|e| SessionError::Serialize {
            key: key.to_owned(),
            message: e.to_string(),
        })?;
        self.data.insert(key.to_owned(), json);
        Ok(self)
    }

    /// The session's metadata (cut and bounded as
    /// [`crate::Session::set_metadata`] does, when created).
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// This session's idle timeout instead of the policy's (at least a
    /// second, at most [`crate::MAX_DURATION`], checked when created).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// The absolute lifetime and cookie kind ("remember me"), as at a
    /// sign-in in a request ([`crate::Session::login_with`]).
    pub fn sign_in_options(mut self, options: SignInOptions) -> Self {
        self.options = options;
        self
    }

    /// Creates the session in one store call, under the per-user limit.
    /// Refused before any store call with [`SessionError::InvalidDuration`],
    /// [`SessionError::MetadataTooLarge`] or [`SessionError::TooLarge`]
    /// (the data over the cap); by the store with
    /// [`SessionError::LimitReached`] when the limit denies it.
    pub async fn create(self) -> Result<IssuedSession, SessionError> {
        let s = &self.manager.shared;
        let config = &s.config;
        let mut metadata = self.metadata.bounded()?;
        let idle_timeout = match self.idle_timeout {
            Some(t) => check_duration(t).map_err(|_| SessionError::InvalidDuration)?,
            None => config.expiry().idle_timeout(),
        };
        let lifetime = match self.options.absolute_lifetime {
            Some(d) => check_duration(d).map_err(|_| SessionError::InvalidDuration)?,
            None => config.expiry().absolute_lifetime(),
        };
        let size: usize = self.data.iter().map(|(k, v)| k.len() + v.len()).sum();
        let limit = config.max_data_bytes();
        if size > limit {
            return Err(SessionError::TooLarge { size, limit });
        }
        let cookie = self.options.cookie;
        if cookie.is_some() {
            metadata.cookie = cookie;
        }
        let user_key = s.user_key(&self.user);
        let id = s.new_id(user_key.slot);
        let key = id.storage_key();
        let new = NewSession {
            key,
            public_id: PublicId::of_key(&key),
            user: Some(user_key),
            idle_timeout,
            absolute_deadline: s.clock.now().plus(lifetime),
            metadata,
            data: self.data,
        };
        let created = s.create(new, config.limit()).await?;
        let kind: CookieLifetime = cookie.unwrap_or_else(|| config.cookie().lifetime());
        let set_cookie = config.cookie().set_cookie_as(&id, lifetime, kind);
        Ok(IssuedSession {
            public_id: created.record.public_id,
            record: created.record,
            id,
            set_cookie,
        })
    }
}
