//! The axum demo: the shared demo application (`demo-app`: the page, each
//! route's logic and JSON) served by axum through `session-axum`.
//!
//! [`router`] is the whole application; `main.rs` only reads the settings
//! and serves it.
//!
//! Request bodies are limited with axum's [`DefaultBodyLimit`] (set to
//! [`demo_app::MAX_BODY_BYTES`]) and read by the `Body` extractor, which
//! answers axum's own rejection as the contract's JSON error (413
//! `payload_too_large` for the limit) before the route runs.
//!
//! `/api/events` answers with axum's [`Sse`], each of demo-app's frames
//! as an [`Event`]; the keep-alive comments are demo-app's, so the three
//! demos send the same stream.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use demo_app::{Answer, Client, Frame, Reply};
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
            "/api/status",
            get(|s: Session| answer(async move { demo_app::status(&s).await })),
        )
        .route(
            "/api/extend",
            post(|s: Session| answer(async move { demo_app::extend(&s).await })),
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
            post(|s: Session, Body(body): Body| {
                answer(async move { demo_app::logout_all(&s, &body).await })
            }),
        )
        .route(
            "/api/rotate",
            post(|s: Session| answer(async move { demo_app::rotate(&s).await })),
        )
        .route(
            "/api/ttl",
            post(|s: Session, Body(body): Body| {
                answer(async move { demo_app::ttl(&s, &body).await })
            }),
        )
        .route("/api/events", get(events))
        .route(
            "/api/audit",
            get(|s: Session| answer(async move { demo_app::audit(&s).await })),
        )
        .route(
            "/api/stats",
            get(|State(m): State<SessionManager>| answer(async move { demo_app::stats(&m).await })),
        )
        .layer(SessionLayer::new(manager.clone()))
        .layer(DefaultBodyLimit::max(demo_app::MAX_BODY_BYTES))
        .with_state(manager)
}

/// The request body, read up to [`DefaultBodyLimit`]; axum's rejection
/// becomes the contract's JSON error (413 over the limit, 400 otherwise).
struct Body(Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = SessionRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(SessionRejection(demo_app::payload_too_large()))
            }
            Err(_) => Err(SessionRejection(demo_app::unreadable_body())),
        }
    }
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
    Body(body): Body,
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

/// A path segment that is not UTF-8 is no public id: it is answered as a
/// malformed one (404), not with axum's own text.
async fn revoke_device(
    session: Session,
    public_id: Result<Path<String>, PathRejection>,
) -> Response {
    let public_id = public_id.map_or_else(|_| String::new(), |Path(id)| id);
    answer(demo_app::revoke_device(&session, &public_id)).await
}

/// `GET /api/events`: 401 as `/api/status`, or the session's events
/// stream (see [`demo_app::events`](mod@demo_app::events)).
async fn events(session: Session) -> Response {
    match demo_app::events(&session).await {
        Ok(watch) => Sse::new(demo_app::event_stream(watch, |frame| {
            Ok::<_, std::convert::Infallible>(match frame {
                Frame::Retry(after) => Event::default().retry(after),
                Frame::KeepAlive => Event::default().comment("keep-alive"),
                Frame::Ended(data) => Event::default()
                    .event(demo_app::events::ENDED_EVENT)
                    .data(data),
            })
        }))
        .into_response(),
        Err(e) => SessionRejection(e).into_response(),
    }
}
