//! Sentinel failovers: after the primary dies and a replica is promoted,
//! the same store (no restart of the application) works against the new
//! primary, and a session written before the failover is there; an
//! invalidation no replica acknowledged is reported as not replicated (and
//! the failover indeed undoes it); an acknowledged one survives.

use std::sync::Arc;
use std::time::Duration;

use session_core::store::Loaded;
use session_core::{KeyRing, Metadata, SessionConfig, SessionManager, UserId};

use crate::support;

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
    redis_harness::wait_replicated(old, h.group.replica().port(), Duration::from_secs(10)).unwrap();
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

/// A manager over the Sentinel group's store (3 s command timeout).
async fn manager_on(group: &redis_harness::Sentinel) -> SessionManager {
    let store = session_redis::RedisStore::builder(group.url())
        .with_command_timeout(Duration::from_secs(3))
        .build()
        .await
        .unwrap();
    let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
    SessionManager::new(Arc::new(store), config)
}

/// The user's side of an unreplicated logout (the contract's durability
/// paragraph): with the replica's link cut, a logout from the request's own
/// handle is answered as done, since the user is signed out on the primary:
/// no error, the cookie removed, no replacement answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreplicated_logout_is_answered_as_done() {
    let (group, link) = redis_harness::Sentinel::start_with_replication_proxy().unwrap();
    let m = manager_on(&group).await;
    let mut pairs = Vec::new();
    let mut public_ids = Vec::new();
    for _ in 0..3 {
        let s = m.session_for_request([]);
        let login = s.login(UserId::new("alice").unwrap()).await.unwrap();
        public_ids.push(login.record.public_id);
        let cookie = s.finish().await.set_cookie().unwrap().to_owned();
        pairs.push(cookie.split(';').next().unwrap().to_owned());
    }
    let pair = pairs[0].clone();
    group.wait_until_failover_ready().unwrap();

    link.set(redis_harness::Fault::Blackhole);
    // Revoking a device and signing out the others from a request are
    // answered as done too, with what they ended (seen failing: 503s).
    let s = m.session_for_request([pair.as_bytes()]);
    let revoked = s.revoke_device(&public_ids[1], "").await;
    assert!(
        matches!(revoked, Ok(true)),
        "an applied revoke answered {revoked:?}"
    );
    let others = s.sign_out_others().await;
    assert!(
        matches!(others, Ok(1)),
        "an applied sign-out-others answered {others:?}"
    );
    assert!(
        s.finish().await.error().is_none(),
        "no replacement answer (503)"
    );
    let s = m.session_for_request([pair.as_bytes()]);
    let outcome = s.logout().await;
    assert!(outcome.is_ok(), "an applied logout answered {outcome:?}");
    let update = s.finish().await;
    assert!(update.error().is_none(), "no replacement answer (503)");
    assert!(
        update.set_cookie().is_some_and(|c| c.contains("Max-Age=0")),
        "the cookie is removed"
    );
    let again = m.session_for_request([pair.as_bytes()]);
    assert!(
        again.require_user().await.is_err(),
        "signed out on the primary"
    );
}

/// Durability of invalidations (the contract's Topologies section): with
/// the replica's link cut, a logout is applied on the primary but reported
/// as not replicated, and the failover that follows indeed brings the
/// session back, so the report was the truth the application needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_no_replica_acknowledged_is_reported_not_replicated() {
    let (mut group, link) = redis_harness::Sentinel::start_with_replication_proxy().unwrap();
    let m = manager_on(&group).await;
    let alice = UserId::new("alice").unwrap();
    let (id, _) = m
        .create_for_user(&alice, Metadata::default(), None)
        .await
        .unwrap();
    group.wait_until_failover_ready().unwrap();
    let old = group.primary_mut().port();
    redis_harness::wait_replicated(old, group.replica().port(), Duration::from_secs(10)).unwrap();

    link.set(redis_harness::Fault::Blackhole);
    let outcome = m.revoke_all(&alice, None).await;
    assert!(
        matches!(
            outcome,
            Err(session_core::StoreFailure::NotReplicated { .. })
        ),
        "a logout no replica saw must say so, got {outcome:?}"
    );

    group.primary_mut().stop();
    group
        .wait_for_failover_from(old, Duration::from_secs(30))
        .unwrap();
    let mut loaded = None;
    for _ in 0..10 {
        if let Ok(l) = m.get(&id).await {
            loaded = Some(l);
            break;
        }
    }
    assert!(
        matches!(loaded, Some(Loaded::Active { .. })),
        "the failover lost the unreplicated logout, as reported: {loaded:?}"
    );
}

/// With the replica acknowledging, an acknowledged logout survives the
/// primary's death: after the failover the session is still ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_logout_survives_a_failover() {
    let mut h = support::OnSentinel::start();
    let store = h.redis_store().await;
    let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
    let m = SessionManager::new(Arc::new(store), config);
    let alice = UserId::new("alice").unwrap();
    let (id, _) = m
        .create_for_user(&alice, Metadata::default(), None)
        .await
        .unwrap();
    h.group.wait_until_failover_ready().unwrap();
    assert_eq!(m.revoke_all(&alice, None).await.unwrap(), 1);
    // Killed at once: only the store's WAIT made the replica have it.
    let old = h.group.primary_mut().port();
    h.group.primary_mut().stop();
    h.group
        .wait_for_failover_from(old, Duration::from_secs(30))
        .unwrap();
    let mut loaded = None;
    for _ in 0..10 {
        if let Ok(l) = m.get(&id).await {
            loaded = Some(l);
            break;
        }
    }
    assert!(
        matches!(loaded, Some(Loaded::Ended(_))),
        "G1: an acknowledged logout came back after a failover: {loaded:?}"
    );
}
