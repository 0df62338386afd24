//! Data values are sealed at rest: a dump shows no secret; old keys still
//! open values after the ring gains a new key; a value sealed with a key no
//! longer in the ring makes the session corrupt, not empty.

mod support;

use std::sync::Arc;

use session_core::{KeyRing, SessionConfig, SessionError, SessionManager, StoreFailure};
use session_redis::{EncryptionKeys, RedisStore};

async fn store(h: &support::Standalone, keys: &[[u8; 32]]) -> RedisStore {
    RedisStore::builder(h.server.url())
        .with_prefix("enc")
        .with_encryption(EncryptionKeys::new(keys).unwrap())
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn secrets_are_sealed_and_key_rotation_keeps_them_readable() {
    let h = support::Standalone::start();
    let ring = KeyRing::generate();
    let config = || SessionConfig::builder(ring.clone()).build().unwrap();
    let old = SessionManager::new(Arc::new(store(&h, &[[1; 32]]).await), config());

    let s = old.session_for_request([]);
    s.insert("oauth_token", "ya29.very-secret-token")
        .await
        .unwrap();
    s.increment("visits", 1).await.unwrap();
    let cookie = s.finish().await.set_cookie().map(str::to_owned).unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();

    let dump = h.server.cli(&["--scan"]).unwrap();
    for key in dump.lines().filter(|k| !k.is_empty()) {
        let fields = h.server.cli(&["HGETALL", key]).unwrap_or_default();
        assert!(
            !fields.contains("very-secret-token"),
            "the secret is readable in {key}: {fields}"
        );
    }

    // A new key in front: old values still open, new values use the new key.
    let rotated = SessionManager::new(Arc::new(store(&h, &[[2; 32], [1; 32]]).await), config());
    let s = rotated.session_for_request([cookie.as_bytes()]);
    assert_eq!(
        s.get::<String>("oauth_token").await.unwrap().as_deref(),
        Some("ya29.very-secret-token")
    );
    assert_eq!(
        s.increment("visits", 1).await.unwrap(),
        2,
        "integers stay clear for HINCRBY"
    );
    s.insert("refresh", "another-secret").await.unwrap();
    assert!(s.finish().await.error().is_none());

    // The old key retired: what it sealed no longer opens, and the session
    // is reported corrupt rather than silently emptied.
    let retired = SessionManager::new(Arc::new(store(&h, &[[2; 32]]).await), config());
    let s = retired.session_for_request([cookie.as_bytes()]);
    let err = s.get::<String>("refresh").await.unwrap_err();
    assert!(
        matches!(err, SessionError::Store(StoreFailure::Corrupt(_))),
        "expected a corrupt record, got {err:?}"
    );
}

/// A sealed value copied into another session's hash (by someone with
/// write access to Redis) does not open there: the associated data binds
/// the session's public id. The value still opens where it belongs, and a
/// rotated session keeps reading its own values.
#[tokio::test]
async fn a_sealed_value_moved_to_another_session_does_not_open() {
    let h = support::Standalone::start();
    let ring = KeyRing::generate();
    let config = SessionConfig::builder(ring.clone()).build().unwrap();
    let sealed_store = store(&h, &[[1; 32]]).await;
    let m = SessionManager::new(Arc::new(sealed_store.clone()), config);
    let mut cookies = Vec::new();
    for secret in ["alice-token", "mallory-token"] {
        let s = m.session_for_request([]);
        s.insert("token", secret).await.unwrap();
        let cookie = s.finish().await.set_cookie().map(str::to_owned).unwrap();
        cookies.push(cookie.split(';').next().unwrap().to_owned());
    }
    let keys: Vec<String> = cookies
        .iter()
        .map(|c| {
            let id = m.parse_id(c.split_once('=').unwrap().1).unwrap();
            sealed_store.session_key_name(&id.storage_key())
        })
        .collect();
    let alice_value = h.server.cli(&["HGET", &keys[0], "d:token"]).unwrap();
    assert!(alice_value.starts_with("enc2:"), "{alice_value}");
    h.server
        .cli(&["HSET", &keys[1], "d:token", alice_value.trim()])
        .unwrap();
    let s = m.session_for_request([cookies[1].as_bytes()]);
    let got = s.get::<String>("token").await;
    assert!(
        matches!(got, Err(SessionError::Store(StoreFailure::Corrupt(_)))),
        "a value moved from another session opened: {got:?}"
    );
    let s = m.session_for_request([cookies[0].as_bytes()]);
    s.rotate().await.unwrap();
    assert_eq!(
        s.get::<String>("token").await.unwrap().as_deref(),
        Some("alice-token"),
        "rotation keeps the session's own values readable"
    );
}
