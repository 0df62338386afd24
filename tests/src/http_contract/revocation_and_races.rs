//! Scenarios: a slow request overlapped by a logout, concurrent
//! increments and logins under the per-user limit, sign out everywhere and
//! revoking one device.

use reqwest::Method;
use serde_json::json;
use session_core::{LimitPolicy, UserLimit};

use super::{Launcher, StoreKind, removes_cookie, start, store_reached};

/// The starsessions race: a slow request loads, the session is logged out,
/// the slow request's save is refused with 401 and its cookie removed.
pub async fn slow_request_overlapped_by_logout(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let slow = b.copy();
    let before = env.probe.calls();
    let work = tokio::spawn(async move { slow.send(Method::POST, "/api/work?ms=400", None).await });
    store_reached(&env, before).await; // the work request has loaded its session
    assert_eq!(b.send(Method::POST, "/api/logout", None).await.status, 204);
    let answer = work.await.expect("the work request");
    assert_eq!(
        answer.status, 401,
        "the slow save after logout must be refused: {:?}",
        answer.json
    );
    assert!(
        removes_cookie(&answer),
        "the refused request removes the cookie"
    );
    assert_eq!(answer.json["reason"], "logout");
}

/// Concurrent increments add exactly, and overlap a slow save without a
/// lost update on either key.
pub async fn concurrent_counter_and_no_lost_update(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let slow = b.copy();
    let before = env.probe.calls();
    let work = tokio::spawn(async move { slow.send(Method::POST, "/api/work?ms=300", None).await });
    store_reached(&env, before).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = b.copy();
        tasks.push(tokio::spawn(async move {
            c.send(Method::POST, "/api/counter", None).await
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        let a = t.await.expect("a counter request");
        assert_eq!(a.status, 200);
        seen.push(a.json["counter"].as_i64().expect("a number"));
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=20).collect::<Vec<i64>>(),
        "increments must be atomic"
    );
    assert_eq!(work.await.expect("work").status, 200);
    let me = b.me().await;
    assert_eq!(
        me.json["counter"], 20,
        "the slow save overwrote the counter"
    );
    assert_eq!(me.json["work_done"], 1, "the slow save was lost");
}

/// The per-user limit holds under concurrent logins, evicting or denying.
pub async fn limit_under_concurrent_logins(l: &dyn Launcher, kind: StoreKind) {
    for policy in [LimitPolicy::EvictIdle, LimitPolicy::Deny] {
        let env = start(l, kind, |b| b.with_limit(UserLimit::at_most(2, policy))).await;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let b = env.browser();
            tasks.push(tokio::spawn(async move {
                let a = b.login("alice", &format!("device {i}")).await;
                (b, a.status)
            }));
        }
        let mut ok = Vec::new();
        for t in tasks {
            let (b, status) = t.await.expect("a login");
            match status.as_u16() {
                200 => ok.push(b),
                409 => assert_eq!(policy, LimitPolicy::Deny, "409 under {policy}"),
                other => panic!("login answered {other}"),
            }
        }
        let mut active = 0;
        for b in &ok {
            if b.me().await.status == 200 {
                active += 1;
            }
        }
        assert_eq!(active, 2, "exactly the limit may be active ({policy})");
        if policy == LimitPolicy::Deny {
            assert_eq!(ok.len(), 2, "deny admits exactly the limit");
        }
    }
}

/// Sign out everywhere, keeping this device or not; revoke one device by
/// public id, and never another user's.
pub async fn logout_all_and_revoke_device(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let (a, b, c) = (env.browser(), env.browser(), env.browser());
    for (br, d) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        br.login("alice", d).await;
    }
    let bob = env.browser();
    bob.login("bob", "bob's").await;
    let b_public = b.me().await.json["public_id"]
        .as_str()
        .expect("public id")
        .to_owned();
    let bob_public = bob.me().await.json["public_id"]
        .as_str()
        .expect("public id")
        .to_owned();
    assert_eq!(
        a.send(Method::DELETE, &format!("/api/sessions/{bob_public}"), None)
            .await
            .status,
        404,
        "revoked another user's session"
    );
    assert_eq!(
        a.send(Method::DELETE, "/api/sessions/not-a-public-id", None)
            .await
            .status,
        404
    );
    assert_eq!(
        a.send(Method::DELETE, &format!("/api/sessions/{b_public}"), None)
            .await
            .status,
        204
    );
    let gone = b.me().await;
    assert_eq!(gone.status, 401);
    assert_eq!(gone.json["reason"], "revoked");
    assert_eq!(bob.me().await.status, 200);

    let all = a
        .send(
            Method::POST,
            "/api/logout-all",
            Some(json!({"keep_current": true, "reason": "password changed"})),
        )
        .await;
    assert_eq!(all.json["revoked"], 1);
    assert_eq!(a.me().await.status, 200, "keep_current kept this device");
    let cut = c.me().await;
    assert_eq!(cut.status, 401);
    assert_eq!(cut.json["reason"], "revoke-all");
    assert_eq!(
        cut.json["reason_text"], "password changed",
        "the revoke-all reason reaches the signed-out device"
    );
    a.login("alice", "again").await;
    let all = a
        .send(
            Method::POST,
            "/api/logout-all",
            Some(json!({"keep_current": false})),
        )
        .await;
    assert_eq!(all.status, 200);
    assert!(removes_cookie(&all));
    assert_eq!(a.me().await.status, 401);
}
