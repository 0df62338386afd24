//! What the store leaves in Redis and what it sends: a TTL on every key
//! and no session id stored (on one server and on Cluster), one command
//! per store operation and no keyspace scans, and scripts reloaded after
//! SCRIPT FLUSH.

use std::sync::Arc;

use redis_harness::raw_command;
use session_core::store::testkit::FaultyStore;
use session_core::{Metadata, PageRequest, SessionManager, UserId};

use crate::common::{calls, cookie_of, manager};
use crate::support::Standalone;

/// Logins over the limit, anonymous sessions, writes, increments, a
/// rotation, a logout, revocations and analytics. Returns every cookie
/// issued.
async fn mixed_workload(m: &SessionManager) -> Vec<String> {
    let mut cookies = Vec::new();
    for i in 0..3 {
        let s = m.session_for_request([]);
        s.insert("cart", vec![1, 2, 3]).await.unwrap();
        cookies.push(cookie_of(s.finish().await.set_cookie().map(str::to_owned)));
        let s = m.session_for_request([cookies.last().unwrap().as_bytes()]);
        s.login(UserId::new(format!("user-{}", i % 2)).unwrap())
            .await
            .unwrap();
        s.increment("counter", 1).await.unwrap();
        cookies.push(cookie_of(s.finish().await.set_cookie().map(str::to_owned)));
    }
    let s = m.session_for_request([cookies.last().unwrap().as_bytes()]);
    s.rotate().await.unwrap();
    s.insert("after", "rotation").await.unwrap();
    cookies.push(cookie_of(s.finish().await.set_cookie().map(str::to_owned)));
    let s = m.session_for_request([cookies[1].as_bytes()]);
    s.logout().await.unwrap();
    s.finish().await;
    let alice = UserId::new("alice").unwrap();
    let (id, record) = m
        .create_for_user(&alice, Metadata::default(), None)
        .await
        .unwrap();
    cookies.push(format!("sid={}", id.expose_secret()));
    m.create_for_user(&alice, Metadata::default(), None)
        .await
        .unwrap();
    m.revoke_device(&alice, &record.public_id, "lost")
        .await
        .unwrap();
    m.revoke_all(&UserId::new("user-0").unwrap(), None)
        .await
        .unwrap();
    m.list_user_sessions(&alice).await.unwrap();
    m.count_active().await.unwrap();
    m.count_active_users().await.unwrap();
    m.active_users(PageRequest {
        after: None,
        limit: 10,
    })
    .await
    .unwrap();
    cookies
}

/// Every key on `node` has a TTL and holds none of `secrets`.
fn check_keys(node: &redis_harness::Server, secrets: &[String]) -> usize {
    let keys: Vec<String> = node
        .cli(&["--scan"])
        .unwrap()
        .lines()
        .map(str::to_owned)
        .filter(|k| !k.is_empty())
        .collect();
    for key in &keys {
        let ttl: i64 = node.cli(&["PTTL", key]).unwrap().trim().parse().unwrap();
        assert!(ttl > 0, "key {key} has no TTL ({ttl})");
        let dump = format!(
            "{key} {} {}",
            node.cli(&["HGETALL", key]).unwrap_or_default(),
            node.cli(&["ZRANGE", key, "0", "-1"]).unwrap_or_default()
        );
        for s in secrets {
            assert!(
                !dump.contains(s.as_str()),
                "a session id's secret is stored in {key}"
            );
        }
    }
    keys.len()
}

fn secrets_of(cookies: &[String]) -> Vec<String> {
    cookies
        .iter()
        .map(|c| {
            c.split_once('=')
                .unwrap()
                .1
                .split('.')
                .nth(1)
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn every_key_has_a_ttl_and_no_session_id_is_stored() {
    let h = Standalone::start();
    let m = manager(Arc::new(h.redis_store().await));
    let cookies = mixed_workload(&m).await;
    let keys = check_keys(&h.server, &secrets_of(&cookies));
    assert!(keys >= 8, "the workload wrote too few keys: {keys}");
}

#[cfg(feature = "cluster")]
#[tokio::test]
async fn on_cluster_too_every_key_has_a_ttl_and_no_session_id_is_stored() {
    let h = crate::support::OnCluster::start();
    let m = manager(Arc::new(h.redis_store().await));
    let cookies = mixed_workload(&m).await;
    let secrets = secrets_of(&cookies);
    let keys: usize = h
        .cluster
        .nodes()
        .iter()
        .map(|n| check_keys(n, &secrets))
        .sum();
    assert!(keys >= 8, "the workload wrote too few keys: {keys}");
}

#[tokio::test]
async fn each_store_operation_is_one_command_and_nothing_scans() {
    let h = Standalone::start();
    let store = Arc::new(FaultyStore::new(Arc::new(h.redis_store().await)));
    let m = manager(store.clone());
    mixed_workload(&m).await; // loads every script
    assert!(
        raw_command(h.server.port(), &["CONFIG", "RESETSTAT"])
            .unwrap()
            .starts_with("+OK")
    );
    let before = store.calls();
    mixed_workload(&m).await;
    let operations = store.calls() - before;
    let port = h.server.port();
    assert!(
        operations >= 10,
        "the workload made only {operations} store calls"
    );
    assert_eq!(
        calls(port, "evalsha"),
        operations,
        "one EVALSHA per store operation"
    );
    for other in ["eval", "script|load", "multi", "exec"] {
        assert_eq!(calls(port, other), 0, "{other} was sent");
    }
    for scan in ["keys", "scan", "dbsize"] {
        assert_eq!(calls(port, scan), 0, "{scan} must never run");
    }
}

#[tokio::test]
async fn scripts_come_back_after_script_flush() {
    let h = Standalone::start();
    let m = manager(Arc::new(h.redis_store().await));
    let alice = UserId::new("alice").unwrap();
    let (id, _) = m
        .create_for_user(&alice, Metadata::default(), None)
        .await
        .unwrap();
    assert!(
        raw_command(h.server.port(), &["SCRIPT", "FLUSH"])
            .unwrap()
            .starts_with("+OK")
    );
    assert!(matches!(
        m.get(&id).await.unwrap(),
        session_core::store::Loaded::Active { .. }
    ));
    assert_eq!(m.count_user_sessions(&alice).await.unwrap(), 1);
}
