//! The floor: no session library, a random cookie naming one Redis string,
//! on axum over one multiplexed redis-rs connection. `/read` is one GET,
//! `/write` a GET then a SET, `/incr` one INCR.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bench_servers::{Args, serve_axum};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

type Answer = Result<Response, (StatusCode, String)>;

fn failed(e: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

#[tokio::main]
async fn main() {
    let args = Args::from_env();
    let client = redis::Client::open(args.redis_url.as_str()).unwrap_or_else(|e| panic!("{e}"));
    let redis = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis: {e}"));
    let app = Router::new()
        .route("/seed", get(seed))
        .route("/read", get(read))
        .route("/write", post(write))
        .route("/incr", post(incr))
        .with_state(redis);
    serve_axum(args.addr, app).await;
}

fn key_of(headers: &HeaderMap) -> Result<String, (StatusCode, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix("id="))
        .map(|id| format!("raw:{id}"))
        .ok_or((StatusCode::UNAUTHORIZED, "no cookie".into()))
}

async fn seed(State(mut redis): State<MultiplexedConnection>) -> Answer {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(failed)?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let () = redis.set(format!("raw:{id}"), 0i64).await.map_err(failed)?;
    let cookie = format!("id={id}; HttpOnly; Secure; SameSite=Lax; Path=/");
    Ok(([(header::SET_COOKIE, cookie)], "0").into_response())
}

async fn read(State(mut redis): State<MultiplexedConnection>, headers: HeaderMap) -> Answer {
    let n: Option<i64> = redis.get(key_of(&headers)?).await.map_err(failed)?;
    Ok(n.unwrap_or(0).to_string().into_response())
}

async fn write(State(mut redis): State<MultiplexedConnection>, headers: HeaderMap) -> Answer {
    let key = key_of(&headers)?;
    let n: Option<i64> = redis.get(&key).await.map_err(failed)?;
    let n = n.unwrap_or(0) + 1;
    let () = redis.set(&key, n).await.map_err(failed)?;
    Ok(n.to_string().into_response())
}

async fn incr(State(mut redis): State<MultiplexedConnection>, headers: HeaderMap) -> Answer {
    let n: i64 = redis.incr(key_of(&headers)?, 1).await.map_err(failed)?;
    Ok(n.to_string().into_response())
}
