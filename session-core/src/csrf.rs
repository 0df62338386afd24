//! [`CsrfGuard`]: refuses state-changing requests that another site could
//! have made the browser send, before the session is touched.
//!
//! # What `SameSite=Lax` leaves open
//!
//! A `SameSite=Lax` cookie is not sent on cross-*site* subrequests, but
//! "site" is the registrable domain: a page on another port of the same
//! host, or on a sibling subdomain (`evil.example.com` against
//! `app.example.com`), is same-site, and the browser attaches the cookie to
//! its form posts and `fetch` calls. Lax also does nothing against *login*
//! CSRF (signing the victim into the attacker's account needs no cookie at
//! all), and top-level `GET` navigations carry the cookie by design, which
//! is why state changes must never happen on `GET`.
//!
//! # The rules
//!
//! For unsafe methods (anything but `GET`, `HEAD`, `OPTIONS` and `TRACE`):
//!
//! 1. **Origin check** (on by default). Refused with 403 when
//!    `Sec-Fetch-Site: cross-site`, or when `Origin` is `null` or names a
//!    host (and port) other than the request's `Host`, unless that origin
//!    is on the allow-list. Requests carrying neither header (curl,
//!    server-to-server calls) pass: browsers always send at least one of
//!    them on unsafe requests. The scheme is not compared, because behind
//!    a TLS-terminating proxy the server cannot know it; a page served over
//!    plain `http` on the same host is cross-site for browsers that use
//!    schemeful same-site, and never receives a `Secure` cookie.
//! 2. **JSON bodies only** (opt-in, for JSON APIs). A request with a body
//!    must say `Content-Type: application/json`, else 415. A plain HTML
//!    form can only send `application/x-www-form-urlencoded`,
//!    `multipart/form-data` or `text/plain`, so it can no longer reach the
//!    API, even from a same-site page; a cross-origin `fetch` with JSON
//!    needs a CORS preflight the server does not grant.
//!
//! Both answers come before any store call and change no cookie.
//!
//! # Turning it off
//!
//! [`CsrfGuard::disabled`] is for APIs whose clients authenticate only
//! through the id header (no cookie, so nothing a browser sends on its
//! own). An application serving browsers should keep the guard on.

use crate::http::HttpError;

/// The request facts the guard reads: method and headers.
pub(crate) struct RequestFacts<'a> {
    pub(crate) method: &'a str,
    pub(crate) host: Option<&'a [u8]>,
    pub(crate) origin: Option<&'a [u8]>,
    pub(crate) fetch_site: Option<&'a [u8]>,
    pub(crate) content_type: Option<&'a [u8]>,
    pub(crate) has_body: bool,
}

/// The CSRF guard's settings, part of [`crate::SessionConfig`].
///
/// ```
/// use session_core::{CsrfGuard, KeyRing, SessionConfig};
/// let guard = CsrfGuard::default()
///     .with_allowed_origin("https://admin.example.com")
///     .with_json_bodies_only(true);
/// let config = SessionConfig::builder(KeyRing::generate()).with_csrf(guard).build().unwrap();
/// assert!(config.csrf().json_bodies_only());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfGuard {
    origin_check: bool,
    allowed_origins: Vec<String>,
    json_bodies_only: bool,
}

impl Default for CsrfGuard {
    /// The origin check on, no extra allowed origins, any body type.
    fn default() -> Self {
        CsrfGuard {
            origin_check: true,
            allowed_origins: Vec::new(),
            json_bodies_only: false,
        }
    }
}

impl CsrfGuard {
    /// No checks at all. See "Turning it off" in the module docs: only for
    /// APIs whose clients never use the cookie.
    pub fn disabled() -> Self {
        CsrfGuard {
            origin_check: false,
            allowed_origins: Vec::new(),
            json_bodies_only: false,
        }
    }

