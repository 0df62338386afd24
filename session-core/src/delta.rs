//! The changes one request made to a session (guarantee 2: saves write only
//! what changed).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::record::{Metadata, SessionRecord};
use crate::time::Timestamp;

/// What a save writes: only the keys that changed, plus optional metadata
/// and idle-timeout changes. Two overlapping requests that change different
/// keys therefore both take effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// Changed data keys: `Some(json)` sets the key to that JSON text, `None`
    /// removes it.
    pub data: BTreeMap<String, Option<String>>,
    /// New metadata, replacing the old.
    pub metadata: Option<Metadata>,
    /// A new idle timeout for this session.
    pub idle_timeout: Option<Duration>,
}

/// What the saving request saw of the session when it loaded it: not a
/// change, but what a store may use to write a [`Delta`] without judging
/// the session again. A store that does not use it ignores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AsLoaded {
    /// The session's times as this request loaded them (`None` when it did
    /// not load the session, or after a save). A store may write without
    /// re-judging a session whose stored times are still these (the Redis
    /// store does: two commands instead of a judgement), and must judge
    /// afresh otherwise.
    pub times: Option<LoadedTimes>,
    /// For each changed key that the loaded session held, the length of
    /// its JSON text as loaded. A store may write an overwrite no longer
    /// than what it replaces without judging the data cap again (the Redis
    /// store's plain save does, for small values).
    pub replaced: BTreeMap<String, usize>,
}

/// The times of a stored session, as a request loaded them: see
/// [`AsLoaded::times`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedTimes {
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last seen by the store.
    pub last_seen_at: Timestamp,
    /// Its idle timeout.
    pub idle_timeout: Duration,
    /// When it expires unless used.
    pub idle_deadline: Timestamp,
    /// When it expires regardless.
    pub absolute_deadline: Timestamp,
}

impl LoadedTimes {
    /// The times of `record`.
    pub fn of(record: &SessionRecord) -> Self {
        LoadedTimes {
            created_at: record.created_at,
            last_seen_at: record.last_seen_at,
            idle_timeout: record.idle_timeout,
            idle_deadline: record.idle_deadline,
            absolute_deadline: record.absolute_deadline,
        }
    }
}

impl Delta {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.metadata.is_none() && self.idle_timeout.is_none()
    }
}
