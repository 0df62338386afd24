//! A Sentinel failover is survived: after the primary dies and a replica is
//! promoted, the same store (no restart of the application) works against
//! the new primary, and a session written before the failover is there.

mod support;

use std::sync::Arc;
use std::time::Duration;

use redis_harness::raw_command;
use session_core::store::Loaded;
use session_core::{KeyRing, Metadata, SessionConfig, SessionManager, UserId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_a_failover_without_a_restart() {
    let mut h = support::OnSentinel::start();
    let store = h.redis_store().await;
    let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
    let m = SessionManager::new(Arc::new(store), config);
    let alice = UserId::new("alice").unwrap();
    let (id, _) = m
        .create_for_user(&alice, Metadata::default(), None)
        .await
        .unwrap();

    // Replication is asynchronous: make sure the replica has the session
    // before the primary dies, so its loss is not what this test measures.
    h.group.wait_until_failover_ready().unwrap();
    let old = h.group.primary_mut().port();
    let acked = raw_command(old, &["WAIT", "1", "5000"]).unwrap();
    assert!(
        acked.starts_with(":1"),
        "the replica did not acknowledge: {acked}"
    );
    h.group.primary_mut().stop();
    let new = h
        .group
        .wait_for_failover_from(old, Duration::from_secs(30))
        .unwrap();
    assert_ne!(new, old);

    // The first call may still hit the dead connection (reported, not
    // repeated); the store then asks the sentinels and reaches the new primary.
    let mut loaded = None;
    for _ in 0..5 {
        if let Ok(l) = m.get(&id).await {
            loaded = Some(l);
            break;
        }
    }
    assert!(
        matches!(loaded, Some(Loaded::Active { .. })),
        "the session is not active after the failover: {loaded:?}"
    );
    m.create_for_user(&alice, Metadata::default(), None)
        .await
        .unwrap();
    assert_eq!(
        m.count_user_sessions(&alice).await.unwrap(),
        2,
        "writes go to the new primary"
    );
}
