//! Scenarios: what each route answers and the cookie it sets, login and
//! rotation, the idle timeout, header clients, remember me, and the store
//! going down and coming back.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use session_core::ExpiryPolicy;

use super::{Answer, Browser, Launcher, StoreKind, removes_cookie, start};

/// Every route of the contract answers as specified, and the cookie carries
/// the required attributes.
pub async fn routes_and_cookie_attributes(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let page = env.browser().send(Method::GET, "/", None).await;
    assert_eq!(page.status, 200);
    assert!(page.set_cookies.is_empty(), "the page touches no session");
    let b = env.browser();
    let login = b.login("alice", "laptop").await;
    assert_eq!(login.status, 200, "{:?}", login.json);
    for field in ["user", "public_id", "created_at", "expires_at"] {
        assert!(login.json.get(field).is_some(), "login lacks {field}");
    }
    // The session is where the kind says: in the Redis servers under the
    // demo (the primary the sentinels name, on Sentinel), or in memory.
    env.assert_stored_in(kind, "the login");
    let cookie = &login.set_cookies[0];
    assert!(
        cookie.starts_with("__Host-sid="),
        "with Secure and no Domain the name carries __Host-: {cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(cookie.contains(attr), "the cookie lacks {attr}: {cookie}");
    }
    let me = b.me().await;
    assert_eq!(me.status, 200);
    for field in [
        "user",
        "public_id",
        "created_at",
        "last_seen_at",
        "expires_at",
        "absolute_expires_at",
        "counter",
        "work_done",
        "metadata",
    ] {
        assert!(me.json.get(field).is_some(), "me lacks {field}");
    }
    assert_eq!(me.json["metadata"]["device"], "laptop");
    assert_eq!(me.json["metadata"]["ip"], "127.0.0.1");
    assert_eq!(
        b.send(Method::POST, "/api/counter", None).await.json["counter"],
        1
    );
    assert_eq!(
        b.send(Method::POST, "/api/work?ms=0", None).await.json["work_done"],
        1
    );
    let list = b.send(Method::GET, "/api/sessions", None).await;
    assert_eq!(list.json["sessions"].as_array().map(Vec::len), Some(1));
    assert_eq!(list.json["sessions"][0]["current"], true);
    let stats = b.send(Method::GET, "/api/stats", None).await;
    assert_eq!(stats.json, json!({"active_sessions": 1, "active_users": 1}));
    assert_eq!(
        b.send(Method::POST, "/api/work?ms=10001", None)
            .await
            .status,
        400
    );
    assert_eq!(
        b.send(Method::POST, "/api/ttl", Some(json!({"seconds": 0})))
            .await
            .status,
        400
    );
    assert_eq!(
        b.send(Method::POST, "/api/ttl", Some(json!({"seconds": 604_801})))
            .await
            .status,
        400
    );
    let bad = env.browser();
    assert_eq!(
        bad.send_raw(Method::POST, "/api/login", Some("{nope".into()), None)
            .await
            .status,
        400
    );
    assert_eq!(bad.login("", "x").await.status, 400);
    for (method, path) in [
        (Method::GET, "/api/me"),
        (Method::POST, "/api/counter"),
        (Method::GET, "/api/sessions"),
        (Method::POST, "/api/rotate"),
    ] {
        let a = bad.send(method, path, None).await;
        assert_eq!(a.status, 401, "{path} without a session");
        assert_eq!(a.json["error"], "unauthenticated");
    }
    let out = b.send(Method::POST, "/api/logout", None).await;
    assert_eq!(out.status, 204);
    assert!(removes_cookie(&out));
}

/// An id held before login is worthless after it (session fixation).
pub async fn login_rotates_the_id(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let attacker = env.browser();
    attacker.login("mallory", "attacker").await;
    let planted = attacker.cookie();
    let victim = attacker.copy();
    assert_eq!(victim.login("alice", "victim").await.status, 200);
    assert_ne!(victim.cookie(), planted, "login must issue a new id");
    let a = attacker.me().await;
    assert_eq!(a.status, 401, "the planted id still works");
    assert_eq!(victim.me().await.json["user"], "alice");
}

