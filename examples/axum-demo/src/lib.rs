//! The axum demo: the page and the JSON API of the demo contract, built only
//! on the public API of `session-core`, `session-axum` and `session-redis`.
//!
//! [`router`] is the whole application; `main.rs` only reads the
//! environment, picks the store and serves it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use session_axum::{Session, SessionLayer, SessionRejection, SignedIn};
use session_core::{
    CsrfGuard, HttpError, Metadata, PublicId, SessionConfigBuilder, SessionManager, SessionRecord,
    SessionSummary, Timestamp, UserId,
};

const PAGE: &str = include_str!("page.html");

/// The longest `/api/work` wait, in milliseconds.
pub const MAX_WORK_MS: u64 = 10_000;
/// The longest idle timeout `/api/ttl` accepts, in seconds.
pub const MAX_TTL_SECONDS: u64 = 604_800;

/// The demo's own rules on top of a configuration: state-changing routes
/// take JSON bodies only (415 otherwise), as the demo API requires.
pub fn configure(builder: SessionConfigBuilder) -> SessionConfigBuilder {
    builder.with_csrf(CsrfGuard::default().with_json_bodies_only(true))
}

/// The demo application over `manager` (configured with [`configure`]).
pub fn router(manager: SessionManager) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/login", post(login))
        .route("/api/me", get(me))
        .route("/api/counter", post(counter))
        .route("/api/work", post(work))
        .route("/api/logout", post(logout))
        .route("/api/sessions", get(sessions))
        .route("/api/sessions/{public_id}", delete(revoke_device))
        .route("/api/logout-all", post(logout_all))
        .route("/api/rotate", post(rotate))
        .route("/api/ttl", post(ttl))
        .route("/api/stats", get(stats))
        .layer(SessionLayer::new(manager.clone()))
        .with_state(manager)
}

type ApiResult = Result<Response, SessionRejection>;

fn bad_request(message: &str) -> SessionRejection {
    HttpError::new(400, "bad_request", message).into()
}

/// A JSON body of type `T`, or 400 (never 422) with what is wrong.
fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, SessionRejection> {
    serde_json::from_slice(body).map_err(|e| bad_request(&format!("malformed JSON body: {e}")))
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    device: Option<String>,
}

async fn login(
    session: Session,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let LoginBody { username, device } = parse(&body)?;
    let user = UserId::new(username.trim()).map_err(|e| bad_request(&format!("username: {e}")))?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    session
        .set_metadata(Metadata {
            ip: Some(peer.ip().to_string()),
            user_agent,
            device: device.filter(|d| !d.trim().is_empty()),
            ..Metadata::default()
        })
        .await?;
    let record = session.login(user).await?.record;
    Ok(Json(LoginAnswer {
        user: record.user.as_ref(),
        public_id: record.public_id,
        created_at: record.created_at,
        expires_at: record.expires_at(),
    })
    .into_response())
}

#[derive(Serialize)]
struct LoginAnswer<'a> {
    user: Option<&'a UserId>,
    public_id: PublicId,
    created_at: Timestamp,
    expires_at: Timestamp,
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

fn me_json(record: &SessionRecord) -> Me<'_> {
    let number = |key: &str| record.data.get(key).cloned().unwrap_or_else(|| 0.into());
    Me {
        user: record.user.as_ref(),
        public_id: record.public_id,
        created_at: record.created_at,
        last_seen_at: record.last_seen_at,
        expires_at: record.expires_at(),
        absolute_expires_at: record.absolute_deadline,
        counter: number("counter"),
        work_done: number("work_done"),
        metadata: &record.metadata,
    }
}

/// The signed-in session's record (already loaded by [`SignedIn`]).
async fn record_of(who: &SignedIn) -> Result<SessionRecord, SessionRejection> {
    who.session
        .record()
        .await?
        .ok_or_else(|| HttpError::unauthenticated(None).into())
}

