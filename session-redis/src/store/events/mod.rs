//! The lifecycle stream on Redis: one stream per bucket, `P:{bN}:a:events`
//! (in the slot of the bucket's analytics keys), written by the scripts in
//! the same step as the change each event records (prelude.lua's `event`),
//! and read here: consumer groups, acknowledgements, the expiry sweep, the
//! tail of one bucket's stream and a user's recent events.
//!
//! An entry's fields, always these five in this order (so Redis keeps
//! their names once per stream node, not per entry):
//!
//! | field | holds |
//! | --- | --- |
//! | `k` | the kind: [`EventKind::code`](session_core::events::EventKind::code) (`signed_in`, `rotated`, `ended`) |
//! | `p` | the public id |
//! | `u` | the user id; empty for an anonymous session |
//! | `r` | the end reason's stored form ([`EndReason::to_stored`]); empty unless `ended` |
//! | `t` | when, in ms since the epoch: the step's `now`, or for an expiry the deadline that passed |
//!
//! The event's [`EventKey`] is `b<N>/<entry id>`. An entry that does not
//! decode is skipped with a warning, and a group read acknowledges it, so
//! one damaged entry never blocks a group (guarantee 13); a pending entry
//! trimmed from the stream before it was acknowledged is acknowledged and
//! skipped too. Every read is non-blocking (no `BLOCK`: the connection is
//! shared).

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;

use session_core::events::{ConsumerName, EventKey, ReadFrom, SessionEvent, StreamCursor};
use session_core::store::SlotTag;

use super::*;
use crate::keys::BUCKETS;

mod entries;

use entries::{Entry, bucket_of, decode, entries, no_group, read_reply};

/// How many of a bucket's newest entries [`RedisStore::stream_user_events`]
/// scans for the user's.
const USER_SCAN: usize = 2000;

/// How many pages of a group's pending entries one abandoned-events read
/// walks at most (`XAUTOCLAIM` pages through them).
const CLAIM_PAGES: usize = 8;

/// The consumer groups this process made sure exist, by group and bucket,
/// so that a read does not send `XGROUP CREATE` every time. Forgotten when
/// a read answers `NOGROUP` (the stream expired, or was deleted).
#[derive(Debug, Default)]
pub(crate) struct KnownGroups(Mutex<HashSet<(String, u32)>>);

impl KnownGroups {
    fn has(&self, group: &str, bucket: u32) -> bool {
        self.0
            .lock()
            .map(|g| g.contains(&(group.to_owned(), bucket)))
            .unwrap_or(false)
    }

    fn set(&self, group: &str, bucket: u32, known: bool) {
        if let Ok(mut g) = self.0.lock() {
            if known {
                g.insert((group.to_owned(), bucket));
            } else {
                g.remove(&(group.to_owned(), bucket));
            }
        }
    }
}

