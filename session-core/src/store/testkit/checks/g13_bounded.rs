//! Guarantee 13: bounded by configuration; one damaged record never blocks
//! an operation on the others.

use super::support::*;
use std::sync::Arc;

use super::super::Harness;
use crate::{LimitPolicy, UserLimit};

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
