//! Every name an application uses, in one place, for the adapter crates to
//! re-export (`pub use session_core::application::*;`): an application
//! depends on its framework's adapter alone and never names
//! `session_core`. The request handle is [`SessionHandle`] here, because each
//! adapter's own `Session` is its extractor.

pub use crate::Session as SessionHandle;
pub use crate::store::Loaded;
pub use crate::{
    Clock, ConfigError, CookieConfig, CookieConfigError, CookieLifetime, CsrfGuard,
    DEFAULT_MAX_SESSIONS_PER_USER, Device, EndReason, Ending, EnvConfig, Environment, ExpiryError,
    ExpiryMode, ExpiryPolicy, FLASH_PREFIX, HttpError, IdError, IssuedSession, KeyRing,
    KeyRingError, LimitPolicy, LoginOutcome, MAX_METADATA_BYTES, MAX_METADATA_FIELD_BYTES,
    MAX_USER_ID_BYTES, ManualClock, MemoryStore, Metadata, Page, PageRequest, PublicId,
    PublicIdError, SameSite, SecretSource, SessionBuilder, SessionConfig, SessionConfigBuilder,
    SessionError, SessionId, SessionManager, SessionRecord, SessionSetup, SessionSummary,
    SetupError, SignInOptions, StoreFailure, SystemClock, Timestamp, UnknownLimitPolicy, UserId,
    UserIdError, UserLimit,
};
