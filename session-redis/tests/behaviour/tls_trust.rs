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

/// A Cluster whose nodes speak TLS (clients on the TLS ports, the bus over
/// TLS): with its CA the store serves a session's whole life through
/// `rediss+cluster://`; without it, or with another CA, connecting fails.
#[cfg(feature = "cluster")]
#[tokio::test]
async fn a_tls_cluster_serves_sessions_and_is_verified() {
    let certs = support::CertDir::make();
    let security = redis_harness::Security {
        tls: Some(certs.tls_files()),
        acl: None,
    };
    let cluster = redis_harness::Cluster::start_secured(3, &security).expect("a TLS cluster");
    let url = cluster.secure_url(None);
    assert!(url.starts_with("rediss+cluster://"), "{url}");
    verified_end_to_end(&url, &certs).await;
}

/// A Sentinel set whose data nodes and sentinels speak TLS (replication
/// over TLS, the sentinels naming the primary's TLS port): with its CA the
/// store serves a session's whole life through `rediss+sentinel://`;
/// without it, or with another CA, connecting fails. (The store builds
/// the Sentinel client with redis-rs's `SentinelClientBuilder`, which
/// takes the CA for the sentinels and the primary alike.)
#[cfg(feature = "sentinel")]
#[tokio::test]
async fn a_tls_sentinel_set_serves_sessions_and_is_verified() {
    let certs = support::CertDir::make();
    let security = redis_harness::Security {
        tls: Some(certs.tls_files()),
        acl: None,
    };
    let group = redis_harness::Sentinel::start_secured(&security).expect("a TLS Sentinel set");
    let url = group.secure_url(None);
    assert!(url.starts_with("rediss+sentinel://"), "{url}");
    verified_end_to_end(&url, &certs).await;
}

/// The store on `url` trusting the CA of `certs` serves sessions; trusting
/// the system's roots, or another CA, it does not connect.
#[cfg(any(feature = "cluster", feature = "sentinel"))]
async fn verified_end_to_end(url: &str, certs: &support::CertDir) {
    let store = RedisStore::builder(url)
        .with_tls_root_certificate(certs.ca())
        .build()
        .await
        .expect("connects with the CA that signed the servers");
    support::round_trip(store).await;
    let err = RedisStore::builder(url)
        .with_connect_timeout(std::time::Duration::from_secs(2))
        .build()
        .await
        .expect_err("the system's roots do not know the test CA");
    assert!(matches!(err, RedisStoreError::Connect(_)), "{err:?}");
    let other_ca = support::CertDir::make();
    let err = RedisStore::builder(url)
        .with_tls_root_certificate(other_ca.ca())
        .with_connect_timeout(std::time::Duration::from_secs(2))
        .build()
        .await
        .expect_err("another CA does not vouch for the servers");
    assert!(matches!(err, RedisStoreError::Connect(_)), "{err:?}");
}
