//! What each script answers, decoded into the contract's types: one
//! function per script, named after it. A script answers a status table
//! (`{word, fields...}`) or, in its steady state, a bare integer; a word
//! it does not send, or too few fields, is a corrupt reply
//! ([`StoreFailure::Corrupt`]), never a panic.

use session_core::store::LoadedTimes;

use super::*;

/// `create.lua`: the sessions it evicted, or why it refused.
pub(super) fn create(reply: Value) -> Result<Vec<PublicId>, CreateError> {
    // Integer 1: the steady-state anonymous create (nothing evicted).
    if reply == Value::Int(1) {
        return Ok(Vec::new());
    }
    let (word, rest) = codec::status(reply)?;
    match word.as_str() {
        "ok" => Ok(codec::public_ids(nth(&rest, 0)?)?),
        "dup" => Err(CreateError::DuplicateId),
        "limit" => Err(CreateError::LimitReached {
            limit: limit(&rest)?,
        }),
        other => Err(unexpected(other).into()),
    }
}

/// Whether `create.lua` answered that the key exists (`{'dup'}`).
pub(super) fn is_duplicate(reply: &Value) -> bool {
    match reply {
        Value::Array(items) => matches!(items.first(), Some(Value::BulkString(w)) if w == b"dup"),
        _ => false,
    }
}

/// `load.lua`: the session as the script judged (and maybe refreshed) it.
pub(super) fn load(
    reply: Value,
    encryption: Option<&EncryptionKeys>,
    key: &SessionKey,
) -> Result<Loaded, StoreFailure> {
    let (word, rest) = codec::status(reply)?;
    match word.as_str() {
        "unknown" => Ok(Loaded::Unknown),
        "ended" => Ok(Loaded::Ended(codec::ending(&rest)?)),
        "active" => Ok(Loaded::Active {
            refreshed: codec::int(nth(&rest, 0)?)? == 1,
            record: codec::record(nth(&rest, 1)?, encryption, key)?,
        }),
        other => Err(unexpected(other)),
    }
}

/// `apply.lua`: the deadlines after the save, or why it was refused.
/// The steady state (integer 1) kept the `loaded` times the request sent.
pub(super) fn apply(
    reply: Value,
    loaded: Option<LoadedTimes>,
    cx: &StoreContext,
) -> Result<Applied, UpdateError> {
    if reply == Value::Int(1) {
        return match loaded {
            Some(times) => Ok(Applied {
                idle_deadline: times.idle_deadline,
                absolute_deadline: times.absolute_deadline,
            }),
            None => Err(unexpected("kept").into()),
        };
    }
    let (word, rest) = codec::status(reply)?;
    match word.as_str() {
        "ok" => Ok(Applied {
            idle_deadline: time(nth(&rest, 0)?)?,
            absolute_deadline: time(nth(&rest, 1)?)?,
        }),
        "unknown" => Err(UpdateError::UnknownId),
        "ended" => Err(UpdateError::Ended(codec::ending(&rest)?)),
        "big" => {
            let (size, limit) = codec::too_large(&rest, cx)?;
            Err(UpdateError::TooLarge { size, limit })
        }
        other => Err(unexpected(other).into()),
    }
}

/// `increment.lua`: the new value of `field` (a bare integer), or why it
/// was refused.
pub(super) fn increment(reply: Value, field: &str, cx: &StoreContext) -> Result<i64, UpdateError> {
    if let Value::Int(value) = reply {
        return Ok(value);
    }
    let (word, rest) = codec::status(reply)?;
    match word.as_str() {
        "unknown" => Err(UpdateError::UnknownId),
        "ended" => Err(UpdateError::Ended(codec::ending(&rest)?)),
        "nan" => Err(UpdateError::NotAnInteger {
            key: field.to_owned(),
        }),
        "big" => {
            let (size, limit) = codec::too_large(&rest, cx)?;
            Err(UpdateError::TooLarge { size, limit })
        }
        other => Err(unexpected(other).into()),
    }
}

