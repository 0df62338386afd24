//! The `data` table: a live session's keys and their JSON text, and the
//! data cap's count (guarantee 13: each key's length plus its value's, in
//! bytes, judged here where the data is merged, inside the transaction).

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Transaction, params};
use session_core::store::{Delta, StoreContext};

use crate::rows::Abort;

/// Every data key of the session under `key`.
pub(crate) fn all(tx: &Transaction<'_>, key: &str) -> Result<BTreeMap<String, String>, Abort> {
    let mut stmt = tx.prepare_cached("SELECT name, json FROM data WHERE session_key = ?1")?;
    let rows = stmt.query_map([key], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (name, json): (String, String) = row?;
        out.insert(name, json);
    }
    Ok(out)
}

/// The value under data key `name`, if any.
pub(crate) fn get(tx: &Transaction<'_>, key: &str, name: &str) -> Result<Option<String>, Abort> {
    let mut stmt =
        tx.prepare_cached("SELECT json FROM data WHERE session_key = ?1 AND name = ?2")?;
    Ok(stmt
        .query_row(params![key, name], |row| row.get(0))
        .optional()?)
}

/// Sets data key `name` to `json`.
pub(crate) fn set(tx: &Transaction<'_>, key: &str, name: &str, json: &str) -> Result<(), Abort> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO data (session_key, name, json) VALUES (?1, ?2, ?3) \
         ON CONFLICT (session_key, name) DO UPDATE SET json = excluded.json",
    )?;
    stmt.execute(params![key, name, json])?;
    Ok(())
}

/// Removes data key `name`; true if it was there.
pub(crate) fn remove(tx: &Transaction<'_>, key: &str, name: &str) -> Result<bool, Abort> {
    let mut stmt = tx.prepare_cached("DELETE FROM data WHERE session_key = ?1 AND name = ?2")?;
    Ok(stmt.execute(params![key, name])? > 0)
}

/// Removes every data key of the session under `key`.
pub(crate) fn clear(tx: &Transaction<'_>, key: &str) -> Result<(), Abort> {
    let mut stmt = tx.prepare_cached("DELETE FROM data WHERE session_key = ?1")?;
    stmt.execute([key])?;
    Ok(())
}

/// Moves every data key from `old` to `new` (rotation).
pub(crate) fn rename(tx: &Transaction<'_>, old: &str, new: &str) -> Result<(), Abort> {
    let mut stmt = tx.prepare_cached("UPDATE data SET session_key = ?2 WHERE session_key = ?1")?;
    stmt.execute(params![old, new])?;
    Ok(())
}

/// Writes `delta`'s data changes to the session under `key`.
pub(crate) fn write(tx: &Transaction<'_>, key: &str, delta: &Delta) -> Result<(), Abort> {
    for (name, value) in &delta.data {
        match value {
            Some(json) => set(tx, key, name, json)?,
            None => {
                remove(tx, key, name)?;
            }
        }
    }
    Ok(())
}

/// The data's size in bytes as the cap counts it.
pub(crate) fn size(tx: &Transaction<'_>, key: &str) -> Result<usize, Abort> {
    let mut stmt = tx.prepare_cached(
        "SELECT COALESCE(SUM(length(CAST(name AS BLOB)) + length(CAST(json AS BLOB))), 0) \
         FROM data WHERE session_key = ?1",
    )?;
    let bytes: i64 = stmt.query_row([key], |row| row.get(0))?;
    Ok(usize::try_from(bytes).unwrap_or(usize::MAX))
}

/// The data's size now and once `delta` is written.
pub(crate) fn sizes_with(
    tx: &Transaction<'_>,
    key: &str,
    delta: &Delta,
) -> Result<(usize, usize), Abort> {
    let before = size(tx, key)?;
    let mut after = before;
    for (name, value) in &delta.data {
        if let Some(old) = get(tx, key, name)? {
            after = after.saturating_sub(name.len() + old.len());
        }
        if let Some(new) = value {
            after = after.saturating_add(name.len() + new.len());
        }
    }
    Ok((before, after))
}

/// Whether a change growing the data from `before` to `after` bytes goes
/// past the cap. A change that does not grow the data always passes, so a
/// session at its cap can still shrink.
pub(crate) fn over_cap(before: usize, after: usize, cx: &StoreContext) -> bool {
    after > before && after > cx.max_data_bytes
}
