//! The lifecycle routes: `GET /api/events` (Server-Sent Events: the
//! session's end, pushed to the page) and `GET /api/audit` (the user's
//! recent session events).
//!
//! # `/api/events`
//!
//! [`events`] checks the session the way `/api/status` does (passive, 401
//! with the reason when there is none) and hands back an [`EndWatch`];
//! [`event_stream`] turns it into the stream a demo answers with, as
//! [`Frame`]s the demo renders in its framework's own SSE type (or, for a
//! framework without one, as text with [`Frame::to_text`]):
//!
//! 1. at once, [`Frame::Retry`] (`retry: 1000`): the response starts
//!    straight away, so the browser's `EventSource` opens, and the browser
//!    reconnects after a second when the stream closes;
//! 2. every [`KEEP_ALIVE`], [`Frame::KeepAlive`] (a comment), so proxies
//!    and the browser keep an idle connection open;
//! 3. when the session ends, one [`Frame::Ended`] (`event: ended`) whose
//!    data is the JSON a request with this cookie is answered with now
//!    (`{"error": "unauthenticated", "message", "reason", "reason_text"?,
//!    "ended_at"}`, core's [`HttpError::unauthenticated`]), and the stream
//!    ends.
//!
//! What ends the stream, and what it sends:
//!
//! - revoked from another device, revoke-all, the per-user limit, expiry:
//!   the `ended` event, then the end of the stream;
//! - **a logout of this same session** (the contract requires nothing):
//!   the `ended` event too, reason `logout`. The tab that signed out has
//!   closed its `EventSource` already; another tab of the same browser
//!   (same cookie) learns that it is signed out;
//! - **a rotation** (the session lives on under a new id, with the same
//!   public id): no event for it. The stream either goes on watching the
//!   session ([`Session::until_ended`] follows its public id, so a later
//!   end of the successor is reported) or, once the wait resolves as
//!   `rotated` (at its periodic re-check, or at once on a store without a
//!   lifecycle stream), ends without an event; the browser then
//!   reconnects with the new cookie and watches the successor;
//! - the store failing while waiting: no event, the stream ends, and the
//!   browser's reconnect finds out (a 401 with the reason, or a new
//!   stream).
//!
//! Waiting is passive ([`Session::until_ended`]): an open page never keeps
//! its session alive. The answer carries no cookie change: the route only
//! reads (the adapters finish the request's session when the handler
//! returns, before the stream is sent, and a passive read changes
//! nothing).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::{Either, select};
use futures_util::stream::{self, Stream};
use serde::Serialize;
use session_core::events::{EventKind, SessionEvent};
use session_core::{EndReason, HttpError, PublicId, Session, StoreFailure, Timestamp};

use crate::{Answer, json, signed_in};

/// How often an open events stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long the browser waits before reconnecting a closed events stream
/// (the `retry:` field sent first).
pub const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The most events `/api/audit` lists.
pub const AUDIT_EVENTS: usize = 50;

/// The name of the event sent when the session ends.
pub const ENDED_EVENT: &str = "ended";

/// `GET /api/events`, before the stream: the session checked as
/// `/api/status` checks it (passive; 401 with the reason when there is
/// none, 503 when the store is down). Then answer 200
/// `text/event-stream` with [`event_stream`].
pub async fn events(session: &Session) -> Result<EndWatch, HttpError> {
    // The passive read first, as /api/status: what follows finds the
    // session loaded and nothing moves its idle deadline.
    session.peek().await?;
    signed_in(session).await?;
    Ok(EndWatch {
        session: session.clone(),
    })
}

/// A signed-in session being watched for its end (see [`events`]).
#[derive(Debug)]
pub struct EndWatch {
    session: Session,
}

impl EndWatch {
    /// Waits until the session ends: the JSON data of the `ended` event,
    /// or `None` when the stream should end without one (a rotation: the
    /// browser reconnects and watches the successor; or the store failed).
    pub async fn ended(self) -> Option<String> {
        match self.session.until_ended().await {
            Ok(Some(ending)) if ending.reason == EndReason::Rotated => None,
            Ok(Some(ending)) => Some(HttpError::unauthenticated(Some(ending)).body()),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("GET /api/events: waiting for the session's end failed: {e}");
                None
            }
        }
    }
}

/// One thing an events stream sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// First: the reconnection delay (`retry: <ms>`).
    Retry(Duration),
    /// A comment that keeps the connection open (`: keep-alive`).
    KeepAlive,
    /// The session ended: `event: ended` with this JSON as its data.
    Ended(String),
}

impl Frame {
    /// The frame as Server-Sent Events text, blank line included, for a
    /// framework without its own SSE type. The JSON data is one line
    /// (serde_json writes no newlines), so it is one `data:` field.
    pub fn to_text(&self) -> String {
        match self {
            Frame::Retry(after) => format!("retry: {}\n\n", after.as_millis()),
            Frame::KeepAlive => ": keep-alive\n\n".to_owned(),
            Frame::Ended(data) => format!("event: {ENDED_EVENT}\ndata: {data}\n\n"),
        }
    }
}

type Waiting = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

enum Step {
    Start(EndWatch),
    Waiting(Waiting),
    Done,
}

