//! The session record: what a store keeps for one active session.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cookie::CookieLifetime;
use crate::id::PublicId;
use crate::time::Timestamp;
use crate::user::UserId;

/// The stored format's version. A store writes it with every record and
/// refuses (as corrupt) a record whose version it does not know, so a future
/// format can migrate old records instead of misreading them.
pub const FORMAT_VERSION: u32 = 2;

/// Facts about the client a session was created from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    /// The client's IP address as the application saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// A device label the user chose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The cookie this session's browser holds, when chosen at sign-in
    /// ("remember me", [`crate::SignInOptions`]); `None`: the configured
    /// [`crate::CookieConfig::with_lifetime`]. Kept with the session, so a
    /// later rotation sends the same kind of cookie. Read leniently: a
    /// stored value that is not a cookie kind (an `extra` entry named
    /// `cookie`, say) reads as `None`, never as a corrupt record.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_cookie"
    )]
    pub cookie: Option<CookieLifetime>,
    /// Anything else the application wants to show in a device list. The
    /// names `ip`, `user_agent`, `device` and `cookie` are taken by the
    /// fields above.
    #[serde(flatten)]
    pub extra: BTreeMap<String, String>,
}

/// At most this many bytes in each text of [`Metadata`] (`ip`,
/// `user_agent`, `device`, and each name and value of `extra`): a longer
/// one is cut to its first bytes, at a character boundary (guarantee 13).
pub const MAX_METADATA_FIELD_BYTES: usize = 512;

/// At most this many bytes of [`Metadata`] in all, as stored (JSON): a
/// larger one is refused with [`crate::SessionError::MetadataTooLarge`]
/// and nothing is changed (guarantee 13).
pub const MAX_METADATA_BYTES: usize = 2048;

impl Metadata {
    /// This metadata within the caps: each text cut to
    /// [`MAX_METADATA_FIELD_BYTES`], or refused when the whole is over
    /// [`MAX_METADATA_BYTES`].
    pub(crate) fn bounded(mut self) -> Result<Metadata, crate::SessionError> {
        for text in [&mut self.ip, &mut self.user_agent, &mut self.device]
            .into_iter()
            .flatten()
        {
            cut(text, MAX_METADATA_FIELD_BYTES);
        }
        self.extra = std::mem::take(&mut self.extra)
            .into_iter()
            .map(|(mut name, mut value)| {
                cut(&mut name, MAX_METADATA_FIELD_BYTES);
                cut(&mut value, MAX_METADATA_FIELD_BYTES);
                (name, value)
            })
            .collect();
        let size = serde_json::to_string(&self).map_or(usize::MAX, |json| json.len());
        if size > MAX_METADATA_BYTES {
            return Err(crate::SessionError::MetadataTooLarge {
                size,
                limit: MAX_METADATA_BYTES,
            });
        }
        Ok(self)
    }
}

/// Cuts `text` to at most `max` bytes, at a character boundary.
fn cut(text: &mut String, max: usize) {
    if text.len() > max {
        let end = (0..=max)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(end);
    }
}

fn lenient_cookie<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<CookieLifetime>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(CookieLifetime::deserialize(value).ok())
}

/// One active session as a store returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The stored format's version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The stable, shareable id.
    pub public_id: PublicId,
    /// Who is signed in, if anyone.
    pub user: Option<UserId>,
    /// When the session was created.
    pub created_at: Timestamp,
    /// When activity last pushed the idle deadline (to the precision of the
    /// refresh threshold).
    pub last_seen_at: Timestamp,
    /// This session's idle timeout (the policy's, or its own override).
    pub idle_timeout: Duration,
    /// When the session expires unless activity pushes this forward; never
    /// past `absolute_deadline`.
    pub idle_deadline: Timestamp,
    /// When the session expires whatever happens.
    pub absolute_deadline: Timestamp,
    /// Client facts.
    pub metadata: Metadata,
    /// Application data: string keys to JSON values.
    pub data: BTreeMap<String, serde_json::Value>,
}

