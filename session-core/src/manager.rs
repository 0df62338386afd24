//! [`SessionManager`]: the application's entry point, for requests (through
//! an adapter) and for work outside a request (admin screens, jobs).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::SessionConfig;
use crate::ending::EndReason;
use crate::error::{SessionError, StoreFailure};
use crate::handle::Session;
use crate::id::{IdError, PublicId, SessionId, SlotTag};
use crate::lifecycle;
use crate::record::{Metadata, SessionRecord, SessionSummary};
use crate::request::read_incoming_id;
use crate::store::{Loaded, NewSession, Page, PageRequest, SessionStore, StoreContext, UserKey};
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

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) config: SessionConfig,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Shared {
    pub(crate) fn cx(&self) -> StoreContext {
        self.cx_at_threshold(self.config.expiry().refresh_threshold())
    }

    fn cx_at_threshold(&self, refresh_threshold: Duration) -> StoreContext {
        StoreContext {
            now: self.clock.now(),
            ended_retention: self.config.expiry().ended_retention(),
            refresh_threshold,
        }
    }

    pub(crate) fn user_key(&self, user: &UserId) -> UserKey {
        UserKey {
            user: user.clone(),
            slot: SlotTag::for_user(self.config.keys(), user),
        }
    }
}

impl SessionManager {
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
                config,
                clock,
            }),
        }
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        SessionManager { shared }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.shared.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.shared.store
    }

    /// The time and policy a store call made now would run under.
    pub fn store_context(&self) -> StoreContext {
        self.shared.cx()
    }

    /// The per-request handle for a request with these `Cookie` header
    /// values and, when configured, this id-header value. Touches no store:
    /// the session loads lazily on first use.
    pub fn session_for_request<'a>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
        id_header: Option<&[u8]>,
    ) -> Session {
        let config = &self.shared.config;
        let id_header = config.id_header().and(id_header);
        let incoming = read_incoming_id(
            &config.cookie().cookie_name(),
            config.keys(),
            cookie_headers,
            id_header,
        );
        Session::new(self.shared.clone(), incoming)
    }

    /// Parses and verifies a session id given as text (for example from an
    /// API token). Never touches the store.
    pub fn parse_id(&self, text: &str) -> Result<SessionId, IdError> {
        SessionId::parse(text, self.shared.config.keys())
    }

    /// Creates a signed-in session for `user` outside a request (for example
    /// for an API client), applying the per-user limit. `idle_timeout`
    /// overrides the policy's for this session.
    pub async fn create_for_user(
        &self,
        user: &UserId,
        metadata: Metadata,
        idle_timeout: Option<Duration>,
    ) -> Result<(SessionId, SessionRecord), SessionError> {
        let s = &self.shared;
        let cx = s.cx();
        let user_key = s.user_key(user);
        let id = SessionId::generate(s.config.keys(), user_key.slot);
        let new = NewSession {
            key: id.storage_key(),
            public_id: PublicId::generate(),
            user: Some(user_key),
            idle_timeout: idle_timeout.unwrap_or(s.config.expiry().idle_timeout()),
            absolute_deadline: cx.now.plus(s.config.expiry().absolute_lifetime()),
            metadata,
            data: BTreeMap::new(),
        };
        let created = s
            .store
            .create(new, s.config.limit(), &cx)
            .await
            .inspect_err(|e| {
                if let crate::CreateError::Store(f) = e {
                    lifecycle::store_failed("create", None, f);
                }
            })?;
        lifecycle::created(&created.record.public_id, true);
        lifecycle::signed_in(&created.record.public_id, &created.evicted);
        Ok((id, created.record))
    }

    /// Loads a session by id (refreshing it if the threshold is reached).
    pub async fn get(&self, id: &SessionId) -> Result<Loaded, StoreFailure> {
        let cx = self.shared.cx();
        self.observe("load", self.shared.store.load(&id.storage_key(), &cx).await)
    }

    /// Loads a session and pushes its idle deadline forward now, whatever
    /// the threshold.
    pub async fn refresh(&self, id: &SessionId) -> Result<Loaded, StoreFailure> {
        let cx = self.shared.cx_at_threshold(Duration::MAX);
        self.observe(
            "refresh",
            self.shared.store.load(&id.storage_key(), &cx).await,
        )
    }

    /// Ends the session `id` with `reason`. True if an active session ended.
    pub async fn revoke(&self, id: &SessionId, reason: EndReason) -> Result<bool, StoreFailure> {
        let cx = self.shared.cx();
        let ended = self.observe(
            "invalidate",
            self.shared
                .store
                .invalidate(&id.storage_key(), reason.clone(), &cx)
                .await,
        )?;
        if let Some(p) = &ended {
            lifecycle::ended(p, &reason);
        }
        Ok(ended.is_some())
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
        let cx = self.shared.cx();
        let reason = EndReason::revoked(reason);
        let user_key = self.shared.user_key(user);
        let ended = self.observe(
            "revoke",
            self.shared
                .store
                .revoke_by_public_id(&user_key, public_id, reason.clone(), &cx)
                .await,
        )?;
        if ended {
            lifecycle::ended(public_id, &reason);
        }
        Ok(ended)
    }

    /// Ends every session of `user` but `except` (sign out everywhere, or
    /// "sign out my other devices"), in one store operation. Returns how
    /// many ended.
    pub async fn revoke_all(
        &self,
        user: &UserId,
        except: Option<&PublicId>,
    ) -> Result<u64, StoreFailure> {
        let cx = self.shared.cx();
        let user_key = self.shared.user_key(user);
        let ended = self.observe(
            "revoke_all",
            self.shared
                .store
                .revoke_all(&user_key, except, EndReason::RevokeAll, &cx)
                .await,
        )?;
        for p in &ended {
            lifecycle::ended(p, &EndReason::RevokeAll);
        }
        lifecycle::revoked_all(ended.len() as u64);
        Ok(ended.len() as u64)
    }

    /// `user`'s active sessions, newest first.
    pub async fn list_user_sessions(
        &self,
        user: &UserId,
    ) -> Result<Vec<SessionSummary>, StoreFailure> {
        let cx = self.shared.cx();
        let user_key = self.shared.user_key(user);
        self.observe(
            "list",
            self.shared.store.list_user_sessions(&user_key, &cx).await,
        )
    }

    /// How many active sessions `user` has.
    pub async fn count_user_sessions(&self, user: &UserId) -> Result<u64, StoreFailure> {
        let cx = self.shared.cx();
        let user_key = self.shared.user_key(user);
        self.observe(
            "count_user",
            self.shared.store.count_user_sessions(&user_key, &cx).await,
        )
    }

    /// How many sessions are active.
    pub async fn count_active(&self) -> Result<u64, StoreFailure> {
        let cx = self.shared.cx();
        self.observe("count_active", self.shared.store.count_active(&cx).await)
    }

    /// How many users have an active session.
    pub async fn count_active_users(&self) -> Result<u64, StoreFailure> {
        let cx = self.shared.cx();
        self.observe(
            "count_users",
            self.shared.store.count_active_users(&cx).await,
        )
    }

    /// Users with an active session, a page at a time.
    pub async fn active_users(&self, page: PageRequest) -> Result<Page, StoreFailure> {
        let cx = self.shared.cx();
        self.observe(
            "active_users",
            self.shared.store.active_users(page, &cx).await,
        )
    }

    fn observe<T>(
        &self,
        operation: &'static str,
        r: Result<T, StoreFailure>,
    ) -> Result<T, StoreFailure> {
        if let Err(f) = &r {
            lifecycle::store_failed(operation, None, f);
        }
        r
    }
}