async fn me(who: SignedIn) -> ApiResult {
    Ok(Json(me_json(&record_of(&who).await?)).into_response())
}

async fn counter(session: Session) -> ApiResult {
    // One store call: an atomic increment, refused when signed out.
    let counter = session.increment("counter", 1).await?;
    Ok(Json(json!({ "counter": counter })).into_response())
}

#[derive(Deserialize)]
struct WorkQuery {
    ms: Option<String>,
}

async fn work(who: SignedIn, Query(q): Query<WorkQuery>) -> ApiResult {
    let ms =
        q.ms.as_deref()
            .unwrap_or("0")
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms <= MAX_WORK_MS)
            .ok_or_else(|| {
                bad_request(&format!(
                    "ms must be a whole number from 0 to {MAX_WORK_MS}"
                ))
            })?;
    let before: i64 = who.session.get("work_done").await?.unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    who.session.insert("work_done", before + 1).await?;
    // Save now, so a session that ended meanwhile answers 401 here.
    who.session.save().await?;
    Ok(Json(json!({ "work_done": before + 1 })).into_response())
}

async fn logout(session: Session) -> ApiResult {
    session.logout().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn sessions(who: SignedIn, State(manager): State<SessionManager>) -> ApiResult {
    let current = record_of(&who).await?.public_id;
    let list = manager.list_user_sessions(&who.user).await?;
    let sessions: Vec<Device> = list
        .iter()
        .map(|summary| Device {
            current: summary.public_id == current,
            summary,
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

/// One entry of `GET /api/sessions`: core's summary, and whether it is the
/// session asking.
#[derive(Serialize)]
struct Device<'a> {
    current: bool,
    #[serde(flatten)]
    summary: &'a SessionSummary,
}

fn not_found() -> SessionRejection {
    HttpError::new(404, "not_found", "no such session of yours").into()
}

async fn revoke_device(
    who: SignedIn,
    State(manager): State<SessionManager>,
    Path(public_id): Path<String>,
) -> ApiResult {
    let public_id = PublicId::parse(&public_id).ok_or_else(not_found)?;
    let revoked = manager
        .revoke_device(&who.user, &public_id, "revoked by user")
        .await?;
    if !revoked {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct LogoutAllBody {
    #[serde(default)]
    keep_current: bool,
}

async fn logout_all(who: SignedIn, body: Bytes) -> ApiResult {
    let LogoutAllBody { keep_current } = if body.is_empty() {
        LogoutAllBody {
            keep_current: false,
        }
    } else {
        parse(&body)?
    };
    // One store call; without keep_current this session ends too and its
    // cookie is removed.
    let revoked = who.session.revoke_all(keep_current).await?;
    Ok(Json(json!({ "revoked": revoked })).into_response())
}

async fn rotate(who: SignedIn) -> ApiResult {
    who.session.rotate().await?;
    let record = record_of(&who).await?;
    Ok(Json(json!({ "public_id": record.public_id })).into_response())
}

#[derive(Deserialize)]
struct TtlBody {
    seconds: u64,
}

async fn ttl(who: SignedIn, body: Bytes) -> ApiResult {
    let TtlBody { seconds } = parse(&body)?;
    if !(1..=MAX_TTL_SECONDS).contains(&seconds) {
        return Err(bad_request(&format!(
            "seconds must be from 1 to {MAX_TTL_SECONDS}"
        )));
    }
    who.session
        .set_idle_timeout(Duration::from_secs(seconds))
        .await?;
    who.session.save().await?;
    let record = record_of(&who).await?;
    Ok(Json(json!({ "expires_at": record.expires_at() })).into_response())
}

async fn stats(State(manager): State<SessionManager>) -> ApiResult {
    let sessions = manager.count_active().await?;
    let users = manager.count_active_users().await?;
    Ok(Json(json!({ "active_sessions": sessions, "active_users": users })).into_response())
}
