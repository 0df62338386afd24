//! Between Rust values and what the scripts take and return.
//!
//! Anything read from Redis is checked: a reply or a stored field that does
//! not have the expected shape is a [`StoreFailure::Corrupt`] naming what
//! was wrong, never a panic and never a silently empty session.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::Value;

use crate::encryption::{self, EncryptionKeys, Field};
use crate::layout::{self, Header};
use session_core::store::{Delta, FORMAT_VERSION, LoadedTimes, SessionKey, StoreContext};
use session_core::{
    EndReason, Ending, Metadata, PublicId, SessionRecord, StoreFailure, Timestamp, UserId,
};

/// The largest integer a Lua number holds exactly (2^53 - 1).
const LUA_MAX: u64 = 9_007_199_254_740_991;

fn corrupt(what: impl Into<String>) -> StoreFailure {
    StoreFailure::Corrupt(what.into())
}

/// Milliseconds, clamped to what Lua holds exactly.
pub(crate) fn ms(d: Duration) -> String {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .min(LUA_MAX)
        .to_string()
}

/// A timestamp's milliseconds, clamped likewise.
pub(crate) fn at(t: Timestamp) -> String {
    t.as_unix_millis().min(LUA_MAX).to_string()
}

/// The elements of an array reply.
pub(crate) fn array(v: Value) -> Result<Vec<Value>, StoreFailure> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(corrupt(format!("expected an array reply, got {other:?}"))),
    }
}

/// A text reply or element.
pub(crate) fn text(v: &Value) -> Result<String, StoreFailure> {
    match v {
        Value::BulkString(b) => {
            String::from_utf8(b.clone()).map_err(|_| corrupt("a reply is not UTF-8"))
        }
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(n) => Ok(n.to_string()),
        other => Err(corrupt(format!("expected text, got {other:?}"))),
    }
}

/// An integer reply or element (integers may come back as text).
pub(crate) fn int(v: &Value) -> Result<i64, StoreFailure> {
    match v {
        Value::Int(n) => Ok(*n),
        other => text(other)?
            .parse()
            .map_err(|_| corrupt(format!("expected an integer, got {other:?}"))),
    }
}

fn millis(v: &Value) -> Result<Timestamp, StoreFailure> {
    u64::try_from(int(v)?)
        .map(Timestamp::from_unix_millis)
        .map_err(|_| corrupt("a negative time"))
}

/// The reply's status word and the rest.
pub(crate) fn status(v: Value) -> Result<(String, Vec<Value>), StoreFailure> {
    let mut items = array(v)?;
    if items.is_empty() {
        return Err(corrupt("an empty reply"));
    }
    let head = text(&items.remove(0))?;
    Ok((head, items))
}

/// An `{'ended', reason, at}` tail.
pub(crate) fn ending(rest: &[Value]) -> Result<Ending, StoreFailure> {
    let [reason, at, ..] = rest else {
        return Err(corrupt("an ended reply without reason and time"));
    };
    let text = text(reason)?;
    let reason = EndReason::from_stored(&text)
        .ok_or_else(|| corrupt(format!("unknown end reason {text:?}")))?;
    Ok(Ending {
        reason,
        at: millis(at)?,
    })
}

/// The text a create sends for field `@pub`: empty when the session is
/// anonymous and its public id is its key's ([`PublicId::of_key`]), so the
/// record leaves the field out. That saves Redis about 16 bytes per session
/// and a load two reply elements. A signed-in session always stores it:
/// the scripts that list and revoke a user's sessions read it.
pub(crate) fn stored_public_id(public_id: &PublicId, key: &SessionKey, signed_in: bool) -> String {
    if !signed_in && *public_id == PublicId::of_key(key) {
        String::new()
    } else {
        public_id.to_string()
    }
}

/// What a script stores as `@bind` for public id `public_id` stored under
/// `key`: with encryption at rest, an empty message sealed with the two as
/// associated data, so that a record's `@pub` (and the values sealed for
/// it) copied into another session's hash does not open there; nothing
/// (`''`) otherwise.
pub(crate) fn binding(
    keys: Option<&EncryptionKeys>,
    public_id: &PublicId,
    key: &SessionKey,
) -> Result<String, StoreFailure> {
    match keys {
        Some(_) => seal(keys, Some(public_id), Field::Binding(key), ""),
        None => Ok(String::new()),
    }
}

/// The data cap as a script argument (guarantee 13; Lua numbers are
/// doubles, so no cap is sent as 2^53).
pub(crate) fn cap(cx: &StoreContext) -> String {
    cx.max_data_bytes.min(1 << 53).to_string()
}

/// The size a script's `{'big', size}` reply names, and the cap it was
/// judged against.
pub(crate) fn too_large(rest: &[Value], cx: &StoreContext) -> Result<(usize, usize), StoreFailure> {
    let size = match rest.first() {
        Some(v) => int(v)?,
        None => return Err(corrupt("a 'big' reply without its size")),
    };
    Ok((
        usize::try_from(size).unwrap_or(usize::MAX),
        cx.max_data_bytes,
    ))
}

