//! What the measuring examples share: a redis-server of their own and a
//! session manager over it.

use std::sync::Arc;
use std::time::Duration;

use redis_harness::Server;
use session_core::{KeyRing, SessionConfig, SessionManager, UserLimit};
use session_redis::RedisStore;

/// A fresh redis-server on a free loopback port (stopped when dropped) and
/// a manager over it, with a long command timeout: the examples run
/// scripts over thousands of sessions.
pub async fn own_server_and_manager() -> (Server, SessionManager) {
    let server = Server::standalone().expect("redis-server starts");
    let store = RedisStore::builder(server.url())
        .with_command_timeout(Duration::from_secs(30))
        .build()
        .await
        .expect("store");
    // No per-user cap: the examples build users with 10,000 sessions.
    let config = SessionConfig::builder(KeyRing::generate())
        .with_limit(UserLimit::unlimited())
        .build()
        .expect("config");
    (server, SessionManager::new(Arc::new(store), config))
}
