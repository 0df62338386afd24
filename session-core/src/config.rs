//! [`SessionConfig`]: everything the session layer is told, from a builder
//! or from the environment.

use std::time::Duration;

use crate::cookie::{CookieConfig, CookieConfigError};
use crate::csrf::CsrfGuard;
use crate::expiry::{ExpiryError, ExpiryMode, ExpiryPolicy, MAX_DURATION};
use crate::limit::{LimitPolicy, UserLimit};
use crate::secret::{KeyRing, KeyRingError};
use crate::setup::{EnvConfig, Environment, SecretSource};

/// A configuration that was refused, naming the setting (the environment
/// variable, when read from the environment) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    /// The setting or environment variable.
    pub setting: String,
    /// What is wrong with it, and what is expected.
    pub message: String,
}

impl ConfigError {
    fn new(setting: &str, message: impl ToString) -> Self {
        ConfigError {
            setting: setting.to_owned(),
            message: message.to_string(),
        }
    }
}

/// The session layer's configuration.
///
/// ```
/// use session_core::{CookieConfig, KeyRing, LimitPolicy, SessionConfig, UserLimit};
/// let config = SessionConfig::builder(KeyRing::generate())
///     .with_cookie(CookieConfig::default().with_name("app_sid"))
///     .with_limit(UserLimit::at_most(5, LimitPolicy::EvictIdle))
///     .build()
///     .unwrap();
/// assert_eq!(config.cookie().cookie_name(), "__Host-app_sid");
/// ```
#[derive(Debug, Clone)]
pub struct SessionConfig {
    keys: KeyRing,
    cookie: CookieConfig,
    expiry: ExpiryPolicy,
    limit: UserLimit,
    id_header: Option<String>,
    csrf: CsrfGuard,
    max_data_bytes: usize,
    anonymous_analytics: bool,
}

/// The default per-session data cap: 64 KiB.
pub const DEFAULT_MAX_DATA_BYTES: usize = 64 * 1024;

/// Builds a [`SessionConfig`]; every setting has a secure default.
#[derive(Debug, Clone)]
pub struct SessionConfigBuilder {
    config: SessionConfig,
}

impl SessionConfig {
    /// Starts a builder with the server secret.
    pub fn builder(keys: KeyRing) -> SessionConfigBuilder {
        SessionConfigBuilder {
            config: SessionConfig {
                keys,
                cookie: CookieConfig::default(),
                expiry: ExpiryPolicy::default(),
                limit: UserLimit::default(),
                id_header: None,
                csrf: CsrfGuard::default(),
                max_data_bytes: DEFAULT_MAX_DATA_BYTES,
                anonymous_analytics: false,
            },
        }
    }

    /// Reads the configuration from the process environment. See
    /// [`SessionConfig::from_lookup`] for the variables. `SESSION_SECRET`
    /// must be set; [`crate::Environment`] can allow a development key
    /// instead, and [`crate::setup_from_env`] builds the store from the same
    /// variables.
    pub fn from_env() -> Result<SessionConfig, ConfigError> {
        Ok(Environment::process().session_config()?.config)
    }

