//! Runs the actix-web demo: `cargo run -p actix-demo` serves
//! http://127.0.0.1:3000 on the in-memory store; set `REDIS_URL` for Redis.
//! Settings come from the environment (see `docs/demo-api.md`); a bad one
//! stops the demo with a message naming it.

use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("actix-demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let setup = demo_app::setup(std::env::args().skip(1).collect()).await?;
    let port = setup.port;
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    tracing::info!("listening on http://127.0.0.1:{port}");
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let server = actix_demo::server(setup.manager, listener, workers).map_err(|e| e.to_string())?;
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let _ = actix_web::rt::signal::ctrl_c().await;
        handle.stop(true).await;
    });
    server.await.map_err(|e| e.to_string())
}
