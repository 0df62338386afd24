//! [`setup_from_env`]: the session configuration and the store, Redis or
//! memory, from one reading of the environment.

use std::sync::Arc;

use session_core::{Environment, MemoryStore, SessionSetup, SetupError};

use crate::store::RedisStore;

/// The configuration and the store from `env`, in one call: Redis when
/// `REDIS_URL` or `REDIS_HOST` is set (with the key prefix of
/// `SESSION_KEY_PREFIX` and the rest of [`RedisStore::builder_from_lookup`]'s
/// variables), the in-memory store otherwise. The configuration and the
/// store read the same [`Environment`], so no setting reaches one and not
/// the other. The configuration is read first: a bad `SESSION_*` value is
/// reported before any connection is tried.
///
/// The adapter crates re-export this function under their `redis`
/// feature, so an application writes `session_axum::setup_from_env`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use session_core::Environment;
///
/// let setup = session_redis::setup_from_env(Environment::process()).await?;
/// println!("sessions in {}", setup.store_description);
/// let manager = setup.into_manager();
/// # let _ = manager; Ok(()) }
/// ```
pub async fn setup_from_env(env: Environment) -> Result<SessionSetup, SetupError> {
    let config = env.session_config()?;
    let builder = RedisStore::builder_from_lookup(|name| env.var(name))
        .map_err(|e| SetupError::Store(Box::new(e)))?;
    let Some(builder) = builder else {
        return Ok(SessionSetup::new(
            config,
            Arc::new(MemoryStore::new()),
            "memory",
        ));
    };
    let described = format!("Redis {builder:?}");
    let store = builder
        .build()
        .await
        .map_err(|e| SetupError::Store(Box::new(e)))?;
    // Refused when the key behind users' slot tags changed since this
    // Redis was first used (SESSION_SLOT_KEY names the fix).
    SessionSetup::new(config, Arc::new(store), described)
        .check_slot_key()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_session_setting_is_reported_before_connecting() {
        // Port 1 refuses connections: had the store been built first, the
        // error would be a connection error.
        let env = Environment::from_lookup(|name| match name {
            "REDIS_URL" => Some("redis://127.0.0.1:1".into()),
            "SESSION_TTL_SECONDS" => Some("soon".into()),
            _ => None,
        })
        .allow_ephemeral_secret();
        match setup_from_env(env).await {
            Err(SetupError::Config(e)) => assert_eq!(e.setting, "SESSION_TTL_SECONDS"),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_bad_prefix_is_a_store_error_naming_the_variable() {
        let env = Environment::from_lookup(|name| match name {
            "REDIS_URL" => Some("redis://127.0.0.1:1".into()),
            "SESSION_KEY_PREFIX" => Some("two words".into()),
            _ => None,
        })
        .allow_ephemeral_secret();
        let err = setup_from_env(env).await.unwrap_err();
        assert!(err.to_string().contains("SESSION_KEY_PREFIX"), "{err}");
    }

    #[tokio::test]
    async fn without_redis_the_memory_store() {
        let env = Environment::from_lookup(|_| None).allow_ephemeral_secret();
        let setup = setup_from_env(env).await.unwrap();
        assert_eq!(setup.store_description, "memory");
    }
}
