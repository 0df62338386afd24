//! The lifecycle stream: what happened to sessions, recorded by the store
//! in the same atomic step as the change, and read without loss.
//!
//! Every store step that signs a session in, rotates a signed-in session
//! or ends one (logout, revoke, revoke-all, eviction by the limit, and
//! expiry when the store observes it) appends a [`SessionEvent`] to a
//! bounded stream. Anonymous sessions are recorded only with anonymous
//! analytics on ([`crate::SessionConfigBuilder::with_anonymous_analytics`]).
//!
//! Two readers use it:
//!
//! - [`EventConsumer`] ([`crate::SessionManager::events`]): a consumer
//!   group member that hands each event to the application once, with an
//!   idempotency key ([`EventKey`]), and resumes after a crash. It also runs
//!   the expiry sweep, so sessions nobody touches still get their `ended`
//!   event.
//! - [`crate::Session::ended`]: a future that resolves when a session ends
//!   (for a page that waits on Server-Sent Events).
//!
//! # Delivery
//!
//! An event is handed to the application **at least once**; within one
//! running consumer, **exactly once** (a key handed out is not handed out
//! again, even when an acknowledgement's reply is lost). After a crash, the
//! events the crashed consumer had received but not acknowledged are handed
//! out again: a handler that records the [`EventKey`]s it has done, in the
//! same transaction as its effect, is exactly once end to end.
//!
//! An `expired` event is written at most one sweep interval
//! ([`ConsumerOptions::sweep_every`]) after the deadline while a consumer
//! runs, provided the sweep interval is shorter than the store's grace for
//! unobserved expiries (the Redis store keeps an expired signed-in session
//! for the ended-session retention; the memory store until the next call).

mod consumer;
pub(crate) mod watch;

pub use consumer::{ConsumerOptions, EventConsumer};
pub(crate) use watch::EndWatcher;

use std::fmt;
use std::time::Duration;

use crate::ending::EndReason;
use crate::id::PublicId;
use crate::time::Timestamp;
use crate::user::UserId;

/// The most events a stream keeps by default (per stream: the Redis store
/// has one per bucket); older ones are trimmed.
pub const DEFAULT_STREAM_LENGTH: u64 = 10_000;

/// The oldest event a stream keeps by default: a week.
pub const DEFAULT_STREAM_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// What happened to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The session was signed in (created for a user, or an anonymous
    /// session that signed in).
    SignedIn,
    /// A signed-in session moved to a new id; it lives on with the same
    /// public id.
    Rotated,
    /// The session ended; [`SessionEvent::reason`] says why.
    Ended,
}

impl EventKind {
    /// `signed_in`, `rotated` or `ended`.
    pub fn code(self) -> &'static str {
        match self {
            EventKind::SignedIn => "signed_in",
            EventKind::Rotated => "rotated",
            EventKind::Ended => "ended",
        }
    }

    /// The kind a [`Self::code`] names.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "signed_in" => Some(EventKind::SignedIn),
            "rotated" => Some(EventKind::Rotated),
            "ended" => Some(EventKind::Ended),
            _ => None,
        }
    }
}

impl serde::Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// An event's idempotency key: the stream it is in and its position there,
/// unique for the stream's life (`b12/1764770000000-3` on Redis). A handler
/// that must act exactly once records the keys it has done.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey(String);

impl EventKey {
    /// A key made by a store from its stream's name and the position.
    pub fn new(stream: &str, position: &str) -> Self {
        EventKey(format!("{stream}/{position}"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stream part (before the last `/`).
    pub fn stream(&self) -> &str {
        self.0.rsplit_once('/').map_or("", |(s, _)| s)
    }

    /// The position part (after the last `/`).
    pub fn position(&self) -> &str {
        self.0.rsplit_once('/').map_or(self.0.as_str(), |(_, p)| p)
    }
}

impl fmt::Debug for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventKey({})", self.0)
    }
}

impl fmt::Display for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for EventKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// One entry of the lifecycle stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    /// The idempotency key.
    pub key: EventKey,
    /// What happened.
    pub kind: EventKind,
    /// The session's public id (stable across rotation).
    pub public_id: PublicId,
    /// The session's user; `None` for an anonymous session.
    pub user: Option<UserId>,
    /// Why it ended (on [`EventKind::Ended`] only).
    pub reason: Option<EndReason>,
    /// When: the step's time, or for an expiry the deadline that passed.
    pub at: Timestamp,
}

/// A consumer group and this consumer's name in it: each group receives
/// every event once; its consumers share them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsumerName {
    group: String,
    consumer: String,
}

/// A group or consumer name that is not 1 to 64 letters, digits or `-_.`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a consumer group or consumer name must be 1 to 64 letters, digits or '-_.': {0:?}")]
pub struct ConsumerNameError(pub String);

impl ConsumerName {
    /// Consumer `consumer` of group `group` (each 1 to 64 letters, digits
    /// or `-_.`). Give each process its own consumer name, stable across
    /// its restarts, so that it resumes its own unacknowledged events.
    pub fn new(group: &str, consumer: &str) -> Result<Self, ConsumerNameError> {
        for name in [group, consumer] {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !ok {
                return Err(ConsumerNameError(name.to_owned()));
            }
        }
        Ok(ConsumerName {
            group: group.to_owned(),
            consumer: consumer.to_owned(),
        })
    }

    /// The group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The consumer.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }
}

/// Which events a group read asks the store for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// Events this consumer received before and has not acknowledged
    /// (after a restart, or a read whose reply was lost).
    Pending,
    /// Events no consumer of the group has received yet.
    New,
    /// Events other consumers of the group received and left
    /// unacknowledged for at least this long (they crashed): they move to
    /// this consumer.
    Abandoned(Duration),
}

/// Where a reader of one stream is ([`crate::store::SessionStore::tail_events`]):
/// opaque, made by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCursor(pub String);