/// Public ids from an array of text.
pub(crate) fn public_ids(v: &Value) -> Result<Vec<PublicId>, StoreFailure> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| {
                let t = text(i)?;
                PublicId::parse(&t).map_err(|_| corrupt(format!("not a public id: {t:?}")))
            })
            .collect(),
        other => Err(corrupt(format!(
            "expected a list of public ids, got {other:?}"
        ))),
    }
}

/// What a plain read of a session hash found, judged at `cx.now` (the
/// same rules as the scripts' `classify`, without writing anything).
pub(crate) enum Judged {
    Unknown,
    Ended(Ending),
    Live(SessionRecord),
    /// Live as stored, but past its deadline by this caller's clock: only
    /// a script may say so, ending it in the same step, so that the
    /// decision is final (guarantee 7) and no instance whose clock is
    /// behind refreshes it afterwards.
    ExpiredUnrecorded,
}

/// Judges the reply of `HGETALL` on a session key.
pub(crate) fn judge(
    reply: Value,
    cx: &session_core::store::StoreContext,
    keys: Option<&EncryptionKeys>,
    session: &SessionKey,
) -> Result<Judged, StoreFailure> {
    let items = match reply {
        Value::Array(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        other => return Err(corrupt(format!("expected a field list, got {other:?}"))),
    };
    if items.is_empty() {
        return Ok(Judged::Unknown);
    }
    let field = |name: &str| -> Option<&Value> {
        items
            .chunks(2)
            .find(|pair| matches!(&pair[0], Value::BulkString(b) if b == name.as_bytes()))
            .and_then(|pair| pair.get(1))
    };
    if let Some(reason) = field(layout::END) {
        let forget =
            millis(field(layout::FORGET).ok_or_else(|| corrupt("a tombstone lacks @forget"))?)?;
        if cx.now >= forget {
            return Ok(Judged::Unknown);
        }
        let at = field(layout::AT).ok_or_else(|| corrupt("a tombstone lacks @at"))?;
        return Ok(Judged::Ended(ending(&[reason.clone(), at.clone()])?));
    }
    if field(layout::HEADER).is_none() && is_stray(&items) {
        return Ok(Judged::Unknown);
    }
    let record = record_from(&items, keys, session)?;
    if record.expires_at() > cx.now {
        return Ok(Judged::Live(record));
    }
    Ok(Judged::ExpiredUnrecorded)
}

/// Whether a hash holds data fields only: what a plain save leaves when it
/// reaches a session that is gone (`store/plain_save.rs`), until it is
/// settled. It holds no session: loads report it unknown.
fn is_stray(items: &[Value]) -> bool {
    items
        .iter()
        .step_by(2)
        .all(|k| matches!(k, Value::BulkString(b) if b.starts_with(layout::DATA.as_bytes())))
}

/// A session hash (as `field, value, …`) decoded into a record; `session`
/// is the key it is stored under.
pub(crate) fn record(
    v: &Value,
    keys: Option<&EncryptionKeys>,
    session: &SessionKey,
) -> Result<SessionRecord, StoreFailure> {
    let Value::Array(items) = v else {
        return Err(corrupt("a session is not a field list"));
    };
    record_from(items, keys, session)
}

/// A reply element as borrowed text (no copy: a load reads every field).
fn borrowed(v: &Value) -> Result<&str, StoreFailure> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).map_err(|_| corrupt("a reply is not UTF-8")),
        Value::SimpleString(s) => Ok(s),
        other => Err(corrupt(format!("expected text, got {other:?}"))),
    }
}

