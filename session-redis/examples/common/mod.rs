//! What the measuring examples share: a redis-server of their own, a
//! session manager over a Redis, and reading `INFO` fields. Not every
//! example uses every helper.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use redis_harness::{Server, raw_command};
use session_core::{KeyRing, SessionConfig, SessionManager, UserLimit};
use session_redis::RedisStore;

/// A fresh redis-server on a free loopback port (stopped when dropped) and
/// a manager over it with no per-user cap: the examples build users with
/// 10,000 sessions.
pub async fn own_server_and_manager() -> (Server, SessionManager) {
    let server = Server::standalone().expect("redis-server starts");
    let config = SessionConfig::builder(KeyRing::generate())
        .with_limit(UserLimit::unlimited())
        .build()
        .expect("config");
    let manager = manager_on(&server.url(), config).await;
    (server, manager)
}

/// A manager over the Redis at `url` (a server or a Cluster), with a long
/// command timeout: the examples run scripts over thousands of sessions.
pub async fn manager_on(url: &str, config: SessionConfig) -> SessionManager {
    let store = RedisStore::builder(url)
        .with_command_timeout(Duration::from_secs(30))
        .build()
        .await
        .expect("store");
    SessionManager::new(Arc::new(store), config)
}

/// Field `field` of `INFO section` on the server at `port` (0 when absent).
pub fn info_field(port: u16, section: &str, field: &str) -> u64 {
    let text = raw_command(port, &["INFO", section]).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
