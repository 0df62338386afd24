//! The demo application, written once for every framework's demo: the page,
//! and each route of the demo API (`docs/demo-api.md`) as a function over
//! `session-core` types that returns a [`Reply`] or core's [`HttpError`].
//! A framework's demo only extracts the request's parts, calls the function
//! and turns the answer into its response type.
//!
//! Routes that need a signed-in user check it first (401 with the reason),
//! before reading their body, as a `SignedIn` extractor would.
//!
//! What a client sends is bounded (the contract's "Limits on what a client
//! sends"): a body over [`MAX_BODY_BYTES`] is refused with 413
//! ([`payload_too_large`]) by the framework before any route runs (each
//! demo tells its framework the limit); [`login`] refuses a `username` over
//! [`MAX_USERNAME_BYTES`] or a `device` over [`MAX_DEVICE_CHARS`] with 400
//! and keeps the first [`MAX_USER_AGENT_BYTES`] of the user agent. No error
//! message repeats what the client sent: every one is a fixed text.
//!
//! The lifecycle routes, `/api/events` (Server-Sent Events: the session's
//! end pushed to the page) and `/api/audit`, are in the
//! [`events`](mod@events) module: [`events()`], [`event_stream`] and
//! [`audit`].

#![deny(missing_docs)]

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use session_core::{
    Environment, HttpError, Metadata, PublicId, SecretSource, Session, SessionConfigBuilder,
    SessionManager, SessionRecord, SignInOptions, Timestamp, UserId,
};

pub mod events;
mod sqlite;

pub use events::{EndWatch, Frame, audit, event_stream, events};

/// The demo page, shared by every demo.
pub const PAGE: &str = include_str!("page.html");

/// The longest `/api/work` wait, in milliseconds.
pub const MAX_WORK_MS: u64 = 10_000;
/// The longest idle timeout `/api/ttl` accepts, in seconds.
pub const MAX_TTL_SECONDS: u64 = 604_800;

/// The largest request body a route reads, in bytes (16 KiB): a larger
/// one is refused with 413 [`payload_too_large`] and changes nothing (no
/// store call, no cookie). Each demo gives its framework this limit, so
/// the body is never read past it; the routes here check it again.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The longest `username` a login accepts, in bytes (the library's own
/// cap on a user id); a longer one is refused with 400.
pub const MAX_USERNAME_BYTES: usize = 256;
const _: () = assert!(MAX_USERNAME_BYTES <= session_core::MAX_USER_ID_BYTES);

/// The longest `device` label a login accepts, in characters (at most 400
/// bytes of UTF-8); a longer one is refused with 400.
pub const MAX_DEVICE_CHARS: usize = 100;

/// How much of the `User-Agent` header a login records, in bytes: a
/// longer one is cut to its first bytes (at a character boundary).
pub const MAX_USER_AGENT_BYTES: usize = 256;

/// The demo's own rules on top of a configuration: state-changing routes
/// take JSON bodies only (415 otherwise), as the demo API requires; the
/// guard's other settings (`SESSION_ALLOWED_ORIGINS`) stay.
pub fn configure(builder: SessionConfigBuilder) -> SessionConfigBuilder {
    let guard = builder.csrf().clone().with_json_bodies_only(true);
    builder.with_csrf(guard)
}

/// A route's successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 200 with this JSON body.
    Json(Value),
    /// 204, no body.
    NoContent,
}

/// What a route answers.
pub type Answer = Result<Reply, HttpError>;

/// Facts about the client that the login records.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The peer's IP address.
    pub ip: Option<String>,
    /// The `User-Agent` header, whole: [`login`] records its first
    /// [`MAX_USER_AGENT_BYTES`].
    pub user_agent: Option<String>,
}

fn bad_request(message: impl Into<String>) -> HttpError {
    HttpError::new(400, "bad_request", message)
}

/// 413 `payload_too_large`: the request body is over [`MAX_BODY_BYTES`].
/// What a demo answers when its framework refuses a body for its size.
pub fn payload_too_large() -> HttpError {
    HttpError::new(
        413,
        "payload_too_large",
        format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// 400 `bad_request`: the request body could not be read (the connection
/// broke, or the framework refused it for another reason than its size).
pub fn unreadable_body() -> HttpError {
    bad_request("the request body could not be read")
}

/// A JSON body of type `T`, or 400 (never 422) saying what was expected
/// (`expected`), never what came: the parser's own message can quote the
/// client's input. A body over [`MAX_BODY_BYTES`] is 413.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8], expected: &str) -> Result<T, HttpError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(payload_too_large());
    }
    serde_json::from_slice(body)
        .map_err(|_| bad_request(format!("malformed JSON body: expected {expected}")))
}

