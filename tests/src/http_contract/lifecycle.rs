//! Scenarios: the lifecycle routes, `GET /api/audit` (the user's session
//! events, newest first) and `GET /api/events` (Server-Sent Events: one
//! `ended` event when the session ends, then the end of the stream).
//!
//! Nothing here waits for a time to pass: a stream is read until its
//! `ended` event or its end, with [`STREAM_GUARD`] only as a bound that
//! turns a hang into a failure.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use session_core::ExpiryPolicy;

use super::{Browser, Launcher, StoreKind, start};

/// The longest a scenario reads a stream before it fails: a guard against
/// a hang, never a synchronisation.
pub const STREAM_GUARD: Duration = Duration::from_secs(30);

/// One Server-Sent Events frame (a block ended by a blank line), parsed
/// as the standard says: `field: value` lines (one optional space after
/// the colon), `:` comments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    /// The `event` field, if any.
    pub event: Option<String>,
    /// The `data` lines, joined by newlines (`None` without any).
    pub data: Option<String>,
    /// The `retry` field, if any.
    pub retry: Option<String>,
    /// Whether the block held a comment.
    pub comment: bool,
}

impl Frame {
    /// The data as JSON (`Null` when absent or not JSON).
    pub fn json(&self) -> Value {
        self.data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(Value::Null)
    }
}

/// An open `GET /api/events` answer, read as it arrives.
pub struct EventStream {
    /// The status.
    pub status: StatusCode,
    /// Every response header.
    pub headers: reqwest::header::HeaderMap,
    response: reqwest::Response,
    buffer: String,
    /// Every frame read so far.
    pub frames: Vec<Frame>,
    /// Whether the server ended the stream.
    pub ended: bool,
}

impl EventStream {
    /// Reads until a frame satisfies `wanted` (true), or the stream ends
    /// (false); fails after [`STREAM_GUARD`].
    pub async fn read_until(&mut self, what: &str, wanted: impl Fn(&Frame) -> bool) -> bool {
        let read = async {
            loop {
                if self.frames.iter().any(&wanted) {
                    return true;
                }
                if self.ended {
                    return false;
                }
                self.read_chunk().await;
            }
        };
        tokio::time::timeout(STREAM_GUARD, read)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "/api/events: no {what} within {STREAM_GUARD:?}; read {:?}",
                    self.frames
                )
            })
    }

    /// Reads to the end of the stream; fails after [`STREAM_GUARD`].
    pub async fn read_to_end(&mut self, what: &str) {
        self.read_until(what, |_| false).await;
    }

    /// The `ended` events read so far.
    pub fn ended_events(&self) -> Vec<&Frame> {
        self.frames
            .iter()
            .filter(|f| f.event.as_deref() == Some("ended"))
            .collect()
    }

    async fn read_chunk(&mut self) {
        match self.response.chunk().await {
            Ok(Some(bytes)) => {
                self.buffer.push_str(&String::from_utf8_lossy(&bytes));
                self.buffer = self.buffer.replace("\r\n", "\n");
                while let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    self.frames.push(parse_frame(&block));
                }
            }
            Ok(None) | Err(_) => self.ended = true,
        }
    }
}

fn parse_frame(block: &str) -> Frame {
    let mut frame = Frame::default();
    for line in block.lines().filter(|l| !l.is_empty()) {
        if line.starts_with(':') {
            frame.comment = true;
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match field {
            "event" => frame.event = Some(value),
            "retry" => frame.retry = Some(value),
            "data" => {
                frame.data = Some(match frame.data.take() {
                    Some(before) => format!("{before}\n{value}"),
                    None => value,
                })
            }
            _ => {}
        }
    }
    frame
}

impl Browser {
    /// `GET /api/events` with the jar's cookie; the body is read later.
    pub async fn events(&self) -> EventStream {
        let mut request = self
            .http
            .get(format!("{}/api/events", self.base))
            .header("accept", "text/event-stream");
        if let Some(cookie) = self.cookie() {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("the demo answers");
        EventStream {
            status: response.status(),
            headers: response.headers().clone(),
            response,
            buffer: String::new(),
            frames: Vec::new(),
            ended: false,
        }
    }

    /// Opens `/api/events` and reads its first frame, so the stream is
    /// known to be open (the `retry:` line) before the caller ends the
    /// session; checks the answer's status, type and that it sets no
    /// cookie.
    pub async fn open_events(&self) -> EventStream {
        let mut stream = self.events().await;
        assert_eq!(stream.status, 200, "/api/events with a session");
        let content_type = stream
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "/api/events answered {content_type:?}"
        );
        assert!(
            stream.headers.get("set-cookie").is_none(),
            "/api/events changed a cookie: {:?}",
            stream.headers.get_all("set-cookie")
        );
        let opened = stream
            .read_until("first frame", |f| f.retry.is_some() || f.comment)
            .await;
        assert!(opened, "/api/events ended before its first frame");
        stream
    }
}

/// The public id in a login's answer.
fn public_id(login: &super::Answer) -> String {
    login.json["public_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a login answers its public id: {:?}", login.json))
        .to_owned()
}

