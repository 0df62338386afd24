//! The manager's side of the lifecycle stream: consumers, the audit view,
//! and waiting for a session's end by id.

use crate::ending::Ending;
use crate::error::StoreFailure;
use crate::events::{ConsumerName, ConsumerOptions, EventConsumer, SessionEvent, watch};
use crate::id::SessionId;
use crate::store::Loaded;
use crate::user::UserId;

use super::SessionManager;

/// The most events [`SessionManager::user_events`] returns.
pub const MAX_USER_EVENTS: usize = 1000;

impl SessionManager {
    /// A consumer of the lifecycle stream, as member `name` of its group,
    /// with [`ConsumerOptions::default`]. See [`EventConsumer`] for an
    /// example and [`crate::events`] for the delivery promise.
    pub fn events(&self, name: ConsumerName) -> EventConsumer {
        self.events_with(name, ConsumerOptions::default())
    }

    /// A consumer of the lifecycle stream with `options`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_core::events::{ConsumerName, ConsumerOptions};
    /// use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// let options = ConsumerOptions { sweep_every: Duration::from_secs(5), ..Default::default() };
    /// let mut consumer = manager.events_with(ConsumerName::new("audit", "host-1")?, options);
    /// assert!(consumer.next_batch().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn events_with(&self, name: ConsumerName, options: ConsumerOptions) -> EventConsumer {
        EventConsumer::new(self.shared.clone(), name, options)
    }

    /// The most recent events of `user`'s sessions still in the stream,
    /// newest first, at most `max` (capped at [`MAX_USER_EVENTS`]): an
    /// audit view ("new sign-in", "signed out everywhere").
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_core::events::EventKind;
    /// use session_core::{KeyRing, MemoryStore, Metadata, SessionConfig, SessionManager, UserId};
    /// use std::sync::Arc;
    ///
    /// let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// let alice = UserId::new("alice")?;
    /// manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// manager.revoke_all(&alice, None).await?;
    /// let events = manager.user_events(&alice, 10).await?;
    /// assert_eq!(events[0].kind, EventKind::Ended);
    /// assert_eq!(events[1].kind, EventKind::SignedIn);
    /// # Ok(()) }
    /// ```
    pub async fn user_events(
        &self,
        user: &UserId,
        max: usize,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        let key = self.shared.user_key(user);
        let cx = self.shared.cx();
        self.shared
            .store
            .user_events(&key, max.min(MAX_USER_EVENTS), &cx)
            .await
    }

    /// Waits until session `id` ends and says why; `None` at once when it
    /// is not active now. Passive: it never moves the idle deadline. See
    /// [`crate::Session::until_ended`].
    pub async fn until_ended(&self, id: &SessionId) -> Result<Option<Ending>, StoreFailure> {
        let public_id = match self.shared.peek(id).await? {
            Loaded::Active { record, .. } => record.public_id,
            Loaded::Ended(_) | Loaded::Unknown => return Ok(None),
        };
        watch::until_ended(&self.shared, id, public_id)
            .await
            .map(Some)
    }
}
