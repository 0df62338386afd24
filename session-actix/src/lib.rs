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
//!   [`SessionMiddleware::new`] takes.
//! * **In handlers**: [`Session`], the request's own handle
//!   ([`SessionHandle`]: `get`, `insert`, `login`, `logout`, `devices`,
//!   `revoke_device`, `sign_out_others`, `manager`, …); [`SignedIn`] for
//!   routes that need a user (401 with the reason otherwise);
//!   `Option<SignedIn>` for routes that serve both (`None` when nobody is
//!   signed in, still 503 when the store is unavailable; see [`SignedIn`]
//!   for the missing middleware); [`SessionRejection`], the error `?` turns
//!   every session error into; [`SessionExt`] in guards and middleware.
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
//! The middleware is glue only: it hands the request's method and headers
//! to `session_core::adapter::begin_request_with` (the CSRF guard, the lazy
//! handle: no store call until a handler uses it), and after the handler it
//! applies what `Session::finish` returns: the headers to append and, when
//! the final save failed, core's replacement answer (503, store
//! unavailable; 401, session ended meanwhile). Bodies never carry
//! internals.
//!
//! ## Coming from actix-session
//!
//! | actix-session | here |
//! | --- | --- |
//! | `SessionMiddleware::builder(store, key)…build()` | `SessionMiddleware::new(manager)`; settings live in [`SessionConfig`] (cookie, expiry, limit, CSRF), or come from the environment through [`setup_from_env`] |
//! | `Session::get` / `insert` / `remove` | the same names, async (the first call loads the session) |
//! | `Session::renew` | `rotate()`; `login(user)` always rotates |
//! | `Session::purge` | `logout()` |
//! | `SessionExt::get_session` | the same, returning `Option` (`None` without the middleware) |
//!
//! What behaves differently: nothing is loaded unless a handler asks; a
//! save to a session that was logged out meanwhile is refused (actix-session
//! re-creates it), and the request answers 401 with the reason; each save
//! writes only the keys that changed; users have an index (list, limit,
//! revoke-all); the handle is `Send`; a store failure answers 503.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::guard::GuardContext;
use actix_web::http::{StatusCode, header::HeaderName, header::HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use session_core::adapter::{begin_request_with, installed, signed_in};

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

/// The middleware that gives every request a session handle.
///
/// ```
/// # #[actix_web::main]
/// # async fn main() {
/// use std::sync::Arc;
/// use actix_web::{App, HttpResponse, test, web};
/// use session_actix::{KeyRing, MemoryStore, Session, SessionConfig, SessionManager};
/// use session_actix::{SessionMiddleware, SessionRejection, UserId};
///
/// async fn login(session: Session) -> Result<HttpResponse, SessionRejection> {
///     session.login(UserId::new("alice")?).await?;
///     Ok(HttpResponse::Ok().finish())
/// }
///
/// let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
/// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
/// let app = test::init_service(
///     App::new()
///         .wrap(SessionMiddleware::new(manager))
///         .route("/login", web::post().to(login)),
/// )
/// .await;
///
/// let response = test::call_service(&app, test::TestRequest::post().uri("/login").to_request()).await;
/// assert_eq!(response.status(), 200);
/// let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap();
/// assert!(cookie.starts_with("__Host-sid="));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SessionMiddleware(SessionManager);

impl SessionMiddleware {
    /// A middleware over `manager` (its store and configuration).
    pub fn new(manager: SessionManager) -> Self {
        SessionMiddleware(manager)
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let manager = self.0.clone();
        let service = Rc::new(service);
        ready(Ok(SessionService { service, manager }))
    }
}

/// The service [`SessionMiddleware`] wraps around the application.
pub struct SessionService<S> {
    service: Rc<S>,
    manager: SessionManager,
}

impl<S, B> Service<ServiceRequest> for SessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let method = request.method().as_str();
        let map = request.headers();
        let authority = request.uri().authority().map(|a| a.as_str().as_bytes());
        let headers = |name: &str| map.get_all(name).map(HeaderValue::as_bytes).collect();
        let session = match begin_request_with(&self.manager, method, authority, headers) {
            Ok(session) => session,
            Err(refused) => {
                let response = request.into_response(SessionRejection(refused).error_response());
                return Box::pin(ready(Ok(response.map_into_right_body())));
            }
        };
        request.extensions_mut().insert(session.clone());
        // Called now, awaited below: the boxed future then holds the
        // handler's future, not the request and the service as well.
        let handled = self.service.call(request);
        Box::pin(async move {
            let response = handled.await?;
            let update = session.finish().await;
            let mut response = match update.answer_for(response.status().as_u16()) {
                Some(answer) => response
                    .into_response(SessionRejection(answer).error_response())
                    .map_into_right_body(),
                None => response.map_into_left_body(),
            };
            for (name, value) in update.headers() {
                if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                    response.headers_mut().append(n, v);
                }
            }
            Ok(response)
        })
    }
}

