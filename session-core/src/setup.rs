//! Setting up from the environment in one call: [`Environment`] (where the
//! settings come from), [`setup_from_env`] (the configuration and the store
//! from the same variables) and what it returns, [`SessionSetup`].
//!
//! Every setting is read through one [`Environment`], so a variable such as
//! `SESSION_KEY_PREFIX` reaches every part that uses it: the configuration
//! and the store are never built from two different readings.
//!
//! This crate's [`setup_from_env`] knows only the in-memory store; the
//! `session-redis` crate has a `setup_from_env` of the same shape that picks
//! Redis when `REDIS_URL` or `REDIS_HOST` is set. The adapter crates
//! re-export the one their features select, so an application calls
//! `session_axum::setup_from_env` (or actix's, or Rocket's) and turning the
//! `redis` feature on is the only change Redis needs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::config::{ConfigError, SessionConfig, SessionConfigBuilder};
use crate::manager::SessionManager;
use crate::memory::MemoryStore;
use crate::store::SessionStore;

/// The environment variables that name a Redis server.
pub const REDIS_VARIABLES: [&str; 2] = ["REDIS_URL", "REDIS_HOST"];

/// Where the settings come from: the process environment or a lookup
/// function, with the application's own defaults, and whether a missing
/// `SESSION_SECRET` may be replaced by an ephemeral key.
///
/// ```
/// use session_core::{Environment, SecretSource};
///
/// // A missing SESSION_SECRET is an error that says how to make one …
/// let strict = Environment::from_lookup(|_| None);
/// let err = strict.session_config().unwrap_err();
/// assert_eq!(err.setting, "SESSION_SECRET");
/// assert!(err.message.contains("openssl rand -base64 32"));
///
/// // … unless the application opts into a development key in code.
/// let dev = Environment::from_lookup(|_| None)
///     .allow_ephemeral_secret()
///     .with_default("SESSION_COOKIE_SECURE", "false");
/// let env = dev.session_config().unwrap();
/// assert_eq!(env.secret, SecretSource::Ephemeral);
/// assert!(!env.config.cookie().secure());
/// ```
#[derive(Clone)]
pub struct Environment {
    lookup: Lookup,
    defaults: BTreeMap<String, String>,
    missing_secret: MissingSecret,
}

/// A variable's value by name.
type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What [`Environment::session_config`] does when `SESSION_SECRET` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MissingSecret {
    /// An error that says how to make a secret (the default).
    Refuse,
    /// A random key for this process (development only).
    Ephemeral,
}

/// Where the server secret of a configuration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    /// `SESSION_SECRET` (or the builder's [`crate::KeyRing`]).
    Environment,
    /// A random key made for this process because `SESSION_SECRET` was
    /// unset and the application allowed it
    /// ([`Environment::allow_ephemeral_secret`]): sessions end when the
    /// process stops, and a second instance does not accept them. Say so in
    /// the logs.
    Ephemeral,
}

/// A configuration read from the environment, and where its secret came
/// from.
#[derive(Debug, Clone)]
pub struct EnvConfig {
    /// The configuration.
    pub config: SessionConfig,
    /// Where the server secret came from.
    pub secret: SecretSource,
}

impl Environment {
    /// The process environment (`std::env::var`).
    pub fn process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Settings from `lookup` (a map, a secrets manager, a test's table).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Environment {
            lookup: Arc::new(lookup),
            defaults: BTreeMap::new(),
            missing_secret: MissingSecret::Refuse,
        }
    }

    /// Uses `value` for `name` when the environment does not set it (a
    /// demo's `SESSION_COOKIE_SECURE=false` on plain http, say).
    pub fn with_default(mut self, name: &str, value: &str) -> Self {
        self.defaults.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Lets an unset `SESSION_SECRET` become a random key for this process,
    /// for development: every restart, and every second instance, signs
    /// everyone out. Without this call an unset secret is an error. Log
    /// [`SecretSource::Ephemeral`] when it happens.
    pub fn allow_ephemeral_secret(mut self) -> Self {
        self.missing_secret = MissingSecret::Ephemeral;
        self
    }

    /// The value of `name`, trimmed; `None` when unset or blank (then the
    /// default given with [`Self::with_default`], if any).
    pub fn var(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .or_else(|| self.defaults.get(name).cloned())
    }

    /// The session configuration these settings describe (the variables are
    /// tabled at [`SessionConfig::from_lookup`]). A bad value is an error
    /// naming its variable; so is an unset `SESSION_SECRET`, unless
    /// [`Self::allow_ephemeral_secret`] was called.
    pub fn session_config(&self) -> Result<EnvConfig, ConfigError> {
        crate::config::read(self, self.missing_secret == MissingSecret::Ephemeral)
    }

    /// The first of [`REDIS_VARIABLES`] that is set, if any.
    pub fn redis_variable(&self) -> Option<&'static str> {
        REDIS_VARIABLES
            .into_iter()
            .find(|name| self.var(name).is_some())
    }
}

