//! Between Rust values and what the scripts take and return.
//!
//! Anything read from Redis is checked: a reply or a stored field that does
//! not have the expected shape is a [`StoreFailure::Corrupt`] naming what
//! was wrong, never a panic and never a silently empty session.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::Value;

use crate::encryption::{self, EncryptionKeys};
use session_core::store::{Delta, FORMAT_VERSION, LoadedTimes, SessionKey};
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

/// Appends `n` in lowercase hex (as Lua's `%x` writes it).
fn push_hex(out: &mut String, n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = HEX[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
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
    if let Some(reason) = field("@end") {
        let forget = millis(field("@forget").ok_or_else(|| corrupt("a tombstone lacks @forget"))?)?;
        if cx.now >= forget {
            return Ok(Judged::Unknown);
        }
        let at = field("@at").ok_or_else(|| corrupt("a tombstone lacks @at"))?;
        return Ok(Judged::Ended(ending(&[reason.clone(), at.clone()])?));
    }
    let record = record_from(&items, keys, session)?;
    if record.expires_at() > cx.now {
        return Ok(Judged::Live(record));
    }
    Ok(Judged::ExpiredUnrecorded)
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
    let packed = Packed::parse(field("@").ok_or_else(|| corrupt("the session lacks field @"))?)?;
    let public_id = match field("@pub") {
        None => PublicId::of_key(session),
        Some(p) => PublicId::parse(p).map_err(|_| corrupt("field @pub is not a public id"))?,
    };
    let metadata: Metadata = match field("@meta") {
        None => Metadata::default(),
        Some(json) => serde_json::from_str(json)
            .map_err(|e| corrupt(format!("field @meta is not metadata JSON: {e}")))?,
    };
    let user = match field("@user") {
        None => None,
        Some(u) => Some(UserId::new(u).map_err(|e| corrupt(format!("field @user: {e}")))?),
    };
    let mut data = BTreeMap::new();
    for &(k, v) in &fields {
        if let Some(name) = k.strip_prefix("d:") {
            let clear = encryption::open(keys, &public_id, name, v)?;
            let value = serde_json::from_str(&clear)
                .map_err(|e| corrupt(format!("data key {name:?} does not hold JSON: {e}")))?;
            data.insert(name.to_owned(), value);
        }
    }
    Ok(SessionRecord {
        format_version: FORMAT_VERSION,
        public_id,
        user,
        created_at: Timestamp::from_unix_millis(packed.created),
        last_seen_at: Timestamp::from_unix_millis(packed.seen),
        idle_timeout: Duration::from_millis(packed.idle),
        idle_deadline: Timestamp::from_unix_millis(packed.idle_deadline),
        absolute_deadline: Timestamp::from_unix_millis(packed.absolute_deadline),
        metadata,
        data,
    })
}

/// Field `@` as the scripts pack it for `times` (the same text, so equal
/// times give an equal field: see `apply.lua`'s steady state).
pub(crate) fn packed(times: &LoadedTimes) -> String {
    let mut out = String::with_capacity(64);
    out.push_str(LAYOUT);
    for n in [
        times.created_at.as_unix_millis(),
        times.last_seen_at.as_unix_millis(),
        u64::try_from(times.idle_timeout.as_millis()).unwrap_or(u64::MAX),
        times.idle_deadline.as_unix_millis(),
        times.absolute_deadline.as_unix_millis(),
    ] {
        out.push(':');
        push_hex(&mut out, n.min(LUA_MAX));
    }
    out
}

/// The layout of session hashes this build reads and writes: field `@`
/// starts with it.
pub(crate) const LAYOUT: &str = "2";

/// Field `@` of a live session: the layout and the times (milliseconds,
/// in hex), packed as
/// `2:<created>:<seen>:<idle>:<idle deadline>:<absolute deadline>` so a
/// load parses one field instead of six, in at most 64 bytes so Redis keeps
/// the hash in its compact encoding (`prelude.lua` packs and unpacks it the
/// same way).
struct Packed {
    created: u64,
    seen: u64,
    idle: u64,
    idle_deadline: u64,
    absolute_deadline: u64,
}

impl Packed {
    /// Parses field `@` by hand (every load parses it: `split` and
    /// `from_str_radix` cost several times as much).
    fn parse(text: &str) -> Result<Self, StoreFailure> {
        let (layout, rest) = text.split_once(':').unwrap_or((text, ""));
        if layout != LAYOUT {
            return Err(corrupt(format!(
                "unknown session layout {layout:?} (this build reads {LAYOUT})"
            )));
        }
        let mut parts = rest.as_bytes().split(|&b| b == b':');
        let mut number = |what: &str| {
            parts
                .next()
                .and_then(hex_u64)
                .ok_or_else(|| corrupt(format!("field @ lacks a hex {what}")))
        };
        let packed = Packed {
            created: number("creation time")?,
            seen: number("last-seen time")?,
            idle: number("idle timeout")?,
            idle_deadline: number("idle deadline")?,
            absolute_deadline: number("absolute deadline")?,
        };
        if parts.next().is_some() {
            return Err(corrupt("field @ has more parts than layout 2"));
        }
        Ok(packed)
    }
}

/// 1 to 16 hex digits as a number; `None` for anything else.
fn hex_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut n = 0u64;
    for &b in digits {
        let v = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        n = (n << 4) | u64::from(v);
    }
    Some(n)
}

