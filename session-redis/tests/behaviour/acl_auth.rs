//! ACL users from the URL: the right password connects (pooled or not),
//! a wrong one is a connect error, not a panic.

use std::sync::Arc;

use redis_harness::Server;
use session_core::{KeyRing, Metadata, SessionConfig, SessionManager, UserId};
use session_redis::{RedisStore, RedisStoreError};

#[tokio::test]
async fn acl_credentials_come_from_the_url() {
    let server = Server::start_with(&[
        "--user", "default", "off", "--user", "app", "on", ">s3cret", "~*", "+@all",
    ])
    .unwrap();
    let good = format!("redis://app:s3cret@127.0.0.1:{}", server.port());
    // Pooled too when the pool feature is on.
    for pooled in [false, cfg!(feature = "pool")] {
        let builder = RedisStore::builder(good.clone());
        #[cfg(feature = "pool")]
        let builder = if pooled {
            builder.with_pool(4)
        } else {
            builder
        };
        #[cfg(not(feature = "pool"))]
        let _ = pooled;
        let store = builder.build().await.unwrap();
        let m = SessionManager::new(
            Arc::new(store),
            SessionConfig::builder(KeyRing::generate()).build().unwrap(),
        );
        let alice = UserId::new("alice").unwrap();
        m.create_for_user(&alice, Metadata::default(), None)
            .await
            .unwrap();
        assert!(m.count_user_sessions(&alice).await.unwrap() >= 1);
    }
    let bad = format!("redis://app:wrong@127.0.0.1:{}", server.port());
    let err = RedisStore::connect(&bad).await.unwrap_err();
    assert!(matches!(err, RedisStoreError::Connect(_)), "{err:?}");
    // Without credentials the connection opens (Redis asks for them only
    // at the first command), and every operation then fails closed as
    // unavailable, with the server's refusal as its cause.
    let anonymous = format!("redis://127.0.0.1:{}", server.port());
    if let Ok(store) = RedisStore::connect(&anonymous).await {
        let m = SessionManager::new(
            Arc::new(store),
            SessionConfig::builder(KeyRing::generate()).build().unwrap(),
        );
        let err = m.count_active().await.unwrap_err();
        assert!(
            matches!(err, session_core::StoreFailure::Unavailable(_)),
            "{err:?}"
        );
    }
}