/// The `ended` event of `stream`, read to the end: exactly one, and the
/// stream closed after it.
async fn the_end(stream: &mut EventStream, what: &str) -> Value {
    stream.read_to_end(what).await;
    let ended = stream.ended_events();
    assert_eq!(
        ended.len(),
        1,
        "{what}: one `ended` event, then the end of the stream: {:?}",
        stream.frames
    );
    ended[0].json()
}

/// `GET /api/events`: 401 as `/api/status` without a session; with one,
/// 200 `text/event-stream`, passive (the idle deadline stays), no cookie;
/// revoked from another device, one `ended` event with the reason
/// `revoked` (and the same `reason`, `reason_text` and `ended_at` as the
/// 401 that follows), then the end of the stream; the same after a
/// revoke-all (`revoke-all`, its text) and a logout of the session itself
/// (`logout`, the demos' choice); a rotation ends the stream without an
/// event, and the new id gets its own stream.
pub async fn events_stream_reports_the_end(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| {
        b.with_expiry(
            ExpiryPolicy::default()
                .with_idle_timeout(Duration::from_secs(600))
                .with_refresh_threshold(Duration::from_secs(600)),
        )
    })
    .await;
    // Without a session: the 401 of every signed-in route.
    let nobody = env.browser();
    let refused = nobody.events().await;
    assert_eq!(refused.status, 401, "/api/events without a session");
    let status = nobody.send(Method::GET, "/api/status", None).await;
    let body = refused.response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_eq!(body, status.json, "the 401 of /api/events is /api/status's");

    let (laptop, phone) = (env.browser(), env.browser());
    let laptop_id = public_id(&laptop.login("alice", "laptop").await);
    phone.login("alice", "phone").await;

    // Passive: opening and holding the stream moves no idle deadline.
    let before = laptop.send(Method::GET, "/api/status", None).await;
    env.clock.advance(Duration::from_secs(100));
    let mut stream = laptop.open_events().await;
    let after = laptop.send(Method::GET, "/api/status", None).await;
    assert_eq!(
        before.json["expires_at"], after.json["expires_at"],
        "/api/events moved the idle deadline"
    );

    // Revoked from the phone.
    let revoked = phone
        .send(Method::DELETE, &format!("/api/sessions/{laptop_id}"), None)
        .await;
    assert_eq!(revoked.status, 204);
    let data = the_end(&mut stream, "the end after a revocation").await;
    assert_eq!(data["reason"], "revoked", "{data}");
    assert_eq!(data["reason_text"], "revoked by user", "{data}");
    let ended_at = data["ended_at"].as_str().unwrap_or_default();
    assert!(ended_at.contains('T'), "ended_at is RFC 3339: {data}");
    let now = laptop.send(Method::GET, "/api/status", None).await;
    assert_eq!(now.status, 401);
    for field in ["reason", "reason_text", "ended_at"] {
        assert_eq!(
            data[field], now.json[field],
            "{field}: the event and the 401"
        );
    }
    // The ended session's stream is refused, with the reason.
    let again = laptop.events().await;
    assert_eq!(again.status, 401, "/api/events for an ended session");

    // Sign out everywhere (but the phone), with a reason.
    let tablet = env.browser();
    tablet.login("alice", "tablet").await;
    let mut stream = tablet.open_events().await;
    let all = phone
        .send(
            Method::POST,
            "/api/logout-all",
            Some(json!({"keep_current": true, "reason": "password changed"})),
        )
        .await;
    assert_eq!(all.status, 200);
    let data = the_end(&mut stream, "the end after a revoke-all").await;
    assert_eq!(data["reason"], "revoke-all", "{data}");
    assert_eq!(data["reason_text"], "password changed", "{data}");

    // A rotation is no end of the session: the old id's stream sends no
    // event for it; the new id streams. A logout of the session itself
    // sends the event too (reason `logout`, the demos' choice), on the new
    // id's stream and, when it still watches the session, the old one's.
    let mut old = phone.open_events().await;
    let rotated = phone.send(Method::POST, "/api/rotate", None).await;
    assert_eq!(rotated.status, 200);
    let mut new = phone.open_events().await;
    let other_tab = phone.copy();
    assert_eq!(
        other_tab
            .send(Method::POST, "/api/logout", None)
            .await
            .status,
        204
    );
    let data = the_end(&mut new, "the end after a logout").await;
    assert_eq!(data["reason"], "logout", "{data}");
    old.read_to_end("the end of the rotated id's stream").await;
    let reasons: Vec<Value> = old
        .ended_events()
        .iter()
        .map(|f| f.json()["reason"].clone())
        .collect();
    assert!(
        reasons.is_empty() || reasons == [json!("logout")],
        "the rotated id's stream: no event for the rotation, at most the session's end: {:?}",
        old.frames
    );
}

