//! Runs the axum demo: `cargo run -p axum-demo` serves
//! http://127.0.0.1:3000 on the in-memory store; set `REDIS_URL` for Redis.
//! Settings come from the environment (see `docs/demo-api.md`); a bad one
//! stops the demo with a message naming it.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How long Ctrl-C waits for open connections to finish before the demo
/// stops anyway: a page's events stream (`/api/events`) stays open as long
/// as its session lives, and axum's graceful shutdown waits for every
/// connection.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("axum-demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let setup = demo_app::setup(std::env::args().skip(1).collect()).await?;
    let port = setup.port;
    let app = axum_demo::router(setup.manager);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    tracing::info!("listening on http://127.0.0.1:{port}");
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signal = stopping.clone();
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = tokio::signal::ctrl_c().await;
        signal.notify_one();
    });
    tokio::select! {
        served = served.into_future() => served.map_err(|e| e.to_string()),
        () = async {
            stopping.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::info!("stopping with connections still open after {SHUTDOWN_GRACE:?}");
            Ok(())
        }
    }
}
