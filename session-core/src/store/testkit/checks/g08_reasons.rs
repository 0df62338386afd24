//! Guarantee 8: the reason is kept.

use super::support::*;
use std::sync::Arc;
use std::time::Duration;

use super::super::Harness;
use crate::store::Loaded;
use crate::{Clock, EndReason, ExpiryPolicy, LimitPolicy, SessionId, UserLimit};

/// Guarantee 8: after each kind of invalidation, loading the id reports why
/// and when, for the retention period; after it, the id is gone.
pub async fn g08_every_reason_is_kept_then_forgotten(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| {
        b.with_limit(UserLimit::at_most(1, LimitPolicy::EvictOldest))
            .with_expiry(ExpiryPolicy::default().with_ended_retention(Duration::from_secs(3600)))
    })
    .await;
    let mut ended: Vec<(SessionId, EndReason)> = Vec::new();

    let b = k.browser();
    b.must_login("u-logout").await;
    let sid = b.sid();
    let s = b.request();
    s.logout().await.expect("logout");
    b.finish(&s).await;
    ended.push((sid, EndReason::Logout));

    let b = k.browser();
    b.must_login("u-revoked").await;
    let sid = b.sid();
    let public = b
        .request()
        .public_id()
        .await
        .expect("load")
        .expect("active");
    assert!(
        k.manager
            .revoke_device(&user("u-revoked"), &public, "password changed")
            .await
            .expect("revoke")
    );
    ended.push((sid, EndReason::revoked("password changed")));

    let b = k.browser();
    b.must_login("u-limit").await;
    let sid = b.sid();
    k.browser().must_login("u-limit").await;
    ended.push((sid, EndReason::Limit));

    let b = k.browser();
    b.must_login("u-rotated").await;
    let sid = b.sid();
    let s = b.request();
    s.rotate().await.expect("rotate");
    b.finish(&s).await;
    ended.push((sid, EndReason::Rotated));

    let b = k.browser();
    b.must_login("u-all").await;
    let sid = b.sid();
    k.manager
        .revoke_all_with_reason(&user("u-all"), None, "password changed")
        .await
        .expect("revoke all");
    ended.push((sid, EndReason::revoked_all("password changed")));

    let at = k.clock.now();
    k.clock.advance(Duration::from_secs(3600) - MILLI);
    for (sid, reason) in &ended {
        let e = k.ending(sid).await;
        assert_eq!(
            e.as_ref().map(|e| e.at),
            Some(at),
            "G8: when it ended ({reason:?})"
        );
        assert_reason(e, reason, "G8");
        let c = k
            .manager
            .session_for_request([k.cookie_for(sid).as_bytes()]);
        assert_eq!(
            c.ended().await.expect("load").map(|e| e.reason),
            Some(reason.clone()),
            "G8: the handle reports the reason"
        );
    }
    k.clock.advance(MILLI);
    for (sid, reason) in &ended {
        assert_eq!(
            k.load(sid).await,
            Loaded::Unknown,
            "G8: the reason ({reason:?}) must be forgotten after the retention"
        );
    }
}
