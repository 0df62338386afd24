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
//!    `Sec-Fetch-Site: cross-site`, or when `Origin` is `null` or is not
//!    the site's own origin or one on the allow-list. The site's own
//!    origin is the request's authority (`Host`, or the HTTP/2
//!    `:authority` an adapter passes when `Host` is absent) under the
//!    site's scheme: `https` when the session cookie is `Secure` (the
//!    default), `http` when it is not. So an `http://` page of the same
//!    host cannot post to an `https` site; only on a loopback host
//!    (`localhost`, `127.0.0.1`, `[::1]`), which browsers hold
//!    trustworthy and give Secure cookies over `http`, is the `http`
//!    origin accepted as well, for development. Default ports compare equal to
//!    none (`https://a:443` is `https://a`). Behind a proxy that rewrites
//!    `Host`, name the public origins in the allow-list
//!    ([`CsrfGuard::with_allowed_origin`], `SESSION_ALLOWED_ORIGINS`):
//!    they are compared with scheme, host and port. Requests carrying
//!    neither header (curl, server-to-server calls) pass: browsers always
//!    send at least one of them on unsafe requests.
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
    /// `Host`, or the HTTP/2 `:authority` when `Host` is absent.
    pub(crate) authority: Option<&'a [u8]>,
    /// Whether the site is served over https (the cookie is `Secure`).
    pub(crate) https: bool,
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
    /// `https://admin.example.com`), compared with scheme, host and port,
    /// without case. Check a value that comes from outside the code with
    /// [`CsrfGuard::valid_origin`] first (`SESSION_ALLOWED_ORIGINS` is).
    pub fn with_allowed_origin(mut self, origin: impl Into<String>) -> Self {
        if let Some(origin) = Origin::parse(origin.into().as_bytes()) {
            self.allowed_origins.push(origin.to_string());
        }
        self
    }

    /// Whether `origin` is an origin the allow-list can hold:
    /// `http://` or `https://`, a host, an optional port, no path.
    ///
    /// ```
    /// use session_core::CsrfGuard;
    /// assert!(CsrfGuard::valid_origin("https://app.example.com:8443"));
    /// assert!(!CsrfGuard::valid_origin("app.example.com"));
    /// assert!(!CsrfGuard::valid_origin("https://app.example.com/admin"));
    /// ```
    pub fn valid_origin(origin: &str) -> bool {
        Origin::parse(origin.as_bytes()).is_some()
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
                && !self.origin_allowed(origin, r)
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

    fn origin_allowed(&self, origin: &[u8], r: &RequestFacts<'_>) -> bool {
        // `null` and anything that is not `scheme://host[:port]` is not ours.
        let Some(origin) = Origin::parse(origin) else {
            return false;
        };
        let origin = origin.to_string();
        if self.allowed_origins.contains(&origin) {
            return true;
        }
        let own = |scheme: &str| {
            r.authority
                .and_then(|a| Origin::parse(&[scheme.as_bytes(), b"://", a.trim_ascii()].concat()))
        };
        if !r.https {
            return own("http").is_some_and(|own| own.to_string() == origin);
        }
        // Browsers hold a loopback http origin trustworthy and keep Secure
        // cookies for it: a Secure site in development on localhost.
        own("https").is_some_and(|own| own.to_string() == origin)
            || own("http").is_some_and(|own| own.is_loopback() && own.to_string() == origin)
    }
}

/// A web origin, normalised: lowercase scheme (`http` or `https`) and host,
/// the port only when it is not the scheme's default.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: &'static str,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// At most this many bytes: a longer value is nobody's origin.
    const MAX_BYTES: usize = 512;

    fn parse(value: &[u8]) -> Option<Origin> {
        if value.len() > Self::MAX_BYTES {
            return None;
        }
        let value = std::str::from_utf8(value).ok()?.trim();
        let value = value.strip_suffix('/').unwrap_or(value);
        let (scheme, authority) = value.split_once("://")?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "http",
            "https" => "https",
            _ => return None,
        };
        let default_port = if scheme == "https" { 443 } else { 80 };
        // An IPv6 literal keeps its colons inside brackets.
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, Some(port.parse::<u16>().ok()?)),
            _ => (authority, None),
        };
        let valid_host = !host.is_empty()
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':')
            });
        if !valid_host {
            return None;
        }
        Some(Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port: port.filter(|&p| p != default_port),
        })
    }
}

impl Origin {
    /// `localhost`, `127.x.y.z` or `[::1]`: never another machine.
    fn is_loopback(&self) -> bool {
        let h = self.host.as_str();
        h == "localhost"
            || h.ends_with(".localhost")
            || h == "[::1]"
            || h.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
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
            authority: Some(b"app.example.com"),
            https: true,
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
    fn the_scheme_and_the_port_are_compared() {
        let g = CsrfGuard::default();
        let from = |origin: &'static [u8], https: bool| RequestFacts {
            origin: Some(origin),
            https,
            ..post()
        };
        // An http page of the same host may not post to an https site.
        assert_eq!(status(&g, &from(b"http://app.example.com", true)), 403);
        assert_eq!(status(&g, &from(b"https://app.example.com", true)), 200);
        assert_eq!(status(&g, &from(b"https://app.example.com:443", true)), 200);
        // A site without Secure cookies is served over http.
        assert_eq!(status(&g, &from(b"http://app.example.com:80", false)), 200);
        assert_eq!(status(&g, &from(b"https://app.example.com", false)), 403);
        assert_eq!(status(&g, &from(b"ftp://app.example.com", true)), 403);
        let r = RequestFacts {
            authority: Some(b"app.example.com:443"),
            ..from(b"https://app.example.com", true)
        };
        assert_eq!(status(&g, &r), 200, "a default port in Host is no port");
        // The allow-list keeps its scheme.
        // A Secure site on a loopback host in development: its http
        // origin is the browser's own.
        let local = |origin: &'static [u8]| RequestFacts {
            authority: Some(b"127.0.0.1:3000"),
            ..from(origin, true)
        };
        assert_eq!(status(&g, &local(b"http://127.0.0.1:3000")), 200);
        assert_eq!(status(&g, &local(b"http://127.0.0.1:3001")), 403);
        let g = CsrfGuard::default().with_allowed_origin("https://admin.example.com");
        assert_eq!(status(&g, &from(b"https://admin.example.com", true)), 200);
        assert_eq!(status(&g, &from(b"http://admin.example.com", true)), 403);
    }

    #[test]
    fn without_an_authority_only_the_allow_list_passes() {
        // HTTP/2 has no Host header; the adapter passes `:authority`, and
        // when even that is missing, only the allow-list can match.
        let r = RequestFacts {
            authority: None,
            origin: Some(b"https://app.example.com"),
            ..post()
        };
        assert_eq!(status(&CsrfGuard::default(), &r), 403);
        let g = CsrfGuard::default().with_allowed_origin("https://app.example.com");
        assert_eq!(status(&g, &r), 200);
    }

    #[test]
    fn origins_are_parsed_strictly() {
        for good in [
            "https://a.example",
            "http://localhost:3000",
            "https://[::1]:8443",
            "HTTPS://A.EXAMPLE/",
        ] {
            assert!(CsrfGuard::valid_origin(good), "{good}");
        }
        for bad in [
            "",
            "null",
            "a.example",
            "https://",
            "https://a.example/path",
            "https://a.example:99999",
            "https://user@a.example",
            "javascript://a.example",
        ] {
            assert!(!CsrfGuard::valid_origin(bad), "{bad}");
        }
        assert!(!CsrfGuard::valid_origin(&format!(
            "https://{}",
            "a".repeat(600)
        )));
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
