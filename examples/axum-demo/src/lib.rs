//! The axum demo: the shared demo application (`demo-app`: the page, each
//! route's logic and JSON) served by axum through `session-axum`.
//!
//! [`router`] is the whole application; `main.rs` only reads the settings
//! and serves it.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use demo_app::{Answer, Client, Reply};
use session_axum::{Session, SessionLayer, SessionRejection};
use session_core::SessionManager;

pub use demo_app::configure;

/// The demo application over `manager` (configured with [`configure`]).
pub fn router(manager: SessionManager) -> Router {
    Router::new()
        .route("/", get(|| async { Html(demo_app::PAGE) }))
        .route("/api/login", post(login))
        .route(
            "/api/me",
            get(|s: Session| answer(async move { demo_app::me(&s).await })),
        )
        .route(
            "/api/counter",
            post(|s: Session| answer(async move { demo_app::counter(&s).await })),
        )
        .route("/api/work", post(work))
        .route(
            "/api/logout",
            post(|s: Session| answer(async move { demo_app::logout(&s).await })),
        )
        .route("/api/sessions", get(sessions))
        .route("/api/sessions/{public_id}", delete(revoke_device))
        .route(
            "/api/logout-all",
            post(|s: Session, body: Bytes| {
                answer(async move { demo_app::logout_all(&s, &body).await })
            }),
        )
        .route(
            "/api/rotate",
            post(|s: Session| answer(async move { demo_app::rotate(&s).await })),
        )
        .route(
            "/api/ttl",
            post(|s: Session, body: Bytes| answer(async move { demo_app::ttl(&s, &body).await })),
        )
        .route(
            "/api/stats",
            get(|State(m): State<SessionManager>| answer(async move { demo_app::stats(&m).await })),
        )
        .layer(SessionLayer::new(manager.clone()))
        .with_state(manager)
}

/// A route's answer as an axum response.
async fn answer(route: impl Future<Output = Answer>) -> Response {
    match route.await {
        Ok(Reply::Json(body)) => Json(body).into_response(),
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => SessionRejection(e).into_response(),
    }
}

async fn login(
    session: Session,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = Client {
        ip: Some(peer.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    answer(demo_app::login(&session, client, &body)).await
}

async fn work(session: Session, uri: Uri) -> Response {
    answer(demo_app::work(&session, uri.query().unwrap_or(""))).await
}

async fn sessions(session: Session) -> Response {
    answer(demo_app::sessions(&session)).await
}

async fn revoke_device(session: Session, Path(public_id): Path<String>) -> Response {
    answer(demo_app::revoke_device(&session, &public_id)).await
}
