//! Errors: one small enum per store operation, naming the case, and
//! [`SessionError`] for application code.

use std::sync::Arc;
use std::time::Duration;

use crate::ending::Ending;

/// The cause behind a [`StoreFailure::Unavailable`].
pub type BoxedCause = Arc<dyn std::error::Error + Send + Sync>;

/// The store could not do its job. Whatever the operation, this means
/// nothing may be assumed about the session: the request is not signed in
/// and nothing was written by the session layer (guarantee 9).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreFailure {
    /// The store could not be reached, or refused the command. Check that it
    /// runs and is reachable; the request should be answered with 503.
    #[error("the session store is unavailable: {0}")]
    Unavailable(#[source] BoxedCause),
    /// The store did not answer within its deadline.
    #[error("the session store did not answer within {0:?}")]
    TimedOut(Duration),
    /// A stored record could not be decoded. It is reported, never replaced:
    /// inspect it, then revoke the session.
    #[error("a stored session record is unreadable: {0}")]
    Corrupt(String),
    /// The command was sent, then the connection failed before its reply:
    /// it may or may not have taken effect. It was not repeated (a repeat
    /// could apply it twice). Load the session again to see where it stands.
    #[error(
        "the session store's connection failed after the command was sent; it may or may not have been applied: {0}"
    )]
    OutcomeUnknown(#[source] BoxedCause),
    /// An invalidation was applied on the primary, but no replica
    /// acknowledged it within the deadline: a failover now could bring the
    /// session back. The user was signed out; check the replicas.
    #[error("the invalidation was applied but no replica acknowledged it within {within:?}")]
    NotReplicated {
        /// How long the store waited for a replica.
        within: Duration,
        /// The sessions the call ended on the primary, where it reports
        /// them (revoke-device, revoke-all); empty for other calls.
        ended: Vec<crate::PublicId>,
    },
    /// The store does not offer this call (a custom store that keeps no
    /// lifecycle stream, say): the name says which. Use a store that does
    /// (the memory and Redis stores keep every call).
    #[error("this session store does not support {0}")]
    Unsupported(&'static str),
}

impl StoreFailure {
    /// A stable label for the kind of failure: `unavailable`, `timed_out`,
    /// `corrupt`, `outcome_unknown`, `not_replicated`, `unsupported` (the `kind` label of
    /// the failure metric).
    pub fn kind(&self) -> &'static str {
        match self {
            StoreFailure::Unavailable(_) => "unavailable",
            StoreFailure::TimedOut(_) => "timed_out",
            StoreFailure::Corrupt(_) => "corrupt",
            StoreFailure::OutcomeUnknown(_) => "outcome_unknown",
            StoreFailure::NotReplicated { .. } => "not_replicated",
            StoreFailure::Unsupported(_) => "unsupported",
        }
    }

    /// An [`StoreFailure::Unavailable`] from any error.
    pub fn unavailable(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreFailure::Unavailable(Arc::new(cause))
    }
}

/// Why `SessionStore::create` failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// A session (active or ended) already exists under this key. Generate
    /// a new id; never overwrite.
    #[error("a session with this id already exists")]
    DuplicateId,
    /// The user has `limit` active sessions and the policy is `deny`.
    #[error("the user already has the maximum of {limit} active sessions")]
    LimitReached {
        /// The configured limit.
        limit: u32,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreFailure),
}

/// Why a change to an existing session (apply a delta, increment) failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// No session, active or ended, under this key (never existed, or its
    /// end was forgotten). Nothing was written: a save never re-creates.
    #[error("no session with this id")]
    UnknownId,
    /// The session has ended; nothing was written (guarantee 1).
    #[error("the session has ended ({0})")]
    Ended(Ending),
    /// `increment` found a value under the key that is not an integer.
    #[error("the value under {key:?} is not an integer")]
    NotAnInteger {
        /// The data key.
        key: String,
    },
    /// The change would grow the session's data, as stored when it was
    /// merged, past [`crate::store::StoreContext::max_data_bytes`] (other
    /// requests may have added data since the caller loaded). Nothing was
    /// written.
    #[error("the session data would be {size} bytes, over the cap of {limit}; nothing was changed")]
    TooLarge {
        /// The size the data would have had, in bytes as stored.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreFailure),
}