/// A boxed future of one bucket's call.
type BucketCall<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs `calls` concurrently (on a multiplexed connection they share
/// round trips; on Cluster each goes to its bucket's node) and returns
/// their outputs in order.
async fn join_all<T>(calls: Vec<BucketCall<'_, T>>) -> Vec<T> {
    let mut calls: Vec<Option<BucketCall<'_, T>>> = calls.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = calls.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, result) in calls.iter_mut().zip(out.iter_mut()) {
            if let Some(call) = slot {
                match call.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

impl RedisStore {
    /// [`SessionStore::read_events`]: every bucket's stream, concurrently.
    pub(super) async fn stream_read(
        &self,
        name: &ConsumerName,
        from: ReadFrom,
        max: usize,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let calls: Vec<BucketCall<'_, Result<Vec<SessionEvent>, StoreFailure>>> = (0..BUCKETS)
            .map(|b| Box::pin(self.read_bucket(b, name, from, max)) as BucketCall<'_, _>)
            .collect();
        let mut all = Vec::new();
        for read in join_all(calls).await {
            all.extend(read?);
        }
        Ok(all)
    }

    /// One bucket's read, its group made first when this process has not
    /// seen it (again after `NOGROUP`: the read did not run).
    async fn read_bucket(
        &self,
        bucket: u32,
        name: &ConsumerName,
        from: ReadFrom,
        max: usize,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        if !self.groups.has(name.group(), bucket) {
            self.make_group(bucket, name.group()).await?;
        }
        let list = match self.read_once(bucket, name, from, max).await {
            Err(f) if no_group(&f) => {
                self.groups.set(name.group(), bucket, false);
                self.make_group(bucket, name.group()).await?;
                self.read_once(bucket, name, from, max).await?
            }
            other => other?,
        };
        let (events, skipped) = decode(bucket, list);
        if !skipped.is_empty() {
            self.ack_bucket(bucket, name.group(), &skipped).await?;
        }
        Ok(events)
    }

    /// `group.lua`: the group on `bucket`'s stream, from the start.
    async fn make_group(&self, bucket: u32, group: &str) -> Result<(), StoreFailure> {
        let keys = [self.keys.events(bucket)];
        self.run(&scripts::GROUP, &keys, vec![group.to_owned()])
            .await?;
        self.groups.set(group, bucket, true);
        Ok(())
    }

    /// One `XREADGROUP` (pending: from `0`; new: `>`) or, for abandoned
    /// events, `XAUTOCLAIM` pages until `max` entries or the end.
    async fn read_once(
        &self,
        bucket: u32,
        name: &ConsumerName,
        from: ReadFrom,
        max: usize,
    ) -> Result<Vec<Entry>, StoreFailure> {
        let key = self.keys.events(bucket);
        let idle = match from {
            ReadFrom::Pending | ReadFrom::New => {
                let start = if from == ReadFrom::New { ">" } else { "0" };
                let mut read = redis::cmd("XREADGROUP");
                read.arg("GROUP")
                    .arg(name.group())
                    .arg(name.consumer())
                    .arg("COUNT")
                    .arg(max)
                    .arg("STREAMS")
                    .arg(key)
                    .arg(start);
                return read_reply(self.conn.query(&read).await?);
            }
            ReadFrom::Abandoned(idle) => u64::try_from(idle.as_millis()).unwrap_or(u64::MAX),
        };
        let mut out = Vec::new();
        let mut cursor = "0-0".to_owned();
        for _ in 0..CLAIM_PAGES {
            let mut claim = redis::cmd("XAUTOCLAIM");
            claim
                .arg(key)
                .arg(name.group())
                .arg(name.consumer())
                .arg(idle)
                .arg(&cursor)
                .arg("COUNT")
                .arg(max - out.len());
            let reply = codec::array(self.conn.query(&claim).await?)?;
            let mut parts = reply.into_iter();
            let (Some(next), Some(list)) = (parts.next(), parts.next()) else {
                return Err(StoreFailure::Corrupt("a short XAUTOCLAIM reply".into()));
            };
            out.extend(entries(list)?);
            cursor = codec::text(&next)?;
            if cursor == "0-0" || out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// `XACK` of `ids` on `bucket`'s stream for `group`.
    async fn ack_bucket(
        &self,
        bucket: u32,
        group: &str,
        ids: &[String],
    ) -> Result<(), StoreFailure> {
        let mut ack = redis::cmd("XACK");
        ack.arg(self.keys.events(bucket)).arg(group).arg(ids);
        self.conn.query(&ack).await?;
        Ok(())
    }

    /// [`SessionStore::ack_events`]: one `XACK` per bucket named, keys of
    /// other stores ignored.
    pub(super) async fn stream_ack(
        &self,
        name: &ConsumerName,
        keys: &[EventKey],
    ) -> Result<(), StoreFailure> {
        let mut by_bucket: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for key in keys {
            if let Some(b) = bucket_of(key) {
                by_bucket
                    .entry(b)
                    .or_default()
                    .push(key.position().to_owned());
            }
        }
        let calls: Vec<BucketCall<'_, Result<(), StoreFailure>>> = by_bucket
            .iter()
            .map(|(b, ids)| Box::pin(self.ack_bucket(*b, name.group(), ids)) as BucketCall<'_, _>)
            .collect();
        for acked in join_all(calls).await {
            acked?;
        }
        Ok(())
    }

    /// [`SessionStore::sweep_expired`]: `sweep.lua` on every bucket,
    /// concurrently (on Cluster each goes to its bucket's node).
    pub(super) async fn stream_sweep(
        &self,
        max: usize,
        cx: &StoreContext,
    ) -> Result<u64, StoreFailure> {
        let args = vec![at(cx.now), ms(cx.ended_retention), max.max(1).to_string()];
        let calls: Vec<BucketCall<'_, Result<Value, StoreFailure>>> = (0..BUCKETS)
            .map(|b| {
                let keys = self.keys.analytics(b);
                Box::pin(self.run(&scripts::SWEEP, keys, args.clone())) as BucketCall<'_, _>
            })
            .collect();
        let (mut expired, mut damaged) = (0u64, 0u64);
        for reply in join_all(calls).await {
            let reply = codec::array(reply?)?;
            let [n, bad] = reply.as_slice() else {
                return Err(StoreFailure::Corrupt(
                    "a sweep reply is not two counts".into(),
                ));
            };
            expired += codec::int(n)?.max(0) as u64;
            damaged += codec::int(bad)?.max(0) as u64;
        }
        if damaged > 0 {
            tracing::warn!(
                target: "session_redis",
                damaged,
                "the expiry sweep found damaged session records (times that do not decode) and ended them where they lay"
            );
        }
        Ok(expired)
    }

    /// [`SessionStore::tail_events`]: `XRANGE` after the cursor on the
    /// stream of `slot`'s bucket; without a cursor, the stream's last id
    /// (`0-0` when empty).
    pub(super) async fn stream_tail(
        &self,
        slot: SlotTag,
        after: Option<&StreamCursor>,
        max: usize,
    ) -> Result<(Vec<SessionEvent>, StreamCursor), StoreFailure> {
        let bucket = KeyLayout::bucket(slot);
        let key = self.keys.events(bucket);
        let Some(after) = after else {
            let mut last = redis::cmd("XREVRANGE");
            last.arg(key).arg("+").arg("-").arg("COUNT").arg(1);
            let list = entries(self.conn.read(&last).await?)?;
            let id = list
                .into_iter()
                .next()
                .map_or_else(|| "0-0".to_owned(), |e| e.id);
            return Ok((Vec::new(), StreamCursor(id)));
        };
        if max == 0 {
            return Ok((Vec::new(), after.clone()));
        }
        let mut range = redis::cmd("XRANGE");
        range
            .arg(key)
            .arg(format!("({}", after.0))
            .arg("+")
            .arg("COUNT")
            .arg(max);
        let list = entries(self.conn.read(&range).await?)?;
        let cursor = list
            .last()
            .map_or_else(|| after.clone(), |e| StreamCursor(e.id.clone()));
        let (events, _) = decode(bucket, list);
        Ok((events, cursor))
    }

    /// [`SessionStore::user_events`]: the newest [`USER_SCAN`] entries of
    /// the user's bucket's stream (every session of the user is filed
    /// there), the user's, newest first.
    pub(super) async fn stream_user_events(
        &self,
        user: &UserKey,
        max: usize,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        let bucket = KeyLayout::bucket(user.slot);
        let mut range = redis::cmd("XREVRANGE");
        range
            .arg(self.keys.events(bucket))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(USER_SCAN);
        let (events, _) = decode(bucket, entries(self.conn.read(&range).await?)?);
        Ok(events
            .into_iter()
            .filter(|e| e.user.as_ref() == Some(&user.user))
            .take(max)
            .collect())
    }
}