fn json<T: Serialize>(value: T) -> Answer {
    serde_json::to_value(value)
        .map(Reply::Json)
        .map_err(|_| HttpError::new(500, "internal", "cannot encode the answer"))
}

/// `text` cut to its first `max` bytes, at a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    device: Option<String>,
    /// `true`: a persistent cookie and [`REMEMBER_FOR`]; `false`: a
    /// browser-session cookie; absent: the configured cookie.
    remember: Option<bool>,
}

/// How long a "remember me" session lives from sign-in: 30 days.
pub const REMEMBER_FOR: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

#[derive(Serialize)]
struct LoginAnswer<'a> {
    user: Option<&'a UserId>,
    public_id: PublicId,
    created_at: Timestamp,
    expires_at: Timestamp,
}

/// `POST /api/login`. The body is checked whole before anything is
/// stored: a `username` over [`MAX_USERNAME_BYTES`] (or empty, or with a
/// control character) or a `device` over [`MAX_DEVICE_CHARS`] is 400 and
/// changes nothing. The recorded user agent is cut to
/// [`MAX_USER_AGENT_BYTES`].
pub async fn login(session: &Session, client: Client, body: &[u8]) -> Answer {
    let LoginBody {
        username,
        device,
        remember,
    } = parse(
        body,
        r#"{"username": string, "device": string (optional), "remember": boolean (optional)}"#,
    )?;
    if username.len() > MAX_USERNAME_BYTES {
        return Err(bad_request(format!(
            "username must be at most {MAX_USERNAME_BYTES} bytes"
        )));
    }
    let user = UserId::new(username.trim())
        .map_err(|_| bad_request("username must not be empty nor contain control characters"))?;
    if device
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DEVICE_CHARS)
    {
        return Err(bad_request(format!(
            "device must be at most {MAX_DEVICE_CHARS} characters"
        )));
    }
    session
        .set_metadata(Metadata {
            ip: client.ip,
            user_agent: client.user_agent.map(|ua| cut(ua, MAX_USER_AGENT_BYTES)),
            device: device.filter(|d| !d.trim().is_empty()),
            ..Metadata::default()
        })
        .await?;
    let options = match remember {
        Some(true) => SignInOptions::remember(REMEMBER_FOR),
        Some(false) => SignInOptions::browser_session(),
        None => SignInOptions::default(),
    };
    let record = session.login_with(user, options).await?.record;
    json(LoginAnswer {
        user: record.user.as_ref(),
        public_id: record.public_id,
        created_at: record.created_at,
        expires_at: record.expires_at(),
    })
}

/// `GET /api/me`: the session, with the two demo counters.
#[derive(Serialize)]
struct Me<'a> {
    user: Option<&'a UserId>,
    public_id: PublicId,
    created_at: Timestamp,
    last_seen_at: Timestamp,
    expires_at: Timestamp,
    absolute_expires_at: Timestamp,
    counter: Value,
    work_done: Value,
    metadata: &'a Metadata,
}

/// The signed-in user and the session's record, or 401 with the reason.
async fn signed_in(session: &Session) -> Result<(UserId, SessionRecord), HttpError> {
    let user = session.require_user().await?;
    let record = session
        .record()
        .await?
        .ok_or_else(|| HttpError::unauthenticated(None))?;
    Ok((user, record))
}

/// `GET /api/me`.
pub async fn me(session: &Session) -> Answer {
    let (_, record) = signed_in(session).await?;
    let number = |key: &str| record.data.get(key).cloned().unwrap_or_else(|| 0.into());
    json(Me {
        user: record.user.as_ref(),
        public_id: record.public_id,
        created_at: record.created_at,
        last_seen_at: record.last_seen_at,
        expires_at: record.expires_at(),
        absolute_expires_at: record.absolute_deadline,
        counter: number("counter"),
        work_done: number("work_done"),
        metadata: &record.metadata,
    })
}

