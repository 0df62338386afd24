#![doc = include_str!("../README.md")]
//!
//! ## What an application uses
//!
//! Everything below is reachable from this crate's root; application code
//! never names `session_core`.
//!
//! * **Setting up**: [`setup_from_env`] reads the configuration and picks
//!   the store from one [`Environment`] (the process environment, or a
//!   lookup of your own; [`Environment::allow_ephemeral_secret`] for
//!   development) and returns a [`SessionSetup`] (or a [`SetupError`]
//!   naming the variable). [`SessionSetup::configure`] changes settings in
//!   code; [`SessionSetup::into_manager`] gives the [`SessionManager`] that
//!   [`SessionLayer::new`] takes.
//! * **In handlers**: [`Session`], the request's own handle
//!   ([`SessionHandle`]: `get`, `insert`, `login`, `logout`, `devices`,
//!   `revoke_device`, `sign_out_others`, `manager`, …); [`SignedIn`] for
//!   routes that need a user (401 with the reason otherwise);
//!   `Option<SignedIn>` for routes that serve both (`None` when nobody is
//!   signed in, still 503 when the store is unavailable and 500 when the
//!   layer is missing); [`SessionRejection`], the error `?` turns every
//!   session error into.
//! * **Ids, records and answers**: [`UserId`], [`PublicId`], [`SessionId`],
//!   [`Device`], [`SessionSummary`], [`SessionRecord`], [`Metadata`],
//!   [`Ending`], [`EndReason`], [`LoginOutcome`], [`SignInOptions`],
//!   [`Loaded`], [`Page`], [`PageRequest`], [`Timestamp`].
//! * **Configuration in code**: [`SessionConfig`] and
//!   [`SessionConfigBuilder`], [`KeyRing`], [`CookieConfig`],
//!   [`CookieLifetime`], [`SameSite`], [`CsrfGuard`], [`ExpiryPolicy`],
//!   [`ExpiryMode`], [`UserLimit`], [`LimitPolicy`], [`MemoryStore`], and
//!   for tests [`Clock`], [`ManualClock`], [`SystemClock`].
//! * **Errors**: [`SessionError`], [`StoreFailure`], [`HttpError`] (what
//!   each means over HTTP), [`UserIdError`], [`PublicIdError`],
//!   [`IdError`], [`ConfigError`], [`KeyRingError`], [`CookieConfigError`],
//!   [`ExpiryError`], [`UnknownLimitPolicy`].
//! * **Redis** (feature `redis`): `RedisStore`, `RedisStoreBuilder`,
//!   `RedisStoreError`, and the `session_redis` crate itself (which
//!   re-exports `redis`, and `bb8` when pooling is on); [`setup_from_env`]
//!   then picks Redis when `REDIS_URL` or `REDIS_HOST` is set.
//! * **Everything else** of core (the store contract for store authors,
//!   the adapter toolkit, the conformance kit): [`session_core`].
//!
//! ## How it works
//!
//! The layer is glue only: it hands the request's method and headers to
//! `session_core::adapter::begin_request` (which applies the CSRF guard
//! and makes the lazy handle: no store call until the handler uses it),
//! and after the handler it applies what `Session::finish` returns: the
//! headers to append and, when the final save failed, core's replacement
//! answer (503, store unavailable; 401, session ended meanwhile). Bodies
//! never carry internals.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use session_core::adapter::{begin_request, installed, signed_in};

pub use session_core;
/// The application API (`SessionManager`, `UserId`, `Environment`,
/// `setup_from_env`, the errors, …) and core's handle as `SessionHandle`:
/// [`session_core::application`] and session-core's `setup_from_env`
/// (memory; an error when a Redis variable is set); with the `redis`
/// feature, `session_redis::application`, which adds the Redis store, its
/// `setup_from_env` (Redis when `REDIS_URL` or `REDIS_HOST` is set, memory
/// otherwise) and the `session_redis` crate.
#[cfg(not(feature = "redis"))]
pub use session_core::{application::*, setup_from_env};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use session_redis::application::*;

