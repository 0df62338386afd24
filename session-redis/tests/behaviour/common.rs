//! Helpers of the `keys`, `server`, `storage` and `costs` modules: a
//! manager over a store, a cookie from a `Set-Cookie`, and Redis's own
//! command counts.

use std::sync::Arc;

use redis_harness::raw_command;
use session_core::store::SessionStore;
use session_core::{KeyRing, LimitPolicy, SessionConfig, SessionManager, UserLimit};

/// A manager over `store` with a limit of two sessions per user
/// (`LimitPolicy::EvictIdle`).
pub fn manager(store: Arc<dyn SessionStore>) -> SessionManager {
    let config = SessionConfig::builder(KeyRing::generate())
        .with_limit(UserLimit::at_most(2, LimitPolicy::EvictIdle))
        .build()
        .unwrap();
    SessionManager::new(store, config)
}

/// The `name=value` of a `Set-Cookie` header.
pub fn cookie_of(set_cookie: Option<String>) -> String {
    set_cookie.unwrap().split(';').next().unwrap().to_owned()
}

/// How many times Redis on `port` ran `command` since the last
/// `CONFIG RESETSTAT`.
pub fn calls(port: u16, command: &str) -> u64 {
    let stats = raw_command(port, &["INFO", "commandstats"]).unwrap();
    stats
        .lines()
        .find(|l| l.starts_with(&format!("cmdstat_{command}:")))
        .and_then(|l| l.split("calls=").nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `CONFIG RESETSTAT` on every server in `ports`.
pub fn reset_stats(ports: &[u16]) {
    for port in ports {
        assert!(
            raw_command(*port, &["CONFIG", "RESETSTAT"])
                .unwrap()
                .starts_with("+OK")
        );
    }
}
