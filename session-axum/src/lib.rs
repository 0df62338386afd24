//! # session-axum
//!
//! Sessions for axum, from `session-core`: a [`SessionLayer`] and two
//! extractors, [`Session`] (the per-request handle) and [`SignedIn`]
//! (rejects with 401, carrying why the session ended, when nobody is
//! signed in).
//!
//! The layer only moves state between axum and `session-core`: it reads
//! the `Cookie` headers into a lazy handle (no store call until the handler
//! uses it), and after the handler it applies the handle's end state: the
//! `Set-Cookie` to send, and core's replacement answer when the final save
//! failed (503, store unavailable; 401, session ended meanwhile). Bodies
//! never carry internals.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Json, Router, routing::post};
//! use session_axum::{Session, SessionLayer, SessionRejection, SignedIn};
//! use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager, UserId};
//!
//! async fn login(session: Session) -> Result<&'static str, SessionRejection> {
//!     session.login(UserId::new("alice").unwrap()).await?;
//!     Ok("signed in")
//! }
//!
//! async fn counter(session: Session) -> Result<Json<i64>, SessionRejection> {
//!     Ok(Json(session.increment("counter", 1).await?))
//! }
//!
//! async fn me(who: SignedIn) -> String {
//!     who.user.to_string()
//! }
//!
//! let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
//! let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
//! let app: Router = Router::new()
//!     .route("/login", post(login))
//!     .route("/counter", post(counter))
//!     .route("/me", axum::routing::get(me))
//!     .layer(SessionLayer::new(manager));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use session_core::{HttpError, SessionError, SessionManager, UserId};

/// The tower layer that gives every request a session handle.
#[derive(Debug, Clone)]
pub struct SessionLayer {
    manager: SessionManager,
}

impl SessionLayer {
    /// A layer over `manager` (its store and configuration).
    pub fn new(manager: SessionManager) -> Self {
        SessionLayer { manager }
    }
}

impl<S> tower_layer::Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            manager: self.manager.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around a handler.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    manager: SessionManager,
}

impl<S, B> tower_service::Service<Request<B>> for SessionService<S>
where
    S: tower_service::Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let headers = request.headers();
        let id_header = self
            .manager
            .config()
            .id_header()
            .and_then(|name| headers.get(name))
            .map(HeaderValue::as_bytes);
        let session = self.manager.session_for_request(
            headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes),
            id_header,
        );
        request.extensions_mut().insert(session.clone());
        // The clone that was made ready by poll_ready serves this request.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(finish(&session, response).await)
        })
    }
}

/// Applies the handle's end state to the response.
async fn finish(session: &session_core::Session, mut response: Response) -> Response {
    let update = session.finish().await;
    if let Some(error) = update.replacement() {
        response = error_response(&error);
    }
    if let Some(cookie) = update
        .set_cookie
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    if let Some((name, value)) = update.id_header {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn error_response(error: &HttpError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(CONTENT_TYPE, "application/json")], error.body()).into_response()
}

/// The per-request session handle, as an extractor. Derefs to
/// [`session_core::Session`].
#[derive(Debug, Clone)]
pub struct Session(pub session_core::Session);

impl Deref for Session {
    type Target = session_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<session_core::Session>()
            .cloned()
            .map(Session)
            .ok_or(SessionRejection::MissingLayer)
    }
}

/// A signed-in request: the user and the session. Extracting it loads the
/// session (one store call); without a signed-in user it rejects with 401
/// and why the session ended (when known), and with 503 when the store is
/// unavailable.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who is signed in.
    pub user: UserId,
    /// The session.
    pub session: Session,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        let user = session.require_user().await?;
        Ok(SignedIn { user, session })
    }
}

/// Why a session extractor or operation failed, as a response.
#[derive(Debug, Clone)]
pub enum SessionRejection {
    /// The handler runs without [`SessionLayer`]: a wiring mistake (500).
    MissingLayer,
    /// A session answer: 401 with the reason, 409 limit, 503 store down.
    Http(HttpError),
}

impl From<SessionError> for SessionRejection {
    fn from(e: SessionError) -> Self {
        SessionRejection::Http(HttpError::from(&e))
    }
}

impl From<session_core::StoreFailure> for SessionRejection {
    fn from(e: session_core::StoreFailure) -> Self {
        SessionError::Store(e).into()
    }
}

impl From<HttpError> for SessionRejection {
    fn from(e: HttpError) -> Self {
        SessionRejection::Http(e)
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            SessionRejection::MissingLayer => error_response(&HttpError::new(
                500,
                "internal",
                "the session layer is not installed on this route",
            )),
            SessionRejection::Http(e) => error_response(&e),
        }
    }
}