/// Rotation issues a new id, keeps the public id, and ends the old id.
pub async fn rotation(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let old = b.copy();
    let public = b.me().await.json["public_id"].clone();
    let r = b.send(Method::POST, "/api/rotate", None).await;
    assert_eq!(r.status, 200);
    assert_ne!(b.cookie(), old.cookie());
    assert_eq!(b.me().await.json["public_id"], public);
    let stale = old.me().await;
    assert_eq!(stale.status, 401);
    assert_eq!(stale.json["reason"], "rotated");
    assert!(
        stale.set_cookies.is_empty(),
        "an id ended by rotation gets no cookie change: {:?}",
        stale.set_cookies
    );
    // A poll still carrying the old cookie after the rotation answered
    // must not sign the browser out.
    let poll = b.send_raw(Method::GET, "/api/me", None, old.cookie()).await;
    assert!(poll.set_cookies.is_empty());
    assert_eq!(b.me().await.status, 200, "the browser is still signed in");
}

/// The idle timeout set through /api/ttl expires the session.
pub async fn ttl_expiry(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| {
        b.with_expiry(ExpiryPolicy::default().with_refresh_threshold(Duration::from_secs(10)))
    })
    .await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let t = b
        .send(Method::POST, "/api/ttl", Some(json!({"seconds": 30})))
        .await;
    assert_eq!(t.status, 200);
    assert!(t.json["expires_at"].is_string());
    env.clock.advance(Duration::from_secs(29));
    assert_eq!(b.me().await.status, 200);
    env.clock.advance(Duration::from_secs(31));
    let expired = b.me().await;
    assert_eq!(expired.status, 401, "the session outlived its idle timeout");
    assert!(removes_cookie(&expired));
}

/// Only activity refreshes: `/api/status` and `/api/sessions` (the page's
/// polls) never move the idle deadline, even where every other load would
/// (threshold = idle timeout), so a polled session expires on time;
/// `/api/extend` ("stay signed in") pushes it on purpose.
pub async fn passive_status_and_extend(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| {
        b.with_expiry(
            ExpiryPolicy::default()
                .with_idle_timeout(Duration::from_secs(600))
                .with_refresh_threshold(Duration::from_secs(600)),
        )
    })
    .await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let first = b.send(Method::GET, "/api/status", None).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.json["user"], "alice");
    assert!(first.json["public_id"].is_string());
    assert!(first.json["absolute_expires_at"].is_string());
    let deadline = first.json["expires_at"].clone();
    for _ in 0..5 {
        env.clock.advance(Duration::from_secs(110));
        let status = b.send(Method::GET, "/api/status", None).await;
        assert_eq!(status.status, 200);
        assert_eq!(
            status.json["expires_at"], deadline,
            "a status poll moved the idle deadline"
        );
        assert!(status.set_cookies.is_empty(), "a status poll sent a cookie");
        let list = b.send(Method::GET, "/api/sessions", None).await;
        assert_eq!(list.status, 200);
    }
    // 550 s idle: "stay signed in".
    let extended = b.send(Method::POST, "/api/extend", None).await;
    assert_eq!(extended.status, 200);
    assert_ne!(
        extended.json["expires_at"], deadline,
        "extend moved nothing"
    );
    let status = b.send(Method::GET, "/api/status", None).await;
    assert_eq!(status.json["expires_at"], extended.json["expires_at"]);
    // Polled, never used: it ends at the extended deadline.
    env.clock.advance(Duration::from_secs(599));
    assert_eq!(b.send(Method::GET, "/api/status", None).await.status, 200);
    env.clock.advance(Duration::from_secs(1));
    let expired = b.send(Method::GET, "/api/status", None).await;
    assert_eq!(
        expired.status, 401,
        "a polled session outlived its idle timeout"
    );
    assert_eq!(b.send(Method::POST, "/api/extend", None).await.status, 401);
}