    /// Reads the configuration through `lookup` (an environment stand-in).
    ///
    /// | variable | meaning | default |
    /// | --- | --- | --- |
    /// | `SESSION_SECRET` | base64 keys, comma-separated, first signs; make one with `openssl rand -base64 32` | none: required ([`crate::Environment::allow_ephemeral_secret`] allows a random key for development) |
    /// | `SESSION_SLOT_KEY` | base64 key of users' slots, never rotated ([`KeyRing::with_slot_key`]) | the last key of `SESSION_SECRET` |
    /// | `SESSION_COOKIE_NAME` | cookie name | `sid` |
    /// | `SESSION_TTL_SECONDS` | idle timeout | 86400 |
    /// | `SESSION_ABSOLUTE_SECONDS` | absolute lifetime | 604800 |
    /// | `SESSION_REFRESH_THRESHOLD` | refresh threshold, seconds | 3600, or the idle timeout if shorter |
    /// | `SESSION_SLIDING_WINDOW` | `false`: fixed expiry ([`ExpiryMode::Fixed`]) | `true` |
    /// | `SESSION_MAX_DATA_BYTES` | per-session data cap in bytes ([`SessionConfigBuilder::with_max_data_bytes`]) | 65536 |
    /// | `SESSION_ANONYMOUS_ANALYTICS` | `true`: anonymous sessions are counted by `count_active` ([`SessionConfigBuilder::with_anonymous_analytics`]) | `false` |
    /// | `SESSION_MAX_CONCURRENT` | per-user limit, 0 = none | 1000 ([`crate::DEFAULT_MAX_SESSIONS_PER_USER`]) |
    /// | `SESSION_LIMIT_POLICY` | `evict-idle`, `evict-oldest`, `deny` | `evict-idle` |
    /// | `SESSION_COOKIE_SECURE` | `true`/`false` | `true` |
    /// | `SESSION_ID_HEADER` | id header for non-browser clients | none |
    /// | `SESSION_ALLOWED_ORIGINS` | comma-separated origins (`https://admin.example.com`) the CSRF guard accepts besides the site's own ([`CsrfGuard::with_allowed_origin`]); needed behind a proxy that rewrites `Host` | none |
    ///
    /// Durations are whole seconds from 1 to [`crate::MAX_DURATION`] (100
    /// years). A store reads its own variables from the same environment
    /// (the Redis store: `REDIS_URL`, …, and `SESSION_KEY_PREFIX`).
    ///
    /// ```
    /// use session_core::SessionConfig;
    /// let err = SessionConfig::from_lookup(|name| match name {
    ///     "SESSION_SECRET" => Some("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=".into()),
    ///     "SESSION_TTL_SECONDS" => Some("soon".into()),
    ///     _ => None,
    /// })
    /// .unwrap_err();
    /// assert_eq!(err.setting, "SESSION_TTL_SECONDS");
    /// ```
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Result<SessionConfig, ConfigError> {
        Ok(Environment::from_lookup(lookup).session_config()?.config)
    }

    /// The per-session data cap in bytes.
    pub fn max_data_bytes(&self) -> usize {
        self.max_data_bytes
    }

    /// Whether anonymous sessions are counted by
    /// [`crate::SessionManager::count_active`] (off by default).
    pub fn anonymous_analytics(&self) -> bool {
        self.anonymous_analytics
    }

    /// The server secret.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The cookie settings.
    pub fn cookie(&self) -> &CookieConfig {
        &self.cookie
    }

    /// The expiry policy.
    pub fn expiry(&self) -> &ExpiryPolicy {
        &self.expiry
    }

    /// The per-user session limit.
    pub fn limit(&self) -> UserLimit {
        self.limit
    }

    /// The request header that carries the id for non-browser clients.
    pub fn id_header(&self) -> Option<&str> {
        self.id_header.as_deref()
    }

    /// The CSRF guard.
    pub fn csrf(&self) -> &CsrfGuard {
        &self.csrf
    }

    /// A builder holding this configuration, to change some settings (for
    /// example after [`SessionConfig::from_env`]).
    ///
    /// ```
    /// use session_core::{CsrfGuard, Environment};
    /// let env = Environment::from_lookup(|_| None).allow_ephemeral_secret();
    /// let config = env
    ///     .session_config()
    ///     .unwrap()
    ///     .config
    ///     .into_builder()
    ///     .with_csrf(CsrfGuard::default().with_json_bodies_only(true))
    ///     .build()
    ///     .unwrap();
    /// assert!(config.csrf().json_bodies_only());
    /// ```
    pub fn into_builder(self) -> SessionConfigBuilder {
        SessionConfigBuilder { config: self }
    }
}

/// What an unset `SESSION_SECRET` is told.
const MISSING_SECRET: &str = "not set. Sessions need a server secret that every instance shares and that survives restarts: make one with `openssl rand -base64 32` and set SESSION_SECRET to it. For development only, Environment::allow_ephemeral_secret() in code accepts a random key for this process";

