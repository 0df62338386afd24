//! Settings from the environment: which Redis (`REDIS_URL`, or
//! `REDIS_HOST` and its parts) and the key prefix (`SESSION_KEY_PREFIX`).
//! The rules are tabled on [`crate::RedisStore::builder_from_lookup`]:
//! every variable set is either used or refused with a message naming it,
//! never ignored.

use crate::error::RedisStoreError;
use crate::topology;

/// The variables that give the server piece by piece.
const PARTS: [&str; 3] = ["REDIS_HOST", "REDIS_PORT", "REDIS_DB"];

/// The variables that give credentials.
const CREDENTIALS: [&str; 2] = ["REDIS_USERNAME", "REDIS_PASSWORD"];

fn bad(variable: &'static str, problem: impl Into<String>) -> RedisStoreError {
    RedisStoreError::BadSetting {
        variable,
        problem: problem.into(),
    }
}

/// A variable's value, trimmed; `None` when unset or blank.
fn getter(lookup: impl Fn(&str) -> Option<String>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// `SESSION_KEY_PREFIX`, checked; `None` when unset or blank.
pub(crate) fn key_prefix(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, RedisStoreError> {
    let Some(prefix) = getter(lookup)("SESSION_KEY_PREFIX") else {
        return Ok(None);
    };
    crate::keys::check_prefix(&prefix).map_err(|e| bad("SESSION_KEY_PREFIX", e.to_string()))?;
    Ok(Some(prefix))
}

/// The store URL the environment gives, or `None` when it names no Redis.
pub(crate) fn redis_url(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, RedisStoreError> {
    let Some((url, source)) = unchecked_url(lookup)? else {
        return Ok(None);
    };
    // Fail now, not at connect time, on a URL this build cannot use.
    match topology::parse(&url) {
        Ok(_) => Ok(Some(url)),
        Err(e @ RedisStoreError::FeatureNeeded { .. }) => Err(e),
        Err(e) => Err(bad(source, e.to_string())),
    }
}

/// The URL the variables give and the variable it comes from, before
/// [`topology::parse`] checks it (the rules do not depend on features).
pub(crate) fn unchecked_url(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, &'static str)>, RedisStoreError> {
    let get = getter(lookup);
    let tls = match get("REDIS_SSL").as_deref() {
        None => None,
        Some("false" | "0" | "no") => Some(false),
        Some("true" | "1" | "yes") => Some(true),
        Some(v) => {
            return Err(bad(
                "REDIS_SSL",
                format!("expected true or false, got {v:?}"),
            ));
        }
    };
    let user = get("REDIS_USERNAME");
    let password = get("REDIS_PASSWORD");
    if user.is_some() && password.is_none() {
        return Err(bad(
            "REDIS_USERNAME",
            "set without REDIS_PASSWORD: Redis authenticates a user by its password \
             (the client would connect as the default user); set REDIS_PASSWORD too",
        ));
    }
    let userinfo = password.map(|password| {
        let encode = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        format!(
            "{}:{}@",
            encode(user.as_deref().unwrap_or("")),
            encode(&password)
        )
    });
    let (url, source) = match get("REDIS_URL") {
        Some(url) => (merged_url(&url, &get, userinfo, tls)?, "REDIS_URL"),
        None => match get("REDIS_HOST") {
            Some(host) => (parts_url(&host, &get, userinfo, tls)?, "REDIS_HOST"),
            None => {
                let stray = PARTS
                    .iter()
                    .chain(&CREDENTIALS)
                    .chain(&["REDIS_SSL"])
                    .find(|name| get(name).is_some());
                return match stray {
                    Some(&name) => Err(bad(
                        name,
                        "set without REDIS_URL or REDIS_HOST: it would be ignored (and \
                         sessions kept in memory); set REDIS_URL or REDIS_HOST, or unset it",
                    )),
                    None => Ok(None),
                };
            }
        },
    };
    Ok(Some((url, source)))
}

/// `REDIS_URL` with the credentials and TLS setting of the other
/// variables merged in, or refused when they contradict it.
fn merged_url(
    url: &str,
    get: &impl Fn(&str) -> Option<String>,
    userinfo: Option<String>,
    tls: Option<bool>,
) -> Result<String, RedisStoreError> {
    if let Some(&part) = PARTS.iter().find(|name| get(name).is_some()) {
        return Err(bad(
            part,
            "set together with REDIS_URL, which already names the server: \
             put everything in REDIS_URL, or unset REDIS_URL",
        ));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("REDIS_URL", "expected scheme://host:port"))?;
    let Some((is_tls, secure)) = topology::scheme_tls(scheme) else {
        return Err(bad(
            "REDIS_URL",
            RedisStoreError::Unsupported(scheme.to_owned()).to_string(),
        ));
    };
    let scheme = match tls {
        Some(true) => secure,
        Some(false) if is_tls => {
            return Err(bad(
                "REDIS_SSL",
                format!(
                    "false, but REDIS_URL asks for TLS ({scheme}://): \
                     make them agree"
                ),
            ));
        }
        _ => scheme.to_owned(),
    };
    let userinfo = match userinfo {
        Some(_) if topology::has_credentials(url) => {
            let variable = CREDENTIALS
                .into_iter()
                .find(|name| get(name).is_some())
                .unwrap_or("REDIS_PASSWORD");
            return Err(bad(
                variable,
                "set, but REDIS_URL already holds credentials: give them in one place",
            ));
        }
        Some(userinfo) => userinfo,
        None => String::new(),
    };
    Ok(format!("{scheme}://{userinfo}{rest}"))
}

/// `redis[s]://user:pass@host:port/db` from `REDIS_HOST` and its parts.
fn parts_url(
    host: &str,
    get: &impl Fn(&str) -> Option<String>,
    userinfo: Option<String>,
    tls: Option<bool>,
) -> Result<String, RedisStoreError> {
    let number = |name: &'static str, default: u16| match get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u16>()
            .map_err(|_| bad(name, format!("expected a whole number, got {v:?}"))),
    };
    let port = number("REDIS_PORT", 6379)?;
    let db = number("REDIS_DB", 0)?;
    if host.contains(['/', '@', ' ', ',']) {
        return Err(bad(
            "REDIS_HOST",
            format!("expected a host name or address, got {host:?}"),
        ));
    }
    let scheme = if tls == Some(true) { "rediss" } else { "redis" };
    let userinfo = userinfo.unwrap_or_default();
    Ok(format!("{scheme}://{userinfo}{host}:{port}/{db}"))
}
