//! Guarantee 9: fail closed, say why.

use super::support::*;
use std::sync::Arc;

use super::super::Harness;
use crate::{SessionError, StoreFailure};

/// Guarantee 9: with the store down, a request is not signed in, every
/// operation reports the failure, nothing is written and no cookie changes;
/// when the store returns, the session is intact.
pub async fn g09_store_down_fails_closed(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    a.insert("x", 1.into()).await;
    k.probe.set_down(true);
    let s = a.request();
    let r = s.user().await;
    assert!(
        matches!(r, Err(SessionError::Store(StoreFailure::Unavailable(_)))),
        "G9: got {r:?}"
    );
    assert!(s.insert("x", 2).await.is_err(), "G9: a write must fail");
    assert!(s.increment("n", 1).await.is_err(), "G9");
    assert!(
        s.login(user("mallory")).await.is_err(),
        "G9: login must fail"
    );
    let u = a.finish(&s).await;
    assert!(
        u.set_cookie().is_none(),
        "G9: no cookie change while the store is down"
    );
    let fresh = k.browser();
    assert!(fresh.login("bob").await.is_err(), "G9");
    assert!(
        fresh.cookie().is_none(),
        "G9: a failed login sets no cookie"
    );
    k.probe.set_down(false);
    let s = a.request();
    assert_eq!(
        s.user().await.expect("load"),
        Some(user("alice")),
        "G9: the session survives the outage"
    );
    assert_eq!(
        s.get::<i64>("x").await.expect("get"),
        Some(1),
        "G9: nothing was written"
    );
    assert_eq!(s.get::<i64>("n").await.expect("get"), None, "G9");
}

/// Guarantee 9: a store failing between load and save leaves the stored
/// session as it was and the cookie alone.
pub async fn g09_store_failing_mid_request_writes_nothing(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    a.insert("x", 1.into()).await;
    let s = a.request();
    s.get::<i64>("x").await.expect("load");
    s.insert("x", 2).await.expect("insert");
    k.probe.set_down(true);
    let u = a.finish(&s).await;
    assert!(
        matches!(u.error(), Some(SessionError::Store(_))),
        "G9: the failed save is reported, got {:?}",
        u.error()
    );
    assert!(
        u.set_cookie().is_none(),
        "G9: no cookie change on a failed save"
    );
    k.probe.set_down(false);
    assert_eq!(a.get("x").await, Some(1.into()), "G9");
}

/// Guarantee 9: a record that does not decode is reported as corrupt,
/// never treated as signed out or replaced.
pub async fn g09_corrupt_record_is_reported_not_replaced(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    a.insert("x", 1.into()).await;
    let sid = a.sid();
    if !k.harness.corrupt(&sid.storage_key()).await {
        eprintln!(
            "g09_corrupt_record_is_reported_not_replaced: skipped, the harness cannot corrupt records"
        );
        return;
    }
    let cx = k.cx();
    let r = k.store().load(&sid.storage_key(), &cx).await;
    assert!(
        matches!(r, Err(StoreFailure::Corrupt(_))),
        "G9: a corrupt record must load as corrupt, got {r:?}"
    );
    let s = a.request();
    assert!(
        matches!(
            s.user().await,
            Err(SessionError::Store(StoreFailure::Corrupt(_)))
        ),
        "G9"
    );
    assert!(s.insert("x", 2).await.is_err(), "G9");
    let u = a.finish(&s).await;
    assert!(
        u.set_cookie().is_none(),
        "G9: a corrupt session's cookie is neither replaced nor removed"
    );
    let r = k.store().load(&sid.storage_key(), &cx).await;
    assert!(
        matches!(r, Err(StoreFailure::Corrupt(_))),
        "G9: the corrupt record was replaced, got {r:?}"
    );
}