/// Non-browser clients: with `SESSION_ID_HEADER` set, a request carrying
/// the header (even empty) gets its new id in that header and no cookie; a
/// browser never gets the id in a header.
pub async fn id_header_clients(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b.with_id_header("x-session-id")).await;
    let api = env.browser();
    let body = Some(r#"{"username":"robot"}"#.to_owned());
    let json = ("content-type", "application/json".to_owned());
    let login = api
        .send_with(
            Method::POST,
            "/api/login",
            body.clone(),
            &[("x-session-id", String::new()), json.clone()],
        )
        .await;
    assert_eq!(login.status, 200);
    assert!(
        login.set_cookies.is_empty(),
        "a header client gets no cookie"
    );
    let id = login.headers["x-session-id"]
        .to_str()
        .expect("an ASCII id")
        .to_owned();
    let me = api
        .send_with(
            Method::GET,
            "/api/me",
            None,
            &[("x-session-id", id.clone())],
        )
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["user"], "robot");
    assert!(me.headers.get("x-session-id").is_none() && me.set_cookies.is_empty());

    let browser = env.browser();
    let login = browser.login("alice", "laptop").await;
    assert_eq!(login.status, 200);
    assert_eq!(login.set_cookies.len(), 1);
    assert!(
        login.headers.get("x-session-id").is_none(),
        "a browser never gets its id in a header"
    );
}

/// The store down: 503 with no internals; back up: it works again.
pub async fn store_down_and_recovery(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    env.probe.set_down(true);
    for (method, path) in [
        (Method::GET, "/api/me"),
        (Method::POST, "/api/counter"),
        (Method::GET, "/api/stats"),
    ] {
        let a = b.send(method, path, None).await;
        assert_eq!(a.status, 503, "{path} with the store down");
        assert_eq!(a.json["error"], "store_unavailable");
        assert!(
            !a.json.to_string().contains("switched off"),
            "internals leaked: {}",
            a.json
        );
    }
    let login = env.browser().login("bob", "x").await;
    assert_eq!(login.status, 503);
    assert!(login.set_cookies.is_empty());
    env.probe.set_down(false);
    assert_eq!(b.me().await.status, 200, "the session survives the outage");
}

/// Days between two RFC 3339 UTC timestamps with the same time of day (the
/// test asserts that too).
fn whole_days_between(from: &serde_json::Value, to: &serde_json::Value) -> i64 {
    fn day_number(t: &str) -> i64 {
        let date: Vec<i64> = t[..10]
            .split('-')
            .map(|p| p.parse().expect("a date"))
            .collect();
        let (y, m, d) = (date[0], date[1], date[2]);
        // Days from civil (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy
    }
    let (from, to) = (from.as_str().expect("a time"), to.as_str().expect("a time"));
    assert_eq!(from[10..], to[10..], "not whole days apart: {from} {to}");
    day_number(to) - day_number(from)
}

/// Remember me: `"remember": true` gives a persistent cookie and a session
/// living 30 days from sign-in; `false` a browser-session cookie (no
/// `Max-Age`) and the configured 7 days. The choice is kept with the
/// session: a rotation sends the same kind of cookie.
pub async fn remember_me(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let login = |b: &Browser, remember: Option<bool>| {
        let mut body = json!({"username": "alice", "device": "d"});
        if let Some(r) = remember {
            body["remember"] = json!(r);
        }
        let b = b.clone();
        async move { b.send(Method::POST, "/api/login", Some(body)).await }
    };
    let lifetime =
        |me: &Answer| whole_days_between(&me.json["created_at"], &me.json["absolute_expires_at"]);

    let kept = env.browser();
    let r = login(&kept, Some(true)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(
        r.set_cookies[0].contains("; Max-Age=2592000"),
        "{:?}",
        r.set_cookies
    );
    assert_eq!(lifetime(&kept.me().await), 30, "remember me lives 30 days");

    let closing = env.browser();
    let r = login(&closing, Some(false)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(!r.set_cookies[0].contains("Max-Age"), "{:?}", r.set_cookies);
    assert_eq!(lifetime(&closing.me().await), 7);
    let rotated = closing.send(Method::POST, "/api/rotate", None).await;
    assert_eq!(rotated.status, 200);
    assert!(
        !rotated.set_cookies.is_empty() && !rotated.set_cookies[0].contains("Max-Age"),
        "a rotation keeps the browser-session cookie: {:?}",
        rotated.set_cookies
    );
    let rotated = kept.send(Method::POST, "/api/rotate", None).await;
    assert!(
        rotated.set_cookies[0].contains("; Max-Age="),
        "a rotation keeps the persistent cookie: {:?}",
        rotated.set_cookies
    );

    let plain = env.browser();
    let r = login(&plain, None).await;
    assert!(
        r.set_cookies[0].contains("; Max-Age=604800"),
        "{:?}",
        r.set_cookies
    );
}
