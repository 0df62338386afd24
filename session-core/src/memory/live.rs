//! One active session of the [`super::MemoryStore`]: its fields as stored
//! (data as JSON text), and what the store asks of it: its record, expiry
//! and refresh, and the data cap's count (guarantee 13).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::delta::Delta;
use crate::error::StoreFailure;
use crate::expiry::{idle_deadline, refresh_due};
use crate::id::PublicId;
use crate::record::{FORMAT_VERSION, Metadata, SessionRecord};
use crate::store::StoreContext;
use crate::time::Timestamp;
use crate::user::UserId;

/// An active session as the store keeps it.
#[derive(Debug, Clone)]
pub(super) struct Live {
    pub(super) public_id: PublicId,
    /// Whether `count_active` counts it (guarantee 11): signed in, or
    /// made while anonymous analytics were on.
    pub(super) counted: bool,
    pub(super) user: Option<UserId>,
    pub(super) created_at: Timestamp,
    pub(super) last_seen_at: Timestamp,
    pub(super) idle_timeout: Duration,
    pub(super) idle_deadline: Timestamp,
    pub(super) absolute_deadline: Timestamp,
    pub(super) metadata: Metadata,
    pub(super) data: BTreeMap<String, String>,
}

impl Live {
    /// Whether a call at `cx.now` pushes the idle deadline (less than the
    /// threshold left, and pushing it moves it later).
    pub(super) fn refresh_due(&self, cx: &StoreContext) -> bool {
        refresh_due(
            cx.now,
            self.idle_deadline,
            self.idle_timeout,
            self.absolute_deadline,
            cx.refresh_threshold,
        )
    }

    pub(super) fn expires_at(&self) -> Timestamp {
        self.idle_deadline.min(self.absolute_deadline)
    }

    pub(super) fn touch(&mut self, now: Timestamp) {
        self.last_seen_at = now;
        self.idle_deadline = idle_deadline(now, self.idle_timeout, self.absolute_deadline);
    }

    /// The data's size as [`StoreContext::max_data_bytes`] counts it: each
    /// key's length plus its stored value's.
    pub(super) fn data_size(&self) -> usize {
        self.data.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// Whether a change growing the data from `before` bytes to `after`
    /// goes past the cap, to be refused (guarantee 13: judged here, where
    /// the data is merged, so concurrent requests cannot add up). A change
    /// that does not grow the data always passes.
    pub(super) fn over_cap(before: usize, after: usize, cx: &StoreContext) -> bool {
        after > before && after > cx.max_data_bytes
    }

    /// The data's size once `delta` is applied.
    pub(super) fn data_size_after(&self, delta: &Delta) -> usize {
        let mut size = self.data_size();
        for (k, v) in &delta.data {
            if let Some(old) = self.data.get(k) {
                size -= k.len() + old.len();
            }
            if let Some(new) = v {
                size += k.len() + new.len();
            }
        }
        size
    }

    pub(super) fn apply(&mut self, delta: &Delta) {
        for (k, v) in &delta.data {
            match v {
                Some(json) => self.data.insert(k.clone(), json.clone()),
                None => self.data.remove(k),
            };
        }
        if let Some(m) = &delta.metadata {
            self.metadata = m.clone();
        }
        if let Some(t) = delta.idle_timeout {
            self.idle_timeout = t;
        }
    }

    pub(super) fn record(&self) -> Result<SessionRecord, StoreFailure> {
        let mut data = BTreeMap::new();
        for (k, v) in &self.data {
            let value = serde_json::from_str(v).map_err(|e| {
                StoreFailure::Corrupt(format!("data key {k:?} does not hold JSON: {e}"))
            })?;
            data.insert(k.clone(), value);
        }
        Ok(SessionRecord {
            format_version: FORMAT_VERSION,
            public_id: self.public_id,
            user: self.user.clone(),
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            idle_timeout: self.idle_timeout,
            idle_deadline: self.idle_deadline,
            absolute_deadline: self.absolute_deadline,
            metadata: self.metadata.clone(),
            data,
        })
    }
}
