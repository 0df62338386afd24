//! For adapter authors: the two ends of a request, as data, so that a
//! framework adapter only converts types.
//!
//! * [`begin_request`] takes the request's method and a [`HeaderLookup`]
//!   over its headers. It applies the CSRF guard ([`crate::CsrfGuard`]) and
//!   returns either the lazy [`Session`] handle (no store call yet) or the
//!   answer to send instead ([`HttpError`]: 403 or 415), before the handler
//!   runs.
//! * After the handler, [`Session::finish`] returns a [`ResponseUpdate`]:
//!   the headers to append ([`ResponseUpdate::headers`]: `Set-Cookie`, or
//!   the id header for non-browser clients) and an optional replacement
//!   answer ([`ResponseUpdate::replacement`]: 503 when the final save
//!   failed in the store, 401 when it was refused because the session ended
//!   meanwhile).
//! * Extractors: [`installed`] gives the handle the middleware stored (or
//!   [`HttpError::not_installed`], 500, when the middleware is missing on
//!   the route) and [`signed_in`] the signed-in user with it (401 with why
//!   the session ended, 503 when the store fails).
//! * [`begin_request_with`] takes the headers as a closure instead of a
//!   [`HeaderLookup`] type, and the request's authority (HTTP/2
//!   `:authority`, or the URI's) apart from them.
//!
//! Every answer is a status, [`HttpError::CONTENT_TYPE`] and
//! [`HttpError::body`]: adapters need one function that turns an
//! [`HttpError`] into their framework's response.
//!
//! # Writing an adapter
//!
//! 1. Implement [`HeaderLookup`] for the framework's header map.
//! 2. In the middleware, call [`begin_request`]; on `Err`, answer it and
//!    skip the handler; on `Ok`, put the handle where extractors find it.
//! 3. Run the handler, then call [`Session::finish`].
//! 4. If [`ResponseUpdate::replacement`] is `Some`, answer that instead.
//! 5. Append every [`ResponseUpdate::headers`] pair to the response.
//!
//! Here is a complete adapter over plain [`http`](https://docs.rs/http)
//! types, with a handler as an async function:
//!
//! ```
//! use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
//! use session_core::adapter::{begin_request, HeaderLookup};
//! use session_core::{HttpError, KeyRing, MemoryStore, Session, SessionConfig, SessionManager};
//! use std::sync::Arc;
//!
//! /// Step 1: the framework's headers, as core reads them.
//! struct Headers<'a>(&'a HeaderMap);
//!
//! impl HeaderLookup for Headers<'_> {
//!     fn values(&self, name: &str) -> Vec<&[u8]> {
//!         self.0.get_all(name).iter().map(HeaderValue::as_bytes).collect()
//!     }
//! }
//!
//! fn answer(e: &HttpError) -> Response<String> {
//!     let mut r = Response::new(e.body());
//!     *r.status_mut() = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
//!     r.headers_mut().insert("content-type", HeaderValue::from_static(HttpError::CONTENT_TYPE));
//!     r
//! }
//!
//! /// Steps 2 to 5: the middleware around one handler.
//! async fn serve<F, Fut>(manager: &SessionManager, req: Request<String>, handler: F) -> Response<String>
//! where
//!     F: FnOnce(Session, Request<String>) -> Fut,
//!     Fut: std::future::Future<Output = Response<String>>,
//! {
//!     let session = match begin_request(manager, req.method().as_str(), &Headers(req.headers())) {
//!         Ok(session) => session,
//!         Err(refused) => return answer(&refused),
//!     };
//!     let mut response = handler(session.clone(), req).await;
//!     let update = session.finish().await;
//!     // The final save's failure, or what a `SignedIn` guard answered
//!     // (`signed_in` keeps it): core's answer replaces the handler's.
//!     if let Some(replacement) = update.answer_for(response.status().as_u16()) {
//!         response = answer(&replacement);
//!     }
//!     for (name, value) in update.headers() {
//!         if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
//!             response.headers_mut().append(n, v);
//!         }
//!     }
//!     response
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
//! let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
//! let login = Request::post("/login").header("host", "app.example").body(String::new()).unwrap();
//! let response = serve(&manager, login, |session, _| async move {
//!     session.login(session_core::UserId::new("alice").unwrap()).await.unwrap();
//!     Response::new("signed in".to_owned())
//! })
//! .await;
//! assert!(response.headers()["set-cookie"].to_str().unwrap().starts_with("__Host-sid="));
//!
//! // A cross-site form post is refused before the handler runs.
//! let forged = Request::post("/logout")
//!     .header("sec-fetch-site", "cross-site")
//!     .body(String::new())
//!     .unwrap();
//! let response = serve(&manager, forged, |_, _| async { unreachable!() }).await;
//! assert_eq!(response.status(), 403);
//! # }
//! ```

