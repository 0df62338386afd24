//! The steady-state save without a script: the changed keys written with
//! plain commands, `HSET` and `PEXPIRE … NX`, in one round trip.
//!
//! A save takes this path only when the request loaded the session live
//! with no refresh due, changes data alone (no metadata, no idle timeout,
//! no removal) and overwrites keys it loaded with values no longer than
//! they were, at most [`PLAIN_SAVE_MAX`] bytes in all (keys and stored
//! values). Everything else goes to `apply.lua`.
//!
//! Why it is safe without a script:
//!
//! - **Nothing comes back to life (guarantee 1).** A session is live when
//!   its hash holds `@` and no `@end`; `HSET` of data fields touches
//!   neither. A save that lost the race to an invalidation lands in the
//!   tombstone, which every load still reports ended.
//! - **The refusal is seen.** A tombstone holds no data field and a gone
//!   session no hash, and every field written is one the request loaded:
//!   so `HSET` answers 0 (fields added) exactly when each field was still
//!   there. Any other answer settles the save with `apply.lua` ('!'),
//!   which reports the session's state as for any save (ended with its
//!   reason, unknown) and takes out what the plain save wrote.
//! - **No key outlives its TTL (guarantee 7).** `PEXPIRE … NX` gives a TTL
//!   to a key that `HSET` created (the session was gone), no longer than
//!   the loaded session had left; a live key keeps its own. No deadline
//!   moves.
//! - **The data cap (guarantee 13).** An overwrite no longer than the
//!   value it replaced cannot grow the data past what `@size` counts; it
//!   leaves `@size` as it was (counting more than is stored, which the
//!   scripts count afresh before refusing a change). Only a save that
//!   overlapped another request's shrinking or removing the same key can
//!   put back bytes `@size` no longer counts: at most [`PLAIN_SAVE_MAX`]
//!   per such save.
//!
//! It is not sent again after a lost reply: a resend would find its own
//! fields and answer 0 for a save that reached a tombstone. The save is
//! settled by `apply.lua` instead, as when a field was added (its
//! operation id makes that script safe to send again).

use redis::Value;
use session_core::store::{Applied, AsLoaded, Delta, StoreContext};
use session_core::{PublicId, StoreFailure};

use crate::codec;
use crate::encryption::{EncryptionKeys, Field};
use crate::layout;

/// The most bytes (keys plus stored values) a plain save writes: small
/// values only, so that the bytes a racing save can put back past the
/// data cap stay small.
pub(crate) const PLAIN_SAVE_MAX: usize = 64;

/// A plain save: the fields to set and the TTL guard.
pub(super) struct PlainSave {
    /// `d:<key>`, stored value, …
    fields: Vec<String>,
    /// The TTL (ms) a key created by the save gets: what the loaded
    /// session had left.
    guard_ms: u64,
    applied: Applied,
}

/// What a plain save found.
pub(super) enum PlainOutcome {
    /// Every field was there: the save landed on the live session.
    Landed(Applied),
    /// A field was added: settle the save with `apply.lua`.
    Settle,
}

impl PlainSave {
    /// The plain save of `delta`, or `None` when it must take the script.
    pub(super) fn of(
        delta: &Delta,
        as_loaded: &AsLoaded,
        cx: &StoreContext,
        keys: Option<&EncryptionKeys>,
        public_id: &PublicId,
    ) -> Result<Option<Self>, StoreFailure> {
        let Some(times) = as_loaded.times else {
            return Ok(None);
        };
        if super::RedisStore::loaded_times(delta, as_loaded, cx).is_empty() || delta.data.is_empty()
        {
            return Ok(None);
        }
        let mut fields = Vec::with_capacity(delta.data.len() * 2);
        let mut bytes = 0;
        for (key, value) in &delta.data {
            let (Some(value), Some(&loaded)) = (value, as_loaded.replaced.get(key)) else {
                return Ok(None);
            };
            if value.len() > loaded {
                return Ok(None);
            }
            let stored = codec::seal(keys, Some(public_id), Field::Data(key), value)?;
            bytes += key.len() + stored.len();
            if bytes > PLAIN_SAVE_MAX {
                return Ok(None);
            }
            fields.push(format!("{}{key}", layout::DATA));
            fields.push(stored);
        }
        let ends = times.idle_deadline.min(times.absolute_deadline);
        Ok(Some(PlainSave {
            fields,
            guard_ms: ends
                .as_unix_millis()
                .saturating_sub(cx.now.as_unix_millis())
                .max(1),
            applied: Applied {
                idle_deadline: times.idle_deadline,
                absolute_deadline: times.absolute_deadline,
            },
        }))
    }

    /// The commands: `HSET session fields…`, `PEXPIRE session ttl NX`.
    pub(super) fn pipeline(&self, session: &str) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        pipe.cmd("HSET").arg(session).arg(&self.fields);
        pipe.cmd("PEXPIRE")
            .arg(session)
            .arg(self.guard_ms)
            .arg("NX");
        pipe
    }

    /// What the pipeline's reply says.
    pub(super) fn outcome(self, reply: Value) -> Result<PlainOutcome, StoreFailure> {
        let Value::Array(replies) = reply else {
            return Err(StoreFailure::Corrupt(format!(
                "a plain save answered {reply:?}, not a list"
            )));
        };
        match replies.first() {
            Some(Value::Int(0)) => Ok(PlainOutcome::Landed(self.applied)),
            Some(Value::Int(_)) => Ok(PlainOutcome::Settle),
            other => Err(StoreFailure::Corrupt(format!(
                "HSET of a plain save answered {other:?}"
            ))),
        }
    }
}
