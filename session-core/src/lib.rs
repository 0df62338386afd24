//! # session-core
//!
//! Framework-agnostic server-side sessions that are revocable, shared
//! across instances and correct under concurrency. The contract every store
//! and adapter keeps is `docs/contract.md` in the repository; guarantees
//! are cited by number throughout ("guarantee 1").
//!
//! The API is grouped by who uses it:
//!
//! * **Applications** use what the crate root holds: [`SessionManager`]
//!   (per request it gives a [`Session`] handle, lazy, typed and
//!   change-tracked; outside requests it lists, counts and revokes
//!   sessions), [`SessionConfig`] and its parts, [`MemoryStore`] (the
//!   embedded default store), the ids, records and errors.
//! * **Store authors** use [`store`]: the [`store::SessionStore`] trait,
//!   its request and reply types, its errors, and (feature `testkit`) the
//!   conformance kit that checks any store against the contract.
//! * **Adapter authors** use [`adapter`]: the two ends of a request as
//!   data, and a recipe for writing an adapter.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), session_core::SessionError> {
//! use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager, UserId};
//! use std::sync::Arc;
//!
//! let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
//! let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
//! let session = manager.session_for_request([]);
//! session.login(UserId::new("alice").unwrap()).await?;
//! assert!(session.finish().await.set_cookie().is_some());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapter;
pub mod application;
mod config;
mod cookie;
mod csrf;
mod delta;
mod ending;
mod error;
mod expiry;
mod handle;
mod http;
mod id;
pub mod lifecycle;
mod limit;
mod manager;
mod memory;
mod random;
mod record;
mod request;
mod response;
mod secret;
mod setup;
mod shared;
pub mod store;
mod time;
mod user;

pub use config::{ConfigError, DEFAULT_MAX_DATA_BYTES, SessionConfig, SessionConfigBuilder};
pub use cookie::{CookieConfig, CookieConfigError, CookieLifetime, SameSite};
pub use csrf::CsrfGuard;
pub use ending::{EndReason, Ending, MAX_REASON_BYTES};
pub use error::{SessionError, StoreFailure};
pub use expiry::{ExpiryError, ExpiryMode, ExpiryPolicy, MAX_DURATION};
pub use handle::{LoginOutcome, MAX_DATA_KEY_BYTES, Session, SignInOptions};
pub use http::HttpError;
pub use id::{IdError, PublicId, PublicIdError, SessionId};
pub use limit::{LimitPolicy, UnknownLimitPolicy, UserLimit};
pub use manager::SessionManager;
pub use memory::MemoryStore;
pub use record::{Device, Metadata, SessionRecord, SessionSummary};
pub use secret::{KeyRing, KeyRingError, MIN_KEY_BYTES};
pub use setup::{
    EnvConfig, Environment, REDIS_VARIABLES, SecretSource, SessionSetup, SetupError, setup_from_env,
};
pub use store::{Page, PageRequest};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use user::{MAX_USER_ID_BYTES, UserId, UserIdError};