/// The request's own session handle, as an extractor; it derefs to
/// [`SessionHandle`], so a handler calls its methods directly: data
/// (`get`, `insert`, `increment`), signing in and out (`login`, `logout`),
/// and the user's devices (`devices`, `revoke_device`, `sign_out_others`).
/// Extracting it costs no store call; without [`SessionMiddleware`] it
/// fails with 500.
///
/// ```
/// use actix_web::{HttpResponse, web};
/// use session_actix::{PublicId, Session, SessionRejection};
///
/// // "Sign that device out": a malformed id is a 404, like an unknown one.
/// async fn revoke(session: Session, device: web::Path<String>) -> Result<HttpResponse, SessionRejection> {
///     let device = PublicId::parse(&device)?;
///     let revoked = session.revoke_device(&device, "signed out from another device").await?;
///     Ok(if revoked { HttpResponse::NoContent().finish() } else { HttpResponse::NotFound().finish() })
/// }
///
/// async fn others(session: Session) -> Result<String, SessionRejection> {
///     let ended = session.sign_out_others().await?;
///     Ok(format!("{ended} other devices signed out"))
/// }
/// # let _ = actix_web::App::new()
/// #     .route("/devices/{id}/revoke", web::post().to(revoke))
/// #     .route("/sign-out-others", web::post().to(others));
/// ```
#[derive(Debug, Clone)]
pub struct Session(pub SessionHandle);

impl std::ops::Deref for Session {
    type Target = SessionHandle;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromRequest for Session {
    type Error = SessionRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = installed(core_session(&request.extensions()));
        ready(session.map(Session).map_err(SessionRejection))
    }
}

/// A signed-in request: the user and the session. Extracting it loads the
/// session (one store call); without a signed-in user it fails with 401
/// and why the session ended (when known), with 503 when the store is
/// unavailable, and with 500 when [`SessionMiddleware`] is missing.
///
/// As `Option<SignedIn>` it is `None` when nobody is signed in (where
/// `SignedIn` answers 401). actix's own `Option` extractor turns every
/// error into `None`, so core keeps the store's failure on the session
/// and the middleware answers 503 whatever the handler returned: a store that is
/// down never looks like a signed-out visitor (this holds for
/// `Result<SignedIn, SessionRejection>` too). Without the middleware
/// nothing can answer the 500, and `Option<SignedIn>` is `None`.
///
/// ```
/// use session_actix::{Device, SessionRejection, SignedIn};
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
/// # use actix_web::web;
/// # let _ = actix_web::App::new()
/// #     .route("/", web::get().to(home))
/// #     .route("/me", web::get().to(me))
/// #     .route("/devices", web::get().to(devices));
/// ```
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who is signed in.
    pub user: UserId,
    /// The session.
    pub session: Session,
}

impl FromRequest for SignedIn {
    type Error = SessionRejection;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = core_session(&request.extensions());
        Box::pin(async move {
            let (user, session) = signed_in(session).await?;
            let session = Session(session);
            Ok(SignedIn { user, session })
        })
    }
}

/// The session of a request, for guards and other middleware, as
/// actix-session's `SessionExt`. `None` when [`SessionMiddleware`] is not
/// installed.
pub trait SessionExt {
    /// The request's session handle (lazy: no store call until used).
    fn get_session(&self) -> Option<Session>;
}

fn core_session(extensions: &actix_web::dev::Extensions) -> Option<SessionHandle> {
    extensions.get::<SessionHandle>().cloned()
}

/// `SessionExt` for each type that carries the request's extensions, read
/// through its accessor.
macro_rules! session_ext {
    ($($carrier:ty => $extensions:ident),*) => {$(
        impl SessionExt for $carrier {
            fn get_session(&self) -> Option<Session> {
                core_session(&self.$extensions()).map(Session)
            }
        }
    )*};
}

session_ext!(HttpRequest => extensions, ServiceRequest => extensions, GuardContext<'_> => req_data);

/// Every session error as a response: core's [`HttpError`], answered with
/// its status and its JSON body (`{"error": …, "message": …}`, plus the
/// reason and time when a session ended; never internals). Extractors
/// fail with it, and `?` turns every error a handler meets into it:
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
/// is actix-web's [`ResponseError`].
///
/// ```
/// use actix_web::ResponseError;
/// use session_actix::{SessionRejection, UserId};
///
/// fn user(name: &str) -> Result<UserId, SessionRejection> {
///     Ok(UserId::new(name)?)
/// }
///
/// let rejection = user("").unwrap_err();
/// assert_eq!(rejection.0.status, 400);
/// assert!(rejection.to_string().starts_with("400 bad_request"));
/// let response = rejection.error_response();
/// assert_eq!(response.status(), 400);
/// assert_eq!(response.headers().get("content-type").unwrap(), "application/json");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRejection(pub HttpError);

session_core::rejection_conversions!(SessionRejection);

/// Core's status, `Content-Type: application/json` and JSON body.
impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .content_type(HttpError::CONTENT_TYPE)
            .body(self.0.body())
    }
}