/// A session record from a flat field list, borrowing the reply: the
/// fields are read in place, only the record's own values are allocated.
/// A record without `@pub` has the public id of its key
/// ([`PublicId::of_key`]: see [`stored_public_id`]).
fn record_from(
    items: &[Value],
    keys: Option<&EncryptionKeys>,
    session: &SessionKey,
) -> Result<SessionRecord, StoreFailure> {
    let mut fields: Vec<(&str, &str)> = Vec::with_capacity(items.len() / 2);
    for pair in items.chunks(2) {
        let [k, v] = pair else {
            return Err(corrupt("a session field without a value"));
        };
        fields.push((borrowed(k)?, borrowed(v)?));
    }
    let field = |name: &str| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let header = field(layout::HEADER).ok_or_else(|| corrupt("the session lacks field @"))?;
    let times = Header::decode(header.as_bytes()).ok_or_else(|| {
        corrupt(format!(
            "field @ is not in session layout {} ({} bytes)",
            char::from(layout::VERSION),
            header.len()
        ))
    })?;
    let public_id = match field(layout::PUB) {
        None => PublicId::of_key(session),
        Some(p) => {
            let public_id =
                PublicId::parse(p).map_err(|_| corrupt("field @pub is not a public id"))?;
            // With encryption at rest, a stored public id must be bound to
            // this key: else a dump-and-write attacker could copy @pub with
            // another session's sealed values.
            if keys.is_some() {
                let bound = field(layout::BIND)
                    .ok_or_else(|| corrupt("field @pub is not bound to this key (no @bind)"))?;
                encryption::open(keys, &public_id, Field::Binding(session), bound)?;
            }
            public_id
        }
    };
    let metadata = match field(layout::META) {
        None => Metadata::default(),
        Some(stored) => metadata_from(keys, &public_id, stored)?,
    };
    let user = match field(layout::USER) {
        None => None,
        Some(u) => Some(UserId::new(u).map_err(|e| corrupt(format!("field @user: {e}")))?),
    };
    let mut data = BTreeMap::new();
    for &(k, v) in &fields {
        if let Some(name) = k.strip_prefix(layout::DATA) {
            let clear = encryption::open(keys, &public_id, Field::Data(name), v)?;
            let value = serde_json::from_str(&clear)
                .map_err(|e| corrupt(format!("data key {name:?} does not hold JSON: {e}")))?;
            data.insert(name.to_owned(), value);
        }
    }
    Ok(SessionRecord {
        format_version: FORMAT_VERSION,
        public_id,
        user,
        created_at: Timestamp::from_unix_millis(times.created),
        last_seen_at: Timestamp::from_unix_millis(times.seen),
        idle_timeout: Duration::from_millis(times.idle),
        idle_deadline: Timestamp::from_unix_millis(times.idle_deadline()),
        absolute_deadline: Timestamp::from_unix_millis(times.absolute),
        metadata,
        data,
    })
}

/// Field `@` as the scripts pack it for `times` (the same bytes, so equal
/// times give an equal field: see `apply.lua`'s steady state). The idle
/// deadline is not stored: `layout.rs` derives it.
pub(crate) fn packed(times: &LoadedTimes) -> String {
    Header {
        created: times.created_at.as_unix_millis(),
        seen: times.last_seen_at.as_unix_millis(),
        idle: u64::try_from(times.idle_timeout.as_millis()).unwrap_or(u64::MAX),
        absolute: times.absolute_deadline.as_unix_millis(),
    }
    .encode()
}

/// A value of `field` of session `session` as stored: sealed when
/// encryption is configured (which needs the session's public id).
pub(crate) fn seal(
    keys: Option<&EncryptionKeys>,
    session: Option<&PublicId>,
    field: Field<'_>,
    json: &str,
) -> Result<String, StoreFailure> {
    match (keys, session) {
        (Some(k), Some(session)) => Ok(k.seal(session, field, json)),
        (Some(_), None) => Err(corrupt(
            "a value to seal came without its session's public id (Rotation::public_id)",
        )),
        (None, _) => Ok(json.to_owned()),
    }
}

/// Metadata as the scripts store it: JSON, sealed when encryption is
/// configured, except `{}` (empty metadata, which the scripts leave out).
pub(crate) fn metadata_json(
    m: &Metadata,
    keys: Option<&EncryptionKeys>,
    session: Option<&PublicId>,
) -> Result<String, StoreFailure> {
    let json =
        serde_json::to_string(m).map_err(|e| corrupt(format!("metadata does not encode: {e}")))?;
    if json == "{}" {
        return Ok(json);
    }
    seal(keys, session, Field::Metadata, &json)
}

/// Stored metadata of session `session`, opened when sealed.
pub(crate) fn metadata_from(
    keys: Option<&EncryptionKeys>,
    session: &PublicId,
    stored: &str,
) -> Result<Metadata, StoreFailure> {
    let json = encryption::open(keys, session, Field::Metadata, stored)?;
    serde_json::from_str(&json)
        .map_err(|e| corrupt(format!("field @meta is not metadata JSON: {e}")))
}

/// A delta as script arguments: meta ('' = unchanged), idle ('' =
/// unchanged), n sets (field, json)…, m removals (field)….
pub(crate) fn delta_args(
    delta: &Delta,
    keys: Option<&EncryptionKeys>,
    session: Option<&PublicId>,
    out: &mut Vec<String>,
) -> Result<(), StoreFailure> {
    out.push(match &delta.metadata {
        Some(m) => metadata_json(m, keys, session)?,
        None => String::new(),
    });
    out.push(delta.idle_timeout.map(ms).unwrap_or_default());
    let sets = delta.data.values().filter(|v| v.is_some()).count();
    out.push(sets.to_string());
    for (k, v) in &delta.data {
        if let Some(v) = v {
            out.push(k.clone());
            out.push(seal(keys, session, Field::Data(k), v)?);
        }
    }
    out.push((delta.data.len() - sets).to_string());
    for (k, v) in &delta.data {
        if v.is_none() {
            out.push(k.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