/// Names the defaults and the secret rule, never a value (a default may be
/// a secret).
impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("defaults", &self.defaults.keys().collect::<Vec<_>>())
            .field("missing_secret", &self.missing_secret)
            .finish_non_exhaustive()
    }
}

/// Why [`setup_from_env`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A session setting is missing or wrong; the error names the variable.
    #[error("session settings: {0}")]
    Config(#[from] ConfigError),
    /// The environment names a Redis server but this build has no Redis
    /// store; enable the `redis` feature of the adapter crate.
    #[error(
        "{variable} is set, but this build has no Redis store: enable the `redis` feature of the adapter crate (session-axum, session-actix or session-rocket) or call session_redis::setup_from_env; unset {variable} for the in-memory store"
    )]
    RedisNotBuiltIn {
        /// The variable that is set.
        variable: &'static str,
    },
    /// The store could not be set up (a bad Redis setting, or Redis is
    /// unreachable); the source says which.
    #[error("session store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The key behind users' slot tags is not the one this store was first
    /// used with: the last key of `SESSION_SECRET` was retired (or
    /// `SESSION_SLOT_KEY` changed) without pinning the old one, and every
    /// signed-in user's sessions would leave their index (revoke-all, the
    /// limit and the device list would miss them). Nothing was written.
    #[error(
        "SESSION_SLOT_KEY: the key behind users' slot tags changed since this store was first used (the last key of SESSION_SECRET was retired, or SESSION_SLOT_KEY changed). Set SESSION_SLOT_KEY to the key used before (the last key of the earlier SESSION_SECRET); see the key rotation procedure in the docs. To start over with every user signed out instead, delete the fingerprint the store keeps (the Redis store's `<prefix>:slot-key` key; another store's `pin_slot_key` documents where it keeps it)"
    )]
    SlotKeyChanged,
}

/// A configuration and the store it goes with, read from one
/// [`Environment`]: what [`setup_from_env`] returns.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use session_core::{CsrfGuard, Environment, setup_from_env};
///
/// let env = Environment::from_lookup(|name| match name {
///     "SESSION_SECRET" => Some("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=".into()),
///     "SESSION_TTL_SECONDS" => Some("1800".into()),
///     _ => None,
/// });
/// let manager = setup_from_env(env)
///     .await?
///     .configure(|c| c.with_csrf(CsrfGuard::default().with_json_bodies_only(true)))?
///     .into_manager();
/// assert_eq!(manager.config().expiry().idle_timeout().as_secs(), 1800);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SessionSetup {
    /// The configuration.
    pub config: SessionConfig,
    /// The store.
    pub store: Arc<dyn SessionStore>,
    /// Which store, for the logs (`memory`, or the Redis target without its
    /// password).
    pub store_description: String,
    /// Where the server secret came from.
    pub secret: SecretSource,
}

impl SessionSetup {
    /// A setup from a configuration read from the environment and the store
    /// built from the same [`Environment`] (what a store crate's
    /// `setup_from_env` returns).
    pub fn new(
        env: EnvConfig,
        store: Arc<dyn SessionStore>,
        store_description: impl Into<String>,
    ) -> Self {
        SessionSetup {
            config: env.config,
            store,
            store_description: store_description.into(),
            secret: env.secret,
        }
    }

