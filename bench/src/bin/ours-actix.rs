//! This project on actix-web: `session-actix` over `session-redis`,
//! defaults throughout (as `ours-axum`).

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use bench_servers::{Args, COUNTER};
use session_actix::{Session, SessionMiddleware, SessionRejection};
use session_core::{KeyRing, SessionConfig, SessionManager};
use session_redis::RedisStore;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::from_env();
    let store = RedisStore::connect(&args.redis_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis: {e}"));
    let config = SessionConfig::builder(KeyRing::generate())
        .build()
        .unwrap_or_else(|e| panic!("bad configuration: {e}"));
    let manager = SessionManager::new(Arc::new(store), config);
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(manager.clone()))
            .route("/seed", web::get().to(seed))
            .route("/read", web::get().to(read))
            .route("/write", web::post().to(write))
            .route("/incr", web::post().to(incr))
    })
    .bind(args.addr)?
    .run()
    .await
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
