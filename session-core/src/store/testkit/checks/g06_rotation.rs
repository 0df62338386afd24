//! Guarantee 6: rotation is atomic.

use super::support::*;
use std::sync::Arc;

use tokio::sync::Barrier;

use super::super::Harness;
use crate::store::Loaded;
use crate::{EndReason, Metadata, SessionError};

/// Guarantee 6: rotation moves data, metadata, user and public id to a new
/// id in one step, and the old id ends with the reason "rotated".
pub async fn g06_rotation_moves_everything_and_ends_the_old_id(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    let s = a.request();
    s.set_metadata(Metadata {
        device: Some("laptop".into()),
        ..Metadata::default()
    })
    .await
    .expect("metadata");
    let public = s
        .login(user("alice"))
        .await
        .expect("login")
        .record
        .public_id;
    s.insert("x", 7).await.expect("insert");
    a.finish(&s).await;
    let old = a.sid();
    let s = a.request();
    s.insert("y", 8).await.expect("insert");
    s.rotate().await.expect("rotate");
    let u = a.finish(&s).await;
    assert!(
        u.set_cookie().is_some() && !is_removal(&u),
        "G6: rotation sends the new cookie"
    );
    let new = a.sid();
    assert_ne!(
        old.expose_secret(),
        new.expose_secret(),
        "G6: rotation must change the id"
    );
    assert_reason(
        k.ending(&old).await,
        &EndReason::Rotated,
        "G6: the old id must end as rotated",
    );
    let Loaded::Active { record, .. } = k.load(&new).await else {
        panic!("G6: the new id must be active");
    };
    assert_eq!(
        record.public_id, public,
        "G6: the public id must survive rotation"
    );
    assert_eq!(record.user, Some(user("alice")), "G6");
    assert_eq!(record.data.get("x"), Some(&7.into()), "G6: data must move");
    assert_eq!(
        record.data.get("y"),
        Some(&8.into()),
        "G6: the unsaved change must move"
    );
    assert_eq!(
        record.metadata.device.as_deref(),
        Some("laptop"),
        "G6: metadata must move"
    );
    assert_eq!(
        k.manager.count_active().await.expect("count"),
        1,
        "G6: rotation leaves one session"
    );
}

/// Guarantee 6: binding a user always rotates, so an id planted before
/// login (session fixation) is worthless after it; signing in as someone
/// else ends the old user's session and carries nothing over.
pub async fn g06_login_always_rotates_no_fixation(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let attacker = k.browser();
    attacker.insert("cart", 3.into()).await;
    let planted = attacker.sid();
    let victim = attacker.copy();
    victim.must_login("alice").await;
    let signed_in = victim.sid();
    assert_ne!(
        planted.expose_secret(),
        signed_in.expose_secret(),
        "G6: login must rotate the id"
    );
    assert_reason(
        k.ending(&planted).await,
        &EndReason::Rotated,
        "G6: the planted id must end",
    );
    let s = attacker.request();
    assert_eq!(
        s.user().await.expect("load"),
        None,
        "G6: the planted id must not be signed in"
    );
    assert_eq!(
        victim.get("cart").await,
        Some(3.into()),
        "G6: anonymous data carries into the login"
    );

    victim.must_login("alice").await;
    assert_reason(
        k.ending(&signed_in).await,
        &EndReason::Rotated,
        "G6: signing in again rotates too",
    );

    let alice_sid = victim.sid();
    victim.must_login("bob").await;
    assert_reason(
        k.ending(&alice_sid).await,
        &EndReason::Logout,
        "G6: signing in as another user ends the old session",
    );
    let s = victim.request();
    assert_eq!(s.user().await.expect("load"), Some(user("bob")), "G6");
    assert_eq!(
        s.get::<i64>("cart").await.expect("get"),
        None,
        "G6: nothing carries across users"
    );
    assert_eq!(k.count_user("alice").await, 0, "G6");
}

/// Guarantee 6, forced: two requests rotate the same id; the second finds
/// it rotated, and only one session exists.
pub async fn g06_racing_rotations_one_winner(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    let b = a.copy();
    let (first, second) = (a.request(), b.request());
    first.rotate().await.expect("the first rotation wins");
    let r = second.rotate().await;
    assert!(
        matches!(&r, Err(SessionError::Ended(e)) if e.reason == EndReason::Rotated),
        "G6: the second rotation must fail as rotated, got {r:?}"
    );
    a.finish(&first).await;
    assert!(
        b.finish(&second).await.set_cookie().is_none(),
        "G1: the loser's response changes no cookie (its browser may already hold the winner's)"
    );
    assert_eq!(
        k.manager.count_active().await.expect("count"),
        1,
        "G6: two live sessions after racing rotations"
    );
}

/// Guarantee 6, stressed: many concurrent rotations of one id; exactly one
/// wins and exactly one session lives.
pub async fn g06_stress_racing_rotations_one_winner(h: Arc<dyn Harness>) {
    const TASKS: usize = 16;
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (b, barrier) = (a.copy(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let s = b.request();
            barrier.wait().await;
            s.rotate().await.is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.expect("task"));
    }
    assert_eq!(wins, 1, "G6: exactly one of the racing rotations may win");
    assert_eq!(k.manager.count_active().await.expect("count"), 1, "G6");
    assert_eq!(k.count_user("alice").await, 1, "G6");
}