    /// Changes settings in code on top of the environment's (the CSRF
    /// guard, a limit policy); the store stays the one the environment
    /// chose.
    pub fn configure(
        mut self,
        change: impl FnOnce(SessionConfigBuilder) -> SessionConfigBuilder,
    ) -> Result<Self, ConfigError> {
        self.config = change(self.config.into_builder()).build()?;
        Ok(self)
    }

    /// Checks that the key behind users' slot tags is the one the store
    /// was first used with (the store keeps a fingerprint of it), and
    /// refuses with [`SetupError::SlotKeyChanged`] otherwise. The Redis
    /// setup runs it; call it after building a setup by hand. With an
    /// ephemeral secret it checks and keeps nothing: no session outlives
    /// the process, and a random key kept would refuse the real one later.
    pub async fn check_slot_key(self) -> Result<Self, SetupError> {
        if self.secret == SecretSource::Ephemeral {
            return Ok(self);
        }
        let fingerprint = self.config.keys().slot_key_fingerprint();
        match self.store.pin_slot_key(&fingerprint).await {
            Ok(crate::store::SlotKeyPin::Changed) => Err(SetupError::SlotKeyChanged),
            Ok(_) => Ok(self),
            Err(e) => Err(SetupError::Store(Box::new(e))),
        }
    }

    /// The manager over this store and configuration: hand it to the
    /// adapter's layer, middleware or fairing.
    pub fn into_manager(self) -> SessionManager {
        SessionManager::new(self.store, self.config)
    }
}

impl fmt::Debug for SessionSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionSetup")
            .field("config", &self.config)
            .field("store", &self.store_description)
            .field("secret", &self.secret)
            .finish()
    }
}

/// The configuration from `env` and the in-memory store: the one-call setup
/// of an application without Redis. Refuses when the environment names a
/// Redis server ([`SetupError::RedisNotBuiltIn`]): that setting would
/// otherwise be ignored. The `session-redis` crate's `setup_from_env` has
/// the same shape and picks Redis when one is named.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use session_core::{Environment, SetupError, setup_from_env};
/// let env = Environment::from_lookup(|name| match name {
///     "REDIS_URL" => Some("redis://cache:6379".into()),
///     _ => None,
/// })
/// .allow_ephemeral_secret();
/// let err = setup_from_env(env).await.unwrap_err();
/// assert!(matches!(err, SetupError::RedisNotBuiltIn { variable: "REDIS_URL" }));
/// # }
/// ```
pub async fn setup_from_env(env: Environment) -> Result<SessionSetup, SetupError> {
    let config = env.session_config()?;
    if let Some(variable) = env.redis_variable() {
        return Err(SetupError::RedisNotBuiltIn { variable });
    }
    Ok(SessionSetup::new(
        config,
        Arc::new(MemoryStore::new()),
        "memory",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_only_what_the_environment_leaves_unset() {
        let env = Environment::from_lookup(|name| match name {
            "A" => Some(" set ".into()),
            "B" => Some("  ".into()),
            _ => None,
        })
        .with_default("A", "default")
        .with_default("B", "default");
        assert_eq!(env.var("A").as_deref(), Some("set"));
        assert_eq!(env.var("B").as_deref(), Some("default"));
        assert_eq!(env.var("C"), None);
    }

    #[test]
    fn debug_names_no_value() {
        let env = Environment::from_lookup(|_| None).with_default("SESSION_SECRET", "hunter2");
        let shown = format!("{env:?}");
        assert!(shown.contains("SESSION_SECRET"));
        assert!(!shown.contains("hunter2"));
    }

    #[tokio::test]
    async fn the_memory_setup_reads_the_configuration_once() {
        let env = Environment::from_lookup(|name| {
            (name == "SESSION_COOKIE_NAME").then(|| "app".to_owned())
        })
        .allow_ephemeral_secret();
        let setup = setup_from_env(env).await.unwrap();
        assert_eq!(setup.secret, SecretSource::Ephemeral);
        assert_eq!(setup.store_description, "memory");
        assert_eq!(setup.config.cookie().cookie_name(), "__Host-app");
    }
}
