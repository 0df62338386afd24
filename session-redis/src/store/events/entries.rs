//! Stream entries as Redis returns them, and the events they record (see
//! the parent module for the fields).

use redis::Value;
use session_core::events::{EventKey, EventKind, SessionEvent};
use session_core::{EndReason, PublicId, StoreFailure, Timestamp, UserId};

use crate::codec;
use crate::keys::BUCKETS;

/// One stream entry as Redis returns it: its id and its fields (`None`
/// when the entry was deleted: a pending entry trimmed before its ack).
pub(super) struct Entry {
    pub(super) id: String,
    pub(super) fields: Option<Vec<(String, String)>>,
}

/// The entries of an `XRANGE`/`XREVRANGE` reply (or of one stream of an
/// `XREADGROUP` reply, or of `XAUTOCLAIM`'s second element).
pub(super) fn entries(v: Value) -> Result<Vec<Entry>, StoreFailure> {
    let items = match v {
        Value::Nil => return Ok(Vec::new()),
        other => codec::array(other)?,
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let mut parts = codec::array(item)?.into_iter();
        let (Some(id), fields) = (parts.next(), parts.next()) else {
            return Err(StoreFailure::Corrupt("a stream entry without an id".into()));
        };
        let id = codec::text(&id)?;
        let fields = match fields {
            None | Some(Value::Nil) => None,
            Some(Value::Map(pairs)) => Some(
                pairs
                    .iter()
                    .map(|(k, v)| Ok((codec::text(k)?, codec::text(v)?)))
                    .collect::<Result<Vec<_>, StoreFailure>>()?,
            ),
            Some(other) => {
                let flat = codec::array(other)?;
                let mut pairs = Vec::with_capacity(flat.len() / 2);
                for pair in flat.chunks(2) {
                    let [k, v] = pair else {
                        return Err(StoreFailure::Corrupt(format!(
                            "stream entry {id} has a field without a value"
                        )));
                    };
                    pairs.push((codec::text(k)?, codec::text(v)?));
                }
                Some(pairs)
            }
        };
        out.push(Entry { id, fields });
    }
    Ok(out)
}

/// The entries of an `XREADGROUP` reply for one stream: nil (nothing new),
/// `[[stream, entries]]` (RESP2) or `{stream: entries}` (RESP3).
pub(super) fn read_reply(v: Value) -> Result<Vec<Entry>, StoreFailure> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Map(streams) => match streams.into_iter().next() {
            Some((_, list)) => entries(list),
            None => Ok(Vec::new()),
        },
        other => match codec::array(other)?.into_iter().next() {
            None => Ok(Vec::new()),
            Some(stream) => match codec::array(stream)?.into_iter().nth(1) {
                Some(list) => entries(list),
                None => Err(StoreFailure::Corrupt(
                    "an XREADGROUP reply without entries".into(),
                )),
            },
        },
    }
}

/// The event an entry of bucket `bucket`'s stream records, or what is
/// wrong with it.
fn event_of(bucket: u32, id: &str, fields: &[(String, String)]) -> Result<SessionEvent, String> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| format!("no field {name}"))
    };
    let kind = field("k")?;
    let kind = EventKind::from_code(kind).ok_or_else(|| format!("unknown kind {kind:?}"))?;
    let public = field("p")?;
    let public_id = PublicId::parse(public).map_err(|_| format!("not a public id: {public:?}"))?;
    let user = match field("u")? {
        "" => None,
        u => Some(UserId::new(u).map_err(|e| format!("a user id: {e}"))?),
    };
    let reason = match field("r")? {
        "" => None,
        r => Some(EndReason::from_stored(r).ok_or_else(|| format!("unknown end reason {r:?}"))?),
    };
    if (kind == EventKind::Ended) != reason.is_some() {
        return Err(format!("kind {} with reason {reason:?}", kind.code()));
    }
    let at = field("t")?;
    let at = at
        .parse::<u64>()
        .map_err(|_| format!("not a time: {at:?}"))?;
    Ok(SessionEvent {
        key: EventKey::new(&format!("b{bucket}"), id),
        kind,
        public_id,
        user,
        reason,
        at: Timestamp::from_unix_millis(at),
    })
}

