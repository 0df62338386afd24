//! The steps that end sessions on purpose (invalidate, revoke one device,
//! revoke all), a user's list and count, the analytics, and the slot key's
//! fingerprint. Each runs inside one transaction after the sweep.

use rusqlite::{OptionalExtension, Transaction, params};
use session_core::store::{Page, PageRequest, SlotKeyPin, StoreContext};
use session_core::{EndReason, PublicId, SessionSummary, StoreFailure, UserId};

use crate::lifecycle::{end, end_all};
use crate::rows::{self, Step};

pub(crate) fn invalidate(
    tx: &Transaction<'_>,
    key: &str,
    reason: &EndReason,
    cx: &StoreContext,
) -> Step<Option<PublicId>, StoreFailure> {
    Ok(match end(tx, key, reason, cx.now, cx)? {
        None => Ok(None),
        // Ended all the same; the caller hears that the row was damaged.
        Some(text) => PublicId::parse(&text)
            .map(Some)
            .map_err(|_| rows::corrupt("an ended session's public id does not parse")),
    })
}

pub(crate) fn revoke_by_public_id(
    tx: &Transaction<'_>,
    user: &str,
    public_id: &PublicId,
    reason: &EndReason,
    cx: &StoreContext,
) -> Step<bool, StoreFailure> {
    let key: Option<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT key FROM sessions \
             WHERE user = ?1 AND public_id = ?2 AND ended_reason IS NULL",
        )?;
        stmt.query_row(params![user, public_id.as_str()], |row| row.get(0))
            .optional()?
    };
    Ok(Ok(match key {
        Some(key) => end(tx, &key, reason, cx.now, cx)?.is_some(),
        None => false,
    }))
}

/// Every live session of `user` but `except`, read and ended in one
/// transaction: a cut. A login that commits after it is not touched; one
/// that committed before it is ended. One pass over the user's sessions.
pub(crate) fn revoke_all(
    tx: &Transaction<'_>,
    user: &str,
    except: Option<&PublicId>,
    reason: &EndReason,
    cx: &StoreContext,
) -> Step<Vec<PublicId>, StoreFailure> {
    let keys: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT key FROM sessions WHERE user = ?1 AND ended_reason IS NULL \
             AND public_id IS NOT ?2",
        )?;
        let rows = stmt.query_map(params![user, except.map(PublicId::as_str)], |row| {
            row.get(0)
        })?;
        rows.collect::<Result<_, _>>()?
    };
    Ok(Ok(end_all(tx, &keys, reason, cx)?))
}

pub(crate) fn list_user_sessions(
    tx: &Transaction<'_>,
    user: &str,
) -> Step<Vec<SessionSummary>, StoreFailure> {
    let mut list = Vec::new();
    for (_, live) in rows::of_user(tx, user)? {
        // One damaged session leaves the list, reported, not the list.
        match live.summary() {
            Ok(summary) => list.push(summary),
            Err(e) => rows::warn_damaged(&e),
        }
    }
    list.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.public_id)));
    Ok(Ok(list))
}

pub(crate) fn count_user_sessions(tx: &Transaction<'_>, user: &str) -> Step<u64, StoreFailure> {
    let mut stmt = tx.prepare_cached("SELECT live FROM users WHERE user = ?1")?;
    let live: Option<i64> = stmt.query_row([user], |row| row.get(0)).optional()?;
    Ok(Ok(live.map_or(0, |n| u64::try_from(n).unwrap_or(0))))
}

/// A counter the triggers keep (`active` or `users`).
pub(crate) fn counter(tx: &Transaction<'_>, name: &str) -> Step<u64, StoreFailure> {
    let mut stmt = tx.prepare_cached("SELECT value FROM counters WHERE name = ?1")?;
    let value: Option<i64> = stmt.query_row([name], |row| row.get(0)).optional()?;
    Ok(match value {
        Some(n) => u64::try_from(n).map_err(|_| rows::corrupt(format!("counter {name} is {n}"))),
        None => Err(rows::corrupt(format!("counter {name} is missing"))),
    })
}

pub(crate) fn active_users(tx: &Transaction<'_>, page: &PageRequest) -> Step<Page, StoreFailure> {
    let limit = page.limit.clamp(1, 1000);
    // One more than the page, to know whether another page follows.
    let fetch = i64::from(limit) + 1;
    let names: Vec<String> = match &page.after {
        Some(after) => {
            let mut stmt =
                tx.prepare_cached("SELECT user FROM users WHERE user > ?1 ORDER BY user LIMIT ?2")?;
            let rows = stmt.query_map(params![after.as_str(), fetch], |row| row.get(0))?;
            rows.collect::<Result<_, _>>()?
        }
        None => {
            let mut stmt = tx.prepare_cached("SELECT user FROM users ORDER BY user LIMIT ?1")?;
            let rows = stmt.query_map([fetch], |row| row.get(0))?;
            rows.collect::<Result<_, _>>()?
        }
    };
    let more = names.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    let mut users = Vec::with_capacity(names.len());
    for name in names
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
    {
        match UserId::new(name) {
            Ok(user) => users.push(user),
            Err(e) => rows::warn_damaged(&rows::corrupt(e)),
        }
    }
    let next = if more { users.last().cloned() } else { None };
    Ok(Ok(Page { users, next }))
}

pub(crate) fn pin_slot_key(
    tx: &Transaction<'_>,
    fingerprint: &str,
) -> Step<SlotKeyPin, StoreFailure> {
    let mut keep = tx.prepare_cached(
        "INSERT INTO settings (name, value) VALUES ('slot_key', ?1) ON CONFLICT (name) DO NOTHING",
    )?;
    keep.execute([fingerprint])?;
    let mut read = tx.prepare_cached("SELECT value FROM settings WHERE name = 'slot_key'")?;
    let kept: String = read.query_row([], |row| row.get(0))?;
    Ok(Ok(if kept == fingerprint {
        SlotKeyPin::Same
    } else {
        SlotKeyPin::Changed
    }))
}
