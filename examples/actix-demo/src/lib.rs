//! The actix-web demo: the shared demo application (`demo-app`: the page,
//! each route's logic and JSON) served by actix-web through
//! `session-actix`.
//!
//! [`server`] is the whole application; `main.rs` only reads the settings
//! and runs it.
//!
//! Request bodies are limited with actix-web's [`web::PayloadConfig`] (set
//! to [`demo_app::MAX_BODY_BYTES`]) and read by the `Body` extractor,
//! which answers actix-web's own error as the contract's JSON error (413
//! `payload_too_large` for the limit) before the route runs.
//!
//! actix-web has no Server-Sent Events type: `/api/events` streams
//! demo-app's frames as text ([`demo_app::Frame::to_text`]) with the
//! `text/event-stream` content type.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{App, FromRequest, HttpRequest, HttpResponse, HttpServer, web};
use demo_app::{Answer, Client, Reply};
use session_actix::{Session, SessionMiddleware, SessionRejection};
use session_core::SessionManager;

pub use demo_app::configure;

type Manager = web::Data<SessionManager>;

/// The demo's routes (the manager must be app data).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(page))
        .route("/api/login", web::post().to(login))
        .route(
            "/api/me",
            web::get().to(|s: Session| answer(async move { demo_app::me(&s).await })),
        )
        .route(
            "/api/status",
            web::get().to(|s: Session| answer(async move { demo_app::status(&s).await })),
        )
        .route(
            "/api/extend",
            web::post().to(|s: Session| answer(async move { demo_app::extend(&s).await })),
        )
        .route(
            "/api/counter",
            web::post().to(|s: Session| answer(async move { demo_app::counter(&s).await })),
        )
        .route("/api/work", web::post().to(work))
        .route(
            "/api/logout",
            web::post().to(|s: Session| answer(async move { demo_app::logout(&s).await })),
        )
        .route(
            "/api/sessions",
            web::get().to(|s: Session| answer(async move { demo_app::sessions(&s).await })),
        )
        .route("/api/sessions/{public_id}", web::delete().to(revoke_device))
        .route(
            "/api/logout-all",
            web::post().to(|s: Session, Body(body): Body| {
                answer(async move { demo_app::logout_all(&s, &body).await })
            }),
        )
        .route(
            "/api/rotate",
            web::post().to(|s: Session| answer(async move { demo_app::rotate(&s).await })),
        )
        .route(
            "/api/ttl",
            web::post().to(|s: Session, Body(body): Body| {
                answer(async move { demo_app::ttl(&s, &body).await })
            }),
        )
        .route("/api/events", web::get().to(events))
        .route(
            "/api/audit",
            web::get().to(|s: Session| answer(async move { demo_app::audit(&s).await })),
        )
        .route(
            "/api/stats",
            web::get().to(|m: Manager| answer(async move { demo_app::stats(&m).await })),
        );
}

/// The demo served on `listener` with `workers` threads.
pub fn server(
    manager: SessionManager,
    listener: std::net::TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(manager.clone()))
            .app_data(web::PayloadConfig::new(demo_app::MAX_BODY_BYTES))
            .wrap(SessionMiddleware::new(manager.clone()))
            .configure(routes)
    })
    .workers(workers)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// The request body, read up to [`web::PayloadConfig`]'s limit;
/// actix-web's error becomes the contract's JSON error (413 over the
/// limit, 400 otherwise).
struct Body(web::Bytes);

impl FromRequest for Body {
    type Error = SessionRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Body, SessionRejection>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(request, payload);
        Box::pin(async move {
            match bytes.await {
                Ok(bytes) => Ok(Body(bytes)),
                Err(e) if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
                    Err(SessionRejection(demo_app::payload_too_large()))
                }
                Err(_) => Err(SessionRejection(demo_app::unreadable_body())),
            }
        })
    }
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(demo_app::PAGE)
}

/// A route's answer as an actix response.
async fn answer(route: impl Future<Output = Answer>) -> Result<HttpResponse, SessionRejection> {
    Ok(match route.await? {
        Reply::Json(body) => HttpResponse::Ok()
            .content_type("application/json")
            .body(body.to_string()),
        Reply::NoContent => HttpResponse::NoContent().finish(),
    })
}

async fn login(
    session: Session,
    request: HttpRequest,
    Body(body): Body,
) -> Result<HttpResponse, SessionRejection> {
    let client = Client {
        ip: request.peer_addr().map(|a| a.ip().to_string()),
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    answer(demo_app::login(&session, client, &body)).await
}

async fn work(session: Session, request: HttpRequest) -> Result<HttpResponse, SessionRejection> {
    answer(demo_app::work(&session, request.query_string())).await
}

async fn revoke_device(
    session: Session,
    public_id: web::Path<String>,
) -> Result<HttpResponse, SessionRejection> {
    answer(demo_app::revoke_device(&session, &public_id)).await
}

/// `GET /api/events`: 401 as `/api/status`, or the session's events
/// stream (see [`demo_app::events`](mod@demo_app::events)), as text.
async fn events(session: Session) -> Result<HttpResponse, SessionRejection> {
    let watch = demo_app::events(&session).await?;
    let stream = demo_app::event_stream(watch, |frame| {
        Ok::<_, std::convert::Infallible>(web::Bytes::from(frame.to_text()))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(stream))
}