/// Reads the configuration from `env` (the variables are tabled at
/// [`SessionConfig::from_lookup`]); an unset `SESSION_SECRET` becomes a
/// random key only when `allow_ephemeral`.
pub(crate) fn read(env: &Environment, allow_ephemeral: bool) -> Result<EnvConfig, ConfigError> {
    let get = |name: &str| env.var(name);
    let (keys, secret) = keys(env, allow_ephemeral)?;
    let max = MAX_DURATION.as_secs();
    let idle = seconds(env, "SESSION_TTL_SECONDS", 86_400, max)?;
    let absolute = seconds(env, "SESSION_ABSOLUTE_SECONDS", 604_800, max)?;
    let threshold = seconds(
        env,
        "SESSION_REFRESH_THRESHOLD",
        3_600.min(idle.as_secs()),
        max,
    )?;
    let max = match get("SESSION_MAX_CONCURRENT") {
        None => crate::limit::DEFAULT_MAX_SESSIONS_PER_USER,
        Some(v) => v.trim().parse::<u32>().map_err(|_| {
            ConfigError::new(
                "SESSION_MAX_CONCURRENT",
                format!("expected a whole number (0 = unlimited), got {v:?}"),
            )
        })?,
    };
    let policy = match get("SESSION_LIMIT_POLICY") {
        None => LimitPolicy::default(),
        Some(v) => v
            .parse()
            .map_err(|e| ConfigError::new("SESSION_LIMIT_POLICY", e))?,
    };
    let secure = flag(env, "SESSION_COOKIE_SECURE")?;
    let mode = match flag(env, "SESSION_SLIDING_WINDOW")? {
        true => ExpiryMode::Sliding,
        false => ExpiryMode::Fixed,
    };
    let anonymous_analytics =
        get("SESSION_ANONYMOUS_ANALYTICS").is_some() && flag(env, "SESSION_ANONYMOUS_ANALYTICS")?;
    let mut cookie = CookieConfig::default().with_secure(secure);
    if let Some(name) = get("SESSION_COOKIE_NAME") {
        cookie = cookie.with_name(name.trim());
    }
    let mut builder = SessionConfig::builder(keys)
        .with_cookie(cookie)
        .with_expiry(
            ExpiryPolicy::default()
                .with_idle_timeout(idle)
                .with_absolute_lifetime(absolute)
                .with_refresh_threshold(threshold)
                .with_mode(mode),
        )
        .with_limit(UserLimit::at_most(max, policy))
        .with_max_data_bytes(max_data_bytes(env)?)
        .with_anonymous_analytics(anonymous_analytics);
    if let Some(header) = get("SESSION_ID_HEADER") {
        builder = builder.with_id_header(header.trim());
    }
    if let Some(list) = get("SESSION_ALLOWED_ORIGINS") {
        builder = builder.with_csrf(allowed_origins(&list)?);
    }
    let config = builder.build().map_err(|mut e| {
        e.setting = match e.setting.as_str() {
            "cookie" => "SESSION_COOKIE_NAME".into(),
            "id header" => "SESSION_ID_HEADER".into(),
            _ => "SESSION_REFRESH_THRESHOLD".into(),
        };
        e
    })?;
    Ok(EnvConfig { config, secret })
}

/// `SESSION_SECRET` (a random key only when `allow_ephemeral`) and
/// `SESSION_SLOT_KEY`.
fn keys(env: &Environment, allow_ephemeral: bool) -> Result<(KeyRing, SecretSource), ConfigError> {
    let (keys, secret) = match env.var("SESSION_SECRET") {
        Some(text) => (
            KeyRing::from_base64_list(&text)
                .map_err(|e: KeyRingError| ConfigError::new("SESSION_SECRET", e))?,
            SecretSource::Environment,
        ),
        None if allow_ephemeral => (KeyRing::generate(), SecretSource::Ephemeral),
        None => return Err(ConfigError::new("SESSION_SECRET", MISSING_SECRET)),
    };
    let keys = match env.var("SESSION_SLOT_KEY") {
        Some(text) => keys
            .with_slot_key_base64(&text)
            .map_err(|e: KeyRingError| ConfigError::new("SESSION_SLOT_KEY", e))?,
        None => keys,
    };
    Ok((keys, secret))
}

/// A duration in whole seconds from 1 to `max`; `default` when unset.
fn seconds(env: &Environment, name: &str, default: u64, max: u64) -> Result<Duration, ConfigError> {
    match env.var(name) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Duration::from_secs(n)),
            _ => Err(ConfigError::new(
                name,
                format!("expected whole seconds from 1 to {max}, got {v:?}"),
            )),
        },
    }
}

/// A flag: true when unset.
fn flag(env: &Environment, name: &str) -> Result<bool, ConfigError> {
    match env.var(name).as_deref().map(str::trim) {
        None | Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(ConfigError::new(
            name,
            format!("expected true or false, got {other:?}"),
        )),
    }
}

/// `SESSION_MAX_DATA_BYTES`: a positive whole number of bytes.
fn max_data_bytes(env: &Environment) -> Result<usize, ConfigError> {
    match env.var("SESSION_MAX_DATA_BYTES") {
        None => Ok(DEFAULT_MAX_DATA_BYTES),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::new(
                "SESSION_MAX_DATA_BYTES",
                format!("expected a positive whole number of bytes, got {v:?}"),
            )),
        },
    }
}

