//! The codec's unit tests.
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

/// Field `@` of the good record: created and seen at 1 s, idle timeout
/// 60 s, absolute deadline 99 s (so the idle deadline is 61 s).
fn header() -> &'static str {
    static HEADER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        Header {
            created: 1_000,
            seen: 1_000,
            idle: 60_000,
            absolute: 99_000,
        }
        .encode()
    });
    &HEADER
}

fn good() -> Vec<(&'static str, &'static str)> {
    vec![
        ("@", header()),
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
fn times_pack_as_the_scripts_pack_them() {
    let r = record(&fields(&good()), None, &key()).unwrap();
    assert_eq!(r.idle_deadline, Timestamp::from_unix_millis(61_000));
    assert_eq!(packed(&LoadedTimes::of(&r)), header());
}

#[test]
fn empty_metadata_is_not_stored_and_reads_as_default() {
    let pairs: Vec<_> = good().into_iter().filter(|(k, _)| *k != "@meta").collect();
    let r = record(&fields(&pairs), None, &key()).unwrap();
    assert_eq!(r.metadata, Metadata::default());
}

#[test]
fn damaged_sessions_are_corrupt_not_panics() {
    // A good record with field `f` holding `v` instead.
    let with = |f: &'static str, v: &'static str| {
        good()
            .into_iter()
            .map(move |(k, old)| if k == f { (k, v) } else { (k, old) })
            .collect::<Vec<_>>()
    };
    let packed = |v: &'static str| with("@", v);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        good().into_iter().filter(|(k, _)| *k != "@").collect(),
        // a layout-1 record (before the fields were packed)
        vec![
            ("@v", "1"),
            ("@pub", "AAAAAAAAAAAAAAAAAAAAAA"),
            ("@idl", "61000"),
        ],
        // layout 2 (hex text), now unread
        packed("2:3e8:3e8:ea60:ee48:182b8"),
        packed(""),
        packed("3"),
        packed(&header()[..header().len() - 1]),
        packed(Box::leak(format!("{}x", header()).into_boxed_str())),
        packed(Box::leak(format!("4{}", &header()[1..]).into_boxed_str())),
        // a byte over 127 (two bytes in UTF-8, so one digit fewer)
        packed(Box::leak(
            format!("{}\u{80}", &header()[..header().len() - 2]).into_boxed_str(),
        )),
        with("d:n", "{oops"),
        with("@meta", "[]"),
        with("@user", ""),
        with("@pub", "short"),
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

/// A hash of data fields only (what a plain save leaves on a gone session
/// until it is settled) loads as unknown; one that also holds a reserved
/// field other than `@` is corrupt.
#[test]
fn a_hash_of_data_fields_only_holds_no_session() {
    let cx = StoreContext {
        now: Timestamp::from_unix_millis(2_000),
        ended_retention: Duration::from_secs(60),
        refresh_threshold: Duration::from_secs(60),
        max_data_bytes: usize::MAX,
        anonymous_analytics: false,
    };
    let stray = fields(&[("d:n", "5"), ("d:m", "6")]);
    assert!(matches!(
        judge(stray, &cx, None, &key()),
        Ok(Judged::Unknown)
    ));
    let damaged = fields(&[("d:n", "5"), ("@pub", "AAAAAAAAAAAAAAAAAAAAAA")]);
    assert!(matches!(
        judge(damaged, &cx, None, &key()),
        Err(StoreFailure::Corrupt(_))
    ));
    assert!(matches!(
        judge(fields(&good()), &cx, None, &key()),
        Ok(Judged::Live(_))
    ));
}
