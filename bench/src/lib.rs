//! What every bench server shares: its command line and the routes it
//! serves.
//!
//! Every server takes `PORT REDIS_URL` and serves, over one Redis:
//!
//! | route | what it does |
//! | --- | --- |
//! | `GET /seed` | creates a session holding `counter = 0` and sets its cookie |
//! | `GET /read` | reads `counter` |
//! | `POST /write` | reads `counter` and stores it plus one |
//! | `POST /incr` | the library's atomic increment (peers have none: same as `/write`) |
//!
//! Each answers with the counter's value as plain text.

use std::net::SocketAddr;
use std::sync::Arc;

use session_core::{KeyRing, Session, SessionConfig, SessionError, SessionManager};
use session_redis::RedisStore;

/// The key every server stores in its sessions.
pub const COUNTER: &str = "counter";

/// The command line every server takes: `PORT REDIS_URL`.
pub struct Args {
    /// Where to listen (127.0.0.1).
    pub addr: SocketAddr,
    /// The Redis server to use.
    pub redis_url: String,
}

impl Args {
    /// Reads `PORT REDIS_URL` from the process arguments, or exits with a
    /// usage line.
    pub fn from_env() -> Args {
        let args: Vec<String> = std::env::args().collect();
        let program = args.first().cloned().unwrap_or_default();
        let port = args.get(1).and_then(|p| p.parse::<u16>().ok());
        match (port, args.get(2)) {
            (Some(port), Some(url)) => Args {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                redis_url: url.clone(),
            },
            _ => {
                eprintln!("usage: {program} PORT REDIS_URL");
                std::process::exit(2);
            }
        }
    }
}

/// Serves `app` (an axum router) on `addr` until the process ends.
pub async fn serve_axum(addr: SocketAddr, app: axum::Router) {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen: {e}"));
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// This project's side: one manager over the Redis store, defaults
/// throughout (one multiplexed connection, the CSRF guard on, Secure
/// `__Host-` cookie, 24 h idle timeout with refresh threshold 1 h), and the
/// four routes' bodies, shared by the axum and actix-web servers.
pub mod ours {
    use super::*;

    /// The session manager every `ours-*` server uses.
    pub async fn manager(redis_url: &str) -> SessionManager {
        let store = RedisStore::connect(redis_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach Redis: {e}"));
        let config = SessionConfig::builder(KeyRing::generate())
            .build()
            .unwrap_or_else(|e| panic!("bad configuration: {e}"));
        SessionManager::new(Arc::new(store), config)
    }

    /// `GET /seed`.
    pub async fn seed(session: &Session) -> Result<String, SessionError> {
        session.insert(COUNTER, 0i64).await?;
        Ok("0".into())
    }

    /// `GET /read`.
    pub async fn read(session: &Session) -> Result<String, SessionError> {
        let n: i64 = session.get(COUNTER).await?.unwrap_or(0);
        Ok(n.to_string())
    }

    /// `POST /write`: read, then store plus one.
    pub async fn write(session: &Session) -> Result<String, SessionError> {
        let n: i64 = session.get(COUNTER).await?.unwrap_or(0) + 1;
        session.insert(COUNTER, n).await?;
        Ok(n.to_string())
    }

    /// `POST /incr`: the atomic increment.
    pub async fn incr(session: &Session) -> Result<String, SessionError> {
        Ok(session.increment(COUNTER, 1).await?.to_string())
    }
}
