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
//!   [`SessionFairing::new`] takes.
//! * **In routes**: [`Session`], the request's own handle
//!   ([`SessionHandle`]: `get`, `insert`, `login`, `logout`, `devices`,
//!   `revoke_device`, `sign_out_others`, `manager`, …); [`SignedIn`] for
//!   routes that need a user (401 with the reason otherwise);
//!   `Option<SignedIn>` for routes that serve both (`None` when nobody is
//!   signed in, still 503 when the store is unavailable; see [`SignedIn`]
//!   for the missing fairing); [`SessionRejection`], the error `?` turns
//!   every session error into.
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
//! The fairing is glue only. On request it hands the method and headers
//! to `session_core::adapter::begin_request_with` (the CSRF guard, the lazy
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
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::io::Cursor;
use std::ops::Deref;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{ContentType, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};
use rocket::{Data, async_trait};
use session_core::adapter::{begin_request_with, signed_in};

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

/// The fairing that gives every request a session handle.
///
/// ```
/// use std::sync::Arc;
/// use rocket::local::blocking::Client;
/// use rocket::{post, routes};
/// use session_rocket::{KeyRing, MemoryStore, Session, SessionConfig, SessionFairing};
/// use session_rocket::{SessionManager, SessionRejection, UserId};
///
/// #[post("/login")]
/// async fn login(session: Session) -> Result<&'static str, SessionRejection> {
///     session.login(UserId::new("alice")?).await?;
///     Ok("signed in")
/// }
///
/// let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
/// let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
/// let rocket = rocket::build()
///     .attach(SessionFairing::new(manager))
///     .mount("/", routes![login]);
///
/// let client = Client::untracked(rocket).unwrap();
/// let response = client.post("/login").dispatch();
/// assert_eq!(response.status().code, 200);
/// let cookie = response.headers().get_one("set-cookie").unwrap();
/// assert!(cookie.starts_with("__Host-sid="));
/// ```
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
struct Slot(Result<SessionHandle, HttpError>);