/// The events of `list` (entries of bucket `bucket`'s stream), and the
/// ids of those to acknowledge unread: deleted (trimmed) or damaged
/// entries, each damaged one warned about.
pub(super) fn decode(bucket: u32, list: Vec<Entry>) -> (Vec<SessionEvent>, Vec<String>) {
    let mut events = Vec::with_capacity(list.len());
    let mut skipped = Vec::new();
    for entry in list {
        let Some(fields) = entry.fields else {
            skipped.push(entry.id);
            continue;
        };
        match event_of(bucket, &entry.id, &fields) {
            Ok(e) => events.push(e),
            Err(what) => {
                tracing::warn!(
                    target: "session_redis",
                    bucket,
                    entry = %entry.id,
                    error = %what,
                    "a lifecycle stream entry does not decode: skipped"
                );
                skipped.push(entry.id);
            }
        }
    }
    (events, skipped)
}

/// Whether a failure is Redis's `NOGROUP` (the group, or its stream, is
/// not there).
pub(super) fn no_group(f: &StoreFailure) -> bool {
    matches!(f, StoreFailure::Unavailable(e) if e.to_string().contains("NOGROUP"))
}

/// The bucket an [`EventKey`] of this store names (`b<N>`), if any.
pub(super) fn bucket_of(key: &EventKey) -> Option<u32> {
    let n: u32 = key.stream().strip_prefix('b')?.parse().ok()?;
    (n < BUCKETS).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_entry_decodes_to_its_event() {
        let p = PublicId::generate();
        let e = event_of(
            7,
            "1700000000000-3",
            &fields(&[
                ("k", "ended"),
                ("p", p.as_str()),
                ("u", "alice"),
                ("r", "revoked:lost phone"),
                ("t", "1700000000123"),
            ]),
        )
        .unwrap();
        assert_eq!(e.key.as_str(), "b7/1700000000000-3");
        assert_eq!(e.kind, EventKind::Ended);
        assert_eq!(e.public_id, p);
        assert_eq!(e.user, Some(UserId::new("alice").unwrap()));
        assert_eq!(e.reason, Some(EndReason::revoked("lost phone")));
        assert_eq!(e.at, Timestamp::from_unix_millis(1_700_000_000_123));
        assert_eq!(bucket_of(&e.key), Some(7));
        let anonymous = event_of(
            0,
            "1-0",
            &fields(&[
                ("k", "signed_in"),
                ("p", p.as_str()),
                ("u", ""),
                ("r", ""),
                ("t", "5"),
            ]),
        )
        .unwrap();
        assert_eq!((anonymous.user, anonymous.reason), (None, None));
    }

    #[test]
    fn a_damaged_entry_is_reported_not_decoded() {
        let p = PublicId::generate();
        let ok = [
            ("k", "ended"),
            ("p", p.as_str()),
            ("u", ""),
            ("r", "logout"),
            ("t", "5"),
        ];
        for (i, bad) in [
            ("k", "born"),
            ("p", "x"),
            ("r", "because"),
            ("t", "soon"),
            ("r", ""),
        ]
        .into_iter()
        .enumerate()
        {
            let mut f: Vec<(&str, &str)> = ok.to_vec();
            f.retain(|(k, _)| *k != bad.0);
            f.push(bad);
            assert!(event_of(1, "1-0", &fields(&f)).is_err(), "case {i}");
        }
        // A trimmed pending entry (no fields) and a damaged one are both
        // to be acknowledged unread.
        let list = vec![
            Entry {
                id: "1-0".into(),
                fields: None,
            },
            Entry {
                id: "2-0".into(),
                fields: Some(fields(&[("k", "ended")])),
            },
            Entry {
                id: "3-0".into(),
                fields: Some(fields(&ok)),
            },
        ];
        let (events, skipped) = decode(3, list);
        assert_eq!(events.len(), 1);
        assert_eq!(skipped, ["1-0", "2-0"]);
        assert_eq!(bucket_of(&EventKey::new("m", "1")), None);
        assert_eq!(bucket_of(&EventKey::new("b64", "1-0")), None);
    }
}
