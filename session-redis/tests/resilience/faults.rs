//! The store under the faults production sees, through a loopback proxy
//! the test controls (`redis_harness::FaultProxy`): a reply lost after the
//! command ran is reported as an unknown outcome and the command is applied
//! exactly once, on a single Redis, through the pool and on Cluster; every
//! connection mode recovers after a restart; a demoted single endpoint
//! (a managed Redis failing over behind one name) is followed without
//! applying a write twice.

use std::collections::BTreeMap;
use std::time::Duration;

#[cfg(feature = "cluster")]
use redis_harness::Cluster;
use redis_harness::{Fault, FaultProxy, Server, raw_command, wait_replicated};
use session_core::store::{
    CreateError, Loaded, NewSession, SessionKey, SessionStore, SlotTag, StoreContext, UpdateError,
    UserKey,
};
use session_core::{
    KeyRing, Metadata, PublicId, SessionId, StoreFailure, Timestamp, UserId, UserLimit,
};
use session_redis::RedisStore;

fn cx() -> StoreContext {
    StoreContext {
        now: Timestamp::from_unix_millis(1_700_000_000_000),
        ended_retention: Duration::from_secs(600),
        refresh_threshold: Duration::from_secs(60),
        max_data_bytes: usize::MAX,
        anonymous_analytics: true,
    }
}

fn new_session(ring: &KeyRing, user: Option<UserKey>) -> NewSession {
    let slot = user.as_ref().map_or_else(SlotTag::random, |u| u.slot);
    NewSession {
        key: SessionId::generate(ring, slot).storage_key(),
        public_id: PublicId::generate(),
        user,
        idle_timeout: Duration::from_secs(3600),
        absolute_deadline: Timestamp::from_unix_millis(1_700_000_000_000 + 86_400_000),
        metadata: Metadata::default(),
        data: BTreeMap::from([("n".to_owned(), "0".to_owned())]),
    }
}

async fn counter(store: &RedisStore, key: &SessionKey) -> i64 {
    match store.load(key, &cx()).await.expect("load") {
        Loaded::Active { record, .. } => record.data["n"].as_i64().expect("an integer"),
        other => panic!("the session is not active: {other:?}"),
    }
}

/// Creates a session and increments it once, then increments it again
/// while the proxies drop the reply: that outcome must be unknown.
/// Returns the session's key; its counter ran twice.
async fn increment_with_a_lost_reply(store: &RedisStore, proxies: &[&FaultProxy]) -> SessionKey {
    let ring = KeyRing::generate();
    let s = new_session(&ring, None);
    let key = s.key;
    store
        .create(s, UserLimit::unlimited(), &cx())
        .await
        .expect("create");
    // Once first, so the script is loaded (a lost NOSCRIPT proves nothing).
    assert_eq!(store.increment(&key, "n", 1, &cx()).await.expect("incr"), 1);
    for p in proxies {
        p.set(Fault::DropNextReply);
    }
    let outcome = store.increment(&key, "n", 1, &cx()).await;
    for p in proxies {
        p.set(Fault::None);
    }
    let dropped: u64 = proxies.iter().map(|p| p.replies_dropped()).sum();
    assert_eq!(dropped, 1, "the proxy dropped one reply");
    assert!(
        matches!(
            outcome,
            Err(UpdateError::Store(StoreFailure::OutcomeUnknown(_)))
        ),
        "a lost reply is an unknown outcome, got {outcome:?}"
    );
    key
}