/// The stream of `watch`: [`Frame::Retry`] at once, [`Frame::KeepAlive`]
/// every [`KEEP_ALIVE`], then [`Frame::Ended`] when the session ends (or
/// nothing, see [`EndWatch::ended`]), and the end. Each frame is given to
/// `render`, which makes the framework's item.
pub fn event_stream<T>(
    watch: EndWatch,
    render: impl FnMut(Frame) -> T + Send + 'static,
) -> impl Stream<Item = T> + Send + 'static {
    stream::unfold(Step::Start(watch), |step| async move {
        match step {
            Step::Start(watch) => {
                let waiting: Waiting = Box::pin(watch.ended());
                Some((Frame::Retry(RECONNECT_AFTER), Step::Waiting(waiting)))
            }
            Step::Waiting(waiting) => {
                match select(waiting, Box::pin(tokio::time::sleep(KEEP_ALIVE))).await {
                    Either::Left((Some(data), _)) => Some((Frame::Ended(data), Step::Done)),
                    Either::Left((None, _)) => None,
                    Either::Right(((), waiting)) => {
                        Some((Frame::KeepAlive, Step::Waiting(waiting)))
                    }
                }
            }
            Step::Done => None,
        }
    })
    .map(render)
}

/// One entry of `/api/audit`.
#[derive(Serialize)]
struct AuditEntry {
    kind: EventKind,
    public_id: PublicId,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<EndReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason_text: Option<String>,
    at: Timestamp,
}

impl From<SessionEvent> for AuditEntry {
    fn from(e: SessionEvent) -> Self {
        AuditEntry {
            kind: e.kind,
            public_id: e.public_id,
            reason_text: e.reason.as_ref().and_then(|r| r.text()).map(str::to_owned),
            reason: e.reason,
            at: e.at,
        }
    }
}

/// 501 `not_implemented`: the store keeps no lifecycle stream (a store an
/// application supplies may not: the trait's default).
fn no_stream() -> HttpError {
    HttpError::new(
        501,
        "not_implemented",
        "this session store keeps no lifecycle stream",
    )
}

/// `GET /api/audit`: the user's most recent session events (at most
/// [`AUDIT_EVENTS`]), newest first: `{"events": [{"kind", "public_id",
/// "reason"?, "reason_text"?, "at"}, …]}`. Passive like `/api/status`; 401
/// with the reason when signed out; 501 when the store keeps no
/// lifecycle stream.
pub async fn audit(session: &Session) -> Answer {
    session.peek().await?;
    let (user, _) = signed_in(session).await?;
    let events = session
        .manager()
        .user_events(&user, AUDIT_EVENTS)
        .await
        .map_err(|f| match f {
            StoreFailure::Unsupported(_) => no_stream(),
            other => HttpError::from(other),
        })?;
    let events: Vec<AuditEntry> = events.into_iter().map(AuditEntry::from).collect();
    json(serde_json::json!({ "events": events }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use session_core::{KeyRing, MemoryStore, Metadata, SessionConfig, SessionManager, UserId};

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// On paused time: the retry line at once, a keep-alive comment after
    /// [`KEEP_ALIVE`] of nothing, the `ended` event (the 401 body) when the
    /// session is revoked, then the end.
    #[tokio::test(start_paused = true)]
    async fn the_stream_opens_keeps_alive_and_ends() -> TestResult {
        let config = SessionConfig::builder(KeyRing::generate()).build()?;
        let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
        let alice = UserId::new("alice")?;
        let (laptop, _) = manager
            .create_for_user(&alice, Metadata::default(), None)
            .await?;
        let name = manager.config().cookie().cookie_name().into_owned();
        let cookie = format!("{name}={}", laptop.expose_secret());

        let nobody = manager.session_for_request(std::iter::empty::<&[u8]>());
        assert_eq!(
            events(&nobody).await.map(|_| ()).err().map(|e| e.status),
            Some(401)
        );

        let session = manager.session_for_request([cookie.as_bytes()]);
        let mut stream = Box::pin(event_stream(events(&session).await?, |frame| frame));
        assert_eq!(stream.next().await, Some(Frame::Retry(RECONNECT_AFTER)));
        let before = tokio::time::Instant::now();
        assert_eq!(stream.next().await, Some(Frame::KeepAlive));
        assert_eq!(before.elapsed(), KEEP_ALIVE);

        manager
            .revoke(&laptop, EndReason::revoked("lost laptop"))
            .await?;
        let Some(Frame::Ended(data)) = stream.next().await else {
            return Err("no `ended` frame after the revocation".into());
        };
        let data: serde_json::Value = serde_json::from_str(&data)?;
        assert_eq!(data["reason"], "revoked");
        assert_eq!(data["reason_text"], "lost laptop");
        assert_eq!(data["error"], "unauthenticated");
        assert_eq!(stream.next().await, None);
        Ok(())
    }

    #[test]
    fn frames_as_text() {
        assert_eq!(
            Frame::Retry(Duration::from_secs(1)).to_text(),
            "retry: 1000\n\n"
        );
        assert_eq!(Frame::KeepAlive.to_text(), ": keep-alive\n\n");
        assert_eq!(
            Frame::Ended(r#"{"reason":"revoked"}"#.into()).to_text(),
            "event: ended\ndata: {\"reason\":\"revoked\"}\n\n"
        );
    }
}
