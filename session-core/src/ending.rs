//! Why and when a session ended (guarantee 8: the reason is kept).

use std::fmt;

use crate::time::Timestamp;

/// The longest reason text kept for [`EndReason::Revoked`], in bytes.
pub const MAX_REASON_BYTES: usize = 200;

/// Why a session is no longer active.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// The user signed out of this session.
    Logout,
    /// Revoked on purpose (by the user from another device, or by an
    /// administrator), with the caller's reason text.
    Revoked(String),
    /// Evicted to keep the user within the per-user session limit.
    Limit,
    /// The id was rotated; the session lives on under a new id.
    Rotated,
    /// Ended by "sign out everywhere" (revoke all of a user's sessions),
    /// with the caller's reason text ("password changed"; may be empty).
    RevokeAll(String),
    /// The idle timeout or the absolute lifetime passed.
    Expired,
}

impl EndReason {
    /// A revocation with `text` (cut to [`MAX_REASON_BYTES`] at a character
    /// boundary).
    pub fn revoked(text: impl Into<String>) -> Self {
        EndReason::Revoked(cut(text.into()))
    }

    /// A "sign out everywhere" with `text` (cut to [`MAX_REASON_BYTES`] at
    /// a character boundary; empty when no reason was given).
    pub fn revoked_all(text: impl Into<String>) -> Self {
        EndReason::RevokeAll(cut(text.into()))
    }

    /// The caller's reason text of a revocation or a revoke-all; `None` for
    /// the other reasons and for an empty text.
    pub fn text(&self) -> Option<&str> {
        match self {
            EndReason::Revoked(t) | EndReason::RevokeAll(t) if !t.is_empty() => Some(t),
            _ => None,
        }
    }

    /// A stable machine-readable code: `logout`, `revoked`, `limit`,
    /// `rotated`, `revoke-all`, `expired`.
    pub fn code(&self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::Revoked(_) => "revoked",
            EndReason::Limit => "limit",
            EndReason::Rotated => "rotated",
            EndReason::RevokeAll(_) => "revoke-all",
            EndReason::Expired => "expired",
        }
    }

    /// The stored form: the code, and for a revocation `revoked:` + text.
    pub fn to_stored(&self) -> String {
        match self {
            EndReason::Revoked(text) => format!("revoked:{text}"),
            EndReason::RevokeAll(text) if !text.is_empty() => format!("revoke-all:{text}"),
            other => other.code().to_owned(),
        }
    }

    /// Reads the stored form back; `None` if it is not one.
    pub fn from_stored(text: &str) -> Option<Self> {
        Some(match text {
            "logout" => EndReason::Logout,
            "limit" => EndReason::Limit,
            "rotated" => EndReason::Rotated,
            "revoke-all" => EndReason::RevokeAll(String::new()),
            "expired" => EndReason::Expired,
            other => match other.strip_prefix("revoke-all:") {
                Some(text) => EndReason::revoked_all(text),
                None => EndReason::revoked(other.strip_prefix("revoked:")?),
            },
        })
    }
}

/// As its [`EndReason::code`] (`"revoked"`, `"limit"`, …).
impl serde::Serialize for EndReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::Logout => f.write_str("signed out"),
            EndReason::Revoked(text) if text.is_empty() => f.write_str("revoked"),
            EndReason::Revoked(text) => write!(f, "revoked: {text}"),
            EndReason::Limit => f.write_str("signed out: too many sessions for this user"),
            EndReason::Rotated => f.write_str("replaced by a new session id"),
            EndReason::RevokeAll(text) if text.is_empty() => f.write_str("signed out everywhere"),
            EndReason::RevokeAll(text) => write!(f, "signed out everywhere: {text}"),
            EndReason::Expired => f.write_str("expired"),
        }
    }
}

fn cut(mut text: String) -> String {
    if text.len() > MAX_REASON_BYTES {
        let mut cut = MAX_REASON_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// A session's end: why, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// Why it ended.
    pub reason: EndReason,
    /// When it ended.
    pub at: Timestamp,
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.reason, self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips() {
        for r in [
            EndReason::Logout,
            EndReason::revoked("password changed"),
            EndReason::revoked(""),
            EndReason::Limit,
            EndReason::Rotated,
            EndReason::revoked_all(""),
            EndReason::revoked_all("password changed"),
            EndReason::revoked_all("revoked:not a revocation"),
            EndReason::Expired,
        ] {
            assert_eq!(EndReason::from_stored(&r.to_stored()), Some(r));
        }
        assert_eq!(EndReason::from_stored("nonsense"), None);
    }

    #[test]
    fn long_reasons_are_cut_on_char_boundaries() {
        let r = EndReason::revoked("é".repeat(300));
        let EndReason::Revoked(t) = r else { panic!() };
        assert!(t.len() <= MAX_REASON_BYTES);
    }
}
