//! The session's data on the request's handle: read, write, remove and
//! count, save now, and the session's own settings (idle timeout,
//! metadata).

use super::*;
use crate::time::Timestamp;

impl Session {
    /// Reads `key` as a `T`; `None` if absent or there is no session.
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
    /// let session = manager.session_for_request([]);
    /// assert_eq!(session.get::<String>("theme").await?, None);
    ///
    /// session.insert("theme", "dark").await?;
    /// assert_eq!(session.get::<String>("theme").await?.as_deref(), Some("dark"));
    /// // A value of another type is an error, not `None`.
    /// assert!(matches!(
    ///     session.get::<u32>("theme").await,
    ///     Err(SessionError::Deserialize { .. })
    /// ));
    /// # Ok(()) }
    /// ```
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
    /// let session = manager.session_for_request([]);
    /// session.insert("cart", ["apple", "pear"]).await?;
    ///
    /// // The end of the request stores the new session and sets its cookie;
    /// // the browser's next request reads the cart.
    /// let response = session.finish().await;
    /// # let cookie = response.set_cookie().ok_or("no cookie")?.split(';').next().unwrap_or_default();
    /// let next = manager.session_for_request([cookie.as_bytes()]);
    /// let cart: Option<Vec<String>> = next.get("cart").await?;
    /// assert_eq!(cart, Some(vec!["apple".to_owned(), "pear".to_owned()]));
    ///
    /// // A key is 1 to 256 bytes.
    /// assert!(matches!(next.insert("", 1).await, Err(SessionError::InvalidKey)));
    /// # Ok(()) }
    /// ```
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
    /// let session = manager.session_for_request([]);
    /// session.insert("draft", "Dear Bob,").await?;
    ///
    /// assert!(session.remove("draft").await?);
    /// assert_eq!(session.get::<String>("draft").await?, None);
    /// assert!(!session.remove("draft").await?); // nothing left to remove
    /// # Ok(()) }
    /// ```
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
    /// assert_eq!(session.increment("page_views", 1).await?, 1);
    /// assert_eq!(session.increment("page_views", 1).await?, 2);
    /// assert_eq!(session.get::<i64>("page_views").await?, Some(2));
    ///
    /// // A counter never starts a session.
    /// let anonymous = manager.session_for_request([]);
    /// assert!(matches!(
    ///     anonymous.increment("page_views", 1).await,
    ///     Err(SessionError::NoSession)
    /// ));
    /// # Ok(()) }
    /// ```
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
    /// // A request with alice's session cookie (her session id is `id`):
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// session.insert("checkout_step", 2).await?;
    /// session.save().await?; // stored now, not at the end of the request
    ///
    /// let Loaded::Active { record, .. } = manager.peek(&id).await? else {
    ///     return Err("the session should be active".into());
    /// };
    /// assert_eq!(record.data["checkout_step"], 2);
    /// # Ok(()) }
    /// ```
    pub async fn save(&self) -> Result<(), SessionError> {
        let mut inner = self.inner.lock().await;
        inner.flush(&self.shared).await
    }

    /// Sets this session's idle timeout (saved like data). Before a session
    /// exists it is kept for the session this request starts. At most
    /// [`crate::MAX_DURATION`], at least a second, else
    /// [`SessionError::InvalidDuration`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use session_core::{store::Loaded, *};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// # let alice = UserId::new("alice")?;
    /// # let (id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let cookie = format!("{}={}", manager.config().cookie().cookie_name(), id.expose_secret());
    /// // A request with alice's session cookie (her session id is `id`):
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// // On a shared computer: sign out after 15 idle minutes.
    /// session.set_idle_timeout(Duration::from_secs(15 * 60)).await?;
    /// // Under a second is refused.
    /// assert!(matches!(
    ///     session.set_idle_timeout(Duration::from_millis(500)).await,
    ///     Err(SessionError::InvalidDuration)
    /// ));
    /// session.finish().await; // saves the change
    ///
    /// let Loaded::Active { record, .. } = manager.peek(&id).await? else {
    ///     return Err("the session should be active".into());
    /// };
    /// assert_eq!(record.idle_timeout, Duration::from_secs(15 * 60));
    /// # Ok(()) }
    /// ```
    pub async fn set_idle_timeout(&self, timeout: Duration) -> Result<(), SessionError> {
        let timeout = check_duration(timeout).map_err(|_| SessionError::InvalidDuration)?;
        let mut inner = self.loaded().await;
        inner.state.record()?;
        inner.state.set_idle_timeout(timeout);
        Ok(())
    }

    /// "Stay signed in": pushes the idle deadline to now plus the idle
    /// timeout (never past the absolute lifetime), whatever the refresh
    /// threshold, and saves at once with any other unsaved change. Returns
    /// the session's new expiry (the earlier of its two deadlines), or
    /// `None` when the request has no session.
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
    /// #     .with_refresh_threshold(Duration::from_secs(60));
    /// # let config = SessionConfig::builder(KeyRing::generate()).with_expiry(expiry).build()?;
    /// # let manager = SessionManager::with_clock(Arc::new(MemoryStore::new()), config, clock.clone());
    /// # let alice = UserId::new("alice")?;
    /// # let (id, created) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let cookie = format!("{}={}", manager.config().cookie().cookie_name(), id.expose_secret());
    /// clock.advance(Duration::from_secs(120));
    /// // Eight idle minutes left: more than the threshold, so activity
    /// // alone would not move the deadline. The idle warning's button:
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// let expires_at = session.extend().await?.ok_or("no session")?;
    /// assert_eq!(expires_at, clock.now().plus(Duration::from_secs(600)));
    /// assert!(expires_at > created.idle_deadline);
    /// # Ok(()) }
    /// ```
    pub async fn extend(&self) -> Result<Option<Timestamp>, SessionError> {
        let mut inner = self.loaded().await;
        let Some(timeout) = inner.state.record()?.map(|r| r.idle_timeout) else {
            return Ok(None);
        };
        inner.state.set_idle_timeout(timeout);
        inner.flush(&self.shared).await?;
        Ok(inner.state.record()?.map(SessionRecord::expires_at))
    }

    /// Replaces the session's metadata (ip, user agent, device, …). Kept
    /// until the session is stored or signed in; does not by itself start a
    /// session. Each text is cut to [`crate::MAX_METADATA_FIELD_BYTES`];
    /// metadata over [`crate::MAX_METADATA_BYTES`] in all is refused with
    /// [`SessionError::MetadataTooLarge`] (a 400) and nothing changes.
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
    /// session
    ///     .set_metadata(Metadata {
    ///         ip: Some("203.0.113.7".into()),
    ///         device: Some("Firefox on Linux".into()),
    ///         ..Metadata::default()
    ///     })
    ///     .await?;
    /// assert!(session.record().await?.is_none()); // no session started yet
    ///
    /// // Signing in keeps it: the device list shows it.
    /// session.login(alice.clone()).await?;
    /// let devices = manager.list_user_sessions(&alice).await?;
    /// assert_eq!(devices[0].metadata.device.as_deref(), Some("Firefox on Linux"));
    /// # Ok(()) }
    /// ```
    pub async fn set_metadata(&self, metadata: Metadata) -> Result<(), SessionError> {
        let metadata = metadata.bounded()?;
        let mut inner = self.loaded().await;
        inner.state.record()?;
        inner.state.set_metadata(metadata);
        Ok(())
    }
}

pub(super) fn check_key(key: &str) -> Result<(), SessionError> {
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
