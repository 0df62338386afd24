//! The bodies of the fuzz targets that exercise this crate (`fuzz/` at the
//! workspace root), shared with the test that replays their checked-in
//! corpus (`tests/tests/cross_crate/fuzz_corpus.rs`), and thin wrappers that make the
//! crate's private parsers reachable from there.
//!
//! **Not API.** This module exists for the fuzz targets only: it is hidden
//! from the docs, outside semver, and changes whenever the targets do.
//!
//! Each target function takes the fuzzer's raw bytes, feeds them to the
//! parsers the way the store would, and panics only when a property those
//! parsers promise is broken. A panic on the input itself is the bug the
//! fuzzer is looking for.

use std::time::Duration;

use redis::Value;
use session_core::store::{LoadedTimes, SessionKey, StoreContext, refresh_due};
use session_core::{Ending, SessionRecord, StoreFailure, Timestamp};

use crate::codec::{self, Judged};
use crate::encryption::EncryptionKeys;
use crate::error::RedisStoreError;
use crate::{env, topology};

/// The raw key the `stored_record` target opens sealed data values with
/// (when the `encryption` feature is on), fixed so that the sealed value in
/// the checked-in corpus opens.
///
/// Exists for the fuzz targets; not API.
pub const FUZZ_ENCRYPTION_KEY: [u8; 32] = *b"fuzzing-encryption-key-012345678";

/// The session key the `stored_record` target decodes records as stored
/// under (it decides the public id of a record without field `@pub`).
///
/// Exists for the fuzz targets; not API.
pub fn fuzz_session_key() -> Option<SessionKey> {
    let ring = session_core::KeyRing::new(vec![vec![0; 32]]).ok()?;
    SessionKey::from_parts("AAAAAAAA", "00112233445566778899aabbccddeeff", &ring)
}

/// What a plain read of a session hash was judged to hold (the store's
/// private `Judged`, made public for the fuzz targets).
///
/// Exists for the fuzz targets; not API.
#[derive(Debug)]
pub enum Judgement {
    /// No such session (or only a tombstone due to be forgotten).
    Unknown,
    /// The session ended.
    Ended(Ending),
    /// A live session.
    Live(SessionRecord),
    /// Past its deadline by the caller's clock; the store ends it in a
    /// script so that the decision is final.
    ExpiredUnrecorded,
}

/// The store's judgement of an `HGETALL` reply on a session key at
/// `cx.now`, decrypting with `keys` when given: a thin wrapper around the
/// private `codec::judge`, which every load runs.
///
/// Exists for the fuzz targets; not API.
pub fn judge_hash(
    reply: Value,
    cx: &StoreContext,
    encrypted: bool,
    session: &SessionKey,
) -> Result<Judgement, StoreFailure> {
    let keys = if encrypted {
        fuzz_encryption_keys()
    } else {
        None
    };
    Ok(match codec::judge(reply, cx, keys.as_ref(), session)? {
        Judged::Unknown => Judgement::Unknown,
        Judged::Ended(ending) => Judgement::Ended(ending),
        Judged::Live(record) => Judgement::Live(record),
        Judged::ExpiredUnrecorded => Judgement::ExpiredUnrecorded,
    })
}

/// A session hash (`field, value, …`) decoded into a record: a thin
/// wrapper around the private `codec::record`, which decodes what the
/// load, rotate and create scripts return.
///
/// Exists for the fuzz targets; not API.
pub fn decode_record(
    fields: &Value,
    encrypted: bool,
    session: &SessionKey,
) -> Result<SessionRecord, StoreFailure> {
    let keys = if encrypted {
        fuzz_encryption_keys()
    } else {
        None
    };
    codec::record(fields, keys.as_ref(), session)
}

/// The reply of the load script (`{'unknown'}`, `{'ended', reason, at}` or
/// `{'active', refreshed, fields}`) decoded as the store's private
/// `load_refreshing` decodes it, with the private `codec` helpers.
///
/// Exists for the fuzz targets; not API.
pub fn decode_load_reply(
    reply: Value,
    encrypted: bool,
    session: &SessionKey,
) -> Result<Judgement, StoreFailure> {
    let (word, rest) = codec::status(reply)?;
    let nth = |i: usize| {
        rest.get(i)
            .ok_or_else(|| StoreFailure::Corrupt(format!("a reply without element {i}")))
    };
    match word.as_str() {
        "unknown" => Ok(Judgement::Unknown),
        "ended" => Ok(Judgement::Ended(codec::ending(&rest)?)),
        "active" => {
            let _refreshed = codec::int(nth(0)?)? == 1;
            Ok(Judgement::Live(decode_record(nth(1)?, encrypted, session)?))
        }
        other => Err(StoreFailure::Corrupt(format!(
            "unexpected reply word {other:?}"
        ))),
    }
}