/// `GET /api/status`: the session without counting as activity (its idle
/// deadline stays where it is), for the page's polls and idle warning.
pub async fn status(session: &Session) -> Answer {
    // The passive read first: what follows finds the session loaded.
    session.peek().await?;
    let (user, record) = signed_in(session).await?;
    Ok(Reply::Json(json!({
        "user": user,
        "public_id": record.public_id,
        "expires_at": record.expires_at(),
        "absolute_expires_at": record.absolute_deadline,
    })))
}

/// `POST /api/extend`: "stay signed in", whatever the refresh threshold.
pub async fn extend(session: &Session) -> Answer {
    session.require_user().await?;
    let expires_at = session
        .extend()
        .await?
        .ok_or_else(|| HttpError::unauthenticated(None))?;
    Ok(Reply::Json(json!({ "expires_at": expires_at })))
}

/// `POST /api/counter`: one store call, an atomic increment, refused when
/// signed out.
pub async fn counter(session: &Session) -> Answer {
    let counter = session.increment("counter", 1).await?;
    Ok(Reply::Json(json!({ "counter": counter })))
}

/// `POST /api/work?ms=N`: a slow request that reads, waits and writes.
/// `query` is the raw query string.
pub async fn work(session: &Session, query: &str) -> Answer {
    signed_in(session).await?;
    let ms = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("ms="))
        .unwrap_or("0")
        .parse::<u64>()
        .ok()
        .filter(|ms| *ms <= MAX_WORK_MS)
        .ok_or_else(|| bad_request(format!("ms must be a whole number from 0 to {MAX_WORK_MS}")))?;
    let before: i64 = session.get("work_done").await?.unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    session.insert("work_done", before + 1).await?;
    // Save now, so a session that ended meanwhile answers 401 here.
    session.save().await?;
    Ok(Reply::Json(json!({ "work_done": before + 1 })))
}

/// `POST /api/logout`.
pub async fn logout(session: &Session) -> Answer {
    session.logout().await?;
    Ok(Reply::NoContent)
}

/// `GET /api/sessions`: the user's devices, from the request's own
/// session (core's [`session_core::Device`]: the summary and `current`).
/// Passive like `/api/status`: the page polls it.
pub async fn sessions(session: &Session) -> Answer {
    session.peek().await?;
    let sessions = session.devices().await?;
    json(json!({ "sessions": sessions }))
}

fn not_found() -> HttpError {
    HttpError::new(404, "not_found", "no such session of yours")
}

/// `DELETE /api/sessions/{public_id}`, from the request's own session.
pub async fn revoke_device(session: &Session, public_id: &str) -> Answer {
    signed_in(session).await?;
    let public_id = PublicId::parse(public_id).map_err(|_| not_found())?;
    if !session.revoke_device(&public_id, "revoked by user").await? {
        return Err(not_found());
    }
    Ok(Reply::NoContent)
}

#[derive(Deserialize)]
struct LogoutAllBody {
    #[serde(default)]
    keep_current: bool,
    /// Shown to each signed-out device ("password changed").
    #[serde(default)]
    reason: String,
}

/// `POST /api/logout-all`: one store call; without `keep_current` this
/// session ends too and its cookie is removed.
pub async fn logout_all(session: &Session, body: &[u8]) -> Answer {
    signed_in(session).await?;
    let LogoutAllBody {
        keep_current,
        reason,
    } = if body.is_empty() {
        LogoutAllBody {
            keep_current: false,
            reason: String::new(),
        }
    } else {
        parse(
            body,
            r#"{"keep_current": boolean (optional), "reason": string (optional)}"#,
        )?
    };
    let revoked = session
        .revoke_all_with_reason(keep_current, &reason)
        .await?;
    Ok(Reply::Json(json!({ "revoked": revoked })))
}

/// `POST /api/rotate`.
pub async fn rotate(session: &Session) -> Answer {
    signed_in(session).await?;
    session.rotate().await?;
    let (_, record) = signed_in(session).await?;
    Ok(Reply::Json(json!({ "public_id": record.public_id })))
}

#[derive(Deserialize)]
struct TtlBody {
    seconds: u64,
}

