//! The store under the faults production sees, through a loopback proxy
//! the test controls (`redis_harness::FaultProxy`): a reply lost after the
//! script ran is sent again and answers the first reply (issue 26), so the
//! step is applied exactly once and the caller sees no error, on a single
//! Redis, through the store's pool, the application's connection manager
//! and bb8 pool, and on Cluster; every
//! connection mode recovers after a restart; a demoted single endpoint
//! (a managed Redis failing over behind one name) is followed without
//! applying a write twice.

use std::collections::BTreeMap;
use std::time::Duration;

#[cfg(feature = "cluster")]
use redis_harness::Cluster;
use redis_harness::{Fault, FaultProxy, Server, raw_command, wait_replicated};
use session_core::store::{
    Loaded, NewSession, SessionKey, SessionStore, SlotTag, StoreContext, UserKey,
};
use session_core::{
    EndReason, KeyRing, Metadata, PublicId, SessionId, Timestamp, UserId, UserLimit,
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

/// Drops the reply of the next script call through `proxies`, after it
/// ran, while `step` runs; checks that a reply was dropped. (On Cluster,
/// each node's proxy drops its next one: a resend that redis-rs routes to
/// another node while it relearns the slots loses that node's `MOVED` too.)
async fn with_a_lost_script_reply<T>(proxies: &[&FaultProxy], step: impl Future<Output = T>) -> T {
    let before: u64 = proxies.iter().map(|p| p.replies_dropped()).sum();
    for p in proxies {
        p.set(Fault::DropNextScriptReply);
    }
    let outcome = step.await;
    for p in proxies {
        p.set(Fault::None);
    }
    let after: u64 = proxies.iter().map(|p| p.replies_dropped()).sum();
    assert!(after > before, "the proxy dropped no script reply");
    outcome
}

/// A new anonymous session on `store`, incremented once (so the script is
/// loaded: a lost NOSCRIPT proves nothing).
async fn incremented_once(store: &RedisStore) -> SessionKey {
    let ring = KeyRing::generate();
    let s = new_session(&ring, None);
    let key = s.key;
    store
        .create(s, UserLimit::unlimited(), &cx())
        .await
        .expect("create");
    assert_eq!(store.increment(&key, "n", 1, &cx()).await.expect("incr"), 1);
    key
}

/// Creates a session and increments it once, then increments it again
/// while the proxies drop the reply after the script ran: the store sends
/// it again on a fresh connection, and its operation id makes the resend
/// answer the first reply (2) instead of incrementing again. Returns the
/// session's key.
async fn increment_with_a_lost_reply(store: &RedisStore, proxies: &[&FaultProxy]) -> SessionKey {
    let key = incremented_once(store).await;
    let outcome = with_a_lost_script_reply(proxies, store.increment(&key, "n", 1, &cx())).await;
    assert_eq!(
        outcome.expect("a lost reply is sent again, not reported"),
        2,
        "the resend answers the first reply"
    );
    key
}

/// Replies lost after the step ran, on every step whose resend would
/// otherwise differ: each answers as if nothing was lost, and ran once.
async fn lost_reply_is_applied_once(store: &RedisStore, proxies: &[&FaultProxy]) {
    let key = increment_with_a_lost_reply(store, proxies).await;
    assert_eq!(
        counter(store, &key).await,
        2,
        "G3: one increment whose reply was lost added exactly 1"
    );
    assert_eq!(
        store
            .increment(&key, "n", 1, &cx())
            .await
            .expect("works again"),
        3
    );

    // A signed-in create whose reply was lost: created, once.
    let ring = KeyRing::generate();
    let user = UserId::new("lost-create").expect("user id");
    let uk = UserKey::new(&ring, user);
    let first = new_session(&ring, Some(uk.clone()));
    let first_public = first.public_id;
    let first_key = first.key;
    let created =
        with_a_lost_script_reply(proxies, store.create(first, UserLimit::unlimited(), &cx())).await;
    assert_eq!(created.expect("created"), Vec::<PublicId>::new());
    assert_eq!(
        store.count_user_sessions(&uk, &cx()).await.expect("count"),
        1,
        "a create whose reply was lost was applied once"
    );

    // An anonymous create (no id: its key is its own): created.
    let anonymous = new_session(&ring, None);
    let anonymous_key = anonymous.key;
    let created = with_a_lost_script_reply(
        proxies,
        store.create(anonymous, UserLimit::unlimited(), &cx()),
    )
    .await;
    assert_eq!(created.expect("created"), Vec::<PublicId>::new());
    assert_eq!(counter(store, &anonymous_key).await, 0);

    // A logout: the resend answers the public id it ended, not "none".
    let ended = with_a_lost_script_reply(
        proxies,
        store.invalidate(&first_key, EndReason::Logout, &cx()),
    )
    .await;
    assert_eq!(ended.expect("logged out"), Some(first_public));

    // Revoke-all: the resend answers the sessions it ended, not none.
    let mut publics = Vec::new();
    for _ in 0..3 {
        let s = new_session(&ring, Some(uk.clone()));
        publics.push(s.public_id);
        store
            .create(s, UserLimit::unlimited(), &cx())
            .await
            .expect("create");
    }
    let revoked = with_a_lost_script_reply(
        proxies,
        store.revoke_all(&uk, None, EndReason::Revoked("test".into()), &cx()),
    )
    .await;
    let mut revoked = revoked.expect("revoked");
    revoked.sort();
    publics.sort();
    assert_eq!(revoked, publics, "the resend answers the first reply");
}

#[tokio::test]
async fn standalone_a_lost_reply_is_sent_again_and_applied_once() {
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
async fn pool_a_lost_reply_is_sent_again_and_applied_once() {
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
async fn app_connection_a_lost_reply_is_sent_again_and_applied_once() {
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

/// The application's bb8 pool, with bb8's check-out test on (its
/// default, which the store's documentation asks for): the dead connection
/// is replaced on the resend's check-out.
#[cfg(feature = "pool")]
#[tokio::test]
async fn app_pool_a_lost_reply_is_sent_again_and_applied_once() {
    let server = Server::standalone().expect("redis");
    let proxy = FaultProxy::start(server.port()).expect("proxy");
    let manager = bb8_redis::RedisConnectionManager::new(proxy.url()).expect("a manager");
    let pool = bb8_redis::bb8::Pool::builder()
        .max_size(1)
        .build(manager)
        .await
        .expect("a pool");
    let store = RedisStore::with_bb8_pool(pool)
        .build()
        .await
        .expect("store");
    lost_reply_is_applied_once(&store, &[&proxy]).await;
}

/// The seed addresses of a Cluster behind `proxies` (its nodes announce
/// the proxies).
#[cfg(feature = "cluster")]
fn seeds_of(proxies: &[FaultProxy]) -> Vec<String> {
    proxies
        .iter()
        .map(|p| format!("127.0.0.1:{}", p.port()))
        .collect()
}

#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_a_lost_reply_is_sent_again_and_applied_once() {
    let (cluster, proxies) = Cluster::start_behind_proxies(3).expect("cluster");
    let seeds = seeds_of(&proxies);
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

/// A managed Redis failing over behind one name: primary `a`, its replica
/// `b`, and a proxy (the name) in front of `a`; a store through the name
/// with `command_timeout`, and a session incremented once.
async fn behind_one_name(
    command_timeout: Duration,
) -> (Server, Server, FaultProxy, RedisStore, SessionKey) {
    let a = Server::start_with(&["--repl-diskless-sync-delay", "0"]).expect("redis a");
    let b =
        Server::start_with(&["--replicaof", "127.0.0.1", &a.port().to_string()]).expect("redis b");
    let proxy = FaultProxy::start(a.port()).expect("proxy");
    let store = RedisStore::builder(proxy.url())
        .with_command_timeout(command_timeout)
        .build()
        .await
        .expect("store");
    let key = incremented_once(&store).await;
    (a, b, proxy, store, key)
}

#[tokio::test]
async fn a_demoted_single_endpoint_is_followed_without_a_double_apply() {
    // A managed Redis failing over behind one name: the proxy is the name.
    let (a, b, proxy, store, key) = behind_one_name(Duration::from_secs(1)).await;
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

/// Issue 26 across a failover: an increment's reply is lost after it ran
/// on the primary `a`; its resends reach `b`, still a replica (READONLY:
/// not applied, tried again); `b` catches up and is promoted; the resend
/// that lands there finds the operation id, which replicated with the
/// write, and answers the first reply instead of incrementing again. Seen
/// failing with ids left out (3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_after_a_failover_finds_the_id_that_replicated_with_the_write() {
    let (a, b, proxy, store, key) = behind_one_name(Duration::from_secs(20)).await;
    // New connections (the resends) go to b, the replica; the open one
    // still reaches a, where the increment runs and its reply is lost.
    proxy.retarget(b.port());
    proxy.set(Fault::DropNextScriptReply);
    let increment = {
        let store = store.clone();
        tokio::spawn(async move { store.increment(&key, "n", 1, &cx()).await })
    };
    while proxy.replies_dropped() == 0 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!increment.is_finished(), "the resends wait for a primary");
    wait_replicated(a.port(), b.port(), Duration::from_secs(10)).expect("b caught up");
    assert!(
        raw_command(b.port(), &["REPLICAOF", "NO", "ONE"])
            .expect("promote")
            .starts_with("+OK")
    );
    let outcome = increment.await.expect("the task");
    assert_eq!(
        outcome.expect("answered after the failover"),
        2,
        "the resend on the new primary answers the first reply"
    );
    assert_eq!(counter(&store, &key).await, 2, "applied exactly once");
}

/// A reply swallowed on a connection that stays open (no reset, so
/// nothing tells the client it is lost): after half the call's deadline
/// the store takes it as lost and sends the call again on a fresh
/// connection, which answers the first reply. Seen failing without the
/// half-deadline resend: the call timed out.
#[tokio::test]
async fn a_reply_swallowed_on_an_open_connection_is_sent_again_after_half_the_deadline() {
    let server = Server::standalone().expect("redis");
    let proxy = FaultProxy::start(server.port()).expect("proxy");
    let store = RedisStore::builder(proxy.url())
        .with_command_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("store");
    let key = incremented_once(&store).await;
    let name = store.session_key_name(&key);
    proxy.set(Fault::Blackhole);
    let increment = {
        let store = store.clone();
        tokio::spawn(async move { store.increment(&key, "n", 1, &cx()).await })
    };
    // Once the increment ran (read on the server itself), replies flow
    // again, but the one it swallowed is gone and its connection open.
    while !raw_command(server.port(), &["HGET", &name, "d:n"])
        .expect("HGET")
        .contains("\r\n2\r\n")
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.set(Fault::None);
    let outcome = increment.await.expect("the task");
    assert_eq!(outcome.expect("sent again, answered"), 2);
    assert_eq!(counter(&store, &key).await, 2, "applied exactly once");
}

/// The store's own cluster connection, after an attempt got no reply at
/// all (the proxies swallow every reply and keep the connections open),
/// is replaced: once replies flow again, the next calls answer, and
/// answer right. (redis-rs's cluster client was seen answering nothing
/// ever again after lost replies under load, `connection/cluster.rs`.)
#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_a_connection_that_answered_nothing_is_replaced() {
    let (cluster, proxies) = Cluster::start_behind_proxies(3).expect("cluster");
    let seeds = seeds_of(&proxies);
    let store = RedisStore::cluster(&seeds)
        .with_command_timeout(Duration::from_millis(500))
        .build()
        .await
        .expect("store");
    let key = incremented_once(&store).await;
    for p in &proxies {
        p.set(Fault::Blackhole);
    }
    let lost = store.increment(&key, "n", 1, &cx()).await;
    assert!(
        matches!(
            lost,
            Err(session_core::store::UpdateError::Store(
                session_core::StoreFailure::OutcomeUnknown(_)
            ))
        ),
        "{lost:?}"
    );
    for p in &proxies {
        p.set(Fault::None);
    }
    // The swallowed increment ran once (its resends found its id).
    for expected in 3..8 {
        let answer = store.increment(&key, "n", 1, &cx()).await;
        assert_eq!(answer.expect("answered once replies flow"), expected);
    }
    drop(cluster);
}