use std::marker::PhantomData;

use crate::csrf::RequestFacts;
use crate::handle::Session;
use crate::http::HttpError;
use crate::manager::SessionManager;
pub use crate::response::ResponseUpdate;
use crate::user::UserId;

/// A request's headers, as core reads them. Implement it for your
/// framework's header map.
pub trait HeaderLookup {
    /// Every value of the header `name` (given in ASCII lowercase), in the
    /// order received; empty when the header is absent. Core also asks for
    /// the pseudo-header `:authority`, read only when `Host` is absent:
    /// answer with the request URI's authority (HTTP/2 sends no `Host`, and
    /// frameworks keep `:authority` in the URI), so the CSRF guard can
    /// compare a browser's `Origin` with the site.
    fn values(&self, name: &str) -> Vec<&[u8]>;
}

/// Headers as a list of `(name, value)` pairs (names compared without
/// case), for tests and for frameworks that keep headers that way.
///
/// ```
/// use session_core::adapter::{begin_request, HeaderLookup};
/// # use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager};
/// # let manager = SessionManager::new(std::sync::Arc::new(MemoryStore::new()),
/// #     SessionConfig::builder(KeyRing::generate()).build().unwrap());
/// let headers = [("Origin", "https://evil.example"), ("Host", "app.example")];
/// assert_eq!(headers.values("origin"), [b"https://evil.example"]);
/// assert_eq!(begin_request(&manager, "POST", &headers).unwrap_err().status, 403);
/// ```
impl<N: AsRef<str>, V: AsRef<[u8]>> HeaderLookup for [(N, V)] {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.iter()
            .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
            .collect()
    }
}

/// [`begin_request`] with the headers read through `values` (every value of
/// a header name, given in ASCII lowercase), so an adapter needs no
/// [`HeaderLookup`] type of its own, and the request's `authority` (the
/// HTTP/2 `:authority`, or the authority of the request URI, which the
/// framework keeps outside its header map), which the CSRF guard uses
/// when there is no `Host` header.
pub fn begin_request_with<'a>(
    manager: &SessionManager,
    method: &str,
    authority: Option<&'a [u8]>,
    values: impl Fn(&str) -> Vec<&'a [u8]>,
) -> Result<Session, HttpError> {
    let lookup = LookupFn {
        values,
        authority,
        lifetime: PhantomData,
    };
    begin_request(manager, method, &lookup)
}

/// A closure and an authority as a [`HeaderLookup`] (the pseudo-header
/// `:authority` answered from the authority); the marker ties the values'
/// lifetime to the lookup, so they outlive any borrow of it.
struct LookupFn<'a, F> {
    values: F,
    authority: Option<&'a [u8]>,
    lifetime: PhantomData<&'a ()>,
}

impl<'a, F: Fn(&str) -> Vec<&'a [u8]>> HeaderLookup for LookupFn<'a, F> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        match name {
            ":authority" => self.authority.into_iter().collect(),
            _ => (self.values)(name),
        }
    }
}

/// For a `Session` extractor: the handle the middleware stored on the
/// request, or [`HttpError::not_installed`] (500) when the middleware is
/// missing on the route.
///
/// ```
/// use session_core::adapter::{begin_request_with, installed, signed_in};
/// # use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let manager = SessionManager::new(std::sync::Arc::new(MemoryStore::new()),
/// #     SessionConfig::builder(KeyRing::generate()).build().unwrap());
/// assert_eq!(installed(None).unwrap_err().status, 500);
/// // A request without a cookie: a handle, but nobody signed in (401).
/// let session = begin_request_with(&manager, "GET", None, |_| Vec::new()).unwrap();
/// assert_eq!(signed_in(Some(session)).await.unwrap_err().status, 401);
/// # }
/// ```
pub fn installed(session: Option<Session>) -> Result<Session, HttpError> {
    session.ok_or_else(HttpError::not_installed)
}

