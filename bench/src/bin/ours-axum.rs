//! This project on axum: `session-axum` over `session-redis`, defaults
//! throughout (one multiplexed connection, the CSRF guard on, Secure
//! `__Host-` cookie, 24 h idle timeout with refresh threshold 1 h).

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use bench_servers::{Args, COUNTER};
use session_axum::{Session, SessionLayer, SessionRejection};
use session_core::{KeyRing, SessionConfig, SessionManager};
use session_redis::RedisStore;

#[tokio::main]
async fn main() {
    let args = Args::from_env();
    let store = RedisStore::connect(&args.redis_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis: {e}"));
    let config = SessionConfig::builder(KeyRing::generate())
        .build()
        .unwrap_or_else(|e| panic!("bad configuration: {e}"));
    let manager = SessionManager::new(Arc::new(store), config);
    let app = Router::new()
        .route("/seed", get(seed))
        .route("/read", get(read))
        .route("/write", post(write))
        .route("/incr", post(incr))
        .layer(SessionLayer::new(manager));
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen: {e}"));
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn seed(session: Session) -> Result<String, SessionRejection> {
    session.insert(COUNTER, 0i64).await?;
    Ok("0".into())
}

async fn read(session: Session) -> Result<String, SessionRejection> {
    let n: i64 = session.get(COUNTER).await?.unwrap_or(0);
    Ok(n.to_string())
}

async fn write(session: Session) -> Result<String, SessionRejection> {
    let n: i64 = session.get(COUNTER).await?.unwrap_or(0) + 1;
    session.insert(COUNTER, n).await?;
    Ok(n.to_string())
}

async fn incr(session: Session) -> Result<String, SessionRejection> {
    Ok(session.increment(COUNTER, 1).await?.to_string())
}
