//! The session cookie: its attributes, and the `Set-Cookie` values the
//! request lifecycle sends.
//!
//! # How the defaults were chosen
//!
//! When in doubt, the most secure option: `HttpOnly` (scripts cannot read
//! the id), `Secure` (never sent over plain HTTP), `SameSite=Lax` (not sent
//! on cross-site subrequests, still sent when a user follows a link to the
//! site), `Path=/`, no `Domain` (host-only). The cookie carries nothing but
//! the session id.
//!
//! The cookie's `Max-Age` runs to the session's **absolute** deadline, not
//! its idle deadline: the server enforces the idle timeout, and a cookie that
//! outlived its session is removed on its next request. This way the idle
//! refresh never needs a `Set-Cookie`, and a refresh done by a request that
//! sent no cookie (an increment) cannot leave the browser holding a cookie
//! that expires before the session. [`CookieLifetime::BrowserSession`] drops
//! `Max-Age` altogether.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

use crate::id::SessionId;

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Also sent on top-level navigations from other sites (the default).
    #[default]
    Lax,
    /// Sent on every request; requires `Secure`.
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// How long the browser keeps the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CookieLifetime {
    /// `Max-Age` until the session's absolute deadline (the default).
    #[default]
    Persistent,
    /// No `Max-Age`: the browser drops the cookie when it closes.
    BrowserSession,
}

/// Why a cookie configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieConfigError {
    /// The name is empty or has characters a cookie name cannot have.
    #[error("cookie name {0:?} is not a valid cookie name (use letters, digits and - _ .)")]
    BadName(String),
    /// The domain or path has characters that would break the header.
    #[error("cookie {attribute} {value:?} contains characters not allowed in a cookie attribute")]
    BadAttribute {
        /// `Domain` or `Path`.
        attribute: &'static str,
        /// The value given.
        value: String,
    },
    /// `SameSite=None` without `Secure` is refused by browsers.
    #[error("SameSite=None requires Secure")]
    SameSiteNoneWithoutSecure,
}

/// The session cookie's name and attributes.
///
/// ```
/// use session_core::{CookieConfig, SameSite};
/// let c = CookieConfig::default().with_name("app_session").with_same_site(SameSite::Strict);
/// assert_eq!(c.cookie_name(), "__Host-app_session");
/// assert!(c.removal().contains("Max-Age=0"));
/// ```
///
/// # Security
///
/// [`CookieConfig::with_secure`]`(false)` and
/// [`CookieConfig::with_http_only`]`(false)` weaken the defaults: turn Secure
/// off only for plain-HTTP development on localhost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    name: String,
    domain: Option<String>,
    path: String,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    lifetime: CookieLifetime,
    host_prefix: HostPrefix,
}

/// Whether the name carries the `__Host-` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostPrefix {
    /// When the cookie allows it: `Secure`, no `Domain`, `Path=/`.
    Auto,
    /// Always (forcing `Secure`, `Path=/` and no `Domain`).
    On,
    /// Never.
    Off,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            name: "sid".into(),
            domain: None,
            path: "/".into(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            lifetime: CookieLifetime::Persistent,
            host_prefix: HostPrefix::Auto,
        }
    }
}

impl CookieConfig {
    /// Sets the cookie name (default `sid`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the `Domain` attribute (default none: host-only).
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the `Path` attribute (default `/`).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets `Secure` (default true). See the security note above.
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets `HttpOnly` (default true). See the security note above.
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// Sets `SameSite` (default `Lax`).
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets the cookie lifetime (default [`CookieLifetime::Persistent`]).
    pub fn with_lifetime(mut self, lifetime: CookieLifetime) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Forces the `__Host-` name prefix on (`true`: this also forces
    /// `Secure`, `Path=/` and no `Domain`) or off (`false`). By default the
    /// prefix is used whenever the cookie allows it: `Secure` on, no
    /// `Domain`, `Path=/`.
    ///
    /// ```
    /// use session_core::CookieConfig;
    /// assert_eq!(CookieConfig::default().cookie_name(), "__Host-sid");
    /// assert_eq!(CookieConfig::default().with_secure(false).cookie_name(), "sid");
    /// assert_eq!(CookieConfig::default().with_domain("example.com").cookie_name(), "sid");
    /// assert_eq!(CookieConfig::default().with_host_prefix(false).cookie_name(), "sid");
    /// ```
    pub fn with_host_prefix(mut self, on: bool) -> Self {
        self.host_prefix = if on { HostPrefix::On } else { HostPrefix::Off };
        self
    }

    fn prefixed(&self) -> bool {
        match self.host_prefix {
            HostPrefix::On => true,
            HostPrefix::Off => false,
            HostPrefix::Auto => self.secure && self.domain.is_none() && self.path == "/",
        }
    }

    /// The name on the wire, with the `__Host-` prefix when it applies.
    pub fn cookie_name(&self) -> Cow<'_, str> {
        if self.prefixed() {
            Cow::Owned(format!("__Host-{}", self.name))
        } else {
            Cow::Borrowed(&self.name)
        }
    }