impl SessionRecord {
    /// When the session expires if nothing else happens: the idle deadline,
    /// itself capped by the absolute one.
    pub fn expires_at(&self) -> Timestamp {
        self.idle_deadline.min(self.absolute_deadline)
    }

    /// A device-list view of this record.
    pub fn summary(&self) -> SessionSummary {
        SessionSummary {
            public_id: self.public_id,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at(),
            absolute_deadline: self.absolute_deadline,
            metadata: self.metadata.clone(),
        }
    }
}

/// What a "your devices" list shows about one session. It holds nothing that
/// lets anyone act as the session. Serializes with RFC 3339 times:
///
/// ```
/// # use session_core::{Metadata, PublicId, SessionSummary, Timestamp};
/// let t = Timestamp::from_unix_millis(0);
/// let summary = SessionSummary {
///     public_id: PublicId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap(),
///     created_at: t, last_seen_at: t, expires_at: t, absolute_deadline: t,
///     metadata: Metadata::default(),
/// };
/// let json = serde_json::to_value(&summary).unwrap();
/// assert_eq!(json["created_at"], "1970-01-01T00:00:00Z");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionSummary {
    /// The session's public id (what "revoke that device" takes).
    pub public_id: PublicId,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last seen (to the precision of the refresh threshold).
    pub last_seen_at: Timestamp,
    /// When it expires unless used.
    pub expires_at: Timestamp,
    /// When it expires whatever happens.
    pub absolute_deadline: Timestamp,
    /// Client facts.
    pub metadata: Metadata,
}

/// One entry of the signed-in user's "your devices" list
/// ([`crate::Session::devices`]): the session's summary, and whether it is
/// the session asking. Serializes as the summary's fields plus `current`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// True for the session of the request that asked.
    pub current: bool,
    /// The session.
    #[serde(flatten)]
    pub summary: SessionSummary,
}

#[cfg(test)]
mod tests {
    #[test]
    fn metadata_texts_are_cut_at_a_character_boundary() {
        let m = Metadata {
            user_agent: Some("é".repeat(400)), // 800 bytes
            device: Some("phone".into()),
            extra: [("k".repeat(600), "v".repeat(600))].into_iter().collect(),
            ..Metadata::default()
        }
        .bounded()
        .expect("within the whole cap once cut");
        let ua = m.user_agent.expect("kept");
        assert_eq!(ua.len(), 512, "cut to the field cap");
        assert!(ua.chars().all(|c| c == 'é'), "no half character");
        assert_eq!(m.device.as_deref(), Some("phone"), "short texts untouched");
        let (name, value) = m.extra.into_iter().next().expect("kept");
        assert_eq!((name.len(), value.len()), (512, 512));
    }

    #[test]
    fn metadata_over_the_whole_cap_is_refused() {
        let m = Metadata {
            extra: (0..8).map(|i| (format!("k{i}"), "v".repeat(500))).collect(),
            ..Metadata::default()
        };
        match m.bounded() {
            Err(crate::SessionError::MetadataTooLarge { size, limit }) => {
                assert!(size > limit);
                assert_eq!(limit, MAX_METADATA_BYTES);
            }
            other => panic!("expected MetadataTooLarge, got {other:?}"),
        }
    }

    use super::*;

    #[test]
    fn the_cookie_choice_round_trips_and_a_stray_value_reads_as_none() {
        let m = Metadata {
            cookie: Some(CookieLifetime::BrowserSession),
            ..Metadata::default()
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(text, r#"{"cookie":"browser-session"}"#);
        assert_eq!(serde_json::from_str::<Metadata>(&text).unwrap(), m);
        let stray: Metadata =
            serde_json::from_str(r#"{"device":"phone","cookie":"consent given"}"#).unwrap();
        assert_eq!(stray.cookie, None);
        assert_eq!(stray.device.as_deref(), Some("phone"));
    }
}
