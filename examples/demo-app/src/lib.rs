//! The demo application, written once for every framework's demo: the page,
//! and each route of the demo API (`docs/demo-api.md`) as a function over
//! `session-core` types that returns a [`Reply`] or core's [`HttpError`].
//! A framework's demo only extracts the request's parts, calls the function
//! and turns the answer into its response type.
//!
//! Routes that need a signed-in user check it first (401 with the reason),
//! before reading their body, as a `SignedIn` extractor would.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use session_core::{
    Environment, HttpError, Metadata, PublicId, SecretSource, Session, SessionConfigBuilder,
    SessionManager, SessionRecord, SignInOptions, Timestamp, UserId,
};

/// The demo page, shared by every demo.
pub const PAGE: &str = include_str!("page.html");

/// The longest `/api/work` wait, in milliseconds.
pub const MAX_WORK_MS: u64 = 10_000;
/// The longest idle timeout `/api/ttl` accepts, in seconds.
pub const MAX_TTL_SECONDS: u64 = 604_800;

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
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

fn bad_request(message: &str) -> HttpError {
    HttpError::new(400, "bad_request", message)
}

/// A JSON body of type `T`, or 400 (never 422) with what is wrong.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, HttpError> {
    serde_json::from_slice(body).map_err(|e| bad_request(&format!("malformed JSON body: {e}")))
}

fn json<T: Serialize>(value: T) -> Answer {
    serde_json::to_value(value)
        .map(Reply::Json)
        .map_err(|e| HttpError::new(500, "internal", format!("cannot encode the answer: {e}")))
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

/// `POST /api/login`.
pub async fn login(session: &Session, client: Client, body: &[u8]) -> Answer {
    let LoginBody {
        username,
        device,
        remember,
    } = parse(body)?;
    let user = UserId::new(username.trim()).map_err(|e| bad_request(&format!("username: {e}")))?;
    session
        .set_metadata(Metadata {
            ip: client.ip,
            user_agent: client.user_agent,
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
        .ok_or_else(|| {
            bad_request(&format!(
                "ms must be a whole number from 0 to {MAX_WORK_MS}"
            ))
        })?;
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
pub async fn sessions(session: &Session) -> Answer {
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
        parse(body)?
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
    let TtlBody { seconds } = parse(body)?;
    if !(1..=MAX_TTL_SECONDS).contains(&seconds) {
        return Err(bad_request(&format!(
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
/// set, which it says). A bad value is an error naming it. The demo allows
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
    let setup = session_redis::setup_from_env(env)
        .await
        .map_err(|e| e.to_string())?
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