/// `GET /api/audit`: 401 as `/api/status` without a session; the user's
/// session events newest first (sign-ins, a rotation, a revocation with
/// its reason), never another user's; an ended session's request is 401.
/// A store an application supplies may keep no lifecycle stream: then the
/// route answers 501 `not_implemented` and nothing more is checked.
pub async fn audit_lists_events_newest_first(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let nobody = env.browser();
    let refused = nobody.send(Method::GET, "/api/audit", None).await;
    assert_eq!(refused.status, 401, "/api/audit without a session");
    let status = nobody.send(Method::GET, "/api/status", None).await;
    assert_eq!(refused.json, status.json, "the 401 is /api/status's");

    let (laptop, phone, bob) = (env.browser(), env.browser(), env.browser());
    let laptop_id = public_id(&laptop.login("alice", "laptop").await);
    let phone_id = public_id(&phone.login("alice", "phone").await);
    let bob_id = public_id(&bob.login("bob", "bob's").await);

    let first = laptop.send(Method::GET, "/api/audit", None).await;
    if let (StoreKind::Supplied(_), 501) = (kind, first.status.as_u16()) {
        assert_eq!(first.json["error"], "not_implemented", "{:?}", first.json);
        return;
    }
    assert_eq!(first.status, 200, "{:?}", first.json);
    assert!(first.set_cookies.is_empty(), "/api/audit changed a cookie");
    assert_eq!(
        entries(&first.json),
        [
            ("signed_in", phone_id.as_str(), None),
            ("signed_in", laptop_id.as_str(), None)
        ],
        "alice's sign-ins, newest first: {}",
        first.json
    );

    assert_eq!(
        phone.send(Method::POST, "/api/rotate", None).await.status,
        200
    );
    let revoked = phone
        .send(Method::DELETE, &format!("/api/sessions/{laptop_id}"), None)
        .await;
    assert_eq!(revoked.status, 204);
    let gone = laptop.send(Method::GET, "/api/audit", None).await;
    assert_eq!(gone.status, 401, "/api/audit of a revoked session");
    assert_eq!(gone.json["reason"], "revoked");

    let audit = phone.send(Method::GET, "/api/audit", None).await;
    assert_eq!(audit.status, 200, "{:?}", audit.json);
    assert_eq!(
        entries(&audit.json),
        [
            ("ended", laptop_id.as_str(), Some("revoked")),
            ("rotated", phone_id.as_str(), None),
            ("signed_in", phone_id.as_str(), None),
            ("signed_in", laptop_id.as_str(), None)
        ],
        "newest first: {}",
        audit.json
    );
    let events = audit.json["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events[0]["reason_text"], "revoked by user");
    for e in &events {
        let at = e["at"].as_str().unwrap_or_default();
        assert!(at.contains('T'), "`at` is RFC 3339: {e}");
        if e["kind"] != "ended" {
            assert!(e.get("reason").is_none(), "a reason on {e}");
        }
    }

    let theirs = bob.send(Method::GET, "/api/audit", None).await;
    assert_eq!(
        entries(&theirs.json),
        [("signed_in", bob_id.as_str(), None)],
        "bob's audit is bob's alone: {}",
        theirs.json
    );
}

/// `(kind, public_id, reason)` of each entry of an audit answer.
fn entries(json: &Value) -> Vec<(&str, &str, Option<&str>)> {
    json["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| {
                    (
                        e["kind"].as_str().unwrap_or("?"),
                        e["public_id"].as_str().unwrap_or("?"),
                        e["reason"].as_str(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