/// For a `SignedIn` extractor: the signed-in user and the handle. Loads the
/// session (one store call); 500 without the middleware, 401 with why the
/// session ended when nobody is signed in, 503 when the store fails. The
/// failure is kept on the handle, so the end of the request answers it
/// ([`ResponseUpdate::answer_for`]) even when the framework's `Option`
/// extractor turned it into `None`.
pub async fn signed_in(session: Option<Session>) -> Result<(UserId, Session), HttpError> {
    let session = installed(session)?;
    match session.require_user().await {
        Ok(user) => Ok((user, session)),
        Err(e) => {
            // Kept for the end of the request: ResponseUpdate::answer_for.
            let answer = HttpError::from(e);
            session.note_guard_failure(answer.clone()).await;
            Err(answer)
        }
    }
}

/// An `http` 1.x request (axum, hyper, tower): its headers, and the URI's
/// authority as `:authority` (HTTP/2 sends no `Host`).
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl<B> HeaderLookup for http::Request<B> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        if name == ":authority" {
            let authority = self.uri().authority().map(|a| a.as_str().as_bytes());
            return authority.into_iter().collect();
        }
        let values = self.headers().get_all(name).iter();
        values.map(http::HeaderValue::as_bytes).collect()
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>, const K: usize> HeaderLookup for [(N, V); K] {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.as_slice().values(name)
    }
}

/// Starts a request: applies the CSRF guard, then reads the session id
/// from the id header (when configured and present: a non-browser client)
/// or from the `Cookie` headers. Touches no store.
///
/// `Err` is the answer to send instead of running the handler (403 or 415).
pub fn begin_request<H: HeaderLookup + ?Sized>(
    manager: &SessionManager,
    method: &str,
    headers: &H,
) -> Result<Session, HttpError> {
    let config = manager.config();
    let first = |name: &str| headers.values(name).into_iter().next();
    let content_type = first("content-type");
    let has_body = match first("content-length") {
        Some(n) => std::str::from_utf8(n)
            .ok()
            .and_then(|n| n.trim().parse::<u64>().ok())
            .is_none_or(|n| n > 0),
        // No length: a chunked body, or (HTTP/2) a body announced only by
        // its type.
        None => first("transfer-encoding").is_some() || content_type.is_some(),
    };
    config.csrf().check(&RequestFacts {
        method,
        authority: first("host").or_else(|| first(":authority")),
        https: config.cookie().secure(),
        origin: first("origin"),
        fetch_site: first("sec-fetch-site"),
        content_type,
        has_body,
    })?;
    if let Some(value) = config.id_header().and_then(first) {
        return Ok(manager.session_for_header_client(value));
    }
    Ok(manager.session_for_request(headers.values("cookie")))
}

/// Implements, for an adapter's `SessionRejection(pub HttpError)` newtype,
/// what every adapter's rejection shares: `Display` (the [`HttpError`]'s),
/// `std::error::Error`, and `From` for [`HttpError`],
/// [`crate::SessionError`], [`crate::StoreFailure`], [`crate::UserIdError`]
/// (400) and [`crate::PublicIdError`] (404), so `?` works in handlers. The
/// adapter adds only its framework's response trait.
#[macro_export]
macro_rules! rejection_conversions {
    ($rejection:ident) => {
        impl ::std::fmt::Display for $rejection {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }
        impl ::std::error::Error for $rejection {}
        $crate::rejection_conversions!(@from $rejection: $crate::HttpError,
            $crate::SessionError, $crate::StoreFailure, $crate::UserIdError,
            $crate::PublicIdError);
    };
    (@from $rejection:ident: $($source:ty),+) => {
        $(impl ::std::convert::From<$source> for $rejection {
            fn from(e: $source) -> Self {
                $rejection(::std::convert::Into::into(e))
            }
        })+
    };
}