/// A reply lost after an increment ran: reported as an unknown outcome,
/// never repeated, so the counter moved by exactly one; the next calls
/// work (the dead connection was dropped).
async fn lost_reply_is_applied_once(store: &RedisStore, proxies: &[&FaultProxy]) {
    let key = increment_with_a_lost_reply(store, proxies).await;
    let ring = KeyRing::generate();
    let mut n = None;
    for _ in 0..20 {
        if let Ok(Loaded::Active { record, .. }) = store.load(&key, &cx()).await {
            n = record.data["n"].as_i64();
            break;
        }
    }
    assert_eq!(
        n,
        Some(2),
        "G3: one increment whose reply was lost added exactly 1"
    );
    assert_eq!(
        store
            .increment(&key, "n", 1, &cx())
            .await
            .expect("works again"),
        3
    );

    // A create whose reply was lost: unknown, and the session exists once.
    let user = UserId::new("lost-create").expect("user id");
    let uk = UserKey::new(&ring, user);
    for p in proxies {
        p.set(Fault::DropNextReply);
    }
    let created = store
        .create(
            new_session(&ring, Some(uk.clone())),
            UserLimit::unlimited(),
            &cx(),
        )
        .await;
    for p in proxies {
        p.set(Fault::None);
    }
    assert!(
        matches!(
            created,
            Err(CreateError::Store(StoreFailure::OutcomeUnknown(_)))
        ),
        "{created:?}"
    );
    let mut count = None;
    for _ in 0..20 {
        if let Ok(c) = store.count_user_sessions(&uk, &cx()).await {
            count = Some(c);
            break;
        }
    }
    assert_eq!(
        count,
        Some(1),
        "a create whose reply was lost was applied once"
    );
}

#[tokio::test]
async fn standalone_a_lost_reply_is_reported_unknown_and_applied_once() {
    let server = Server::standalone().expect("redis");
    let proxy = FaultProxy::start(server.port()).expect("proxy");
    let store = RedisStore::builder(proxy.url())
        .build()
        .await
        .expect("store");
    lost_reply_is_applied_once(&store, &[&proxy]).await;
}

#[cfg(feature = "pool")]
#[tokio::test]
async fn pool_a_lost_reply_is_reported_unknown_and_applied_once() {
    let server = Server::standalone().expect("redis");
    let proxy = FaultProxy::start(server.port()).expect("proxy");
    let store = RedisStore::builder(proxy.url())
        .with_pool(1)
        .build()
        .await
        .expect("store");
    lost_reply_is_applied_once(&store, &[&proxy]).await;
}

#[tokio::test]
async fn app_connection_a_lost_reply_is_reported_unknown_and_applied_once() {
    let server = Server::standalone().expect("redis");
    let proxy = FaultProxy::start(server.port()).expect("proxy");
    let client = redis::Client::open(proxy.url()).expect("a client");
    let shared = client.get_connection_manager().await.expect("a manager");
    let store = RedisStore::with_connection_manager(shared)
        .build()
        .await
        .expect("store");
    lost_reply_is_applied_once(&store, &[&proxy]).await;
}

/// The application's bb8 pool, without bb8's check-out PING (which would
/// take the dropped reply itself): the increment's lost reply is an unknown
/// outcome and the increment ran once (read back on a connection of its
/// own). Recovery from a dead pooled connection is bb8's check-out test,
/// covered by `app_pool_recovers_after_a_restart`.
#[cfg(feature = "pool")]
#[tokio::test]
async fn app_pool_a_lost_reply_is_reported_unknown_and_applied_once() {
    let server = Server::standalone().expect("redis");
    let proxy = FaultProxy::start(server.port()).expect("proxy");
    let manager = bb8_redis::RedisConnectionManager::new(proxy.url()).expect("a manager");
    let pool = bb8_redis::bb8::Pool::builder()
        .max_size(1)
        .test_on_check_out(false)
        .build(manager)
        .await
        .expect("a pool");
    let store = RedisStore::with_bb8_pool(pool)
        .build()
        .await
        .expect("store");
    let key = increment_with_a_lost_reply(&store, &[&proxy]).await;
    let name = store.session_key_name(&key);
    let n = redis_harness::raw_command(server.port(), &["HGET", &name, "d:n"]).expect("HGET");
    assert!(
        n.contains("\r\n2\r\n"),
        "G3: one increment whose reply was lost added exactly 1: {n:?}"
    );
}

#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_a_lost_reply_is_reported_unknown_and_applied_once() {
    let (cluster, proxies) = Cluster::start_behind_proxies(3).expect("cluster");
    let seeds: Vec<String> = proxies
        .iter()
        .map(|p| format!("127.0.0.1:{}", p.port()))
        .collect();
    let store = RedisStore::cluster(&seeds).build().await.expect("store");
    let refs: Vec<&FaultProxy> = proxies.iter().collect();
    lost_reply_is_applied_once(&store, &refs).await;
    drop(cluster);
}

