//! Guarantee 5: revoke-all is a cut.

use super::support::*;
use std::sync::Arc;

use tokio::sync::Barrier;

use super::super::Harness;
use crate::EndReason;

/// Guarantee 5: revoke-all ends every session of the user but the
/// exception, leaves other users alone, and spares logins made after it.
pub async fn g05_revoke_all_keeps_the_exception_and_spares_later_logins(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let alice: Vec<Browser> = (0..4).map(|_| k.browser()).collect();
    let mut publics = Vec::new();
    for b in &alice {
        publics.push(b.must_login("alice").await);
    }
    let bob = k.browser();
    bob.must_login("bob").await;
    let n = k
        .manager
        .revoke_all(&user("alice"), Some(&publics[1]))
        .await
        .expect("revoke all");
    assert_eq!(n, 3, "G5: revoke-all reports how many it ended");
    for (i, b) in alice.iter().enumerate() {
        if i == 1 {
            assert!(
                k.is_active(&b.sid()).await,
                "G5: the exception must stay active"
            );
        } else {
            assert_reason(k.ending(&b.sid()).await, &EndReason::revoked_all(""), "G5");
        }
    }
    assert!(
        k.is_active(&bob.sid()).await,
        "G5: another user's session was ended"
    );
    let later = k.browser();
    later.must_login("alice").await;
    assert!(
        k.is_active(&later.sid()).await,
        "G5: a later login must be unaffected"
    );
    assert_eq!(k.count_user("alice").await, 2, "G5");
    assert_eq!(
        k.manager
            .revoke_all(&user("alice"), None)
            .await
            .expect("revoke all"),
        2,
        "G5"
    );
    assert_eq!(k.count_user("alice").await, 0, "G5");
}

/// Guarantee 5, stressed: revoke-all runs while logins race; every session
/// that existed before it began ends, every login after it returned lives.
pub async fn g05_stress_revoke_all_cuts_while_logins_race(h: Arc<dyn Harness>) {
    const BEFORE: usize = 8;
    const RACING: usize = 16;
    let k = kit(&h, |b| b).await;
    let mut before = Vec::new();
    for _ in 0..BEFORE {
        let b = k.browser();
        b.must_login("alice").await;
        before.push(b);
    }
    let barrier = Arc::new(Barrier::new(RACING + 1));
    let mut tasks = Vec::new();
    for _ in 0..RACING {
        let (b, barrier) = (k.browser(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            b.must_login("alice").await;
            b
        }));
    }
    barrier.wait().await;
    k.manager
        .revoke_all(&user("alice"), None)
        .await
        .expect("revoke all");
    let after = k.browser();
    after.must_login("alice").await;
    let mut racing_active = 0;
    for t in tasks {
        let b = t.await.expect("task");
        if k.is_active(&b.sid()).await {
            racing_active += 1;
        }
    }
    for b in &before {
        assert_reason(
            k.ending(&b.sid()).await,
            &EndReason::revoked_all(""),
            "G5: a session older than revoke-all survived",
        );
    }
    assert!(
        k.is_active(&after.sid()).await,
        "G5: a login after revoke-all returned was ended"
    );
    assert_eq!(
        k.count_user("alice").await,
        racing_active + 1,
        "G5: the count disagrees with the sessions"
    );
}
