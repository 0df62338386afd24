//! The ceiling: axum answering every route with a constant, no Redis. The
//! Redis URL is accepted and ignored so every server takes the same command
//! line.

use axum::Router;
use axum::routing::{get, post};
use bench_servers::{Args, serve_axum};

#[tokio::main]
async fn main() {
    let args = Args::from_env();
    let app = Router::new()
        .route("/seed", get(|| async { "0" }))
        .route("/read", get(|| async { "0" }))
        .route("/write", post(|| async { "0" }))
        .route("/incr", post(|| async { "0" }));
    serve_axum(args.addr, app).await;
}
