//! tower-sessions 0.14 with tower-sessions-redis-store 0.16 (fred 10) on
//! axum, as the store's README sets it up: a fred pool of 6 connections,
//! `SessionManagerLayer::new(store)` with its defaults (cookie `id`, Secure,
//! SameSite=Strict, HttpOnly, records kept two weeks, saved only when
//! changed).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use bench_servers::{Args, COUNTER, serve_axum};
use tower_sessions::{Session, SessionManagerLayer};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};

type Answer = Result<String, (StatusCode, String)>;

fn failed(e: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

#[tokio::main]
async fn main() {
    let args = Args::from_env();
    let config = Config::from_url(&args.redis_url).unwrap_or_else(|e| panic!("bad url: {e}"));
    let pool = Pool::new(config, None, None, None, 6).unwrap_or_else(|e| panic!("pool: {e}"));
    let _connections = pool.connect();
    pool.wait_for_connect()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis: {e}"));
    let layer = SessionManagerLayer::new(RedisStore::new(pool));
    let app = Router::new()
        .route("/seed", get(seed))
        .route("/read", get(read))
        .route("/write", post(write))
        .route("/incr", post(write))
        .layer(layer);
    serve_axum(args.addr, app).await;
}

async fn seed(session: Session) -> Answer {
    session.insert(COUNTER, 0i64).await.map_err(failed)?;
    Ok("0".into())
}

async fn read(session: Session) -> Answer {
    let n: i64 = session.get(COUNTER).await.map_err(failed)?.unwrap_or(0);
    Ok(n.to_string())
}

async fn write(session: Session) -> Answer {
    let n: i64 = session.get(COUNTER).await.map_err(failed)?.unwrap_or(0) + 1;
    session.insert(COUNTER, n).await.map_err(failed)?;
    Ok(n.to_string())
}
