//! # session-actix
//!
//! Sessions for actix-web, from `session-core`: a [`SessionMiddleware`]
//! (wrap it with `App::wrap`), two extractors, [`Session`] (the
//! per-request handle) and [`SignedIn`] (401 with why the session ended
//! when nobody is signed in), and [`SessionExt`] to reach the session from
//! an `HttpRequest`, a `ServiceRequest` or a guard.
//!
//! The middleware is glue only: it hands the request's method and headers
//! to `session_core::adapter::begin_request` (the CSRF guard, the lazy
//! handle: no store call until a handler uses it), and after the handler it
//! applies what `Session::finish` returns: the headers to append and, when
//! the final save failed, core's replacement answer (503, store
//! unavailable; 401, session ended meanwhile). Bodies never carry
//! internals.
//!
//! ```
//! use std::sync::Arc;
//! use actix_web::{App, HttpResponse, web};
//! use session_actix::{Session, SessionMiddleware, SessionRejection, SignedIn};
//! use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager, UserId};
//!
//! async fn login(session: Session) -> Result<HttpResponse, SessionRejection> {
//!     session.login(UserId::new("alice").unwrap()).await?;
//!     Ok(HttpResponse::Ok().body("signed in"))
//! }
//!
//! async fn counter(session: Session) -> Result<HttpResponse, SessionRejection> {
//!     let n = session.increment("counter", 1).await?;
//!     Ok(HttpResponse::Ok().body(n.to_string()))
//! }
//!
//! async fn me(who: SignedIn) -> String {
//!     who.user.to_string()
//! }
//!
//! let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
//! let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
//! let app = App::new()
//!     .wrap(SessionMiddleware::new(manager))
//!     .route("/login", web::post().to(login))
//!     .route("/counter", web::post().to(counter))
//!     .route("/me", web::get().to(me));
//! ```
//!
//! ## Coming from actix-session
//!
//! | actix-session | here |
//! | --- | --- |
//! | `SessionMiddleware::builder(store, key)…build()` | `SessionMiddleware::new(manager)`; settings live in core's `SessionConfig` (cookie, expiry, limit, CSRF) |
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

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::guard::GuardContext;
use actix_web::http::{StatusCode, header::HeaderName, header::HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use session_core::adapter::{begin_request_with, installed, signed_in};
use session_core::{HttpError, SessionManager, UserId};

/// The middleware that gives every request a session handle.
#[derive(Debug, Clone)]
pub struct SessionMiddleware {
    manager: SessionManager,
}

impl SessionMiddleware {
    /// A middleware over `manager` (its store and configuration).
    pub fn new(manager: SessionManager) -> Self {
        SessionMiddleware { manager }
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
        ready(Ok(SessionService {
            service: Rc::new(service),
            manager: self.manager.clone(),
        }))
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
        let headers = |name: &str| map.get_all(name).map(HeaderValue::as_bytes).collect();
        let session = match begin_request_with(&self.manager, method, headers) {
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
            let mut response = match update.replacement() {
                Some(replacement) => response
                    .into_response(SessionRejection(replacement).error_response())
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

/// The per-request session handle, as an extractor. Derefs to
/// [`session_core::Session`].
#[derive(Debug, Clone)]
pub struct Session(pub session_core::Session);

impl std::ops::Deref for Session {
    type Target = session_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromRequest for Session {
    type Error = SessionRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = installed(core_session(&request.extensions()));
        ready(session.map(Session).map_err(Into::into))
    }
}

/// A signed-in request: the user and the session. Extracting it loads the
/// session (one store call); without a signed-in user it fails with 401
/// and why the session ended (when known), and with 503 when the store is
/// unavailable.
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

fn core_session(extensions: &actix_web::dev::Extensions) -> Option<session_core::Session> {
    extensions.get::<session_core::Session>().cloned()
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

/// A session answer as an actix error: core's [`HttpError`] (401 with the
/// reason, 409 limit, 503 store down, 500 middleware missing, or the
/// application's own). Handlers return it with `?`.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct SessionRejection(pub HttpError);

impl ResponseError for SessionRejection {
    fn error_response(&self) -> HttpResponse {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status)
            .content_type(HttpError::CONTENT_TYPE)
            .body(self.0.body())
    }
}

/// Any session error (`SessionError`, `StoreFailure`, `HttpError`) as a
/// response, so handlers use `?`.
impl<E: Into<HttpError>> From<E> for SessionRejection {
    fn from(e: E) -> Self {
        SessionRejection(e.into())
    }
}