/// `SESSION_ALLOWED_ORIGINS`: the CSRF guard with these origins allowed
/// besides the site's own.
fn allowed_origins(list: &str) -> Result<CsrfGuard, ConfigError> {
    let mut guard = CsrfGuard::default();
    for origin in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if !CsrfGuard::valid_origin(origin) {
            return Err(ConfigError::new(
                "SESSION_ALLOWED_ORIGINS",
                "expected comma-separated origins such as https://app.example.com (scheme http or https, a host, an optional port, no path); one entry is not",
            ));
        }
        guard = guard.with_allowed_origin(origin);
    }
    Ok(guard)
}

impl SessionConfigBuilder {
    /// Sets the cookie (default: `sid`, HttpOnly, Secure, SameSite=Lax, Path=/).
    pub fn with_cookie(mut self, cookie: CookieConfig) -> Self {
        self.config.cookie = cookie;
        self
    }

    /// Sets the expiry policy (default: 24 h idle, 7 days absolute, 1 h threshold).
    pub fn with_expiry(mut self, expiry: ExpiryPolicy) -> Self {
        self.config.expiry = expiry;
        self
    }

    /// Sets the per-user session limit (default:
    /// [`crate::DEFAULT_MAX_SESSIONS_PER_USER`] sessions, evicting the least
    /// recently active; [`UserLimit::unlimited`] for none).
    pub fn with_limit(mut self, limit: UserLimit) -> Self {
        self.config.limit = limit;
        self
    }

    /// Lets non-browser clients carry the session id in this request
    /// header instead of the cookie. A request that carries the header (even
    /// empty) is a header client: its id is read from the header only, a
    /// newly issued id comes back in the same response header, and it never
    /// gets a `Set-Cookie`. A request without it is a browser, and never
    /// gets the id in a header (page scripts could read it). Default: off.
    pub fn with_id_header(mut self, name: impl Into<String>) -> Self {
        self.config.id_header = Some(name.into().to_ascii_lowercase());
        self
    }

    /// Caps a session's data at `bytes` (default
    /// [`DEFAULT_MAX_DATA_BYTES`], 64 KiB), counted as the sum of each key's
    /// length and its JSON value's length. An `insert` that would go past
    /// it fails with [`crate::SessionError::TooLarge`] and changes nothing.
    pub fn with_max_data_bytes(mut self, bytes: usize) -> Self {
        self.config.max_data_bytes = bytes;
        self
    }

    /// Counts anonymous sessions in [`crate::SessionManager::count_active`]
    /// (guarantee 11). Off by default: the count is of signed-in sessions,
    /// and an anonymous session costs the store no analytics entry (on
    /// Redis, about 128 bytes and 4 commands of its create). On, every
    /// anonymous session created from then on is counted, exactly.
    /// `SESSION_ANONYMOUS_ANALYTICS=true` from the environment.
    pub fn with_anonymous_analytics(mut self, on: bool) -> Self {
        self.config.anonymous_analytics = on;
        self
    }

    /// Sets the CSRF guard (default: the origin check on, any body type).
    /// See [`CsrfGuard`] for what it stops and when to turn it off.
    pub fn with_csrf(mut self, guard: CsrfGuard) -> Self {
        self.config.csrf = guard;
        self
    }

    /// The CSRF guard as set so far (from the environment, say), to change
    /// one rule and keep the rest:
    ///
    /// ```
    /// use session_core::{KeyRing, SessionConfig};
    /// let builder = SessionConfig::builder(KeyRing::generate());
    /// let guard = builder.csrf().clone().with_json_bodies_only(true);
    /// let config = builder.with_csrf(guard).build().unwrap();
    /// assert!(config.csrf().json_bodies_only());
    /// ```
    pub fn csrf(&self) -> &CsrfGuard {
        &self.config.csrf
    }