    /// Also accepts unsafe requests from `origin` (for example
    /// `https://admin.example.com`), compared without case.
    pub fn with_allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins
            .push(origin.into().trim_end_matches('/').to_ascii_lowercase());
        self
    }

    /// Refuses (415) unsafe requests whose body is not
    /// `application/json`. Default off; turn it on for JSON APIs.
    pub fn with_json_bodies_only(mut self, on: bool) -> Self {
        self.json_bodies_only = on;
        self
    }

    /// Whether the JSON-bodies rule is on.
    pub fn json_bodies_only(&self) -> bool {
        self.json_bodies_only
    }

    /// Checks a request; the answer to send instead when it is refused.
    pub(crate) fn check(&self, r: &RequestFacts<'_>) -> Result<(), HttpError> {
        if matches!(r.method, "GET" | "HEAD" | "OPTIONS" | "TRACE") {
            return Ok(());
        }
        if self.origin_check {
            if r.fetch_site
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"cross-site"))
            {
                return Err(forbidden("a cross-site request may not change state"));
            }
            if let Some(origin) = r.origin
                && !self.origin_allowed(origin, r.host)
            {
                return Err(forbidden(
                    "a request from another origin may not change state",
                ));
            }
        }
        if self.json_bodies_only && r.has_body && !is_json(r.content_type) {
            return Err(HttpError::new(
                415,
                "unsupported_media_type",
                "send the request body as Content-Type: application/json",
            ));
        }
        Ok(())
    }

    fn origin_allowed(&self, origin: &[u8], host: Option<&[u8]>) -> bool {
        let Ok(origin) = std::str::from_utf8(origin.trim_ascii()) else {
            return false;
        };
        let origin = origin.trim_end_matches('/');
        if self
            .allowed_origins
            .iter()
            .any(|a| a.eq_ignore_ascii_case(origin))
        {
            return true;
        }
        // `scheme://host[:port]`; `null` and anything else is not ours.
        let Some((_, authority)) = origin.split_once("://") else {
            return false;
        };
        host.is_some_and(|h| h.trim_ascii().eq_ignore_ascii_case(authority.as_bytes()))
    }
}

fn forbidden(message: &str) -> HttpError {
    HttpError::new(403, "forbidden", message)
}

/// `application/json`, with or without parameters.
fn is_json(content_type: Option<&[u8]>) -> bool {
    let Some(v) = content_type else {
        return false;
    };
    let essence = v.split(|&b| b == b';').next().unwrap_or_default();
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post<'a>() -> RequestFacts<'a> {
        RequestFacts {
            method: "POST",
            host: Some(b"app.example.com"),
            origin: None,
            fetch_site: None,
            content_type: None,
            has_body: false,
        }
    }

    fn status(g: &CsrfGuard, r: &RequestFacts<'_>) -> u16 {
        g.check(r).map(|()| 200).unwrap_or_else(|e| e.status)
    }

    #[test]
    fn cross_site_and_foreign_origins_are_refused() {
        let g = CsrfGuard::default();
        assert_eq!(
            status(&g, &post()),
            200,
            "no browser headers: not a browser"
        );
        for (origin, want) in [
            (&b"https://app.example.com"[..], 200),
            (b"https://APP.example.com/", 200),
            (b"https://evil.example.com", 403),
            (b"https://app.example.com:8443", 403),
            (b"null", 403),
            (b"\xff", 403),
        ] {
            let r = RequestFacts {
                origin: Some(origin),
                ..post()
            };
            assert_eq!(
                status(&g, &r),
                want,
                "{:?}",
                String::from_utf8_lossy(origin)
            );
        }
        let r = RequestFacts {
            fetch_site: Some(b"cross-site"),
            ..post()
        };
        assert_eq!(status(&g, &r), 403);
        let r = RequestFacts {
            fetch_site: Some(b"same-site"),
            ..post()
        };
        assert_eq!(status(&g, &r), 200);
        // Safe methods are never refused.
        let r = RequestFacts {
            method: "GET",
            fetch_site: Some(b"cross-site"),
            ..post()
        };
        assert_eq!(status(&g, &r), 200);
        // The allow-list and the opt-out.
        let g = CsrfGuard::default().with_allowed_origin("https://admin.example.com/");
        let r = RequestFacts {
            origin: Some(b"https://admin.example.com"),
            ..post()
        };
        assert_eq!(status(&g, &r), 200);
        let r = RequestFacts {
            origin: Some(b"https://evil.example.com"),
            ..post()
        };
        assert_eq!(status(&CsrfGuard::disabled(), &r), 200);
    }

    #[test]
    fn json_only_refuses_other_bodies_with_415() {
        let g = CsrfGuard::default().with_json_bodies_only(true);
        for (ct, body, want) in [
            (None, false, 200),
            (None, true, 415),
            (Some(&b"text/plain"[..]), true, 415),
            (Some(b"application/x-www-form-urlencoded"), true, 415),
            (Some(b"application/json"), true, 200),
            (Some(b"Application/JSON; charset=utf-8"), true, 200),
            (Some(b"application/jsonp"), true, 415),
        ] {
            let r = RequestFacts {
                content_type: ct,
                has_body: body,
                ..post()
            };
            assert_eq!(status(&g, &r), want, "{ct:?}");
        }
        let r = RequestFacts {
            content_type: Some(b"text/plain"),
            has_body: true,
            ..post()
        };
        assert_eq!(status(&CsrfGuard::default(), &r), 200, "off by default");
    }
}