/// A store URL parsed into its topology, given as its `Debug` text (which
/// hides passwords): a thin wrapper around the private `topology::parse`.
///
/// Exists for the fuzz targets; not API.
pub fn parse_url(url: &str) -> Result<String, RedisStoreError> {
    topology::parse(url).map(|t| format!("{t:?}"))
}

/// `url` with its password replaced by `***`: a thin wrapper around the
/// private `topology::redacted`.
///
/// Exists for the fuzz targets; not API.
pub fn redacted_url(url: &str) -> String {
    topology::redacted(url)
}

/// The store URL the variables `lookup` gives name (checked as
/// [`crate::RedisStore::builder_from_lookup`] checks it): a thin wrapper
/// around the private `env::redis_url`.
///
/// Exists for the fuzz targets; not API.
pub fn url_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, RedisStoreError> {
    env::redis_url(lookup)
}

/// The key prefix the variables `lookup` gives (`SESSION_KEY_PREFIX`): a
/// thin wrapper around the private `env::key_prefix`.
///
/// Exists for the fuzz targets; not API.
pub fn key_prefix_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, RedisStoreError> {
    env::key_prefix(lookup)
}

/// The ring of [`FUZZ_ENCRYPTION_KEY`].
#[cfg(feature = "encryption")]
fn fuzz_encryption_keys() -> Option<EncryptionKeys> {
    EncryptionKeys::new(&[FUZZ_ENCRYPTION_KEY]).ok()
}

/// No ring: this build has no encryption (its feature is off).
#[cfg(not(feature = "encryption"))]
fn fuzz_encryption_keys() -> Option<EncryptionKeys> {
    None
}

/// Fuzz target `stored_record`: a Redis reply built from the bytes through
/// every decoder a load runs: the `HGETALL` judgement (as a RESP2 array and
/// as a RESP3 map, with and without encryption keys), the record decoder,
/// and the load script's reply.
///
/// The input is lines. The first is the context, `NOW [RETENTION
/// [THRESHOLD]]` in milliseconds (defaults for what is missing or not a
/// number). Each other line is one element of the reply, an array:
///
/// * `[` opens a nested array, `]` closes it;
/// * `:N` is an integer, `+TEXT` a simple string, `_` nil, `#t` / `#f` a
///   boolean;
/// * anything else is a bulk string (a leading `\` escapes the markers:
///   `\[` is the bulk string `[`).
///
/// For example, a live session:
///
/// ```text
/// 1000
/// @
/// 2:3e8:3e8:ea60:ee48:182b8
/// @user
/// alice
/// d:n
/// 5
/// ```
///
/// Properties: nothing panics; every failure is
/// [`StoreFailure::Corrupt`]; a live record expires after `NOW`, and its
/// times, packed as a save packs them, decode to the same times.
///
/// Exists for the fuzz targets; not API.
pub fn stored_record(data: &[u8]) {
    let Some(session) = fuzz_session_key() else {
        panic!("the fixed fuzzing session key does not parse");
    };
    let mut lines = data.split(|&b| b == b'\n');
    let cx = context(lines.next().unwrap_or_default());
    let items = elements(&mut lines);

    // The same fields as RESP3 sends them: a map of pairs.
    let mut pairs = Vec::with_capacity(items.len() / 2 + 1);
    let mut rest = items.iter().cloned();
    while let Some(field) = rest.next() {
        pairs.push((field, rest.next().unwrap_or(Value::Nil)));
    }
    let reply = Value::Array(items);

    for encrypted in [false, true] {
        for hash in [reply.clone(), Value::Map(pairs.clone())] {
            if let Some(Judgement::Live(record)) =
                outcome(judge_hash(hash, &cx, encrypted, &session))
            {
                assert!(record.expires_at() > cx.now, "a live record has expired");
                // What the store's load does next with a live record.
                let _due = refresh_due(
                    cx.now,
                    record.idle_deadline,
                    record.idle_timeout,
                    record.absolute_deadline,
                    cx.refresh_threshold,
                );
                check_packed_times(&record, &session);
            }
        }
        outcome(decode_record(&reply, encrypted, &session));
        outcome(decode_load_reply(reply.clone(), encrypted, &session));
    }
}

