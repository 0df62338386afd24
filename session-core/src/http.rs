//! What a session problem means over HTTP: status code and JSON body,
//! decided once here so every framework adapter answers alike.
//!
//! Bodies are `{"error": CODE, "message": TEXT}`, plus `"reason"` and
//! `"ended_at"` (RFC 3339) when a session ended. They never carry internals:
//! a store failure says only that the store is unavailable (its cause goes
//! to the logs through the lifecycle events, not to the client).

use crate::ending::Ending;
use crate::error::SessionError;

/// A status and a JSON body to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The HTTP status code.
    pub status: u16,
    /// The stable machine-readable code (`unauthenticated`, `limit`, …).
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// Why the session ended, when it did.
    pub ending: Option<Ending>,
}

/// `401 unauthenticated: not signed in`: status, code and message, for
/// logs and for frameworks whose errors must be displayable.
impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for HttpError {}

impl HttpError {
    /// The content type of every [`HttpError::body`].
    pub const CONTENT_TYPE: &'static str = "application/json";

    /// 500: an extractor found no session because the adapter's middleware
    /// is not installed on this route (a wiring mistake).
    pub fn not_installed() -> Self {
        HttpError::new(
            500,
            "internal",
            "the session layer is not installed on this route",
        )
    }

    /// 401: not signed in, with why the session ended when known.
    pub fn unauthenticated(ending: Option<Ending>) -> Self {
        HttpError {
            status: 401,
            code: "unauthenticated",
            message: match &ending {
                Some(e) => format!("not signed in: the session was {}", e.reason),
                None => "not signed in".into(),
            },
            ending,
        }
    }

    /// Any status, code and message.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        HttpError {
            status,
            code,
            message: message.into(),
            ending: None,
        }
    }

    /// The JSON body.
    ///
    /// ```
    /// use session_core::HttpError;
    /// let body = HttpError::unauthenticated(None).body();
    /// assert_eq!(body, r#"{"error":"unauthenticated","message":"not signed in"}"#);
    /// ```
    pub fn body(&self) -> String {
        let mut map = serde_json::Map::new();
        map.insert("error".into(), self.code.into());
        map.insert("message".into(), self.message.clone().into());
        if let Some(e) = &self.ending {
            map.insert("reason".into(), e.reason.code().into());
            if let Some(text) = e.reason.text() {
                map.insert("reason_text".into(), text.into());
            }
            map.insert("ended_at".into(), e.at.to_rfc3339().into());
        }
        serde_json::Value::Object(map).to_string()
    }
}

impl From<SessionError> for HttpError {
    fn from(e: SessionError) -> Self {
        HttpError::from(&e)
    }
}

impl From<crate::StoreFailure> for HttpError {
    fn from(e: crate::StoreFailure) -> Self {
        HttpError::from(&SessionError::Store(e))
    }
}

/// 400 `bad_request`: a user id the application took from the request
/// (a form, a token's claim) is not a valid [`crate::UserId`]. This is what
/// lets a handler write `UserId::new(name)?`.
impl From<crate::UserIdError> for HttpError {
    fn from(e: crate::UserIdError) -> Self {
        HttpError::new(400, "bad_request", format!("invalid user id: {e}"))
    }
}

/// 404 `not_found`: the text names no session ("revoke that device" with a
/// malformed public id answers as one that does not exist).
impl From<crate::PublicIdError> for HttpError {
    fn from(_: crate::PublicIdError) -> Self {
        HttpError::new(404, "not_found", "no such session")
    }
}

impl From<&SessionError> for HttpError {
    fn from(e: &SessionError) -> Self {
        match e {
            SessionError::Store(_) => HttpError::new(
                503,
                "store_unavailable",
                "the session store is unavailable; try again shortly",
            ),
            SessionError::Ended(ending) => HttpError::unauthenticated(Some(ending.clone())),
            SessionError::NoSession => HttpError::unauthenticated(None),
            SessionError::LimitReached { limit } => HttpError::new(
                409,
                "limit",
                format!("this user already has the maximum of {limit} active sessions"),
            ),
            SessionError::TooLarge { .. } => HttpError::new(
                500,
                "session_too_large",
                "the session data would exceed its size cap; nothing was changed",
            ),
            SessionError::MetadataTooLarge { limit, .. } => HttpError::new(
                400,
                "metadata_too_large",
                format!("the session metadata may take at most {limit} bytes"),
            ),
            SessionError::InvalidKey
            | SessionError::InvalidDuration
            | SessionError::Serialize { .. } => {
                HttpError::new(500, "session_data", "the session data could not be written")
            }
            SessionError::NotAnInteger { .. } | SessionError::Deserialize { .. } => {
                HttpError::new(500, "session_data", "the session data could not be read")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EndReason, StoreFailure, Timestamp};

    #[test]
    fn store_failures_are_503_without_internals() {
        let e = SessionError::Store(StoreFailure::Corrupt("field @abs at 10.0.0.7".into()));
        let h = HttpError::from(&e);
        assert_eq!(h.status, 503);
        assert!(!h.body().contains("10.0.0.7") && !h.body().contains("@abs"));
    }

    #[test]
    fn endings_carry_reason_and_time() {
        let e = SessionError::Ended(Ending {
            reason: EndReason::revoked("password changed"),
            at: Timestamp::from_unix_millis(0),
        });
        let body: serde_json::Value = serde_json::from_str(&HttpError::from(&e).body()).unwrap();
        assert_eq!(body["error"], "unauthenticated");
        assert_eq!(body["reason"], "revoked");
        assert_eq!(body["reason_text"], "password changed");
        assert_eq!(body["ended_at"], "1970-01-01T00:00:00Z");
        assert_eq!(
            HttpError::from(&SessionError::LimitReached { limit: 2 }).status,
            409
        );
    }
}