    /// How long the browser keeps the cookie, unless a session chose its
    /// own at sign-in.
    pub fn lifetime(&self) -> CookieLifetime {
        self.lifetime
    }

    /// Whether `Secure` is sent.
    pub fn secure(&self) -> bool {
        self.secure || self.prefixed()
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), CookieConfigError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            return Err(CookieConfigError::BadName(self.name.clone()));
        }
        let attr_ok = |v: &str| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| (0x21..0x7f).contains(&b) && b != b';' && b != b',')
        };
        if !attr_ok(&self.path) {
            return Err(CookieConfigError::BadAttribute {
                attribute: "Path",
                value: self.path.clone(),
            });
        }
        if let Some(d) = &self.domain
            && !attr_ok(d)
        {
            return Err(CookieConfigError::BadAttribute {
                attribute: "Domain",
                value: d.clone(),
            });
        }
        if self.same_site == SameSite::None && !self.secure() {
            return Err(CookieConfigError::SameSiteNoneWithoutSecure);
        }
        Ok(())
    }

    /// The `Set-Cookie` value that hands `sid` to the browser; `max_age` is
    /// the time left to the session's absolute deadline.
    pub fn set_cookie(&self, sid: &SessionId, max_age: Duration) -> String {
        self.set_cookie_as(sid, max_age, self.lifetime)
    }

    /// As [`Self::set_cookie`], with this session's own cookie lifetime
    /// (chosen at sign-in, [`crate::SignInOptions`]).
    pub(crate) fn set_cookie_as(
        &self,
        sid: &SessionId,
        max_age: Duration,
        lifetime: CookieLifetime,
    ) -> String {
        let mut out = format!("{}={}", self.cookie_name(), sid.expose_secret());
        if lifetime == CookieLifetime::Persistent {
            let _ = write!(out, "; Max-Age={}", max_age.as_secs());
        }
        self.attributes(&mut out);
        out
    }

    /// The `Set-Cookie` value that makes the browser drop the cookie.
    pub fn removal(&self) -> String {
        let mut out = format!("{}=; Max-Age=0", self.cookie_name());
        self.attributes(&mut out);
        out
    }

    fn attributes(&self, out: &mut String) {
        if self.prefixed() {
            out.push_str("; Path=/");
        } else {
            let _ = write!(out, "; Path={}", self.path);
            if let Some(d) = &self.domain {
                let _ = write!(out, "; Domain={d}");
            }
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure() {
            out.push_str("; Secure");
        }
        let _ = write!(out, "; SameSite={}", self.same_site.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyRing;
    use crate::store::SlotTag;

    #[test]
    fn defaults_are_secure() {
        let c = CookieConfig::default();
        let sid = SessionId::generate(&KeyRing::generate(), SlotTag::random());
        let v = c.set_cookie(&sid, Duration::from_secs(60));
        assert!(v.starts_with(&format!("__Host-sid={}; Max-Age=60", sid.expose_secret())));
        for attr in ["; Path=/", "; HttpOnly", "; Secure", "; SameSite=Lax"] {
            assert!(v.contains(attr), "{v} lacks {attr}");
        }
        assert!(!v.contains("Domain"));
        assert_eq!(
            c.removal(),
            "__Host-sid=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        // A Domain (or a narrower Path) rules the prefix out.
        let shared = c.clone().with_domain("example.com");
        assert!(
            shared.removal().starts_with("sid=; ")
                && shared.removal().contains("Domain=example.com")
        );
        assert!(c.with_path("/app").removal().starts_with("sid=; "));
    }

    #[test]
    fn host_prefix_forces_secure_root_path_no_domain() {
        let c = CookieConfig::default()
            .with_host_prefix(true)
            .with_secure(false)
            .with_domain("example.com")
            .with_path("/app");
        assert!(c.validate().is_ok());
        assert_eq!(
            c.removal(),
            "__Host-sid=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(CookieConfig::default().with_name("a b").validate().is_err());
        assert!(CookieConfig::default().with_name("").validate().is_err());
        assert!(CookieConfig::default().with_path("/;x").validate().is_err());
        assert_eq!(
            CookieConfig::default()
                .with_secure(false)
                .with_same_site(SameSite::None)
                .validate(),
            Err(CookieConfigError::SameSiteNoneWithoutSecure)
        );
    }
}
