//! This project on actix-web: `session-actix` over `session-redis`,
//! defaults throughout (see `bench_servers::ours`).

use actix_web::{App, HttpServer, web};
use bench_servers::{Args, ours};
use session_actix::{Session, SessionMiddleware, SessionRejection};

type Answer = Result<String, SessionRejection>;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::from_env();
    let manager = ours::manager(&args.redis_url).await;
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(manager.clone()))
            .route(
                "/seed",
                web::get().to(|s: Session| async move { Answer::Ok(ours::seed(&s).await?) }),
            )
            .route(
                "/read",
                web::get().to(|s: Session| async move { Answer::Ok(ours::read(&s).await?) }),
            )
            .route(
                "/write",
                web::post().to(|s: Session| async move { Answer::Ok(ours::write(&s).await?) }),
            )
            .route(
                "/incr",
                web::post().to(|s: Session| async move { Answer::Ok(ours::incr(&s).await?) }),
            )
    })
    .bind(args.addr)?
    .run()
    .await
}
