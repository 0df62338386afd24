//! Data read once on the request's handle: [`Session::take`] (read and
//! remove in one store step), flash messages on top of it, and
//! [`Session::clear`] (every data key, the session and its user stay).

use super::data::check_key;
use super::*;

/// The data key prefix of flash messages: [`Session::flash`] stores
/// message `name` under `flash:name`.
pub const FLASH_PREFIX: &str = "flash:";

impl Session {
    /// Reads `key` as a `T` and removes it, in one store step on a stored
    /// session: of two requests taking the same key at once, exactly one
    /// gets the value, the other `None`. `None` too when the key is absent
    /// or there is no session. Refused like a save when the session ended
    /// meanwhile ([`SessionError::Ended`]).
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
    /// // A one-time code, handed out once however many tabs ask at once:
    /// let first = manager.session_for_request([cookie.as_bytes()]);
    /// first.insert("otp", 482_913).await?;
    /// first.finish().await;
    ///
    /// let tab_a = manager.session_for_request([cookie.as_bytes()]);
    /// let tab_b = manager.session_for_request([cookie.as_bytes()]);
    /// assert_eq!(tab_a.take::<u32>("otp").await?, Some(482_913));
    /// assert_eq!(tab_b.take::<u32>("otp").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        check_key(key)?;
        let mut inner = self.loaded().await;
        let (id, public_id, unsaved_same_key) = match &mut inner.state {
            State::Active(a) => (
                a.id.clone(),
                a.record.public_id,
                a.pending.data.contains_key(key),
            ),
            // Not stored yet: the value is this request's alone.
            State::New(d) => return decode(key, d.record.data.remove(key)),
            State::Failed(f) => return Err(SessionError::Store(f.clone())),
            // (`loaded` leaves nothing unloaded.)
            State::Absent(_) | State::Unloaded(_) => return Ok(None),
        };
        // An unsaved change to the same key goes first, so that the take
        // sees it.
        if unsaved_same_key {
            inner.flush(&self.shared).await?;
        }
        match self.shared.take(&id, &public_id, key).await {
            Ok(text) => {
                if let State::Active(a) = &mut inner.state {
                    a.record.data.remove(key);
                }
                let value =
                    match text {
                        None => None,
                        Some(t) => Some(serde_json::from_str(&t).map_err(|e| {
                            SessionError::Deserialize {
                                key: key.to_owned(),
                                message: e.to_string(),
                            }
                        })?),
                    };
                decode(key, value)
            }
            Err(e) => Err(inner.refused(e)),
        }
    }

    /// Keeps a flash message `name` for a later request, which reads it
    /// once with [`Session::take_flash`] (after a redirect, say). Stored
    /// as data key `flash:name` ([`FLASH_PREFIX`]), so it is saved like
    /// any data and starts a session if there is none.
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
    /// // POST /settings saves, then redirects:
    /// let post = manager.session_for_request([]);
    /// post.flash("notice", "Settings saved").await?;
    /// let response = post.finish().await;
    /// # let cookie = response.set_cookie().ok_or("no cookie")?.split(';').next().unwrap_or_default();
    ///
    /// // GET /settings shows the message once; a reload does not.
    /// let get = manager.session_for_request([cookie.as_bytes()]);
    /// assert_eq!(get.take_flash::<String>("notice").await?.as_deref(), Some("Settings saved"));
    /// get.finish().await;
    /// let reload = manager.session_for_request([cookie.as_bytes()]);
    /// assert_eq!(reload.take_flash::<String>("notice").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn flash<T: Serialize>(&self, name: &str, message: T) -> Result<(), SessionError> {
        self.insert(&format!("{FLASH_PREFIX}{name}"), message).await
    }

    /// Reads flash message `name` and removes it ([`Session::take`] of
    /// `flash:name`): shown once, by one request, even when several race.
    /// `None` when there is none (or no session: it never starts one).
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
    /// // A page render shows the notice if a redirect left one:
    /// let session = manager.session_for_request([]);
    /// let notice: Option<String> = session.take_flash("notice").await?;
    /// assert_eq!(notice, None);
    /// assert!(session.finish().await.set_cookie().is_none()); // no session started
    /// # Ok(()) }
    /// ```
    pub async fn take_flash<T: DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, SessionError> {
        self.take(&format!("{FLASH_PREFIX}{name}")).await
    }

    /// Removes every data key; the session, its user, its metadata and its
    /// deadlines stay (a cart emptied, a wizard restarted; to sign out, use
    /// [`Session::logout`]). Saved like any change, as the removal of each
    /// key the request knows of: a key another request adds after this one
    /// loaded the session is not removed.
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
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// session.insert("cart", ["apple"]).await?;
    /// session.insert("step", 3).await?;
    /// session.clear().await?;
    /// session.finish().await;
    ///
    /// let next = manager.session_for_request([cookie.as_bytes()]);
    /// assert_eq!(next.get::<u32>("step").await?, None);
    /// assert_eq!(next.user().await?, Some(alice)); // still signed in
    /// # Ok(()) }
    /// ```
    pub async fn clear(&self) -> Result<(), SessionError> {
        let mut inner = self.loaded().await;
        let keys: Vec<String> = match inner.state.record()? {
            Some(record) => record.data.keys().cloned().collect(),
            None => return Ok(()),
        };
        for key in keys {
            inner.state.set_data(&key, None);
        }
        Ok(())
    }
}

/// `value` of data key `key` as a `T`.
fn decode<T: DeserializeOwned>(
    key: &str,
    value: Option<serde_json::Value>,
) -> Result<Option<T>, SessionError> {
    value
        .map(T::deserialize)
        .transpose()
        .map_err(|e| SessionError::Deserialize {
            key: key.to_owned(),
            message: e.to_string(),
        })
}