/// `POST /api/ttl`.
pub async fn ttl(session: &Session, body: &[u8]) -> Answer {
    signed_in(session).await?;
    let TtlBody { seconds } = parse(body, r#"{"seconds": whole number}"#)?;
    if !(1..=MAX_TTL_SECONDS).contains(&seconds) {
        return Err(bad_request(format!(
            "seconds must be from 1 to {MAX_TTL_SECONDS}"
        )));
    }
    session
        .set_idle_timeout(Duration::from_secs(seconds))
        .await?;
    session.save().await?;
    let (_, record) = signed_in(session).await?;
    json(json!({ "expires_at": record.expires_at() }))
}

/// `GET /api/stats`.
pub async fn stats(manager: &SessionManager) -> Answer {
    let sessions = manager.count_active().await?;
    let users = manager.count_active_users().await?;
    Ok(Reply::Json(
        json!({ "active_sessions": sessions, "active_users": users }),
    ))
}

/// What a demo serves: the manager (store and configuration) and the port.
pub struct Setup {
    /// The manager over the chosen store, configured with [`configure`].
    pub manager: SessionManager,
    /// The port to listen on, on 127.0.0.1.
    pub port: u16,
}

/// Reads the demo's settings: `--port N` or `PORT` (3000), the
/// `SESSION_*` variables, and Redis from `REDIS_URL` or `REDIS_HOST` and
/// its companions, all through one [`Environment`] and
/// `session_redis::setup_from_env` (the in-memory store when neither is
/// set, which it says), or, built with the `sqlite` feature, SQLite from
/// `SQLITE_PATH`. A bad value is an error naming it. The demo allows
/// an ephemeral secret when `SESSION_SECRET` is unset, and says so. Plain
/// `http://127.0.0.1` cannot carry Secure cookies, so Secure is off unless
/// `SESSION_COOKIE_SECURE` says otherwise.
pub async fn setup(args: Vec<String>) -> Result<Setup, String> {
    let port = port(args)?;
    let env = Environment::process()
        .allow_ephemeral_secret()
        .with_default("SESSION_COOKIE_SECURE", "false");
    let secure_unset = Environment::process()
        .var("SESSION_COOKIE_SECURE")
        .is_none();
    let setup = match sqlite::setup(&env).await? {
        Some(setup) => setup,
        None => session_redis::setup_from_env(env)
            .await
            .map_err(|e| e.to_string())?,
    }
    .configure(configure)
    .map_err(|e| e.to_string())?;
    if setup.secret == SecretSource::Ephemeral {
        tracing::info!(
            "SESSION_SECRET is not set: using a random secret for this process (sessions end when it stops; set SESSION_SECRET to `openssl rand -base64 32` to keep them)"
        );
    }
    if secure_unset {
        tracing::info!(
            "SESSION_COOKIE_SECURE is not set: cookies go without Secure, for plain http on 127.0.0.1"
        );
    }
    match setup.store_description.as_str() {
        "memory" => {
            tracing::info!("REDIS_URL and REDIS_HOST are not set: using the in-memory store")
        }
        redis => tracing::info!("store: {redis}"),
    }
    Ok(Setup {
        manager: setup.into_manager(),
        port,
    })
}

fn port(args: impl IntoIterator<Item = String>) -> Result<u16, String> {
    let mut args = args.into_iter();
    let mut from_flag = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => from_flag = Some(args.next().ok_or("--port needs a value")?),
            other => match other.strip_prefix("--port=") {
                Some(v) => from_flag = Some(v.to_owned()),
                None => {
                    return Err(format!(
                        "unknown argument {other:?} (the only flag is --port N)"
                    ));
                }
            },
        }
    }
    let (name, value) = match from_flag {
        Some(v) => ("--port", v),
        None => (
            "PORT",
            std::env::var("PORT").unwrap_or_else(|_| "3000".into()),
        ),
    };
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name}: expected a port number, got {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("short".into(), 256), "short");
        assert_eq!(cut("a".repeat(300), 256).len(), 256);
        // "é" is 2 bytes: 256 bytes would split the 129th.
        let cut_accents = cut(format!("a{}", "é".repeat(200)), 256);
        assert_eq!(cut_accents.len(), 255);
        assert!(cut_accents.ends_with('é'));
    }

    #[test]
    fn error_texts_do_not_quote_the_body() {
        let marker = "ECHO-MARKER-7f3a";
        let body = format!(r#"{{"seconds":"{marker}"}}"#);
        let error = parse::<TtlBody>(body.as_bytes(), "{}")
            .err()
            .expect("refused");
        assert_eq!(error.status, 400);
        assert!(!error.message.contains(marker), "{}", error.message);
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            parse::<TtlBody>(&big, "{}").err().map(|e| e.status),
            Some(413)
        );
    }
}
