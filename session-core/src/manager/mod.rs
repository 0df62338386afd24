//! [`SessionManager`]: the application's entry point, for requests (through
//! an adapter) and for work outside a request (admin screens, jobs; the
//! revocations and counts are in `admin`).

mod admin;
mod create;
mod stream;

pub use create::{IssuedSession, SessionBuilder};
pub use stream::MAX_USER_EVENTS;

use std::sync::Arc;
use std::time::Duration;

use crate::config::SessionConfig;
use crate::error::{SessionError, StoreFailure, UpdateError};
use crate::handle::Session;
use crate::id::{IdError, SessionId};
use crate::record::{Metadata, SessionRecord};
use crate::request::{Client, IncomingId};
use crate::shared::Shared;
use crate::store::{AsLoaded, Delta, Loaded, SessionStore};
use crate::time::{Clock, SystemClock, Timestamp};
use crate::user::UserId;

/// Holds the store, the configuration and the clock. Cheap to clone: share
/// one per application.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use session_core::{KeyRing, MemoryStore, Metadata, SessionConfig, SessionManager, UserId};
/// use std::sync::Arc;
///
/// let config = SessionConfig::builder(KeyRing::generate()).build()?;
/// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
/// let alice = UserId::new("alice")?;
/// manager.create_for_user(&alice, Metadata::default(), None).await?;
/// assert_eq!(manager.count_user_sessions(&alice).await?, 1);
/// manager.revoke_all(&alice, None).await?;
/// assert_eq!(manager.count_user_sessions(&alice).await?, 0);
/// # Ok(()) }
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
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager};
    /// use std::sync::Arc;
    ///
    /// // In production the key ring comes from the environment
    /// // (`SessionConfig::from_env`), the same on every instance.
    /// let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// assert_eq!(manager.count_active().await?, 0);
    /// # Ok(()) }
    /// ```
    pub fn new(store: Arc<dyn SessionStore>, config: SessionConfig) -> Self {
        Self::with_clock(store, config, Arc::new(SystemClock))
    }

    /// A manager with its own clock (tests use a [`crate::ManualClock`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use session_core::{store::Loaded, *};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let alice = UserId::new("alice")?;
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// let clock = ManualClock::starting_now();
    /// let store = Arc::new(MemoryStore::new());
    /// let manager = SessionManager::with_clock(store, config, Arc::new(clock.clone()));
    ///
    /// let one_minute = Duration::from_secs(60);
    /// let (id, _) = manager.create_for_user(&alice, Metadata::default(), Some(one_minute)).await?;
    /// // A minute and a second without activity later, the session has expired.
    /// clock.advance(Duration::from_secs(61));
    /// let Loaded::Ended(ending) = manager.get(&id).await? else {
    ///     return Err("the session should have expired".into());
    /// };
    /// assert_eq!(ending.reason, EndReason::Expired);
    /// # Ok(()) }
    /// ```
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
                watcher: Default::default(),
            }),
        }
    }

    /// The configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use session_core::*;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let two_hours = Duration::from_secs(2 * 3600);
    /// let config = SessionConfig::builder(KeyRing::generate())
    ///     .with_expiry(ExpiryPolicy::default().with_idle_timeout(two_hours))
    ///     .build()?;
    /// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    /// assert_eq!(manager.config().expiry().idle_timeout(), two_hours);
    /// # Ok(()) }
    /// ```
    pub fn config(&self) -> &SessionConfig {
        &self.shared.config
    }

    /// The store.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use session_core::{store::SessionStore, *};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    /// let manager = SessionManager::new(store.clone(), config);
    /// assert!(Arc::ptr_eq(manager.store(), &store));
    /// # Ok(()) }
    /// ```
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.shared.store
    }

    /// The per-request handle for a browser request with these `Cookie`
    /// header values. Touches no store: the session loads lazily on first
    /// use. Adapters use `adapter::begin_request`, which also reads
    /// the id header and applies the CSRF guard.
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
    /// // The request's `Cookie` header values (an adapter passes them for you):
    /// let session = manager.session_for_request([b"theme=dark; lang=en".as_slice()]);
    /// assert_eq!(session.user().await?, None); // no session cookie among them
    /// session.login(alice.clone()).await?;
    /// let response = session.finish().await;
    ///
    /// // The browser's next request presents the cookie the response set.
    /// let set_cookie = response.set_cookie().ok_or("a sign-in sets a cookie")?;
    /// let cookie = set_cookie.split(';').next().unwrap_or_default();
    /// let next = manager.session_for_request([cookie.as_bytes()]);
    /// assert_eq!(next.user().await?, Some(alice));
    /// # Ok(()) }
    /// ```
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
    /// // An API client is given its session id as a token…
    /// let (id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// let token = id.expose_secret().to_owned();
    ///
    /// // …and presents it on later calls.
    /// let presented = manager.parse_id(&token)?;
    /// assert_eq!(presented, id);
    /// assert!(matches!(manager.get(&presented).await?, Loaded::Active { .. }));
    /// // A forged or mangled token is refused without a store call.
    /// assert!(manager.parse_id("not-a-session-id").is_err());
    /// # Ok(()) }
    /// ```
    pub fn parse_id(&self, text: &str) -> Result<SessionId, IdError> {
        SessionId::parse(text, self.shared.config.keys())
    }

    /// Creates a signed-in session for `user` outside a request (for example
    /// for an API client), applying the per-user limit. `idle_timeout`
    /// overrides the policy's for this session (at most
    /// [`crate::MAX_DURATION`]). [`Self::session_builder`] also takes
    /// initial data and [`crate::SignInOptions`].
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
    /// let metadata = Metadata {
    ///     device: Some("deploy script".into()),
    ///     ..Metadata::default()
    /// };
    /// let one_hour = Duration::from_secs(3600);
    /// let (id, record) = manager.create_for_user(&alice, metadata, Some(one_hour)).await?;
    /// assert_eq!(record.user.as_ref(), Some(&alice));
    /// assert_eq!(record.idle_timeout, one_hour);
    /// assert_eq!(manager.count_user_sessions(&alice).await?, 1);
    /// // `id.expose_secret()` is the token to hand to the client.
    /// assert_eq!(manager.parse_id(id.expose_secret())?, id);
    /// # Ok(()) }
    /// ```
    pub async fn create_for_user(
        &self,
        user: &UserId,
        metadata: Metadata,
        idle_timeout: Option<Duration>,
    ) -> Result<(SessionId, SessionRecord), SessionError> {
        let mut builder = self.session_builder(user).metadata(metadata);
        if let Some(timeout) = idle_timeout {
            builder = builder.idle_timeout(timeout);
        }
        let issued = builder.create().await?;
        Ok((issued.id, issued.record))
    }

    /// Loads a session by id (refreshing it if the threshold is reached).
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
    /// match manager.get(&id).await? {
    ///     Loaded::Active { record, .. } => assert_eq!(record.user.as_ref(), Some(&alice)),
    ///     Loaded::Ended(ending) => return Err(format!("ended: {ending}").into()),
    ///     Loaded::Unknown => return Err("no such session".into()),
    /// }
    ///
    /// manager.revoke(&id, EndReason::Logout).await?;
    /// assert!(matches!(manager.get(&id).await?, Loaded::Ended(_)));
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: &SessionId) -> Result<Loaded, StoreFailure> {
        self.shared.load(id).await
    }

    /// Reads a session by id without refreshing it, whatever the threshold
    /// (for admin views: looking at a session must not keep it alive). One
    /// plain read on Redis.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use session_core::{store::Loaded, *};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let alice = UserId::new("alice")?;
    /// # let config = SessionConfig::builder(KeyRing::generate()).build()?;
    /// # let clock = ManualClock::starting_now();
    /// # let store = Arc::new(MemoryStore::new());
    /// # let manager = SessionManager::with_clock(store, config, Arc::new(clock.clone()));
    /// # let (id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// // 23.5 hours into a 24-hour idle timeout, within the 1-hour refresh
    /// // threshold, an admin view looks at the session without keeping it alive…
    /// clock.advance(Duration::from_secs(23 * 3600 + 1800));
    /// let Loaded::Active { refreshed, .. } = manager.peek(&id).await? else {
    ///     return Err("the session should be active".into());
    /// };
    /// assert!(!refreshed);
    ///
    /// // …whereas `get` counts as activity and pushes the idle deadline.
    /// let Loaded::Active { refreshed, .. } = manager.get(&id).await? else {
    ///     return Err("the session should be active".into());
    /// };
    /// assert!(refreshed);
    /// # Ok(()) }
    /// ```
    pub async fn peek(&self, id: &SessionId) -> Result<Loaded, StoreFailure> {
        self.shared.peek(id).await
    }

    /// "Stay signed in" by id, outside a request (an API client's keep-alive,
    /// an admin tool): pushes the idle deadline to now plus the session's
    /// idle timeout, within its absolute lifetime, whatever the refresh
    /// threshold. Returns the new expiry (the earlier of the two deadlines),
    /// or `None` when the session is not active. Two store calls: a passive
    /// read, then a save of the idle timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use session_core::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let alice = UserId::new("alice")?;
    /// # let expiry = ExpiryPolicy::default()
    /// #     .with_idle_timeout(Duration::from_secs(600))
    /// #     .with_refresh_threshold(Duration::from_secs(60));
    /// # let config = SessionConfig::builder(KeyRing::generate()).with_expiry(expiry).build()?;
    /// # let clock = ManualClock::starting_now();
    /// # let manager = SessionManager::with_clock(Arc::new(MemoryStore::new()), config, Arc::new(clock.clone()));
    /// # let (id, _) = manager.create_for_user(&alice, Metadata::default(), None).await?;
    /// clock.advance(Duration::from_secs(300));
    /// let expires_at = manager.extend(&id).await?.ok_or("not active")?;
    /// assert_eq!(expires_at, clock.now().plus(Duration::from_secs(600)));
    ///
    /// manager.revoke(&id, EndReason::Logout).await?;
    /// assert_eq!(manager.extend(&id).await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn extend(&self, id: &SessionId) -> Result<Option<Timestamp>, StoreFailure> {
        let record = match self.shared.peek(id).await? {
            Loaded::Active { record, .. } => record,
            Loaded::Ended(_) | Loaded::Unknown => return Ok(None),
        };
        let delta = Delta {
            idle_timeout: Some(record.idle_timeout),
            ..Delta::default()
        };
        let saved = self
            .shared
            .apply(id, &delta, &AsLoaded::default(), &record.public_id)
            .await;
        match saved {
            Ok(applied) => Ok(Some(applied.idle_deadline.min(applied.absolute_deadline))),
            Err(UpdateError::Ended(_) | UpdateError::UnknownId) => Ok(None),
            Err(UpdateError::Store(f)) => Err(f),
            Err(other) => Err(StoreFailure::Corrupt(format!(
                "extending a session was refused: {other}"
            ))),
        }
    }
}
