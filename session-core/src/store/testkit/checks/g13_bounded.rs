//! Guarantee 13: bounded by configuration; one damaged record never blocks
//! an operation on the others.

use super::support::*;
use std::sync::Arc;

use super::super::Harness;
use crate::{LimitPolicy, SessionError, UserLimit};

/// Guarantee 13: one damaged session of a user stays local. Alice has
/// four sessions and one of them stops decoding. Listing her devices
/// still answers (the damaged one may be left out), signing in at her
/// limit still evicts, and "sign out everywhere" ends every other session
/// (and the damaged one where it can): nothing fails midway, nothing is
/// reported as a store that is unavailable.
pub async fn g13_a_damaged_record_stays_local(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| {
        b.with_limit(UserLimit::at_most(4, LimitPolicy::EvictIdle))
    })
    .await;
    let browsers: Vec<_> = (0..4).map(|_| k.browser()).collect();
    for b in &browsers {
        b.must_login("alice").await;
        k.clock.advance(SECOND);
    }
    // The second oldest is damaged; the oldest is what the limit evicts.
    let damaged = browsers[1].sid();
    if !k.harness.corrupt(&damaged.storage_key()).await {
        eprintln!("g13_a_damaged_record_stays_local: skipped, the harness cannot corrupt records");
        return;
    }
    let alice = user("alice");
    let listed = k.manager.list_user_sessions(&alice).await;
    assert!(
        listed.as_ref().is_ok_and(|l| l.len() >= 3),
        "G13: one damaged session broke its user's device list: {listed:?}"
    );
    // A fifth sign-in at the limit of four must still make room.
    let fifth = k.browser();
    let signed_in = fifth.login("alice").await;
    assert!(
        signed_in.is_ok(),
        "G13: one damaged session blocked a sign-in at the limit: {signed_in:?}"
    );
    let ended = k.manager.revoke_all(&alice, None).await;
    assert!(
        ended.is_ok(),
        "G13: one damaged session made sign-out-everywhere fail: {ended:?}"
    );
    for (i, b) in browsers.iter().enumerate().filter(|(i, _)| *i != 1) {
        assert!(
            !k.is_active(&b.sid()).await,
            "G13: session {i} survived sign-out-everywhere next to a damaged one"
        );
    }
    assert!(
        !k.is_active(&fifth.sid()).await,
        "G13: the newest session survived sign-out-everywhere next to a damaged one"
    );
    assert_eq!(
        k.count_user("alice").await,
        0,
        "G13: sessions left in the user's index after sign-out-everywhere"
    );
}

/// The stored size of the session `b` holds, as the cap counts it (each
/// key's length plus its JSON value's).
async fn stored_size(b: &Browser) -> usize {
    let record = b.request().record().await.expect("load").expect("active");
    record
        .data
        .iter()
        .map(|(k, v)| k.len() + v.to_string().len())
        .sum()
}

/// Guarantee 13: the data cap holds where data is merged, whatever the
/// concurrency. Ten requests load the same small session and each adds a
/// 304-byte key under a 1,000-byte cap: each fits its own snapshot, but
/// only three fit together (fewer where the stored form is larger), and
/// the rest are refused with `TooLarge` at their save. A session at its cap still shrinks, and increments of new
/// keys count towards the cap.
pub async fn g13_the_data_cap_holds_where_data_is_merged(h: Arc<dyn Harness>) {
    const CAP: usize = 1000;
    let k = kit(&h, |b| b.with_max_data_bytes(CAP)).await;
    let a = k.browser();
    a.insert("seed", 1.into()).await;
    let requests: Vec<_> = (0..10).map(|_| a.request()).collect();
    for s in &requests {
        s.get::<i64>("seed").await.expect("load");
    }
    for (i, s) in requests.iter().enumerate() {
        s.insert(&format!("k{i}"), "x".repeat(300))
            .await
            .expect("each insert fits the request's own snapshot");
    }
    let mut saved = 0;
    for s in &requests {
        match s.save().await {
            Ok(()) => saved += 1,
            Err(SessionError::TooLarge { size, limit }) => {
                assert_eq!(limit, CAP, "G13: the refusal names another cap");
                assert!(size > CAP, "G13: refused at {size} bytes, within the cap");
            }
            Err(e) => panic!("G13: a save failed otherwise than TooLarge: {e:?}"),
        }
    }
    let size = stored_size(&a).await;
    assert!(
        size <= CAP,
        "G13: overlapping saves took the data to {size} bytes, over the cap of {CAP}"
    );
    // Three fit as clear JSON; a store that counts a larger stored form
    // (sealed values, with encryption at rest) fits fewer.
    assert!(
        (1..=3).contains(&saved),
        "G13: {saved} of 10 overlapping saves landed; at most 3 fit"
    );
    // At the cap, removing and shrinking still work.
    let s = a.request();
    s.remove("k0").await.expect("remove");
    s.insert("k1", "small").await.expect("shrink");
    s.save()
        .await
        .expect("G13: a session at its cap could not shrink");
    // Increments of new keys count: they are refused before the cap.
    let mut refused = false;
    for i in 0..200 {
        let s = a.request();
        match s.increment(&format!("counter-{i}"), 1_000_000).await {
            Ok(_) => {}
            Err(SessionError::TooLarge { .. }) => {
                refused = true;
                break;
            }
            Err(e) => panic!("G13: an increment failed otherwise than TooLarge: {e:?}"),
        }
    }
    assert!(refused, "G13: increments of new keys were never counted");
    let size = stored_size(&a).await;
    assert!(
        size <= CAP,
        "G13: increments of new keys took the data to {size} bytes, over the cap"
    );
}
