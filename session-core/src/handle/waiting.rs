//! Waiting on the request's session from a long-lived response (Server-Sent
//! Events, a long poll): [`Session::until_ended`].

use super::*;

impl Session {
    /// Resolves when the request's session ends, for any reason (revoked
    /// from another device, revoke-all, the limit, expiry), with why and
    /// when; `None` at once when the request has no active session.
    /// Passive: waiting never moves the idle deadline, so an open page
    /// left alone still expires. When another request rotates the id, it
    /// resolves with [`crate::EndReason::Rotated`]: the session lives on
    /// under the new id the browser now holds, so wait again from a
    /// request that presents it.
    ///
    /// It is fed by the store's lifecycle stream (a shared poller per slot
    /// reads its tail a few times a second) and wakes at the session's
    /// deadline to see an expiry on time; on a store without a stream it
    /// asks the store once a second. Drop the future to stop waiting.
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
    /// # let (laptop, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let cookie = format!("{}={}", manager.config().cookie().cookie_name(), laptop.expose_secret());
    /// // The laptop's page holds a request open…
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// assert_eq!(session.user().await?, Some(alice));
    /// let waiting = tokio::spawn(async move { session.until_ended().await });
    ///
    /// // …and the phone revokes the laptop.
    /// manager.revoke(&laptop, EndReason::revoked("lost laptop")).await?;
    /// let ending = waiting.await??.ok_or("the laptop was signed in")?;
    /// assert_eq!(ending.reason, EndReason::revoked("lost laptop"));
    /// # Ok(()) }
    /// ```
    pub async fn until_ended(&self) -> Result<Option<Ending>, SessionError> {
        let (id, public_id) = {
            let mut inner = self.inner.lock().await;
            if let State::Unloaded(id) = &inner.state {
                let id = id.clone();
                let loaded = self.shared.peek(&id).await;
                inner.state = State::loaded(id, loaded);
            }
            match &inner.state {
                State::Active(active) => (active.id.clone(), active.record.public_id),
                State::Failed(f) => return Err(SessionError::Store(f.clone())),
                _ => return Ok(None),
            }
        };
        crate::events::watch::until_ended(&self.shared, &id, public_id)
            .await
            .map(Some)
            .map_err(SessionError::Store)
    }
}
