//! Ending sessions: the tombstone (guarantees 1 and 8), the sweep that
//! expires sessions and forgets old tombstones as a side effect of every
//! call (guarantee 7: no cleanup job, bounded storage), and the per-user
//! limit (guarantee 4).

use rusqlite::{Transaction, params};
use session_core::store::StoreContext;
use session_core::{EndReason, LimitPolicy, PublicId, Timestamp, UserLimit};

use crate::data;
use crate::rows::{self, Abort, millis};

/// Ends the live session under `key` with `reason` at `at`: its row
/// becomes a tombstone (reason, time, when to forget it; no user, no
/// metadata, no data) kept until `at` plus the retention, or is deleted
/// at once when that is already past. Returns the public id's text if a
/// live session was ended. The triggers take it out of its user's count
/// and the analytics in the same statement.
pub(crate) fn end(
    tx: &Transaction<'_>,
    key: &str,
    reason: &EndReason,
    at: Timestamp,
    cx: &StoreContext,
) -> Result<Option<String>, Abort> {
    let forget_at = at.plus(cx.ended_retention);
    let mut stmt = tx.prepare_cached(
        "UPDATE sessions SET ended_reason = ?2, ended_at = ?3, forget_at = ?4, user = NULL, \
         metadata = '{}' WHERE key = ?1 AND ended_reason IS NULL RETURNING public_id",
    )?;
    let mut rows = stmt.query(params![
        key,
        reason.to_stored(),
        millis(at),
        millis(forget_at)
    ])?;
    // Read leniently: a damaged public id still lets the session end.
    let public_id = rows
        .next()?
        .map(|row| row.get::<_, String>(0).unwrap_or_default());
    drop(rows);
    if public_id.is_none() {
        return Ok(None);
    }
    data::clear(tx, key)?;
    if forget_at <= cx.now {
        let mut forget = tx.prepare_cached("DELETE FROM sessions WHERE key = ?1")?;
        forget.execute([key])?;
    }
    Ok(public_id)
}

/// Ends the sessions of `keys` with `reason` at `cx.now`, returning the
/// public ids of those it ended (a public id that does not parse is left
/// out of the answer, with a warning; its session ends all the same).
pub(crate) fn end_all(
    tx: &Transaction<'_>,
    keys: &[String],
    reason: &EndReason,
    cx: &StoreContext,
) -> Result<Vec<PublicId>, Abort> {
    let mut ended = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(text) = end(tx, key, reason, cx.now, cx)? {
            match PublicId::parse(&text) {
                Ok(id) => ended.push(id),
                Err(_) => rows::warn_damaged(&rows::corrupt(
                    "an ended session's public id does not parse",
                )),
            }
        }
    }
    Ok(ended)
}

/// Handles everything due at `cx.now`: a live session past its deadline
/// becomes an `expired` tombstone dated at its deadline (final: no later
/// call, whatever its clock, finds it active again), and tombstones past
/// their retention are deleted. Both through indexes: the work is what is
/// due, not the table.
pub(crate) fn sweep(tx: &Transaction<'_>, cx: &StoreContext) -> Result<(), Abort> {
    let now = millis(cx.now);
    let due: Vec<(String, i64)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT key, expires_at FROM sessions \
             WHERE ended_reason IS NULL AND expires_at <= ?1",
        )?;
        let rows = stmt.query_map([now], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (key, expires_at) in due {
        let at = rows::timestamp(expires_at).unwrap_or(cx.now);
        end(tx, &key, &EndReason::Expired, at, cx)?;
    }
    let mut forget = tx.prepare_cached(
        "DELETE FROM sessions WHERE ended_reason IS NOT NULL AND forget_at <= ?1",
    )?;
    forget.execute([now])?;
    Ok(())
}

/// Ends sessions of `user` until one more fits under `limit` (the live
/// session under `exclude`, the one signing in, does not count), or
/// refuses with the limit under `Deny`. Runs inside the step that adds the
/// session, so counting and evicting are one atomic step with it.
pub(crate) fn make_room(
    tx: &Transaction<'_>,
    user: &str,
    limit: UserLimit,
    exclude: Option<&str>,
    cx: &StoreContext,
) -> Result<Result<Vec<PublicId>, u32>, Abort> {
    let Some(max) = limit.max() else {
        return Ok(Ok(Vec::new()));
    };
    // Times are read leniently: a row whose times do not decode sorts
    // first, so a damaged session is the first one evicted.
    let mut sessions: Vec<(i64, i64, String)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT last_seen_at, created_at, key FROM sessions \
             WHERE user = ?1 AND ended_reason IS NULL",
        )?;
        let rows = stmt.query_map([user], |row| {
            let seen = row.get_ref(0)?.as_i64().unwrap_or(i64::MIN);
            let created = row.get_ref(1)?.as_i64().unwrap_or(i64::MIN);
            Ok((seen, created, row.get::<_, String>(2)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    sessions.retain(|(_, _, key)| Some(key.as_str()) != exclude);
    let max_len = usize::try_from(max).unwrap_or(usize::MAX);
    if sessions.len() < max_len {
        return Ok(Ok(Vec::new()));
    }
    match limit.policy() {
        LimitPolicy::Deny => return Ok(Err(max)),
        LimitPolicy::EvictOldest => {
            sessions.sort_by(|a, b| (a.1, a.0, &a.2).cmp(&(b.1, b.0, &b.2)));
        }
        _ => sessions.sort(),
    }
    let excess = sessions.len() + 1 - max_len;
    let keys: Vec<String> = sessions.into_iter().take(excess).map(|s| s.2).collect();
    Ok(Ok(end_all(tx, &keys, &EndReason::Limit, cx)?))
}