    /// Checks the settings together and builds the configuration.
    pub fn build(self) -> Result<SessionConfig, ConfigError> {
        let c = self.config;
        c.cookie
            .validate()
            .map_err(|e: CookieConfigError| ConfigError::new("cookie", e))?;
        c.expiry
            .validate()
            .map_err(|e: ExpiryError| ConfigError::new("expiry", e))?;
        if let Some(h) = &c.id_header
            && (h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(ConfigError::new(
                "id header",
                format!("{h:?} is not a header name"),
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=";

    /// The environment `vars`, allowing an ephemeral secret.
    fn from(vars: &[(&str, &str)]) -> Result<EnvConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::from_lookup(move |k| map.get(k).cloned())
            .allow_ephemeral_secret()
            .session_config()
    }

    #[test]
    fn an_unset_secret_is_refused_with_how_to_make_one() {
        for secret in [None, Some(""), Some("  ")] {
            let err = SessionConfig::from_lookup(move |name| {
                (name == "SESSION_SECRET").then(|| secret.map(str::to_owned))?
            })
            .unwrap_err();
            assert_eq!(err.setting, "SESSION_SECRET");
            assert!(err.message.contains("openssl rand -base64 32"), "{err}");
        }
        let set =
            SessionConfig::from_lookup(|name| (name == "SESSION_SECRET").then(|| SECRET.into()));
        assert!(set.is_ok());
    }

    #[test]
    fn defaults_from_an_empty_environment() {
        let env = from(&[]).unwrap();
        assert_eq!(env.secret, SecretSource::Ephemeral);
        let c = env.config;
        assert_eq!(c.cookie().cookie_name(), "__Host-sid");
        assert!(c.cookie().secure());
        assert_eq!(c.expiry().idle_timeout(), Duration::from_secs(86_400));
        assert_eq!(c.expiry().absolute_lifetime(), Duration::from_secs(604_800));
        assert_eq!(c.expiry().refresh_threshold(), Duration::from_secs(3_600));
        assert_eq!(c.limit(), UserLimit::at_most(1000, LimitPolicy::EvictIdle));
        assert_eq!(c.expiry().mode(), ExpiryMode::Sliding);
        assert_eq!(c.max_data_bytes(), DEFAULT_MAX_DATA_BYTES);
    }

    #[test]
    fn fixed_expiry_and_the_size_cap_from_the_environment() {
        let c = from(&[
            ("SESSION_SLIDING_WINDOW", "false"),
            ("SESSION_MAX_DATA_BYTES", "1024"),
        ])
        .unwrap()
        .config;
        assert_eq!(c.expiry().mode(), ExpiryMode::Fixed);
        assert_eq!(c.max_data_bytes(), 1024);
    }

    #[test]
    fn every_variable_is_read() {
        let c = from(&[
            ("SESSION_SECRET", SECRET),
            ("SESSION_COOKIE_NAME", "app"),
            ("SESSION_TTL_SECONDS", "60"),
            ("SESSION_MAX_CONCURRENT", "2"),
            ("SESSION_LIMIT_POLICY", "deny"),
            ("SESSION_COOKIE_SECURE", "false"),
            ("SESSION_ID_HEADER", "X-Session-Id"),
            ("SESSION_ABSOLUTE_SECONDS", "3155760000"),
        ])
        .unwrap();
        assert_eq!(c.secret, SecretSource::Environment);
        let c = c.config;
        assert_eq!(c.cookie().cookie_name(), "app");
        assert!(!c.cookie().secure());
        // The threshold default shrinks to a short idle timeout.
        assert_eq!(c.expiry().refresh_threshold(), Duration::from_secs(60));
        assert_eq!(c.limit(), UserLimit::at_most(2, LimitPolicy::Deny));
        assert_eq!(c.id_header(), Some("x-session-id"));
        assert_eq!(c.expiry().absolute_lifetime(), MAX_DURATION);
    }

    #[test]
    fn allowed_origins_from_the_environment() {
        let c = from(&[(
            "SESSION_ALLOWED_ORIGINS",
            "https://app.example.com, https://admin.example.com:8443",
        )])
        .unwrap()
        .config;
        let want = CsrfGuard::default()
            .with_allowed_origin("https://app.example.com")
            .with_allowed_origin("https://admin.example.com:8443");
        assert_eq!(c.csrf(), &want);
        let err = from(&[("SESSION_ALLOWED_ORIGINS", "shop.test")]).unwrap_err();
        assert_eq!(err.setting, "SESSION_ALLOWED_ORIGINS");
        assert!(
            !err.message.contains("shop.test"),
            "echoes its input: {err}"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("SESSION_SECRET", "c2hvcnQ="),
            ("SESSION_TTL_SECONDS", "0"),
            ("SESSION_ABSOLUTE_SECONDS", "-5"),
            ("SESSION_REFRESH_THRESHOLD", "999999"),
            ("SESSION_MAX_CONCURRENT", "many"),
            ("SESSION_LIMIT_POLICY", "lru"),
            ("SESSION_COOKIE_SECURE", "maybe"),
            ("SESSION_COOKIE_NAME", "bad name"),
            ("SESSION_ID_HEADER", "x session"),
            ("SESSION_TTL_SECONDS", "3155760001"),
            ("SESSION_SLIDING_WINDOW", "sometimes"),
            ("SESSION_MAX_DATA_BYTES", "0"),
            ("SESSION_MAX_DATA_BYTES", "64k"),
        ] {
            let err = from(&[(var, value)]).unwrap_err();
            assert_eq!(err.setting, var, "{value}: {err}");
        }
    }
}
