//! This project on axum: `session-axum` over `session-redis`, defaults
//! throughout (see `bench_servers::ours`).

use axum::Router;
use axum::routing::{get, post};
use bench_servers::{Args, ours, serve_axum};
use session_axum::{Session, SessionLayer, SessionRejection};

type Answer = Result<String, SessionRejection>;

#[tokio::main]
async fn main() {
    let args = Args::from_env();
    let manager = ours::manager(&args.redis_url).await;
    let app = Router::new()
        .route(
            "/seed",
            get(|s: Session| async move { Answer::Ok(ours::seed(&s).await?) }),
        )
        .route(
            "/read",
            get(|s: Session| async move { Answer::Ok(ours::read(&s).await?) }),
        )
        .route(
            "/write",
            post(|s: Session| async move { Answer::Ok(ours::write(&s).await?) }),
        )
        .route(
            "/incr",
            post(|s: Session| async move { Answer::Ok(ours::incr(&s).await?) }),
        )
        .layer(SessionLayer::new(manager));
    serve_axum(args.addr, app).await;
}