/// A data value of session `session` as stored: sealed when encryption is
/// configured (which needs the session's public id).
pub(crate) fn seal(
    keys: Option<&EncryptionKeys>,
    session: Option<&PublicId>,
    field: &str,
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

/// Metadata as the JSON the scripts store.
pub(crate) fn metadata_json(m: &Metadata) -> Result<String, StoreFailure> {
    serde_json::to_string(m).map_err(|e| corrupt(format!("metadata does not encode: {e}")))
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
        Some(m) => metadata_json(m)?,
        None => String::new(),
    });
    out.push(delta.idle_timeout.map(ms).unwrap_or_default());
    let sets = delta.data.values().filter(|v| v.is_some()).count();
    out.push(sets.to_string());
    for (k, v) in &delta.data {
        if let Some(v) = v {
            out.push(k.clone());
            out.push(seal(keys, session, k, v)?);
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
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn fields(pairs: &[(&str, &str)]) -> Value {
        Value::Array(pairs.iter().flat_map(|(k, v)| [bulk(k), bulk(v)]).collect())
    }

    fn key() -> SessionKey {
        use session_core::{KeyRing, SessionId, store::SlotTag};
        SessionId::generate(&KeyRing::generate(), SlotTag::random()).storage_key()
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("@", "2:3e8:3e8:ea60:ee48:182b8"),
            ("@pub", "AAAAAAAAAAAAAAAAAAAAAA"),
            ("@meta", "{\"device\":\"phone\"}"),
            ("@user", "alice"),
            ("d:n", "5"),
        ]
    }

    #[test]
    fn a_stored_session_decodes() {
        let r = record(&fields(&good()), None, &key()).unwrap();
        assert_eq!(r.user.unwrap().as_str(), "alice");
        assert_eq!(r.metadata.device.as_deref(), Some("phone"));
        assert_eq!(r.data["n"], 5);
        assert_eq!(r.idle_timeout, Duration::from_secs(60));
    }

    #[test]
    fn a_session_without_a_public_id_field_has_its_keys() {
        let key = key();
        let stored: Vec<_> = good().into_iter().filter(|(k, _)| *k != "@pub").collect();
        let r = record(&fields(&stored), None, &key).unwrap();
        assert_eq!(r.public_id, PublicId::of_key(&key));
        let r = record(&fields(&good()), None, &key).unwrap();
        assert_eq!(r.public_id.as_str(), "AAAAAAAAAAAAAAAAAAAAAA");
        // What a create sends: nothing for an anonymous session with its
        // key's public id, the id otherwise.
        let other = PublicId::generate();
        assert_eq!(stored_public_id(&PublicId::of_key(&key), &key, false), "");
        assert_eq!(
            stored_public_id(&PublicId::of_key(&key), &key, true),
            PublicId::of_key(&key).to_string()
        );
        assert_eq!(stored_public_id(&other, &key, false), other.to_string());
    }

    #[test]
    fn hex_is_written_as_the_standard_library_writes_it() {
        for n in [0, 1, 9, 10, 255, 256, 1_000, 65_535, LUA_MAX, u64::MAX] {
            let mut hex = String::new();
            push_hex(&mut hex, n);
            assert_eq!(hex, format!("{n:x}"));
        }
    }

    #[test]
    fn times_pack_as_the_scripts_pack_them() {
        let r = record(&fields(&good()), None, &key()).unwrap();
        assert_eq!(packed(&LoadedTimes::of(&r)), "2:3e8:3e8:ea60:ee48:182b8");
    }

    #[test]
    fn empty_metadata_is_not_stored_and_reads_as_default() {
        let pairs: Vec<_> = good().into_iter().filter(|(k, _)| *k != "@meta").collect();
        let r = record(&fields(&pairs), None, &key()).unwrap();
        assert_eq!(r.metadata, Metadata::default());
    }

    #[test]
    fn damaged_sessions_are_corrupt_not_panics() {
        let packed = |v: &'static str| {
            good()
                .into_iter()
                .map(move |(k, old)| if k == "@" { (k, v) } else { (k, old) })
                .collect::<Vec<_>>()
        };
        let cases: Vec<Vec<(&str, &str)>> = vec![
            good().into_iter().filter(|(k, _)| *k != "@").collect(),
            // a layout-1 record (before the fields were packed)
            vec![
                ("@v", "1"),
                ("@pub", "AAAAAAAAAAAAAAAAAAAAAA"),
                ("@idl", "61000"),
            ],
            packed("3:AAAAAAAAAAAAAAAAAAAAAA:1000:1000:60000:61000:99000"),
            packed("2:AAAAAAAAAAAAAAAAAAAAAA:1000:1000:60000:61000"),
            packed("2:AAAAAAAAAAAAAAAAAAAAAA:1000:1000:60000:61000:99000:7"),
            packed("2:AAAAAAAAAAAAAAAAAAAAAA:1000:1000:60000:-5:99000"),
            packed("2:short:1000:1000:60000:61000:99000"),
            packed(""),
            packed("2"),
            packed("2:3e8:3e8:ea60:ee48:182b8:"),
            packed("2::3e8:ea60:ee48:182b8"),
            packed("2:+3e8:3e8:ea60:ee48:182b8"),
            packed("2:3e8:3e8:ea60:ee48:18 2b8"),
            packed("2:3e8:3e8:ea60:ee48:11111111111111111"),
            good()
                .into_iter()
                .map(|(k, v)| if k == "d:n" { (k, "{oops") } else { (k, v) })
                .collect(),
            good()
                .into_iter()
                .map(|(k, v)| if k == "@meta" { (k, "[]") } else { (k, v) })
                .collect(),
            good()
                .into_iter()
                .map(|(k, v)| if k == "@user" { (k, "") } else { (k, v) })
                .collect(),
            good()
                .into_iter()
                .map(|(k, v)| if k == "@pub" { (k, "short") } else { (k, v) })
                .collect(),
        ];
        for c in cases {
            assert!(
                matches!(
                    record(&fields(&c), None, &key()),
                    Err(StoreFailure::Corrupt(_))
                ),
                "{c:?}"
            );
        }
        assert!(record(&Value::Nil, None, &key()).is_err());
        assert!(record(&Value::Array(vec![bulk("@")]), None, &key()).is_err());
        assert!(ending(&[bulk("nonsense"), Value::Int(5)]).is_err());
        assert!(ending(&[]).is_err());
        assert!(status(Value::Array(vec![])).is_err());
    }
}