/// Why `SessionStore::rotate` failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RotateError {
    /// No session under the old key.
    #[error("no session with this id")]
    UnknownId,
    /// The old session has ended (perhaps another rotation won the race).
    #[error("the session has ended ({0})")]
    Ended(Ending),
    /// The new key is taken.
    #[error("a session with the new id already exists")]
    DuplicateId,
    /// Signing in was asked for, but the old session belongs to another
    /// user. Nothing changed.
    #[error("the session belongs to another user")]
    OtherUser,
    /// Signing in would exceed the user's limit and the policy is `deny`.
    #[error("the user already has the maximum of {limit} active sessions")]
    LimitReached {
        /// The configured limit.
        limit: u32,
    },
    /// The rotation's changes would grow the session's data past the cap
    /// (as [`UpdateError::TooLarge`]). Nothing changed.
    #[error("the session data would be {size} bytes, over the cap of {limit}; nothing was changed")]
    TooLarge {
        /// The size the data would have had, in bytes as stored.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreFailure),
}

/// What went wrong with a session operation in application code.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The operation needs a session and this request has none.
    #[error("this request has no session")]
    NoSession,
    /// The session has ended, and why. Treat the request as signed out.
    #[error("the session has ended ({0})")]
    Ended(Ending),
    /// Signing in was refused: the user is at the session limit (`deny`).
    #[error("the user already has the maximum of {limit} active sessions")]
    LimitReached {
        /// The configured limit.
        limit: u32,
    },
    /// `increment` found a value that is not an integer.
    #[error("the value under {key:?} is not an integer")]
    NotAnInteger {
        /// The data key.
        key: String,
    },
    /// A data key was empty or longer than 256 bytes.
    #[error("data keys must be 1 to 256 bytes long")]
    InvalidKey,
    /// A per-session duration was under a second or over
    /// [`crate::MAX_DURATION`] (100 years).
    #[error("a session duration must be from 1 second to 100 years")]
    InvalidDuration,
    /// The insert would take the session's data past the configured cap
    /// ([`crate::SessionConfigBuilder::with_max_data_bytes`]); nothing was
    /// changed. Store less in the session (an id pointing to your own
    /// storage), or raise the cap.
    #[error("the session data would be {size} bytes, over the cap of {limit}; nothing was changed")]
    TooLarge {
        /// The size the data would have had, in bytes.
        size: usize,
        /// The configured cap.
        limit: usize,
    },
    /// The session's metadata is over [`crate::MAX_METADATA_BYTES`] as
    /// stored, even with each text cut to
    /// [`crate::MAX_METADATA_FIELD_BYTES`]; nothing was changed. Keep
    /// fewer or shorter `extra` entries.
    #[error(
        "the session metadata would be {size} bytes, over the cap of {limit}; nothing was changed"
    )]
    MetadataTooLarge {
        /// The size the metadata would have had, in bytes (JSON).
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// A value could not be turned into JSON.
    #[error("the value for {key:?} could not be serialized: {message}")]
    Serialize {
        /// The data key.
        key: String,
        /// serde's message.
        message: String,
    },
    /// A stored value does not have the type asked for.
    #[error("the value under {key:?} does not have the requested type: {message}")]
    Deserialize {
        /// The data key.
        key: String,
        /// serde's message.
        message: String,
    },
    /// The store failed: answer 503, treat the request as not signed in.
    #[error(transparent)]
    Store(#[from] StoreFailure),
}

impl From<UpdateError> for SessionError {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::UnknownId => SessionError::NoSession,
            UpdateError::Ended(end) => SessionError::Ended(end),
            UpdateError::NotAnInteger { key } => SessionError::NotAnInteger { key },
            UpdateError::TooLarge { size, limit } => SessionError::TooLarge { size, limit },
            UpdateError::Store(f) => SessionError::Store(f),
        }
    }
}

impl From<RotateError> for SessionError {
    fn from(e: RotateError) -> Self {
        match e {
            RotateError::UnknownId => SessionError::NoSession,
            RotateError::Ended(end) => SessionError::Ended(end),
            RotateError::LimitReached { limit } => SessionError::LimitReached { limit },
            RotateError::TooLarge { size, limit } => SessionError::TooLarge { size, limit },
            // Ids are 128 random bits: a duplicate means the store misbehaves.
            RotateError::OtherUser => SessionError::NoSession,
            RotateError::DuplicateId => SessionError::Store(StoreFailure::Corrupt(
                "the store reported a duplicate for a fresh random id".into(),
            )),
            RotateError::Store(f) => SessionError::Store(f),
        }
    }
}

impl From<CreateError> for SessionError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::LimitReached { limit } => SessionError::LimitReached { limit },
            CreateError::DuplicateId => SessionError::Store(StoreFailure::Corrupt(
                "the store reported a duplicate for a fresh random id".into(),
            )),
            CreateError::Store(f) => SessionError::Store(f),
        }
    }
}
