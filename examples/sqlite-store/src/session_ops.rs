//! The steps on one session: create, load, apply, increment, take and
//! rotate. Each runs inside one `BEGIN IMMEDIATE` transaction (see
//! [`crate::SqliteStore`]), after the sweep, so every judgement (active or
//! not, the data cap, the per-user limit) and the write that follows it
//! are one atomic step. Refusals are decided before anything is written.

use rusqlite::Transaction;
use session_core::store::{
    Applied, CreateError, Created, Delta, Loaded, NewSession, RotateError, Rotation, StoreContext,
    UpdateError, idle_deadline,
};
use session_core::{EndReason, PublicId, StoreFailure, UserLimit};

use crate::data;
use crate::lifecycle::{end, make_room};
use crate::rows::{self, Abort, Found, Live, Step, metadata_json};

/// The live session under `key`, or the refusal a write gets.
fn live(tx: &Transaction<'_>, key: &str) -> Result<Result<Live, UpdateError>, Abort> {
    Ok(match rows::find(tx, key)? {
        Found::Unknown => Err(UpdateError::UnknownId),
        Found::Ended(ending) => Err(UpdateError::Ended(ending)),
        Found::Live(live) => Ok(live),
    })
}

/// Pushes the idle deadline when a refresh is due, and saves it.
fn refresh_if_due(
    tx: &Transaction<'_>,
    key: &str,
    live: &mut Live,
    cx: &StoreContext,
) -> Result<bool, Abort> {
    let due = live.refresh_due(cx);
    if due {
        live.touch(cx.now);
        rows::save_times(tx, key, live)?;
    }
    Ok(due)
}

pub(crate) fn create(
    tx: &Transaction<'_>,
    session: &NewSession,
    limit: UserLimit,
    cx: &StoreContext,
) -> Step<Vec<PublicId>, CreateError> {
    let key = crate::row_key(&session.key);
    if rows::exists(tx, &key)? {
        return Ok(Err(CreateError::DuplicateId));
    }
    let user = session.user.as_ref().map(|u| u.user.as_str().to_owned());
    let evicted = match &user {
        Some(u) => match make_room(tx, u, limit, None, cx)? {
            Ok(evicted) => evicted,
            Err(limit) => return Ok(Err(CreateError::LimitReached { limit })),
        },
        None => Vec::new(),
    };
    let live = Live {
        public_id: session.public_id.as_str().to_owned(),
        counted: user.is_some() || cx.anonymous_analytics,
        user,
        created_at: cx.now,
        last_seen_at: cx.now,
        idle_timeout: session.idle_timeout,
        idle_deadline: idle_deadline(cx.now, session.idle_timeout, session.absolute_deadline),
        absolute_deadline: session.absolute_deadline,
        metadata: metadata_json(&session.metadata)?,
    };
    rows::insert(tx, &key, &live)?;
    for (name, json) in &session.data {
        data::set(tx, &key, name, json)?;
    }
    Ok(Ok(evicted))
}

pub(crate) fn load(
    tx: &Transaction<'_>,
    key: &str,
    cx: &StoreContext,
) -> Step<Loaded, StoreFailure> {
    let mut live = match rows::find(tx, key)? {
        Found::Unknown => return Ok(Ok(Loaded::Unknown)),
        Found::Ended(ending) => return Ok(Ok(Loaded::Ended(ending))),
        Found::Live(live) => live,
    };
    // Decode first: a damaged record is reported, and nothing is written.
    let mut record = match live.record(tx, key)? {
        Ok(record) => record,
        Err(e) => return Ok(Err(e)),
    };
    let refreshed = refresh_if_due(tx, key, &mut live, cx)?;
    record.last_seen_at = live.last_seen_at;
    record.idle_deadline = live.idle_deadline;
    Ok(Ok(Loaded::Active { record, refreshed }))
}

pub(crate) fn apply(
    tx: &Transaction<'_>,
    key: &str,
    delta: &Delta,
    cx: &StoreContext,
) -> Step<Applied, UpdateError> {
    let mut live = match live(tx, key)? {
        Ok(live) => live,
        Err(refused) => return Ok(Err(refused)),
    };
    let (before, after) = data::sizes_with(tx, key, delta)?;
    if data::over_cap(before, after, cx) {
        return Ok(Err(UpdateError::TooLarge {
            size: after,
            limit: cx.max_data_bytes,
        }));
    }
    data::write(tx, key, delta)?;
    if let Some(metadata) = &delta.metadata {
        let mut stmt = tx.prepare_cached("UPDATE sessions SET metadata = ?2 WHERE key = ?1")?;
        stmt.execute(rusqlite::params![key, metadata_json(metadata)?])?;
    }
    if let Some(timeout) = delta.idle_timeout {
        live.idle_timeout = timeout;
    }
    if live.refresh_due(cx) || delta.idle_timeout.is_some() {
        live.touch(cx.now);
        rows::save_times(tx, key, &live)?;
    }
    Ok(Ok(Applied {
        idle_deadline: live.idle_deadline,
        absolute_deadline: live.absolute_deadline,
    }))
}

