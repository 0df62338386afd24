//! Guarantee 7: only activity refreshes. A passive read through the
//! request's handle never moves the idle deadline; an extend on purpose
//! (on the handle or by id) always does, within the absolute lifetime.

use super::support::*;
use std::sync::Arc;
use std::time::Duration;

use super::super::Harness;
use crate::store::Loaded;
use crate::{Clock, EndReason};

/// Guarantee 7: a status poll (`Session::peek`) leaves the idle deadline
/// where it is even when every load would refresh (threshold = idle
/// timeout), across many polls, until the session expires; activity then
/// finds it expired.
pub async fn g07_passive_reads_never_refresh(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b.with_expiry(expiry(600, 600, 86_400))).await;
    let a = k.browser();
    a.must_login("alice").await;
    let sid = a.sid();
    let deadline = START.plus(Duration::from_secs(600));
    for _ in 0..5 {
        k.clock.advance(Duration::from_secs(110));
        let session = a.request();
        let status = session.peek().await.expect("G7: a passive read");
        let Some(record) = status else {
            panic!("G7: the session is active before its idle deadline");
        };
        assert_eq!(
            record.idle_deadline, deadline,
            "G7: a passive read moved the idle deadline"
        );
        let update = a.finish(&session).await;
        assert!(
            update.set_cookie().is_none(),
            "G7: a passive read sent a cookie"
        );
    }
    let Ok(Loaded::Active { record, .. }) = k.manager.peek(&sid).await else {
        panic!("G7: active before its idle deadline");
    };
    assert_eq!(record.idle_deadline, deadline, "G7: polls kept it alive");
    k.clock.advance(Duration::from_secs(50));
    assert!(
        !k.is_active(&sid).await,
        "G7: a session polled passively outlived its idle deadline"
    );
}

/// Guarantee 7: "stay signed in" pushes the idle deadline to now plus the
/// idle timeout whatever the refresh threshold, on the handle and by id,
/// never past the absolute lifetime, and not for an ended session.
pub async fn g07_extend_pushes_the_idle_deadline_on_purpose(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b.with_expiry(expiry(600, 60, 1_000))).await;
    let a = k.browser();
    a.must_login("alice").await;
    let sid = a.sid();
    // 480 s left: far more than the threshold, so activity would not move it.
    k.clock.advance(Duration::from_secs(120));
    let session = a.request();
    let expires = session.extend().await.expect("G7: extend");
    a.finish(&session).await;
    let want = k.clock.now().plus(Duration::from_secs(600));
    assert_eq!(expires, Some(want), "G7: extend on the handle");
    let Ok(Loaded::Active { record, .. }) = k.manager.peek(&sid).await else {
        panic!("G7: active after extend");
    };
    assert_eq!(record.idle_deadline, want, "G7: extend was not stored");

    k.clock.advance(Duration::from_secs(100));
    let by_id = k.manager.extend(&sid).await.expect("G7: extend by id");
    let want = k.clock.now().plus(Duration::from_secs(600));
    assert_eq!(by_id, Some(want), "G7: extend by id");

    // 780 s after the start: now + idle (1,380) passes the absolute 1,000.
    k.clock.advance(Duration::from_secs(560));
    let capped = k
        .manager
        .extend(&sid)
        .await
        .expect("G7: extend near the end");
    assert_eq!(
        capped,
        Some(START.plus(Duration::from_secs(1_000))),
        "G7: extend went past the absolute lifetime"
    );

    k.manager
        .revoke(&sid, EndReason::Logout)
        .await
        .expect("G7: revoke");
    assert_eq!(
        k.manager
            .extend(&sid)
            .await
            .expect("G7: extend after logout"),
        None,
        "G7: an ended session was extended"
    );
    assert!(!k.is_active(&sid).await, "G7: extend revived a session");
}
