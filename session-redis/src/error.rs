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
        "URL scheme {0:?} is not a Redis URL: use redis://, rediss://, redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://"
    )]
    Unsupported(String),
    /// The key prefix has characters other than letters, digits and `-_.:`.
    #[error("key prefix {0:?} must be 1 to 64 letters, digits or -_.:")]
    BadPrefix(String),
    /// A `REDIS_*` environment variable has a value that cannot be used.
    #[error("{variable}: {problem}")]
    BadSetting {
        /// The variable, as named in the environment.
        variable: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to Redis: {0}")]
    Connect(#[source] redis::RedisError),
}
