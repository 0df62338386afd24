//! The changes one request made to a session (guarantee 2: saves write only
//! what changed).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::record::Metadata;

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

impl Delta {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.metadata.is_none() && self.idle_timeout.is_none()
    }
}
