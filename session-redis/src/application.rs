//! Every name an application uses with the Redis store, in one place, for
//! the adapter crates to re-export under their `redis` feature
//! (`pub use session_redis::application::*;`): session-core's application
//! API ([`session_core::application`]), this crate's store and its errors,
//! the one-call [`setup_from_env`] (Redis when `REDIS_URL` or `REDIS_HOST`
//! is set, memory otherwise), and this crate itself as `session_redis`
//! (which re-exports `redis`, and `bb8` with `pool`).

pub use crate::{RedisStore, RedisStoreBuilder, RedisStoreError, setup_from_env};
pub use session_core::application::*;

/// This crate, for the names not listed here (`EncryptionKeys`, `redis`,
/// `bb8`).
pub use crate as session_redis;
