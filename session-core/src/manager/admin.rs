//! The manager's work outside a request (admin screens, jobs): revoke one
//! session, a device or all of a user's sessions; list and count them.

use super::SessionManager;
use crate::ending::EndReason;
use crate::error::StoreFailure;
use crate::id::{PublicId, SessionId};
use crate::record::SessionSummary;
use crate::store::{Page, PageRequest};
use crate::user::UserId;

impl SessionManager {
    /// Ends the session `id` with `reason`. True if an active session ended.
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
    /// assert!(manager.revoke(&id, EndReason::revoked("account review")).await?);
    /// // Already ended: nothing more to end.
    /// assert!(!manager.revoke(&id, EndReason::revoked("account review")).await?);
    ///
    /// let Loaded::Ended(ending) = manager.get(&id).await? else {
    ///     return Err("the session should have ended".into());
    /// };
    /// assert_eq!(ending.reason.text(), Some("account review"));
    /// # Ok(()) }
    /// ```
    pub async fn revoke(&self, id: &SessionId, reason: EndReason) -> Result<bool, StoreFailure> {
        Ok(self.shared.invalidate(id, reason).await?.is_some())
    }

    /// Ends `user`'s session with public id `public_id` ("revoke that
    /// device"), with the reason text. False if the user has no such active
    /// session; another user's public id is never found.
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
    /// # let bob = UserId::new("bob")?;
    /// # manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// # let (_, phone) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// // From an admin screen listing alice's devices, end her phone's session.
    /// assert!(manager.revoke_device(&alice, &phone.public_id, "lost phone").await?);
    /// assert_eq!(manager.count_user_sessions(&alice).await?, 1);
    ///
    /// // Another user's public id is never found.
    /// let laptop = &manager.list_user_sessions(&alice).await?[0];
    /// assert!(!manager.revoke_device(&bob, &laptop.public_id, "mine now").await?);
    /// assert_eq!(manager.count_user_sessions(&alice).await?, 1);
    /// # Ok(()) }
    /// ```
    pub async fn revoke_device(
        &self,
        user: &UserId,
        public_id: &PublicId,
        reason: &str,
    ) -> Result<bool, StoreFailure> {
        self.shared
            .revoke_device(user, public_id, EndReason::revoked(reason))
            .await
    }

