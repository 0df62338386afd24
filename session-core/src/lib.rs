//! # session-core
//!
//! Framework-agnostic server-side sessions that are revocable, shared
//! across instances and correct under concurrency.
//!
//! * [`SessionManager`]: the entry point. Per request it gives a
//!   [`Session`] handle (lazy, typed, change-tracked); outside requests it
//!   lists, counts and revokes sessions.
//! * [`SessionStore`]: the contract every backend keeps. [`MemoryStore`] is
//!   the embedded default; `session-redis` is the production store.
//! * [`read_incoming_id`] and [`ResponseUpdate`]: the two ends of a request,
//!   which framework adapters translate to their framework.
//! * `testkit` (feature `testkit`): the conformance kit that checks any
//!   store, yours included, against the contract.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), session_core::SessionError> {
//! use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager, UserId};
//! use std::sync::Arc;
//!
//! let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
//! let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
//! let session = manager.session_for_request([], None);
//! session.login(UserId::new("alice").unwrap()).await?;
//! assert!(session.finish().await.set_cookie.is_some());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod config;
mod cookie;
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
mod secret;
mod store;
mod time;
mod user;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::{ConfigError, EnvConfig, SessionConfig, SessionConfigBuilder};
pub use cookie::{CookieConfig, CookieConfigError, CookieLifetime, SameSite};
pub use delta::Delta;
pub use ending::{EndReason, Ending, MAX_REASON_BYTES};
pub use error::{BoxedCause, CreateError, RotateError, SessionError, StoreFailure, UpdateError};
pub use expiry::{ExpiryError, ExpiryPolicy, idle_deadline, refresh_due};
pub use handle::{LoginOutcome, MAX_DATA_KEY_BYTES, ResponseUpdate, Session};
pub use http::HttpError;
pub use id::{IdError, PublicId, SESSION_ID_LEN, SessionId, SessionKey, SlotTag};
pub use limit::{LimitPolicy, UnknownLimitPolicy, UserLimit};
pub use manager::SessionManager;
pub use memory::MemoryStore;
pub use record::{FORMAT_VERSION, Metadata, SessionRecord, SessionSummary};
pub use request::{IncomingId, MAX_ID_VALUE_BYTES, Rejection, read_incoming_id};
pub use secret::{KeyRing, KeyRingError, MIN_KEY_BYTES};
pub use store::{
    Applied, Created, Loaded, NewSession, Page, PageRequest, Rotation, SessionStore, SignIn,
    StoreContext, UserKey,
};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use user::{MAX_USER_ID_BYTES, UserId, UserIdError};