/// `take.lua`: the JSON text the field held (opened when sealed), `None`
/// when it held nothing, or why the take was refused.
pub(super) fn take(
    reply: Value,
    encryption: Option<&EncryptionKeys>,
    public_id: &PublicId,
    field: &str,
) -> Result<Option<String>, UpdateError> {
    let (word, rest) = codec::status(reply)?;
    match word.as_str() {
        "ok" => match rest.first() {
            None => Ok(None),
            Some(stored) => {
                let stored = codec::text(stored)?;
                let clear =
                    crate::encryption::open(encryption, public_id, Field::Data(field), &stored)?;
                Ok(Some(clear.into_owned()))
            }
        },
        "unknown" => Err(UpdateError::UnknownId),
        "ended" => Err(UpdateError::Ended(codec::ending(&rest)?)),
        other => Err(unexpected(other).into()),
    }
}

/// `rotate.lua`: the session now at `new` and the sessions a sign-in
/// evicted, or why it was refused.
pub(super) fn rotate(
    reply: Value,
    encryption: Option<&EncryptionKeys>,
    new: &SessionKey,
    cx: &StoreContext,
) -> Result<Created, RotateError> {
    let (word, rest) = codec::status(reply)?;
    match word.as_str() {
        "ok" => Ok(Created {
            record: codec::record(nth(&rest, 0)?, encryption, new)?,
            evicted: codec::public_ids(nth(&rest, 1)?)?,
        }),
        "unknown" => Err(RotateError::UnknownId),
        "ended" => Err(RotateError::Ended(codec::ending(&rest)?)),
        "dup" => Err(RotateError::DuplicateId),
        "other" => Err(RotateError::OtherUser),
        "limit" => Err(RotateError::LimitReached {
            limit: limit(&rest)?,
        }),
        "big" => {
            let (size, limit) = codec::too_large(&rest, cx)?;
            Err(RotateError::TooLarge { size, limit })
        }
        other => Err(unexpected(other).into()),
    }
}

/// `invalidate.lua`: the public id of the session it ended (its key's own
/// when the record had no `@pub`), or `None` when there was none.
pub(super) fn invalidate(reply: Value, key: &SessionKey) -> Result<Option<PublicId>, StoreFailure> {
    let (word, rest) = codec::status(reply)?;
    match word.as_str() {
        "none" => Ok(None),
        "ok" => {
            let p = codec::text(nth(&rest, 0)?)?;
            if p.is_empty() {
                return Ok(Some(PublicId::of_key(key)));
            }
            PublicId::parse(&p)
                .map(Some)
                .map_err(|_| StoreFailure::Corrupt(format!("not a public id: {p:?}")))
        }
        other => Err(unexpected(other)),
    }
}

/// A per-user limit in a refusal.
fn limit(rest: &[Value]) -> Result<u32, StoreFailure> {
    Ok(u32::try_from(codec::int(nth(rest, 0)?)?).unwrap_or(u32::MAX))
}

