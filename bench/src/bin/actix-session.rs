//! actix-session 0.11 with its `RedisSessionStore` (redis-rs
//! `ConnectionManager`) on actix-web 4, as its documentation sets it up:
//! `SessionMiddleware::new(store, key)` with its defaults (cookie `id`,
//! private (encrypted) cookie, Secure, HttpOnly, SameSite=Lax, state TTL one
//! day, extended on state changes only).

use actix_session::storage::RedisSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{App, HttpServer, error, web};
use bench_servers::{Args, COUNTER};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::from_env();
    let store = RedisSessionStore::new(args.redis_url.as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis: {e}"));
    let key = Key::generate();
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), key.clone()))
            .route("/seed", web::get().to(seed))
            .route("/read", web::get().to(read))
            .route("/write", web::post().to(write))
            .route("/incr", web::post().to(write))
    })
    .bind(args.addr)?
    .run()
    .await
}

async fn seed(session: Session) -> actix_web::Result<String> {
    session
        .insert(COUNTER, 0i64)
        .map_err(error::ErrorInternalServerError)?;
    Ok("0".into())
}

async fn read(session: Session) -> actix_web::Result<String> {
    let n: i64 = session
        .get(COUNTER)
        .map_err(error::ErrorInternalServerError)?
        .unwrap_or(0);
    Ok(n.to_string())
}

async fn write(session: Session) -> actix_web::Result<String> {
    let n: i64 = session
        .get(COUNTER)
        .map_err(error::ErrorInternalServerError)?
        .unwrap_or(0)
        + 1;
    session
        .insert(COUNTER, n)
        .map_err(error::ErrorInternalServerError)?;
    Ok(n.to_string())
}
