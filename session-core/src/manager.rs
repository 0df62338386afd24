//! [`SessionManager`]: the application's entry point, for requests (through
//! an adapter) and for work outside a request (admin screens, jobs).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::SessionConfig;
use crate::ending::EndReason;
use crate::error::{SessionError, StoreFailure};
use crate::expiry::check_duration;
use crate::handle::Session;
use crate::id::{IdError, PublicId, SessionId};
use crate::record::{Metadata, SessionRecord, SessionSummary};
use crate::request::{Client, IncomingId};
use crate::shared::Shared;
use crate::store::{Loaded, NewSession, Page, PageRequest, SessionStore};
use crate::time::{Clock, SystemClock};
use crate::user::UserId;

/// Holds the store, the configuration and the clock. Cheap to clone: share
/// one per application.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), session_core::SessionError> {
/// use session_core::{KeyRing, MemoryStore, Metadata, SessionConfig, SessionManager, UserId};
/// use std::sync::Arc;
///
/// let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
/// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
/// let alice = UserId::new("alice").unwrap();
/// let (_sid, record) = manager.create_for_user(&alice, Metadata::default(), None).await?;
/// assert_eq!(manager.count_user_sessions(&alice).await?, 1);
/// manager.revoke_all(&alice, None).await?;
/// assert_eq!(manager.count_user_sessions(&alice).await?, 0);
/// # let _ = record; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SessionManager {
    shared: Arc<Shared>,
}

impl SessionManager {
    /// The manager a request's handle belongs to ([`Session::manager`]).
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        SessionManager { shared }
    }

    /// A manager over `store` with `config`, on the system clock.
    pub fn new(store: Arc<dyn SessionStore>, config: SessionConfig) -> Self {
        Self::with_clock(store, config, Arc::new(SystemClock))
    }

    /// A manager with its own clock (tests use a [`crate::ManualClock`]).
    pub fn with_clock(
        store: Arc<dyn SessionStore>,
        config: SessionConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        SessionManager {
            shared: Arc::new(Shared {
                store,
                cookie_name: config.cookie().cookie_name().into_owned(),
                config,
                clock,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.shared.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.shared.store
    }

    /// The per-request handle for a browser request with these `Cookie`
    /// header values. Touches no store: the session loads lazily on first
    /// use. Adapters use `adapter::begin_request`, which also reads
    /// the id header and applies the CSRF guard.
    pub fn session_for_request<'a>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    ) -> Session {
        let incoming = IncomingId::from_cookies(
            &self.shared.cookie_name,
            self.shared.config.keys(),
            cookie_headers,
        );
        Session::new(self.shared.clone(), Client::Browser, incoming)
    }

    /// The handle for a non-browser client that presented `value` in the
    /// configured id header (an empty value: no session yet). A new id is
    /// returned in that header, never in a cookie.
    pub(crate) fn session_for_header_client(&self, value: &[u8]) -> Session {
        let incoming = IncomingId::from_header(value, self.shared.config.keys());
        Session::new(self.shared.clone(), Client::Header, incoming)
    }

    /// Parses and verifies a session id given as text (for example from an
    /// API token). Never touches the store.
    pub fn parse_id(&self, text: &str) -> Result<SessionId, IdError> {
        SessionId::parse(text, self.shared.config.keys())
    }

    /// Creates a signed-in session for `user` outside a request (for example
    /// for an API client), applying the per-user limit. `idle_timeout`
    /// overrides the policy's for this session (at most
    /// [`crate::MAX_DURATION`]).
    pub async fn create_for_user(
        &self,
        user: &UserId,
        metadata: Metadata,
        idle_timeout: Option<Duration>,
    ) -> Result<(SessionId, SessionRecord), SessionError> {
        let metadata = metadata.bounded()?;
        let s = &self.shared;
        let expiry = s.config.expiry();
        let idle_timeout = match idle_timeout {
            Some(t) => check_duration(t).map_err(|_| SessionError::InvalidDuration)?,
            None => expiry.idle_timeout(),
        };
        let user_key = s.user_key(user);
        let id = s.new_id(user_key.slot);
        let key = id.storage_key();
        let new = NewSession {
            key,
            public_id: PublicId::of_key(&key),
            user: Some(user_key),
            idle_timeout,
            absolute_deadline: s.clock.now().plus(expiry.absolute_lifetime()),
            metadata,
            data: BTreeMap::new(),
        };
        let created = s.create(new, s.config.limit()).await?;
        Ok((id, created.record))
    }

    /// Loads a session by id (refreshing it if the threshold is reached).
    pub async fn get(&self, id: &SessionId) -> Result<Loaded, StoreFailure> {
        self.shared.load(id).await
    }

    /// Reads a session by id without refreshing it, whatever the threshold
    /// (for admin views: looking at a session must not keep it alive). One
    /// plain read on Redis.
    pub async fn peek(&self, id: &SessionId) -> Result<Loaded, StoreFailure> {
        self.shared.peek(id).await
    }

    /// Ends the session `id` with `reason`. True if an active session ended.
    pub async fn revoke(&self, id: &SessionId, reason: EndReason) -> Result<bool, StoreFailure> {
        Ok(self.shared.invalidate(id, reason).await?.is_some())
    }

    /// Ends `user`'s session with public id `public_id` ("revoke that
    /// device"), with the reason text. False if the user has no such active
    /// session; another user's public id is never found.
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
    pub async fn list_user_sessions(
        &self,
        user: &UserId,
    ) -> Result<Vec<SessionSummary>, StoreFailure> {
        self.shared.list_user_sessions(user).await
    }

    /// How many active sessions `user` has.
    pub async fn count_user_sessions(&self, user: &UserId) -> Result<u64, StoreFailure> {
        self.shared.count_user_sessions(user).await
    }

    /// How many sessions are active.
    pub async fn count_active(&self) -> Result<u64, StoreFailure> {
        self.shared.count_active().await
    }

    /// How many users have an active session.
    pub async fn count_active_users(&self) -> Result<u64, StoreFailure> {
        self.shared.count_active_users().await
    }

    /// Users with an active session, a page at a time.
    pub async fn active_users(&self, page: PageRequest) -> Result<Page, StoreFailure> {
        self.shared.active_users(page).await
    }
}
