//! # session-rocket
//!
//! Sessions for Rocket, from `session-core`: a [`SessionFairing`] (attach
//! it with `.attach(...)`) and two request guards, [`Session`] (the
//! per-request handle) and [`SignedIn`].
//!
//! The fairing is glue only. On request it hands the method and headers
//! to `session_core::adapter::begin_request` (the CSRF guard, the lazy
//! handle: no store call until a handler or guard uses it) and keeps the
//! handle in the request's local cache. On response it applies what
//! `Session::finish` returns: the headers (Set-Cookie, the id header) and,
//! when the final save failed, core's replacement answer (503, store
//! unavailable; 401, session ended meanwhile).
//!
//! **Guards fail, they do not forward.** `SignedIn` fails with 401 when
//! nobody is signed in (503 when the store is down), and the fairing gives
//! that answer core's JSON body with the reason, so a route needs no
//! catcher. A request the CSRF guard refuses never reaches a route: the
//! fairing sends it to a path no route serves and answers 403 (or 415).
//!
//! **Cookies go through the response headers**, not Rocket's `CookieJar`:
//! core formats the whole `Set-Cookie` (its `__Host-` name, attributes and
//! removal), and the jar would re-encode it. Rocket's private cookies and
//! `secret_key` are not involved.
//!
//! ```
//! use std::sync::Arc;
//! use rocket::{get, post, routes};
//! use session_rocket::{Session, SessionFairing, SessionRejection, SignedIn};
//! use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager, UserId};
//!
//! #[post("/login")]
//! async fn login(session: Session) -> Result<&'static str, SessionRejection> {
//!     session.login(UserId::new("alice").unwrap()).await?;
//!     Ok("signed in")
//! }
//!
//! #[post("/counter")]
//! async fn counter(session: Session) -> Result<String, SessionRejection> {
//!     Ok(session.increment("counter", 1).await?.to_string())
//! }
//!
//! #[get("/me")]
//! fn me(who: SignedIn) -> String {
//!     who.user.to_string()
//! }
//!
//! let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
//! let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
//! let rocket = rocket::build()
//!     .attach(SessionFairing::new(manager))
//!     .mount("/", routes![login, counter, me]);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::io::Cursor;
use std::ops::Deref;
use std::sync::Mutex;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{ContentType, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};
use rocket::{Data, async_trait};
use session_core::adapter::{HeaderLookup, begin_request};
use session_core::{HttpError, SessionManager, UserId};

/// The fairing that gives every request a session handle.
#[derive(Debug, Clone)]
pub struct SessionFairing {
    manager: SessionManager,
}

impl SessionFairing {
    /// A fairing over `manager` (its store and configuration).
    pub fn new(manager: SessionManager) -> Self {
        SessionFairing { manager }
    }
}

/// What the request's local cache holds: the handle, or why there is none.
struct Slot {
    session: Result<session_core::Session, HttpError>,
    /// The answer a guard failed with, given its JSON body on response.
    failed: Mutex<Option<HttpError>>,
}

fn slot<'r>(request: &'r Request<'_>) -> &'r Slot {
    request.local_cache(|| Slot {
        session: Err(HttpError::not_installed()),
        failed: Mutex::new(None),
    })
}

struct Headers<'a, 'r>(&'a Request<'r>);

impl HeaderLookup for Headers<'_, '_> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.0.headers().get(name).map(str::as_bytes).collect()
    }
}

#[async_trait]
impl Fairing for SessionFairing {
    fn info(&self) -> Info {
        Info {
            name: "session",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let method = request.method().as_str();
        let session = begin_request(&self.manager, method, &Headers(request));
        let refused = session.is_err();
        request.local_cache(|| Slot {
            session,
            failed: Mutex::new(None),
        });
        if refused {
            // No route serves this path; on_response gives the refusal.
            if let Ok(nowhere) = Origin::parse("/.session-refused") {
                request.set_uri(nowhere);
            }
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let slot = slot(request);
        let session = match &slot.session {
            Ok(session) => session,
            Err(refused) => return respond(response, refused),
        };
        let update = session.finish().await;
        let failed = slot.failed.lock().ok().and_then(|mut f| f.take());
        if let Some(answer) = update.replacement().or(failed) {
            respond(response, &answer);
        }
        for (name, value) in update.headers() {
            response.adjoin_raw_header(name.to_owned(), value.to_owned());
        }
    }
}

fn respond(response: &mut Response<'_>, error: &HttpError) {
    let body = error.body();
    response.set_status(Status::new(error.status));
    response.set_header(ContentType::JSON);
    response.set_sized_body(body.len(), Cursor::new(body));
}

/// The per-request session handle, as a request guard. Derefs to
/// [`session_core::Session`]. Fails with 500 when the fairing is missing.
#[derive(Debug, Clone)]
pub struct Session(pub session_core::Session);

impl Deref for Session {
    type Target = session_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

fn fail<T>(request: &Request<'_>, error: HttpError) -> Outcome<T, SessionRejection> {
    let status = Status::new(error.status);
    if let Ok(mut failed) = slot(request).failed.lock() {
        *failed = Some(error.clone());
    }
    Outcome::Error((status, SessionRejection(error)))
}

#[async_trait]
impl<'r> FromRequest<'r> for Session {
    type Error = SessionRejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match &slot(request).session {
            Ok(session) => Outcome::Success(Session(session.clone())),
            Err(e) => fail(request, e.clone()),
        }
    }
}

/// A signed-in request: the user and the session. Using it loads the
/// session (one store call). It fails with 401 and why the session ended
/// (when known) when nobody is signed in, 503 when the store is down.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who is signed in.
    pub user: UserId,
    /// The session.
    pub session: Session,
}

#[async_trait]
impl<'r> FromRequest<'r> for SignedIn {
    type Error = SessionRejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let session = match Session::from_request(request).await {
            Outcome::Success(session) => session,
            Outcome::Error(e) => return Outcome::Error(e),
            Outcome::Forward(s) => return Outcome::Forward(s),
        };
        match session.require_user().await {
            Ok(user) => Outcome::Success(SignedIn { user, session }),
            Err(e) => fail(request, e.into()),
        }
    }
}

/// A session answer as a responder: core's [`HttpError`] (401 with the
/// reason, 409 limit, 503 store down, 500 fairing missing, or the
/// application's own) as JSON. Handlers return it with `?`.
#[derive(Debug, Clone)]
pub struct SessionRejection(pub HttpError);

impl<'r> Responder<'r, 'static> for SessionRejection {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = self.0.body();
        Response::build()
            .status(Status::new(self.0.status))
            .header(ContentType::JSON)
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    }
}

/// Any session error (`SessionError`, `StoreFailure`, `HttpError`) as a
/// responder, so handlers use `?`.
impl<E: Into<HttpError>> From<E> for SessionRejection {
    fn from(e: E) -> Self {
        SessionRejection(e.into())
    }
}