fn slot<'r>(request: &'r Request<'_>) -> &'r Slot {
    request.local_cache(|| Slot(Err(HttpError::not_installed())))
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
        // Rocket keeps the HTTP/2 `:authority` as the request's host, not
        // as a header.
        let authority = request.host().map(|host| host.to_string());
        let headers = |name: &str| request.headers().get(name).map(str::as_bytes).collect();
        let authority_bytes = authority.as_deref().map(str::as_bytes);
        let session = begin_request_with(&self.manager, method, authority_bytes, headers);
        let refused = session.is_err();
        request.local_cache(|| Slot(session));
        if refused {
            // No route serves this path; on_response gives the refusal.
            if let Ok(nowhere) = Origin::parse("/.session-refused") {
                request.set_uri(nowhere);
            }
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let session = match &slot(request).0 {
            Ok(session) => session,
            Err(refused) => return respond(response, refused),
        };
        // A guard's failure answers the request when Rocket's catcher did,
        // and a store failure whatever the route answered (core's rule).
        let update = session.finish().await;
        if let Some(answer) = update.answer_for(response.status().code) {
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

/// The request's own session handle, as a request guard; it derefs to
/// [`SessionHandle`], so a route calls its methods directly: data (`get`,
/// `insert`, `increment`), signing in and out (`login`, `logout`), and the
/// user's devices (`devices`, `revoke_device`, `sign_out_others`). Using it
/// costs no store call; without [`SessionFairing`] it fails with 500.
///
/// ```
/// use rocket::http::Status;
/// use rocket::post;
/// use session_rocket::{PublicId, Session, SessionRejection};
///
/// // "Sign that device out": a malformed id is a 404, like an unknown one.
/// #[post("/devices/<device>/revoke")]
/// async fn revoke(session: Session, device: &str) -> Result<Status, SessionRejection> {
///     let device = PublicId::parse(device)?;
///     let revoked = session.revoke_device(&device, "signed out from another device").await?;
///     Ok(if revoked { Status::NoContent } else { Status::NotFound })
/// }
///
/// #[post("/sign-out-others")]
/// async fn others(session: Session) -> Result<String, SessionRejection> {
///     let ended = session.sign_out_others().await?;
///     Ok(format!("{ended} other devices signed out"))
/// }
/// # let _ = rocket::build().mount("/", rocket::routes![revoke, others]);
/// ```
#[derive(Debug, Clone)]
pub struct Session(pub SessionHandle);

impl Deref for Session {
    type Target = SessionHandle;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

#[async_trait]
impl<'r> FromRequest<'r> for Session {
    type Error = SessionRejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match &slot(request).0 {
            Ok(session) => Outcome::Success(Session(session.clone())),
            Err(e) => Outcome::Error((Status::new(e.status), SessionRejection(e.clone()))),
        }
    }
}

/// A signed-in request: the user and the session. Using it loads the
/// session (one store call). It fails with 401 and why the session ended
/// (when known) when nobody is signed in, with 503 when the store is
/// unavailable, and with 500 when [`SessionFairing`] is missing.
///
/// As `Option<SignedIn>` it is `None` when nobody is signed in (where
/// `SignedIn` answers 401). Rocket's own `Option` guard turns every failure
/// into `None`, so core keeps the store's failure on the session and the fairing answers 503
/// whatever the route returned: a store that is down never looks like a
/// signed-out visitor (this holds for `Result<SignedIn, SessionRejection>`
/// too). Without the fairing nothing can answer the 500, and
/// `Option<SignedIn>` is `None`.
///
/// ```
/// use rocket::get;
/// use session_rocket::{Device, SessionRejection, SignedIn};
///
/// #[get("/me")]
/// fn me(who: SignedIn) -> String {
///     who.user.to_string()
/// }
///
/// #[get("/")]
/// fn home(who: Option<SignedIn>) -> String {
///     match who {
///         Some(who) => format!("hello, {}", who.user),
///         None => "hello, stranger".to_owned(),
///     }
/// }
///
/// // The user's devices, each marked whether it is this one.
/// #[get("/devices")]
/// async fn devices(who: SignedIn) -> Result<String, SessionRejection> {
///     let devices: Vec<Device> = who.session.devices().await?;
///     Ok(format!("{} devices", devices.len()))
/// }
/// # let _ = rocket::build().mount("/", rocket::routes![me, home, devices]);
/// ```
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
        match signed_in(slot(request).0.clone().ok()).await {
            Ok((user, session)) => Outcome::Success(SignedIn {
                user,
                session: Session(session),
            }),
            Err(e) => Outcome::Error((Status::new(e.status), SessionRejection(e))),
        }
    }
}

/// Every session error as a response: core's [`HttpError`], answered with
/// its status and its JSON body (`{"error": …, "message": …}`, plus the
/// reason and time when a session ended; never internals). Guards fail
/// with it, and `?` turns every error a route meets into it:
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
/// is Rocket's [`Responder`].
///
/// ```
/// use rocket::local::blocking::Client;
/// use rocket::{post, routes};
/// use session_rocket::{SessionRejection, UserId};
///
/// fn user(name: &str) -> Result<UserId, SessionRejection> {
///     Ok(UserId::new(name)?)
/// }
///
/// let rejection = user("").unwrap_err();
/// assert_eq!(rejection.0.status, 400);
/// assert!(rejection.to_string().starts_with("400 bad_request"));
///
/// #[post("/login", data = "<name>")]
/// fn login(name: &str) -> Result<String, SessionRejection> {
///     Ok(user(name)?.to_string())
/// }
/// let client = Client::untracked(rocket::build().mount("/", routes![login])).unwrap();
/// let response = client.post("/login").dispatch();
/// assert_eq!(response.status().code, 400);
/// assert_eq!(response.content_type(), Some(rocket::http::ContentType::JSON));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRejection(pub HttpError);

session_core::rejection_conversions!(SessionRejection);

/// Core's status, `Content-Type: application/json` and JSON body.
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
