//! # session-axum
//!
//! Sessions for axum, from `session-core`: a [`SessionLayer`] and two
//! extractors, [`Session`] (the per-request handle) and [`SignedIn`]
//! (rejects with 401, carrying why the session ended, when nobody is
//! signed in).
//!
//! The layer is glue only: it hands the request's method and headers to
//! `session_core::adapter::begin_request` (which applies the CSRF guard
//! and makes the lazy handle: no store call until the handler uses it),
//! and after the handler it applies what `Session::finish` returns: the
//! headers to append and, when the final save failed, core's replacement
//! answer (503, store unavailable; 401, session ended meanwhile). Bodies
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
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use session_core::adapter::{HeaderLookup, begin_request, installed, signed_in};
use session_core::{HttpError, SessionError, SessionManager, StoreFailure, UserId};

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

struct Headers<'a>(&'a HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.0
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect()
    }
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
        let method = request.method().as_str();
        let session = match begin_request(&self.manager, method, &Headers(request.headers())) {
            Ok(session) => session,
            Err(refused) => return Box::pin(async move { Ok(respond(&refused)) }),
        };
        request.extensions_mut().insert(session.clone());
        // The clone that was made ready by poll_ready serves this request.
        // It is called now and its future awaited below, so the boxed
        // future holds that future, not the request and the service too.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let handled = inner.call(request);
        Box::pin(async move {
            let mut response = handled.await?;
            let update = session.finish().await;
            if let Some(replacement) = update.replacement() {
                response = respond(&replacement);
            }
            for (name, value) in update.headers() {
                if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                    response.headers_mut().append(n, v);
                }
            }
            Ok(response)
        })
    }
}

fn respond(error: &HttpError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = [(CONTENT_TYPE, HttpError::CONTENT_TYPE)];
    (status, content_type, error.body()).into_response()
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
        let session = parts.extensions.get::<session_core::Session>().cloned();
        Ok(Session(installed(session)?))
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

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let session = parts.extensions.get::<session_core::Session>().cloned();
        let (user, session) = signed_in(session).await?;
        let session = Session(session);
        Ok(SignedIn { user, session })
    }
}

/// A session answer as a response: core's [`HttpError`] (401 with the
/// reason, 409 limit, 503 store down, 500 layer missing, or the
/// application's own). Handlers return it with `?`.
#[derive(Debug, Clone)]
pub struct SessionRejection(pub HttpError);

impl From<HttpError> for SessionRejection {
    fn from(e: HttpError) -> Self {
        SessionRejection(e)
    }
}

impl From<SessionError> for SessionRejection {
    fn from(e: SessionError) -> Self {
        SessionRejection(e.into())
    }
}

impl From<StoreFailure> for SessionRejection {
    fn from(e: StoreFailure) -> Self {
        SessionRejection(e.into())
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        respond(&self.0)
    }
}
