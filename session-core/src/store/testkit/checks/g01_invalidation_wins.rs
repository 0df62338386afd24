//! Guarantee 1: invalidation wins (no resurrection).

use super::support::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Barrier;

use super::super::Harness;
use crate::store::{
    AsLoaded, CreateError, Delta, Loaded, NewSession, RotateError, Rotation, SlotTag, UpdateError,
};
use crate::{EndReason, Metadata, PublicId, SessionError, SessionId, UserLimit};

/// Guarantee 1, forced: request B loads, request A logs out, B saves. B's
/// save is refused as ended, B's cookie is removed, and the session stays
/// ended (the starsessions race).
pub async fn g01_starsessions_race_load_logout_save(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    a.insert("x", 0.into()).await;
    let sid = a.sid();
    let b = a.copy();

    let slow = b.request();
    assert_eq!(slow.get::<i64>("x").await.expect("B loads"), Some(0));

    let quick = a.request();
    quick.logout().await.expect("A logs out");
    assert!(
        is_removal(&a.finish(&quick).await),
        "G1: logout removes the cookie"
    );

    slow.insert("x", 1)
        .await
        .expect("B's insert is in memory only");
    let update = b.finish(&slow).await;
    match &update.error() {
        Some(SessionError::Ended(e)) => assert_eq!(e.reason, EndReason::Logout, "G1"),
        other => panic!("G1: B's save after logout must be refused as ended, got {other:?}"),
    }
    assert!(
        is_removal(&update),
        "G1: the response to B removes B's cookie"
    );
    assert_reason(
        k.ending(&sid).await,
        &EndReason::Logout,
        "G1: the session stays ended",
    );
    let c = k
        .manager
        .session_for_request([k.cookie_for(&sid).as_bytes()]);
    assert_eq!(
        c.user().await.expect("load"),
        None,
        "G1: nobody is signed in after logout"
    );
}

/// Guarantee 1 at the store: an ended session refuses apply, increment and
/// rotate; its key cannot be created again; an unknown key is never created
/// by a write.
pub async fn g01_ended_sessions_refuse_every_write(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let (sid, _) = k
        .manager
        .create_for_user(&user("alice"), Metadata::default(), None)
        .await
        .expect("create");
    assert!(
        k.manager
            .revoke(&sid, EndReason::revoked("test"))
            .await
            .expect("revoke")
    );
    let cx = k.cx();
    let key = sid.storage_key();
    let mut delta = Delta::default();
    delta.data.insert("x".into(), Some("1".into()));

    let ended = |e: &UpdateError| matches!(e, UpdateError::Ended(end) if end.reason == EndReason::revoked("test"));
    let r = k
        .store()
        .apply(
            &key,
            &PublicId::generate(),
            &delta,
            &AsLoaded::default(),
            &cx,
        )
        .await;
    assert!(
        r.as_ref().is_err_and(ended),
        "G1: apply on an ended session must be refused as ended, got {r:?}"
    );
    let r = k.store().increment(&key, "n", 1, &cx).await;
    assert!(
        r.as_ref().is_err_and(ended),
        "G1: increment on an ended session must be refused, got {r:?}"
    );
    let new = SessionId::generate(k.manager.config().keys(), sid.slot());
    let rotation = Rotation {
        old: key,
        new: new.storage_key(),
        sign_in: None,
        delta: Delta::default(),
        public_id: None,
    };
    let r = k.store().rotate(rotation, &cx).await;
    assert!(
        matches!(r, Err(RotateError::Ended(_))),
        "G1: rotating an ended session must be refused, got {r:?}"
    );
    assert!(
        !k.is_active(&new).await,
        "G1: a refused rotation creates nothing"
    );
    let again = NewSession {
        key,
        public_id: PublicId::generate(),
        user: None,
        idle_timeout: Duration::from_secs(60),
        absolute_deadline: cx.now.plus(Duration::from_secs(600)),
        metadata: Metadata::default(),
        data: BTreeMap::new(),
    };
    let r = k.store().create(again, UserLimit::unlimited(), &cx).await;
    assert!(
        matches!(r, Err(CreateError::DuplicateId)),
        "G1: creating over an ended session must fail as a duplicate, got {r:?}"
    );
    assert_reason(k.ending(&sid).await, &EndReason::revoked("test"), "G1");

    let unknown = SessionId::generate(k.manager.config().keys(), SlotTag::random());
    let r = k
        .store()
        .apply(
            &unknown.storage_key(),
            &PublicId::generate(),
            &delta,
            &AsLoaded::default(),
            &cx,
        )
        .await;
    assert!(
        matches!(r, Err(UpdateError::UnknownId)),
        "G1: apply to an unknown id must fail, got {r:?}"
    );
    assert_eq!(
        k.load(&unknown).await,
        Loaded::Unknown,
        "G1: a save never creates a session"
    );
}