/// The result of a decoder, which may only fail as corrupt.
fn outcome<T>(result: Result<T, StoreFailure>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(StoreFailure::Corrupt(_)) => None,
        Err(other) => panic!("a decoder failed other than as corrupt: {other:?}"),
    }
}

/// A record's times, packed into field `@` as a save packs them, decode to
/// the same times (when they are within what the layout holds, and the
/// idle deadline is the one the layout derives: a record a store wrote).
fn check_packed_times(record: &SessionRecord, session: &SessionKey) {
    let times = LoadedTimes::of(record);
    let millis = [
        times.created_at.as_unix_millis(),
        times.last_seen_at.as_unix_millis(),
        u64::try_from(times.idle_timeout.as_millis()).unwrap_or(u64::MAX),
        times.absolute_deadline.as_unix_millis(),
    ];
    let derived = times
        .last_seen_at
        .as_unix_millis()
        .saturating_add(millis[2])
        .min(millis[3]);
    if millis.iter().any(|&m| m > crate::layout::TIME_MAX)
        || derived != times.idle_deadline.as_unix_millis()
    {
        return;
    }
    let packed = codec::packed(&times);
    let fields = Value::Array(vec![
        Value::BulkString(b"@".to_vec()),
        Value::BulkString(packed.clone().into_bytes()),
    ]);
    match decode_record(&fields, false, session) {
        Ok(again) => assert_eq!(LoadedTimes::of(&again), times, "{packed:?}"),
        Err(e) => panic!("packed times {packed:?} do not decode: {e}"),
    }
}

/// The store context of the first line: `NOW [RETENTION [THRESHOLD]]`.
fn context(line: &[u8]) -> StoreContext {
    let text = String::from_utf8_lossy(line);
    let mut numbers = text.split_ascii_whitespace().map(|n| n.parse::<u64>().ok());
    let mut next = |default: u64| numbers.next().flatten().unwrap_or(default);
    StoreContext {
        now: Timestamp::from_unix_millis(next(1_000)),
        ended_retention: Duration::from_millis(next(3_600_000)),
        refresh_threshold: Duration::from_millis(next(60_000)),
        max_data_bytes: usize::MAX,
        anonymous_analytics: true,
    }
}

/// Reply elements, one a line, up to the end or a `]` line.
fn elements<'a>(lines: &mut impl Iterator<Item = &'a [u8]>) -> Vec<Value> {
    let mut items = Vec::new();
    while let Some(line) = lines.next() {
        let value = match line {
            b"]" => break,
            b"[" => Value::Array(elements(lines)),
            b"_" => Value::Nil,
            b"#t" => Value::Boolean(true),
            b"#f" => Value::Boolean(false),
            [b':', digits @ ..] => match std::str::from_utf8(digits).map(str::parse::<i64>) {
                Ok(Ok(n)) => Value::Int(n),
                _ => Value::BulkString(line.to_vec()),
            },
            [b'+', text @ ..] => Value::SimpleString(String::from_utf8_lossy(text).into_owned()),
            [b'\\', escaped @ ..] => Value::BulkString(escaped.to_vec()),
            bulk => Value::BulkString(bulk.to_vec()),
        };
        items.push(value);
    }
    items
}

/// Fuzz target `redis_url`: the first line as a store URL through the
/// topology parser (and the redaction that logs it), the other lines as
/// `NAME=VALUE` environment variables through the environment rules
/// ([`crate::RedisStore::builder_from_lookup`]).
///
/// For example:
///
/// ```text
/// redis+sentinel://app:s3cret@s1:26379,s2:26379/mymaster
/// REDIS_HOST=cache.internal
/// REDIS_PORT=6380
/// ```
///
/// Properties: nothing panics; a URL the environment gives is one the
/// topology parser accepts.
///
/// Exists for the fuzz targets; not API.
pub fn redis_url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let url = lines.next().unwrap_or_default();
    let parsed = parse_url(url);
    let _ = redacted_url(url);
    let _ = format!("{:?}", crate::RedisStore::builder(url));
    if let Err(e) = parsed {
        let _ = e.to_string();
    }

    let variables: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once('=')).collect();
    let lookup = |name: &str| {
        variables
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    };
    if let Ok(Some(from_env)) = url_from_lookup(lookup) {
        assert!(
            parse_url(&from_env).is_ok(),
            "the environment gave a URL the store cannot parse"
        );
    }
    let _ = key_prefix_from_lookup(lookup);
    match crate::RedisStore::builder_from_lookup(lookup) {
        Ok(builder) => {
            let _ = format!("{builder:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
