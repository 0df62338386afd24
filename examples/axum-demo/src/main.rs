//! Runs the axum demo: `cargo run -p axum-demo` serves
//! http://127.0.0.1:3000 on the in-memory store; set `REDIS_URL` for Redis.
//! Settings come from the environment (see `docs/demo-api.md`); a bad one
//! stops the demo with a message naming it.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use session_core::store::SessionStore;
use session_core::{MemoryStore, SessionConfig, SessionManager};
use session_redis::RedisStore;
use tracing::info;

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

fn port() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut from_flag = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => from_flag = Some(args.next().ok_or("--port needs a value")?),
            other => match other.strip_prefix("--port=") {
                Some(v) => from_flag = Some(v.to_owned()),
                None => {
                    return Err(format!(
                        "unknown argument {other:?} (the only flag is --port N)"
                    ));
                }
            },
        }
    }
    let (name, value) = match from_flag {
        Some(v) => ("--port", v),
        None => (
            "PORT",
            std::env::var("PORT").unwrap_or_else(|_| "3000".into()),
        ),
    };
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name}: expected a port number, got {value:?}"))
}

fn redacted(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://…@{}", &url[at + 1..]),
        _ => url.to_owned(),
    }
}

async fn run() -> Result<(), String> {
    let port = port()?;
    let secure_unset = std::env::var("SESSION_COOKIE_SECURE").is_err();
    let env = SessionConfig::from_lookup(|name| match name {
        // Plain http://127.0.0.1 cannot carry Secure cookies.
        "SESSION_COOKIE_SECURE" if secure_unset => Some("false".into()),
        _ => std::env::var(name).ok(),
    })
    .map_err(|e| e.to_string())?;
    if env.secret_generated {
        info!(
            "SESSION_SECRET is not set: using a random secret for this process (sessions end when it stops)"
        );
    }
    if secure_unset {
        info!(
            "SESSION_COOKIE_SECURE is not set: cookies go without Secure, for plain http on 127.0.0.1"
        );
    }
    let config = axum_demo::configure(env.config.into_builder())
        .build()
        .map_err(|e| e.to_string())?;
    let store: Arc<dyn SessionStore> = match std::env::var("REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let store = RedisStore::builder(url.trim())
                .with_prefix(config.key_prefix())
                .build()
                .await
                .map_err(|e| format!("REDIS_URL: {e}"))?;
            info!("store: Redis at {}", redacted(url.trim()));
            Arc::new(store)
        }
        _ => {
            info!("REDIS_URL is not set: using the in-memory store");
            Arc::new(MemoryStore::new())
        }
    };
    let app = axum_demo::router(SessionManager::new(store, config));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    info!("listening on http://127.0.0.1:{port}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| e.to_string())
}