/// Creates sessions until `n` have succeeded, allowing a few failures per
/// session while the store reconnects; panics if it does not recover.
async fn recovers(store: &RedisStore, n: usize) {
    let ring = KeyRing::generate();
    for _ in 0..n {
        let mut done = false;
        for _ in 0..40 {
            if store
                .create(new_session(&ring, None), UserLimit::unlimited(), &cx())
                .await
                .is_ok()
            {
                done = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(done, "the store did not recover after the restart");
    }
}

async fn restart_and_recover(builder: session_redis::RedisStoreBuilder, server: &mut Server) {
    let store = builder
        .with_command_timeout(Duration::from_millis(500))
        .build()
        .await
        .expect("store");
    recovers(&store, 4).await;
    server.restart().expect("restart");
    recovers(&store, 20).await;
}

#[tokio::test]
async fn standalone_recovers_after_a_restart() {
    let mut server = Server::standalone().expect("redis");
    restart_and_recover(RedisStore::builder(server.url()), &mut server).await;
}

#[tokio::test]
async fn app_connection_recovers_after_a_restart() {
    let mut server = Server::standalone().expect("redis");
    let client = redis::Client::open(server.url()).expect("a client");
    let shared = client.get_connection_manager().await.expect("a manager");
    restart_and_recover(RedisStore::with_connection_manager(shared), &mut server).await;
}

#[cfg(feature = "pool")]
#[tokio::test]
async fn app_pool_recovers_after_a_restart() {
    let mut server = Server::standalone().expect("redis");
    let manager = bb8_redis::RedisConnectionManager::new(server.url()).expect("a manager");
    let pool = bb8_redis::bb8::Pool::builder()
        .max_size(2)
        .build(manager)
        .await
        .expect("a pool");
    restart_and_recover(RedisStore::with_bb8_pool(pool), &mut server).await;
}

#[cfg(feature = "pool")]
#[tokio::test]
async fn pool_recovers_after_a_restart() {
    let mut server = Server::standalone().expect("redis");
    restart_and_recover(RedisStore::builder(server.url()).with_pool(4), &mut server).await;
}

#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_recovers_after_a_node_restarts() {
    let mut cluster = Cluster::start(3).expect("cluster");
    let builder = RedisStore::builder(cluster.url());
    let store = builder
        .with_command_timeout(Duration::from_millis(500))
        .build()
        .await
        .expect("store");
    recovers(&store, 4).await;
    cluster.nodes_mut()[0].restart().expect("restart");
    // Sessions spread over every node, so 30 creates reach the restarted one.
    recovers(&store, 30).await;
}

#[tokio::test]
async fn a_demoted_single_endpoint_is_followed_without_a_double_apply() {
    // A managed Redis failing over behind one name: the proxy is the name.
    let a = Server::start_with(&["--repl-diskless-sync-delay", "0"]).expect("redis a");
    let b =
        Server::start_with(&["--replicaof", "127.0.0.1", &a.port().to_string()]).expect("redis b");
    let proxy = FaultProxy::start(a.port()).expect("proxy");
    let store = RedisStore::builder(proxy.url())
        .build()
        .await
        .expect("store");
    let ring = KeyRing::generate();
    let s = new_session(&ring, None);
    let key = s.key;
    store
        .create(s, UserLimit::unlimited(), &cx())
        .await
        .expect("create");
    assert_eq!(store.increment(&key, "n", 1, &cx()).await.expect("incr"), 1);
    wait_replicated(a.port(), b.port(), Duration::from_secs(10)).expect("b caught up");
    // Fail over: b becomes the primary, a its replica, the name moves to b.
    assert!(
        raw_command(b.port(), &["REPLICAOF", "NO", "ONE"])
            .expect("promote")
            .starts_with("+OK")
    );
    assert!(
        raw_command(a.port(), &["REPLICAOF", "127.0.0.1", &b.port().to_string()])
            .expect("demote")
            .starts_with("+OK")
    );
    proxy.retarget(b.port());
    // The open connection still reaches a, which answers READONLY (not
    // applied): the store reconnects through the name and applies it once.
    assert_eq!(
        store
            .increment(&key, "n", 1, &cx())
            .await
            .expect("followed the failover"),
        2
    );
    assert_eq!(counter(&store, &key).await, 2, "applied exactly once");
}
