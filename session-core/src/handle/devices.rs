//! The signed-in user's devices from the request's handle: list them,
//! revoke one, sign out everywhere or everywhere else, and reach the
//! manager for the rest.

use super::*;

impl Session {
    /// Signs the user out of every session ("sign out everywhere") in one
    /// store call after the load, keeping this one when `keep_current` is
    /// true. Otherwise this session ends too, as "revoke-all", and its
    /// cookie is removed without a further call. Returns how many sessions
    /// ended. [`Self::revoke_all_with_reason`] also says why.
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
    /// # let (laptop_id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let (phone_id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let name = manager.config().cookie().cookie_name();
    /// # let laptop_cookie = format!("{name}={}", laptop_id.expose_secret());
    /// # let phone_cookie = format!("{name}={}", phone_id.expose_secret());
    /// // alice is signed in on her laptop and on her phone; this request
    /// // comes from the phone, with its cookie.
    /// let phone = manager.session_for_request([phone_cookie.as_bytes()]);
    ///
    /// // "Sign out everywhere", this device included:
    /// assert_eq!(phone.revoke_all(false).await?, 2);
    /// assert_eq!(manager.count_user_sessions(&alice).await?, 0);
    /// assert_eq!(phone.user().await?, None);
    /// let response = phone.finish().await;
    /// assert!(response.set_cookie().is_some_and(|c| c.contains("Max-Age=0")));
    /// let laptop = manager.session_for_request([laptop_cookie.as_bytes()]);
    /// assert_eq!(laptop.user().await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn revoke_all(&self, keep_current: bool) -> Result<u64, SessionError> {
        self.revoke_all_with_reason(keep_current, "").await
    }

    /// As [`Self::revoke_all`], with a reason text ("password changed")
    /// that each signed-out device is shown in its 401, as a revoked
    /// device is (cut to [`crate::MAX_REASON_BYTES`]).
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
    /// # let (laptop_id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let (phone_id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let name = manager.config().cookie().cookie_name();
    /// # let laptop_cookie = format!("{name}={}", laptop_id.expose_secret());
    /// # let phone_cookie = format!("{name}={}", phone_id.expose_secret());
    /// // alice is signed in on her laptop and on her phone; this request
    /// // comes from the phone, with its cookie.
    /// let phone = manager.session_for_request([phone_cookie.as_bytes()]);
    ///
    /// // After a password change, sign out the other devices, saying why.
    /// assert_eq!(phone.revoke_all_with_reason(true, "password changed").await?, 1);
    /// assert_eq!(phone.user().await?, Some(alice));
    ///
    /// // The laptop's next request learns why it was signed out.
    /// let laptop = manager.session_for_request([laptop_cookie.as_bytes()]);
    /// let ending = laptop.ended().await?.ok_or("the laptop should be signed out")?;
    /// assert_eq!(ending.reason.text(), Some("password changed"));
    /// # Ok(()) }
    /// ```
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
        let result = match self.shared.revoke_all(&user, except, reason.clone()).await {
            // Applied on the primary, not yet acknowledged by a replica:
            // answered as done (the durability paragraph of the contract;
            // the store's warning and the `not_replicated` metric say it
            // was not durable; `SessionManager::revoke_all` reports it).
            Err(StoreFailure::NotReplicated { ended, .. }) => Ok(ended.len() as u64),
            other => other,
        };
        if result.is_ok() && !keep_current {
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
    /// # manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let (phone_id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let name = manager.config().cookie().cookie_name();
    /// # let phone_cookie = format!("{name}={}", phone_id.expose_secret());
    /// // alice is signed in on her laptop and on her phone; this request
    /// // comes from the phone, with its cookie.
    /// let phone = manager.session_for_request([phone_cookie.as_bytes()]);
    ///
    /// let devices = phone.devices().await?;
    /// assert_eq!(devices.len(), 2);
    /// let this_one = devices.iter().find(|d| d.current).ok_or("no current device")?;
    /// assert_eq!(Some(this_one.summary.public_id), phone.public_id().await?);
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
    /// # let (laptop_id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let (phone_id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let name = manager.config().cookie().cookie_name();
    /// # let laptop_cookie = format!("{name}={}", laptop_id.expose_secret());
    /// # let phone_cookie = format!("{name}={}", phone_id.expose_secret());
    /// // alice is signed in on her laptop and on her phone; this request
    /// // comes from the phone, with its cookie.
    /// let phone = manager.session_for_request([phone_cookie.as_bytes()]);
    ///
    /// // On the phone, alice signs her lost laptop out.
    /// let devices = phone.devices().await?;
    /// let laptop = devices.iter().find(|d| !d.current).ok_or("no other device")?;
    /// assert!(phone.revoke_device(&laptop.summary.public_id, "lost").await?);
    /// // It is no longer active: a second try finds nothing.
    /// assert!(!phone.revoke_device(&laptop.summary.public_id, "lost").await?);
    ///
    /// // The laptop's next request learns why it was signed out.
    /// let laptop = manager.session_for_request([laptop_cookie.as_bytes()]);
    /// let ending = laptop.ended().await?.ok_or("the laptop should be signed out")?;
    /// assert_eq!(ending.reason, EndReason::revoked("lost"));
    /// # Ok(()) }
    /// ```
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
        let result = match self
            .shared
            .revoke_device(&user, public_id, reason.clone())
            .await
        {
            // Applied on the primary, not yet acknowledged: done, as for
            // revoke_all above.
            Err(StoreFailure::NotReplicated { ended, .. }) => Ok(!ended.is_empty()),
            other => other,
        };
        if matches!(result, Ok(true)) && is_current {
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
    /// # let (laptop_id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let (phone_id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let name = manager.config().cookie().cookie_name();
    /// # let laptop_cookie = format!("{name}={}", laptop_id.expose_secret());
    /// # let phone_cookie = format!("{name}={}", phone_id.expose_secret());
    /// // alice is signed in on her laptop and on her phone; this request
    /// // comes from the phone, with its cookie.
    /// let phone = manager.session_for_request([phone_cookie.as_bytes()]);
    ///
    /// assert_eq!(phone.sign_out_others().await?, 1);
    /// // Only the phone is left, still signed in.
    /// let devices = phone.devices().await?;
    /// assert_eq!(devices.len(), 1);
    /// assert!(devices[0].current);
    /// let laptop = manager.session_for_request([laptop_cookie.as_bytes()]);
    /// assert_eq!(laptop.user().await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn sign_out_others(&self) -> Result<u64, SessionError> {
        self.revoke_all(true).await
    }

    /// The manager this request's session belongs to, for work beyond this
    /// session (counts, another user's sessions in an admin route) without
    /// wiring it into the handler's state.
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
    /// # let session = manager.session_for_request([]);
    /// # session.login(alice.clone()).await?;
    /// // In a handler given only the request's `session`:
    /// let manager = session.manager();
    /// assert_eq!(manager.count_user_sessions(&alice).await?, 1);
    /// assert_eq!(manager.count_active_users().await?, 1);
    /// # Ok(()) }
    /// ```
    pub fn manager(&self) -> crate::SessionManager {
        crate::SessionManager::from_shared(self.shared.clone())
    }
}
