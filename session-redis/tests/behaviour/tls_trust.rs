//! TLS verifies the server: without the CA that signed it, connecting
//! fails with a connect error (never a panic, never an unverified link).

use session_redis::{RedisStore, RedisStoreError};

use crate::support;

#[tokio::test]
async fn an_unknown_ca_is_refused() {
    let h = support::Standalone::start_tls();
    let store = h.redis_store().await; // trusted CA: connects
    drop(store);
    let url = h.tls_url().expect("a TLS server");
    let err = RedisStore::builder(url)
        .with_connect_timeout(std::time::Duration::from_secs(2))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, RedisStoreError::Connect(_)), "{err:?}");
    let other_ca = support::CertDir::make();
    let wrong = std::fs::read(other_ca.path("ca.crt")).unwrap();
    let err = RedisStore::builder(h.tls_url().unwrap())
        .with_tls_root_certificate(wrong)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, RedisStoreError::Connect(_)), "{err:?}");
}