/// A time in Unix milliseconds (negative clamps to the epoch).
fn time(v: &Value) -> Result<Timestamp, StoreFailure> {
    Ok(Timestamp::from_unix_millis(codec::int(v)?.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(word: &str, fields: Vec<Value>) -> Value {
        let mut items = vec![Value::BulkString(word.as_bytes().to_vec())];
        items.extend(fields);
        Value::Array(items)
    }

    fn key() -> SessionKey {
        let keys = session_core::KeyRing::generate();
        session_core::SessionId::generate(&keys, session_core::store::SlotTag::random())
            .storage_key()
    }

    fn cx() -> StoreContext {
        StoreContext {
            now: Timestamp::from_unix_millis(1_000),
            ended_retention: Duration::from_secs(60),
            refresh_threshold: Duration::from_secs(60),
            max_data_bytes: 4096,
            anonymous_analytics: false,
        }
    }

    #[test]
    fn every_script_reports_a_word_it_does_not_send_as_corrupt() {
        let key = key();
        let odd = || status("maybe", vec![]);
        let corrupt = |f: &StoreFailure| matches!(f, StoreFailure::Corrupt(_));
        assert!(matches!(create(odd()), Err(CreateError::Store(f)) if corrupt(&f)));
        assert!(load(odd(), None, &key).is_err_and(|f| corrupt(&f)));
        assert!(matches!(apply(odd(), None, &cx()), Err(UpdateError::Store(f)) if corrupt(&f)));
        assert!(matches!(increment(odd(), "n", &cx()), Err(UpdateError::Store(f)) if corrupt(&f)));
        assert!(
            matches!(rotate(odd(), None, &key, &cx()), Err(RotateError::Store(f)) if corrupt(&f))
        );
        assert!(invalidate(odd(), &key).is_err_and(|f| corrupt(&f)));
        assert!(
            matches!(take(odd(), None, &pid(), "n"), Err(UpdateError::Store(f)) if corrupt(&f))
        );
    }

    fn pid() -> PublicId {
        PublicId::of_key(&key())
    }

    #[test]
    fn a_take_answers_the_value_nothing_or_why_not() {
        let ok = |rest| take(status("ok", rest), None, &pid(), "n");
        assert_eq!(ok(vec![]).ok(), Some(None));
        let value = ok(vec![Value::BulkString(b"\"hi\"".to_vec())]);
        assert_eq!(value.ok(), Some(Some("\"hi\"".to_owned())));
        assert!(matches!(ok(vec![Value::Nil]), Err(UpdateError::Store(_))));
        assert!(matches!(
            take(status("unknown", vec![]), None, &pid(), "n"),
            Err(UpdateError::UnknownId)
        ));
    }

    #[test]
    fn a_short_reply_is_corrupt_not_a_panic() {
        let key = key();
        assert!(matches!(
            create(status("ok", vec![])),
            Err(CreateError::Store(_))
        ));
        assert!(matches!(
            create(status("limit", vec![])),
            Err(CreateError::Store(_))
        ));
        assert!(matches!(
            apply(status("ok", vec![Value::Int(5)]), None, &cx()),
            Err(UpdateError::Store(_))
        ));
        assert!(invalidate(status("ok", vec![]), &key).is_err());
        assert!(load(status("active", vec![Value::Int(1)]), None, &key).is_err());
    }

    #[test]
    fn replies_decode_into_the_contract_s_outcomes() {
        let key = key();
        assert_eq!(create(Value::Int(1)).ok(), Some(vec![]));
        assert!(matches!(
            create(status("dup", vec![])),
            Err(CreateError::DuplicateId)
        ));
        assert!(matches!(
            create(status("limit", vec![Value::Int(3)])),
            Err(CreateError::LimitReached { limit: 3 })
        ));
        assert_eq!(increment(Value::Int(42), "n", &cx()).ok(), Some(42));
        assert!(matches!(
            increment(status("nan", vec![]), "n", &cx()),
            Err(UpdateError::NotAnInteger { key }) if key == "n"
        ));
        let applied = apply(
            status("ok", vec![Value::Int(5_000), Value::Int(9_000)]),
            None,
            &cx(),
        );
        assert_eq!(
            applied.ok(),
            Some(Applied {
                idle_deadline: Timestamp::from_unix_millis(5_000),
                absolute_deadline: Timestamp::from_unix_millis(9_000),
            })
        );
        // The steady state keeps the times the request loaded; without
        // them, the integer is a reply the save did not ask for.
        assert!(apply(Value::Int(1), None, &cx()).is_err());
        assert_eq!(invalidate(status("none", vec![]), &key).ok(), Some(None));
        assert_eq!(
            invalidate(status("ok", vec![Value::BulkString(vec![])]), &key).ok(),
            Some(Some(PublicId::of_key(&key)))
        );
        assert!(matches!(
            load(status("unknown", vec![]), None, &key),
            Ok(Loaded::Unknown)
        ));
        assert!(matches!(
            rotate(status("other", vec![]), None, &key, &cx()),
            Err(RotateError::OtherUser)
        ));
    }
}
