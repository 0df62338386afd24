//! Guarantee 7: expiry is exact and final.

use super::support::*;
use std::sync::Arc;
use std::time::Duration;

use super::super::Harness;
use crate::store::Loaded;
use crate::{Clock, EndReason, Ending};

fn inactive(l: &Loaded) -> bool {
    matches!(
        l,
        Loaded::Unknown
            | Loaded::Ended(Ending {
                reason: EndReason::Expired,
                ..
            })
    )
}

/// Guarantee 7: a session is active until its idle deadline and not at it;
/// expiry is reported as expired (or gone) and counted exactly.
pub async fn g07_idle_timeout_is_exact(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b.with_expiry(expiry(600, 60, 86_400))).await;
    let a = k.browser();
    a.must_login("alice").await;
    let sid = a.sid();
    k.clock.advance(Duration::from_secs(600) - MILLI);
    let Loaded::Active { record, refreshed } = k.load(&sid).await else {
        panic!("G7: active one millisecond before the idle deadline");
    };
    assert!(refreshed, "G7: a load within the threshold must refresh");
    assert_eq!(
        record.idle_deadline,
        k.clock.now().plus(Duration::from_secs(600)),
        "G7"
    );
    k.clock.advance(Duration::from_secs(600));
    let l = k.load(&sid).await;
    assert!(inactive(&l), "G7: active at its idle deadline: {l:?}");
    assert_eq!(
        k.manager.count_active().await.expect("count"),
        0,
        "G7: an expired session is still counted"
    );
    assert_eq!(k.count_user("alice").await, 0, "G7");
    let s = a.request();
    assert_eq!(s.user().await.expect("load"), None, "G7");
    assert!(
        is_removal(&a.finish(&s).await),
        "G7: the expired cookie is removed"
    );
}

/// Guarantee 7: refreshes never push a session past its absolute lifetime.
pub async fn g07_absolute_lifetime_caps_refreshes(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b.with_expiry(expiry(600, 600, 1500))).await;
    let a = k.browser();
    a.must_login("alice").await;
    let sid = a.sid();
    for _ in 0..2 {
        k.clock.advance(Duration::from_secs(500));
        let Loaded::Active { record, .. } = k.load(&sid).await else {
            panic!("G7: active within both deadlines");
        };
        assert!(
            record.idle_deadline <= record.absolute_deadline,
            "G7: idle deadline past the absolute one"
        );
        assert_eq!(
            record.absolute_deadline,
            START.plus(Duration::from_secs(1500)),
            "G7"
        );
    }
    k.clock.advance(Duration::from_secs(499));
    assert!(
        k.is_active(&sid).await,
        "G7: active just before the absolute deadline"
    );
    k.clock.advance(Duration::from_secs(1));
    let l = k.load(&sid).await;
    assert!(inactive(&l), "G7: active at its absolute deadline: {l:?}");
}

/// Guarantee 7: a load writes nothing while more than the threshold
/// remains, and pushes the deadline once less remains.
pub async fn g07_refresh_only_within_threshold(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b.with_expiry(expiry(600, 60, 86_400))).await;
    let a = k.browser();
    a.must_login("alice").await;
    let sid = a.sid();
    k.clock.advance(Duration::from_secs(100));
    let Loaded::Active { record, refreshed } = k.load(&sid).await else {
        panic!("G7: active");
    };
    assert!(
        !refreshed,
        "G7: refreshed with more than the threshold left"
    );
    assert_eq!(
        record.last_seen_at, START,
        "G7: last seen moved without a refresh"
    );
    assert_eq!(
        record.idle_deadline,
        START.plus(Duration::from_secs(600)),
        "G7"
    );
    k.clock.advance(Duration::from_secs(441));
    let Loaded::Active { record, refreshed } = k.load(&sid).await else {
        panic!("G7: active");
    };
    assert!(
        refreshed,
        "G7: not refreshed with less than the threshold left"
    );
    assert_eq!(record.last_seen_at, k.clock.now(), "G7");
    assert_eq!(
        record.idle_deadline,
        k.clock.now().plus(Duration::from_secs(600)),
        "G7"
    );
    let Loaded::Active { refreshed, .. } = k.load(&sid).await else {
        panic!("G7: active");
    };
    assert!(!refreshed, "G7: refreshed twice in a row");
}

/// Guarantee 7: a session's own idle timeout replaces the policy's.
pub async fn g07_per_session_idle_timeout(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b.with_expiry(expiry(600, 60, 86_400))).await;
    let (short, long) = (k.browser(), k.browser());
    short.must_login("alice").await;
    long.must_login("alice").await;
    let s = short.request();
    s.set_idle_timeout(Duration::from_secs(30))
        .await
        .expect("set ttl");
    s.save().await.expect("save");
    let expires = s
        .record()
        .await
        .expect("record")
        .expect("active")
        .expires_at();
    assert_eq!(
        expires,
        START.plus(Duration::from_secs(30)),
        "G7: the new idle deadline"
    );
    short.finish(&s).await;
    k.clock.advance(Duration::from_secs(30));
    assert!(
        inactive(&k.load(&short.sid()).await),
        "G7: the per-session idle timeout was ignored"
    );
    assert!(
        k.is_active(&long.sid()).await,
        "G7: another session was affected"
    );
}
