//! Errors of setting the store up. (Errors of its operations are
//! session-core's `StoreFailure`.)

/// Why a [`crate::RedisStore`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The URL could not be parsed.
    #[error("the Redis URL is not valid: {0}")]
    BadUrl(String),
    /// The URL's scheme is not one this store knows.
    #[error(
        "URL scheme {0:?} is not a Redis URL: use redis://, rediss://, redis+cluster://, rediss+cluster://, redis+sentinel:// (or redis-sentinel://) or rediss+sentinel://"
    )]
    Unsupported(String),
    /// The URL needs features of this crate that the build left out
    /// (`rediss://` without `tls`, `redis+cluster://` without `cluster`,
    /// …): enable them in the application's `Cargo.toml`.
    #[error(
        "{scheme}:// URLs need session-redis's {} feature{}: add features = [{}] (or [\"full\"]) to session-redis in Cargo.toml",
        features.join(" and "),
        if features.len() == 1 { "" } else { "s" },
        features.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ")
    )]
    FeatureNeeded {
        /// The URL's scheme, as given.
        scheme: String,
        /// The features to enable.
        features: Vec<&'static str>,
    },
    /// The key prefix has characters other than letters, digits and `-_.:`.
    #[error("key prefix {0:?} must be 1 to 64 letters, digits or -_.:")]
    BadPrefix(String),
    /// An environment variable (`REDIS_*`, `SESSION_KEY_PREFIX`) has a
    /// value that cannot be used, or contradicts another.
    #[error("{variable}: {problem}")]
    BadSetting {
        /// The variable, as named in the environment.
        variable: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// The server is a version this store cannot serve (its scripts and
    /// commands would fail on every write): upgrade it.
    #[error("the server is {found}; this session store needs {needed}")]
    UnsupportedServer {
        /// The server and version found (`Redis 6.2`).
        found: String,
        /// What the store needs.
        needed: &'static str,
    },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to Redis: {0}")]
    Connect(#[source] redis::RedisError),
}