pub(crate) fn increment(
    tx: &Transaction<'_>,
    key: &str,
    field: &str,
    by: i64,
    cx: &StoreContext,
) -> Step<i64, UpdateError> {
    let mut live = match live(tx, key)? {
        Ok(live) => live,
        Err(refused) => return Ok(Err(refused)),
    };
    let not_an_integer = || UpdateError::NotAnInteger {
        key: field.to_owned(),
    };
    let old = data::get(tx, key, field)?;
    let current = match &old {
        None => 0,
        Some(json) => match serde_json::from_str::<i64>(json) {
            Ok(n) => n,
            Err(_) => return Ok(Err(not_an_integer())),
        },
    };
    let Some(next) = current.checked_add(by) else {
        return Ok(Err(not_an_integer()));
    };
    let text = next.to_string();
    let before = data::size(tx, key)?;
    let replaced = old.as_ref().map_or(0, |v| field.len() + v.len());
    let after = before.saturating_sub(replaced) + field.len() + text.len();
    if data::over_cap(before, after, cx) {
        return Ok(Err(UpdateError::TooLarge {
            size: after,
            limit: cx.max_data_bytes,
        }));
    }
    data::set(tx, key, field, &text)?;
    refresh_if_due(tx, key, &mut live, cx)?;
    Ok(Ok(next))
}

pub(crate) fn take(
    tx: &Transaction<'_>,
    key: &str,
    field: &str,
    cx: &StoreContext,
) -> Step<Option<String>, UpdateError> {
    let mut live = match live(tx, key)? {
        Ok(live) => live,
        Err(refused) => return Ok(Err(refused)),
    };
    // Read and remove in the same transaction: of two racing takes, the
    // second one's read runs after the first one's commit and finds nothing.
    let taken = data::get(tx, key, field)?;
    if taken.is_some() {
        data::remove(tx, key, field)?;
    }
    refresh_if_due(tx, key, &mut live, cx)?;
    Ok(Ok(taken))
}

pub(crate) fn rotate(
    tx: &Transaction<'_>,
    rotation: &Rotation,
    cx: &StoreContext,
) -> Step<Created, RotateError> {
    let (old, new) = (crate::row_key(&rotation.old), crate::row_key(&rotation.new));
    let mut live = match rows::find(tx, &old)? {
        Found::Unknown => return Ok(Err(RotateError::UnknownId)),
        Found::Ended(ending) => return Ok(Err(RotateError::Ended(ending))),
        Found::Live(live) => live,
    };
    if rows::exists(tx, &new)? {
        return Ok(Err(RotateError::DuplicateId));
    }
    let (before, after) = data::sizes_with(tx, &old, &rotation.delta)?;
    if data::over_cap(before, after, cx) {
        return Ok(Err(RotateError::TooLarge {
            size: after,
            limit: cx.max_data_bytes,
        }));
    }
    let mut evicted = Vec::new();
    if let Some(sign_in) = &rotation.sign_in {
        let user = sign_in.user.user.as_str();
        if live.user.as_deref().is_some_and(|u| u != user) {
            return Ok(Err(RotateError::OtherUser));
        }
        evicted = match make_room(tx, user, sign_in.limit, Some(&old), cx)? {
            Ok(evicted) => evicted,
            Err(limit) => return Ok(Err(RotateError::LimitReached { limit })),
        };
        live.user = Some(user.to_owned());
        live.counted = true;
        live.created_at = cx.now;
        live.absolute_deadline = sign_in.absolute_deadline;
    }
    if let Some(metadata) = &rotation.delta.metadata {
        live.metadata = metadata_json(metadata)?;
    }
    if let Some(timeout) = rotation.delta.idle_timeout {
        live.idle_timeout = timeout;
    }
    live.touch(cx.now);
    // The old key ends (its data is moved first, so the tombstone takes
    // none), then the session is filed under the new key: one transaction,
    // so no reader sees both or neither, and of two racing rotations the
    // second finds the old key ended.
    data::rename(tx, &old, &new)?;
    data::write(tx, &new, &rotation.delta)?;
    let record = match live.record(tx, &new)? {
        Ok(record) => record,
        // Rolls the move back: a damaged record is reported, not moved.
        Err(e) => return Err(Abort(e)),
    };
    end(tx, &old, &EndReason::Rotated, cx.now, cx)?;
    rows::insert(tx, &new, &live)?;
    Ok(Ok(Created { record, evicted }))
}
