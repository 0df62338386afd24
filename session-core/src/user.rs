//! The application's user identifier.

use std::fmt;

/// The longest user id accepted, in bytes.
pub const MAX_USER_ID_BYTES: usize = 256;

/// Why text was not accepted as a user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserIdError {
    /// The id was empty (or only white space).
    #[error("a user id must not be empty")]
    Empty,
    /// The id was longer than [`MAX_USER_ID_BYTES`].
    #[error("a user id is at most {MAX_USER_ID_BYTES} bytes")]
    TooLong,
    /// The id contained a control character.
    #[error("a user id must not contain control characters")]
    ControlCharacter,
}

/// Who a signed-in session belongs to: the application's own user key (a
/// database id, an email, a subject claim). 1 to 256 bytes of UTF-8 without
/// control characters.
///
/// ```
/// use session_core::UserId;
/// assert_eq!(UserId::new("alice").unwrap().as_str(), "alice");
/// assert!(UserId::new("").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    /// Checks and wraps a user id.
    pub fn new(id: impl Into<String>) -> Result<Self, UserIdError> {
        let id = id.into();
        if id.trim().is_empty() {
            return Err(UserIdError::Empty);
        }
        if id.len() > MAX_USER_ID_BYTES {
            return Err(UserIdError::TooLong);
        }
        if id.chars().any(char::is_control) {
            return Err(UserIdError::ControlCharacter);
        }
        Ok(UserId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({:?})", self.0)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for UserId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
