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