/// Guarantee 1, stressed. First forced across many tasks: all load the
/// session, it is logged out, then all save at once; every save is refused.
/// Then free-running: tasks load and save in a loop while the session is
/// logged out; every save that starts after the logout returned, by a
/// handle that had loaded the signed-in session, is refused. Either way the
/// session ends up ended.
pub async fn g01_stress_saves_racing_a_logout(h: Arc<dyn Harness>) {
    const TASKS: usize = 24;
    let k = kit(&h, |b| b).await;

    // Forced: load everywhere, log out, save everywhere.
    let a = k.browser();
    a.must_login("alice").await;
    let sid = a.sid();
    let loaded = Arc::new(Barrier::new(TASKS + 1));
    let out = Arc::new(Barrier::new(TASKS + 1));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (b, loaded, out) = (a.copy(), loaded.clone(), out.clone());
        tasks.push(tokio::spawn(async move {
            let s = b.request();
            assert!(
                matches!(s.user().await, Ok(Some(_))),
                "G1: the session loads before the logout"
            );
            s.insert(&format!("t{t}"), t).await.expect("insert");
            loaded.wait().await;
            out.wait().await;
            s.save().await.is_ok()
        }));
    }
    loaded.wait().await;
    let s = a.request();
    s.logout().await.expect("logout");
    out.wait().await;
    let mut accepted = 0;
    for t in tasks {
        accepted += usize::from(t.await.expect("task"));
    }
    assert_eq!(
        accepted, 0,
        "G1: saves loaded before a logout and made after it were accepted"
    );
    assert_reason(
        k.ending(&sid).await,
        &EndReason::Logout,
        "G1: the session must stay ended",
    );

    // Free-running: loops that keep going until they have seen the logout.
    let a = k.browser();
    a.must_login("alice").await;
    let sid = a.sid();
    let logged_out = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(TASKS + 1));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (b, logged_out, violations, start) = (
            a.copy(),
            logged_out.clone(),
            violations.clone(),
            start.clone(),
        );
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut rounds_after = 0;
            while rounds_after < 3 {
                if logged_out.load(Ordering::SeqCst) {
                    rounds_after += 1;
                }
                let s = b.request();
                // Only a handle that loaded the signed-in session could
                // resurrect it (after the logout, an insert starts a new,
                // anonymous session, which is fine).
                if !matches!(s.user().await, Ok(Some(_))) {
                    continue;
                }
                let _ = s.insert(&format!("t{t}"), 1).await;
                tokio::task::yield_now().await;
                let started_after_logout = logged_out.load(Ordering::SeqCst);
                if s.save().await.is_ok() && started_after_logout {
                    violations.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    start.wait().await;
    for _ in 0..TASKS {
        tokio::task::yield_now().await;
    }
    let s = a.request();
    s.logout().await.expect("logout");
    logged_out.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(
        violations.load(Ordering::SeqCst),
        0,
        "G1: saves that started after logout returned were accepted"
    );
    assert_reason(
        k.ending(&sid).await,
        &EndReason::Logout,
        "G1: the session must stay ended",
    );
}

/// What a load, the user's device list and the counts show about `sid`.
async fn seen(k: &Kit, sid: &SessionId) -> (Loaded, Vec<PublicId>, u64, u64) {
    let listed = k
        .manager
        .list_user_sessions(&user("alice"))
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.public_id)
        .collect();
    let active = k.manager.count_active().await.expect("count");
    (
        k.load(sid).await,
        listed,
        k.count_user("alice").await,
        active,
    )
}

/// Guarantee 1 with a save whose bytes may land: request B loads a
/// session, request A ends it, then B overwrites values it loaded with
/// ones no longer than they were (a store may write such a save without
/// judging the session first, its bytes landing inert in the ended
/// record). B is refused as ended, and nothing any load returns changes:
/// the ending (reason and time), the user's device list and counts, the
/// active count; a later save and increment are refused the same way.
/// Signed in and anonymous (counted), ended by logout and by a rotation.
pub async fn g01_a_save_racing_a_logout_changes_nothing_a_load_returns(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b.with_anonymous_analytics(true)).await;
    let keep = k.browser();
    keep.must_login("alice").await;
    for ending in ["logout", "anonymous logout", "rotation"] {
        let a = k.browser();
        if ending != "anonymous logout" {
            a.must_login("alice").await;
        }
        a.insert("x", 0.into()).await;
        a.insert("name", "abc".into()).await;
        let sid = a.sid();
        let b = a.copy();
        let slow = b.request();
        assert_eq!(slow.get::<i64>("x").await.expect("B loads"), Some(0));
        let quick = a.request();
        if ending == "rotation" {
            quick.rotate().await.expect("A rotates");
        } else {
            quick.logout().await.expect("A logs out");
        }
        assert!(a.finish(&quick).await.error().is_none(), "{ending}");
        let before = seen(&k, &sid).await;
        assert!(
            matches!(before.0, Loaded::Ended(_)),
            "{ending}: the session ended"
        );

        slow.insert("x", 1)
            .await
            .expect("B's insert is in memory only");
        slow.insert("name", "ab")
            .await
            .expect("B's insert is in memory only");
        let update = b.finish(&slow).await;
        assert!(
            matches!(update.error(), Some(SessionError::Ended(_))),
            "G1 ({ending}): B's save must be refused as ended, got {:?}",
            update.error()
        );
        assert_eq!(
            seen(&k, &sid).await,
            before,
            "G1 ({ending}): a refused save changed what a load returns"
        );

        let key = sid.storage_key();
        let cx = k.cx();
        let mut delta = Delta::default();
        delta.data.insert("x".into(), Some("2".into()));
        let r = k
            .store()
            .apply(
                &key,
                &PublicId::generate(),
                &delta,
                &AsLoaded::default(),
                &cx,
            )
            .await;
        assert!(
            matches!(r, Err(UpdateError::Ended(_))),
            "G1 ({ending}): a later save is refused, got {r:?}"
        );
        let r = k.store().increment(&key, "x", 1, &cx).await;
        assert!(
            matches!(r, Err(UpdateError::Ended(_))),
            "G1 ({ending}): a later increment is refused, got {r:?}"
        );
        assert_eq!(
            seen(&k, &sid).await,
            before,
            "G1 ({ending}): a refused write changed what a load returns"
        );
    }
}