/// The tower layer that gives every request a session handle.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use axum::{Router, body::Body, http::Request, routing::post};
/// use session_axum::{KeyRing, MemoryStore, Session, SessionConfig, SessionLayer, SessionManager};
/// use session_axum::{SessionRejection, UserId};
/// use tower::ServiceExt;
///
/// async fn login(session: Session) -> Result<&'static str, SessionRejection> {
///     session.login(UserId::new("alice")?).await?;
///     Ok("signed in")
/// }
///
/// let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
/// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
/// let app = Router::new().route("/login", post(login)).layer(SessionLayer::new(manager));
///
/// let response = app.oneshot(Request::post("/login").body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), 200);
/// let cookie = response.headers()["set-cookie"].to_str().unwrap();
/// assert!(cookie.starts_with("__Host-sid="));
/// # }
/// ```
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
        let method = request.method().as_str();
        let session = match begin_request(&self.manager, method, &request) {
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
            if let Some(answer) = update.answer_for(response.status().as_u16()) {
                response = respond(&answer);
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

fn core_session(parts: &Parts) -> Option<SessionHandle> {
    parts.extensions.get::<SessionHandle>().cloned()
}

/// The request's own session handle, as an extractor; it derefs to
/// [`SessionHandle`], so a handler calls its methods directly: data
/// (`get`, `insert`, `increment`), signing in and out (`login`, `logout`),
/// and the user's devices (`devices`, `revoke_device`, `sign_out_others`).
/// Extracting it costs no store call; without [`SessionLayer`] on the
/// route it rejects with 500.
///
/// ```
/// use axum::extract::Path;
/// use axum::http::StatusCode;
/// use session_axum::{PublicId, Session, SessionRejection};
///
/// // "Sign that device out": a malformed id is a 404, like an unknown one.
/// async fn revoke(session: Session, Path(device): Path<String>) -> Result<StatusCode, SessionRejection> {
///     let device = PublicId::parse(&device)?;
///     let revoked = session.revoke_device(&device, "signed out from another device").await?;
///     Ok(if revoked { StatusCode::NO_CONTENT } else { StatusCode::NOT_FOUND })
/// }
///
/// async fn others(session: Session) -> Result<String, SessionRejection> {
///     let ended = session.sign_out_others().await?;
///     Ok(format!("{ended} other devices signed out"))
/// }
/// # let _: axum::Router = axum::Router::new()
/// #     .route("/devices/{id}/revoke", axum::routing::post(revoke))
/// #     .route("/sign-out-others", axum::routing::post(others));
/// ```
#[derive(Debug, Clone)]
pub struct Session(pub SessionHandle);

impl Deref for Session {
    type Target = SessionHandle;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Session(installed(core_session(parts))?))
    }
}

/// A signed-in request: the user and the session. Extracting it loads the
/// session (one store call); without a signed-in user it rejects with 401
/// and why the session ended (when known), with 503 when the store is
/// unavailable, and with 500 when [`SessionLayer`] is missing.
///
/// As `Option<SignedIn>` it is `None` when nobody is signed in (where
/// `SignedIn` answers 401), and it still rejects with 503 and 500: a store
/// that is down never looks like a signed-out visitor.
///
/// ```
/// use session_axum::{Device, SessionRejection, SignedIn};
///
/// async fn me(who: SignedIn) -> String {
///     who.user.to_string()
/// }
///
/// async fn home(who: Option<SignedIn>) -> String {
///     match who {
///         Some(who) => format!("hello, {}", who.user),
///         None => "hello, stranger".to_owned(),
///     }
/// }
///
/// // The user's devices, each marked whether it is this one.
/// async fn devices(who: SignedIn) -> Result<String, SessionRejection> {
///     let devices: Vec<Device> = who.session.devices().await?;
///     Ok(format!("{} devices", devices.len()))
/// }
/// # let _: axum::Router = axum::Router::new()
/// #     .route("/", axum::routing::get(home))
/// #     .route("/me", axum::routing::get(me))
/// #     .route("/devices", axum::routing::get(devices));
/// ```
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
        let (user, session) = signed_in(core_session(parts)).await?;
        let session = Session(session);
        Ok(SignedIn { user, session })
    }
}

/// `Option<SignedIn>`: `None` when nobody is signed in; 503 when the store
/// is unavailable, 500 when the layer is missing.
impl<S: Send + Sync> OptionalFromRequestParts<S> for SignedIn {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        let session = Session(installed(core_session(parts))?);
        Ok(session.user().await?.map(|user| SignedIn { user, session }))
    }
}

/// Every session error as a response: core's [`HttpError`], answered with
/// its status and its JSON body (`{"error": …, "message": …}`, plus the
/// reason and time when a session ended; never internals). Extractors
/// reject with it, and `?` turns every error a handler meets into it:
///
/// | from | answer |
/// | --- | --- |
/// | [`SessionError`] | 401 signed out or ended (with the reason), 409 at the session limit, 503 store unavailable, 500 bad session data |
/// | [`StoreFailure`] | 503 |
/// | [`UserIdError`] | 400 (`UserId::new(name)?`) |
/// | [`PublicIdError`] | 404 (`PublicId::parse(text)?`) |
/// | [`HttpError`] | its own (an answer of the application's) |
///
/// It displays as the [`HttpError`] does (`401 unauthenticated: not signed
/// in`) and is an [`std::error::Error`] without a source. As a response it
/// is axum's [`IntoResponse`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::response::IntoResponse;
/// use session_axum::{SessionRejection, UserId};
///
/// fn user(name: &str) -> Result<UserId, SessionRejection> {
///     Ok(UserId::new(name)?)
/// }
///
/// let rejection = user("").unwrap_err();
/// assert_eq!(rejection.0.status, 400);
/// assert!(rejection.to_string().starts_with("400 bad_request"));
/// let response = rejection.into_response();
/// assert_eq!(response.status(), 400);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRejection(pub HttpError);

session_core::rejection_conversions!(SessionRejection);

/// Core's status, `Content-Type: application/json` and JSON body.
impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        respond(&self.0)
    }
}
