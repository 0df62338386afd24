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
