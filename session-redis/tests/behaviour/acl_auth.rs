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

/// The application's user on a Cluster's or Sentinel set's data nodes:
/// its own keys only (the default prefix), no dangerous commands, and
/// `more` rules.
#[cfg(any(feature = "cluster", feature = "sentinel"))]
fn app_user(more: &[&str]) -> redis_harness::Security {
    redis_harness::Security {
        tls: None,
        acl: Some(redis_harness::AclUser {
            name: "app".into(),
            password: "s3cret".into(),
            rules: ["~session:*", "+@all", "-@dangerous"]
                .iter()
                .chain(more)
                .map(|r| r.to_string())
                .collect(),
        }),
    }
}

/// With the right password the store serves a session's whole life; with
/// a wrong one, or none, it fails closed (a connect error, or every call
/// unavailable), never serving without the user. `data_port`: a data node
/// on which the user's limits are checked.
#[cfg(any(feature = "cluster", feature = "sentinel"))]
async fn only_the_app_user_is_served(
    url_as: impl Fn(Option<(&str, &str)>) -> String,
    data_port: u16,
) {
    let store = RedisStore::connect(&url_as(Some(("app", "s3cret"))))
        .await
        .expect("connects as app");
    crate::support::round_trip(store).await;
    // The user's rights are limited: other keys, dangerous commands.
    let refused = |args: &[&str]| {
        let reply =
            redis_harness::raw_command_as(data_port, "app", "s3cret", args).expect("a reply");
        assert!(reply.starts_with("-NOPERM"), "{args:?}: {reply}");
    };
    refused(&["SET", "other:key", "1"]);
    refused(&["FLUSHALL"]);
    for url in [url_as(Some(("app", "wrong"))), url_as(None)] {
        let Ok(store) = RedisStore::builder(url.clone())
            .with_connect_timeout(std::time::Duration::from_secs(2))
            .build()
            .await
        else {
            continue;
        };
        let m = SessionManager::new(
            Arc::new(store),
            SessionConfig::builder(KeyRing::generate()).build().unwrap(),
        );
        let alice = UserId::new("alice").unwrap();
        let err = m
            .create_for_user(&alice, Metadata::default(), None)
            .await
            .expect_err("no session without the user's password");
        assert!(
            matches!(
                err,
                session_core::SessionError::Store(session_core::StoreFailure::Unavailable(_))
            ),
            "{url}: {err:?}"
        );
    }
}

/// ACL users on a 3-primary Cluster (the default user off).
#[cfg(feature = "cluster")]
#[tokio::test]
async fn acl_credentials_on_a_cluster() {
    let cluster = redis_harness::Cluster::start_secured(3, &app_user(&[])).expect("the cluster");
    let port = cluster.nodes()[0].port();
    only_the_app_user_is_served(|c| cluster.secure_url(c), port).await;
}

/// ACL users on a Sentinel set's data nodes (the default user off; the
/// replica and the sentinels authenticate as the harness's user).
#[cfg(feature = "sentinel")]
#[tokio::test]
async fn acl_credentials_on_a_sentinel_set() {
    // The client asks the primary the sentinels name for its ROLE (an
    // admin command) before using it: the user needs that one too.
    let group =
        redis_harness::Sentinel::start_secured(&app_user(&["+role"])).expect("the Sentinel set");
    let port = group.current_primary_port().expect("a primary");
    only_the_app_user_is_served(|c| group.secure_url(c), port).await;
}
