#![doc = include_str!("../README.md")]
//!
//! ## Where to start
//!
//! * **Applications** use what the crate root holds: [`SessionManager`]
//!   (per request it gives a [`Session`] handle, lazy, typed and
//!   change-tracked; outside requests it lists, counts and revokes
//!   sessions), [`SessionConfig`] and its parts, [`MemoryStore`] (the
//!   embedded default store), the ids, records and errors; [`application`]
//!   lists them in one place.
//! * **Store authors** use [`store`]: the [`store::SessionStore`] trait,
//!   its request and reply types, its errors, and (feature `testkit`) the
//!   conformance kit that checks any store against the contract.
//! * **Adapter authors** use [`adapter`]: the two ends of a request as
//!   data, and a recipe for writing an adapter.
//! * **Everyone**: [`contract`], the guarantees every store and adapter
//!   keeps, cited by number throughout ("guarantee 1").
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapter;
pub mod application;
mod config;
pub mod contract;
mod cookie;
mod csrf;
mod delta;
mod ending;
mod error;
pub mod events;
mod expiry;
#[doc(hidden)]
pub mod fuzzing;
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
pub use handle::{FLASH_PREFIX, LoginOutcome, MAX_DATA_KEY_BYTES, Session, SignInOptions};
pub use http::HttpError;
pub use id::{IdError, PublicId, PublicIdError, SessionId};
pub use limit::{DEFAULT_MAX_SESSIONS_PER_USER, LimitPolicy, UnknownLimitPolicy, UserLimit};
pub use manager::{IssuedSession, MAX_USER_EVENTS, SessionBuilder, SessionManager};
pub use memory::MemoryStore;
pub use record::{
    Device, MAX_METADATA_BYTES, MAX_METADATA_FIELD_BYTES, Metadata, SessionRecord, SessionSummary,
};
pub use secret::{KeyRing, KeyRingError, MIN_KEY_BYTES};
pub use setup::{
    EnvConfig, Environment, REDIS_VARIABLES, SecretSource, SessionSetup, SetupError, setup_from_env,
};
pub use store::{Page, PageRequest};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use user::{MAX_USER_ID_BYTES, UserId, UserIdError};