    /// Ends every session of `user` but `except` (sign out everywhere, or
    /// "sign out my other devices"), in one store operation. Returns how
    /// many ended. [`Self::revoke_all_with_reason`] also says why.
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
    /// # let (_, phone) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// // alice has two sessions. "Sign out my other devices", from the phone:
    /// assert_eq!(manager.revoke_all(&alice, Some(&phone.public_id)).await?, 1);
    /// let left = manager.list_user_sessions(&alice).await?;
    /// assert_eq!(left.len(), 1);
    /// assert_eq!(left[0].public_id, phone.public_id);
    ///
    /// // "Sign out everywhere":
    /// assert_eq!(manager.revoke_all(&alice, None).await?, 1);
    /// assert_eq!(manager.count_user_sessions(&alice).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn revoke_all(
        &self,
        user: &UserId,
        except: Option<&PublicId>,
    ) -> Result<u64, StoreFailure> {
        self.revoke_all_with_reason(user, except, "").await
    }

    /// As [`Self::revoke_all`], with a reason text ("password changed")
    /// that each signed-out device is shown, as with
    /// [`Self::revoke_device`] (cut to [`crate::MAX_REASON_BYTES`]).
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
    /// // After a password reset, sign alice out everywhere, saying why.
    /// let ended = manager
    ///     .revoke_all_with_reason(&alice, None, "password changed")
    ///     .await?;
    /// assert_eq!(ended, 1);
    ///
    /// // Her browser's next request learns why.
    /// let session = manager.session_for_request([cookie.as_bytes()]);
    /// let ending = session.ended().await?.ok_or("the session should have ended")?;
    /// assert_eq!(ending.reason.text(), Some("password changed"));
    /// # Ok(()) }
    /// ```
    pub async fn revoke_all_with_reason(
        &self,
        user: &UserId,
        except: Option<&PublicId>,
        reason: &str,
    ) -> Result<u64, StoreFailure> {
        self.shared
            .revoke_all(user, except, EndReason::revoked_all(reason))
            .await
    }

    /// `user`'s active sessions, newest first.
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
    /// for device in ["laptop", "phone"] {
    ///     let metadata = Metadata {
    ///         device: Some(device.into()),
    ///         ..Metadata::default()
    ///     };
    ///     manager.create_for_user(&alice, metadata, None).await?;
    /// }
    ///
    /// let sessions = manager.list_user_sessions(&alice).await?;
    /// let mut devices: Vec<&str> = sessions
    ///     .iter()
    ///     .filter_map(|s| s.metadata.device.as_deref())
    ///     .collect();
    /// devices.sort();
    /// assert_eq!(devices, ["laptop", "phone"]);
    /// # Ok(()) }
    /// ```
    pub async fn list_user_sessions(
        &self,
        user: &UserId,
    ) -> Result<Vec<SessionSummary>, StoreFailure> {
        self.shared.list_user_sessions(user).await
    }

    /// How many active sessions `user` has.
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
    /// assert_eq!(manager.count_user_sessions(&alice).await?, 0);
    /// manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// assert_eq!(manager.count_user_sessions(&alice).await?, 2);
    ///
    /// manager.revoke_all(&alice, None).await?;
    /// assert_eq!(manager.count_user_sessions(&alice).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn count_user_sessions(&self, user: &UserId) -> Result<u64, StoreFailure> {
        self.shared.count_user_sessions(user).await
    }

    /// How many sessions are active: the signed-in ones, and anonymous
    /// ones too when [`crate::SessionConfig::anonymous_analytics`] is on.
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
    /// # let bob = UserId::new("bob")?;
    /// manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// manager.create_for_user(&bob, Metadata::default(), None).await?;
    /// // An anonymous visitor's session, stored because it holds data:
    /// let visitor = manager.session_for_request([]);
    /// visitor.insert("cart", ["apple"]).await?;
    /// visitor.finish().await;
    ///
    /// // Anonymous sessions count only with anonymous analytics on.
    /// assert!(!manager.config().anonymous_analytics());
    /// assert_eq!(manager.count_active().await?, 2);
    /// # Ok(()) }
    /// ```
    pub async fn count_active(&self) -> Result<u64, StoreFailure> {
        self.shared.count_active().await
    }

    /// How many users have an active session.
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
    /// # let bob = UserId::new("bob")?;
    /// manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// manager.create_for_user(&bob, Metadata::default(), None).await?;
    ///
    /// assert_eq!(manager.count_active().await?, 3);
    /// assert_eq!(manager.count_active_users().await?, 2);
    /// # Ok(()) }
    /// ```
    pub async fn count_active_users(&self) -> Result<u64, StoreFailure> {
        self.shared.count_active_users().await
    }

    /// Users with an active session, a page at a time.
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
    /// for name in ["carol", "alice", "bob"] {
    ///     let user = UserId::new(name)?;
    ///     manager.create_for_user(&user, Metadata::default(), None).await?;
    /// }
    ///
    /// // Every user, two per page.
    /// let mut users = Vec::new();
    /// let mut after = None;
    /// loop {
    ///     let page = manager.active_users(PageRequest { after, limit: 2 }).await?;
    ///     users.extend(page.users);
    ///     after = page.next;
    ///     if after.is_none() {
    ///         break;
    ///     }
    /// }
    /// let names: Vec<&str> = users.iter().map(UserId::as_str).collect();
    /// assert_eq!(names, ["alice", "bob", "carol"]);
    /// # Ok(()) }
    /// ```
    pub async fn active_users(&self, page: PageRequest) -> Result<Page, StoreFailure> {
        self.shared.active_users(page).await
    }
}
