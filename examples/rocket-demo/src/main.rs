//! Runs the rocket demo: `cargo run -p rocket-demo` serves
//! http://127.0.0.1:3000 on the in-memory store; set `REDIS_URL` for Redis.
//! Settings come from the environment (see `docs/demo-api.md`); a bad one
//! stops the demo with a message naming it. `PORT` and `--port` win over
//! Rocket's own configuration, and no `Rocket.toml` is needed. Rocket's
//! own log is off (launch errors are still reported, as this program's
//! error), so its banner does not hide the demo's one-line messages.

use std::process::ExitCode;

use rocket::config::LogLevel;

#[rocket::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rocket-demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let setup = demo_app::setup(std::env::args().skip(1).collect()).await?;
    let config: rocket::Config = rocket::Config::figment()
        .merge(("port", setup.port))
        .merge(("address", "127.0.0.1"))
        .merge(("log_level", LogLevel::Off))
        .merge(("cli_colors", false))
        .extract()
        .map_err(|e| format!("Rocket configuration: {e}"))?;
    tracing::info!("listening on http://127.0.0.1:{}", setup.port);
    rocket_demo::rocket(setup.manager, config)
        .launch()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
