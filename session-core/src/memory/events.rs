//! The memory store's lifecycle stream: a bounded queue of events and its
//! consumer groups, kept under the store's one lock, so an event is
//! written in the same step as the change it records.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::ending::EndReason;
use crate::events::{
    ConsumerName, DEFAULT_STREAM_AGE, DEFAULT_STREAM_LENGTH, EventKey, EventKind, ReadFrom,
    SessionEvent, StreamCursor,
};
use crate::id::PublicId;
use crate::time::Timestamp;
use crate::user::UserId;

/// The stream's name in every [`EventKey`] of this store.
const STREAM: &str = "m";

/// One stream entry: its position, when it was written, and the event.
#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    written: Timestamp,
    kind: EventKind,
    public_id: PublicId,
    user: Option<UserId>,
    reason: Option<EndReason>,
    at: Timestamp,
}

impl Entry {
    fn event(&self) -> SessionEvent {
        SessionEvent {
            key: EventKey::new(STREAM, &self.seq.to_string()),
            kind: self.kind,
            public_id: self.public_id,
            user: self.user.clone(),
            reason: self.reason.clone(),
            at: self.at,
        }
    }
}

/// A consumer group: how far it has read, and what its consumers hold.
#[derive(Debug, Default)]
struct Group {
    /// The last position handed to any consumer.
    delivered: u64,
    /// Handed out, not acknowledged: position → (consumer, when).
    pending: BTreeMap<u64, (String, Timestamp)>,
}

/// The stream and its groups.
#[derive(Debug)]
pub(super) struct EventLog {
    entries: VecDeque<Entry>,
    next_seq: u64,
    groups: HashMap<String, Group>,
    max_len: usize,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog {
            entries: VecDeque::new(),
            next_seq: 1,
            groups: HashMap::new(),
            max_len: usize::try_from(DEFAULT_STREAM_LENGTH).unwrap_or(usize::MAX),
        }
    }
}

impl EventLog {
    /// Appends an event written at `now`, trimming by length and age.
    pub(super) fn push(
        &mut self,
        kind: EventKind,
        public_id: PublicId,
        user: Option<UserId>,
        reason: Option<EndReason>,
        at: Timestamp,
        now: Timestamp,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push_back(Entry {
            seq,
            written: now,
            kind,
            public_id,
            user,
            reason,
            at,
        });
        while self.entries.len() > self.max_len {
            self.entries.pop_front();
        }
        self.trim_by_age(now);
    }

    /// Drops entries older than [`DEFAULT_STREAM_AGE`] at `now`.
    pub(super) fn trim_by_age(&mut self, now: Timestamp) {
        while let Some(first) = self.entries.front() {
            if first.written.plus(DEFAULT_STREAM_AGE) > now {
                break;
            }
            self.entries.pop_front();
        }
    }

    /// How many entries the stream holds.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    fn entry(&self, seq: u64) -> Option<&Entry> {
        let first = self.entries.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.entries.get(i)
    }

    /// A group read (see [`ReadFrom`]).
    pub(super) fn read(
        &mut self,
        name: &ConsumerName,
        from: ReadFrom,
        max: usize,
        now: Timestamp,
    ) -> Vec<SessionEvent> {
        let mut group = self.groups.remove(name.group()).unwrap_or_default();
        let mut out = Vec::new();
        match from {
            ReadFrom::Pending => {
                let mine: Vec<u64> = group
                    .pending
                    .iter()
                    .filter(|(_, (c, _))| c == name.consumer())
                    .map(|(seq, _)| *seq)
                    .collect();
                for seq in mine {
                    if out.len() >= max {
                        break;
                    }
                    match self.entry(seq) {
                        Some(e) => out.push(e.event()),
                        // Trimmed before it was acknowledged: gone.
                        None => {
                            group.pending.remove(&seq);
                        }
                    }
                }
            }
            ReadFrom::Abandoned(idle) => {
                let theirs: Vec<u64> = group
                    .pending
                    .iter()
                    .filter(|(_, (c, at))| c != name.consumer() && at.plus(idle) <= now)
                    .map(|(seq, _)| *seq)
                    .take(max)
                    .collect();
                for seq in theirs {
                    if let Some(e) = self.entry(seq) {
                        out.push(e.event());
                        group.pending.insert(seq, (name.consumer().to_owned(), now));
                    } else {
                        group.pending.remove(&seq);
                    }
                }
            }
            ReadFrom::New => {
                let from = group.delivered;
                for e in self.entries.iter().filter(|e| e.seq > from) {
                    if out.len() >= max {
                        break;
                    }
                    group
                        .pending
                        .insert(e.seq, (name.consumer().to_owned(), now));
                    group.delivered = e.seq;
                    out.push(e.event());
                }
            }
        }
        self.groups.insert(name.group().to_owned(), group);
        out
    }

    /// Acknowledges `keys` for `name`'s group (keys of other stores are
    /// ignored).
    pub(super) fn ack(&mut self, name: &ConsumerName, keys: &[EventKey]) {
        let Some(group) = self.groups.get_mut(name.group()) else {
            return;
        };
        for key in keys {
            if key.stream() == STREAM
                && let Ok(seq) = key.position().parse::<u64>()
            {
                group.pending.remove(&seq);
            }
        }
    }

    /// The entries after `after` (none, and the end, without it).
    pub(super) fn tail(
        &self,
        after: Option<&StreamCursor>,
        max: usize,
    ) -> (Vec<SessionEvent>, StreamCursor) {
        let end = StreamCursor(self.next_seq.saturating_sub(1).to_string());
        let Some(after) = after else {
            return (Vec::new(), end);
        };
        let from: u64 = after.0.parse().unwrap_or(0);
        let events: Vec<SessionEvent> = self
            .entries
            .iter()
            .filter(|e| e.seq > from)
            .take(max)
            .map(Entry::event)
            .collect();
        let cursor = match events.last() {
            Some(last) => StreamCursor(last.key.position().to_owned()),
            None => end,
        };
        (events, cursor)
    }

    /// `user`'s most recent events, newest first.
    pub(super) fn of_user(&self, user: &UserId, max: usize) -> Vec<SessionEvent> {
        self.entries
            .iter()
            .rev()
            .filter(|e| e.user.as_ref() == Some(user))
            .take(max)
            .map(Entry::event)
            .collect()
    }
}
