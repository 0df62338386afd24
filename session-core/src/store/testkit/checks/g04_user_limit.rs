//! Guarantee 4: the per-user limit is exact.

use super::support::*;
use std::sync::Arc;

use tokio::sync::Barrier;

use super::super::Harness;
use crate::{EndReason, LimitPolicy, LoginOutcome, PublicId, SessionError, UserLimit};

async fn limit_scenario(
    h: &Arc<dyn Harness>,
    policy: LimitPolicy,
) -> (
    Kit,
    [Browser; 3],
    [PublicId; 2],
    Result<LoginOutcome, SessionError>,
) {
    let k = kit(h, |b| {
        b.with_limit(UserLimit::at_most(2, policy))
            .with_expiry(expiry(3600, 3600, 86_400))
    })
    .await;
    let (b1, b2, b3) = (k.browser(), k.browser(), k.browser());
    let p1 = b1.must_login("alice").await;
    k.clock.advance(SECOND);
    let p2 = b2.must_login("alice").await;
    k.clock.advance(SECOND);
    // b1 is used: with a threshold equal to the idle timeout, this load
    // refreshes it, so b1 is now the most recently active.
    assert!(b1.get("x").await.is_none());
    k.clock.advance(SECOND);
    let third = b3.login("alice").await;
    (k, [b1, b2, b3], [p1, p2], third)
}

/// Runs the limit scenario under an evicting `policy`; `evicted` is the
/// index (0 = oldest, 1 = least recently active) of the browser it must end.
async fn eviction_check(h: Arc<dyn Harness>, policy: LimitPolicy, evicted: usize) {
    let (k, browsers, publics, third) = limit_scenario(&h, policy).await;
    let outcome = third.unwrap_or_else(|e| panic!("G4: {policy} admits the new login, got {e:?}"));
    assert_eq!(
        outcome.evicted,
        vec![publics[evicted]],
        "G4: {policy} ended the wrong session"
    );
    for (i, b) in browsers.iter().enumerate() {
        if i == evicted {
            assert_reason(k.ending(&b.sid()).await, &EndReason::Limit, "G4");
        } else {
            assert!(
                k.is_active(&b.sid()).await,
                "G4: {policy} ended session {i} too"
            );
        }
    }
    assert_eq!(k.count_user("alice").await, 2, "G4");
}

/// Guarantee 4, evict-idle: at the limit, signing in ends the least
/// recently active session, with the reason "limit".
pub async fn g04_evict_idle_ends_the_least_recently_active(h: Arc<dyn Harness>) {
    eviction_check(h, LimitPolicy::EvictIdle, 1).await;
}

/// Guarantee 4, evict-oldest: at the limit, signing in ends the oldest
/// session even if it was used recently.
pub async fn g04_evict_oldest_ends_the_oldest(h: Arc<dyn Harness>) {
    eviction_check(h, LimitPolicy::EvictOldest, 0).await;
}

/// Guarantee 4, deny: at the limit, the new login is refused with a
/// distinct error and nothing changes.
pub async fn g04_deny_refuses_and_changes_nothing(h: Arc<dyn Harness>) {
    let (k, [b1, b2, b3], _, third) = limit_scenario(&h, LimitPolicy::Deny).await;
    assert!(
        matches!(third, Err(SessionError::LimitReached { limit: 2 })),
        "G4: deny must refuse, got {third:?}"
    );
    assert!(b3.cookie().is_none(), "G4: a refused login sets no cookie");
    assert!(
        k.is_active(&b1.sid()).await && k.is_active(&b2.sid()).await,
        "G4"
    );
    assert_eq!(k.count_user("alice").await, 2, "G4");
}

/// Guarantee 4, stressed: many concurrent logins of one user, under each
/// policy, leave exactly the limit active.
pub async fn g04_stress_concurrent_logins_respect_the_limit(h: Arc<dyn Harness>) {
    const LOGINS: usize = 24;
    const LIMIT: u32 = 3;
    for policy in [
        LimitPolicy::EvictIdle,
        LimitPolicy::EvictOldest,
        LimitPolicy::Deny,
    ] {
        let k = kit(&h, |b| b.with_limit(UserLimit::at_most(LIMIT, policy))).await;
        let barrier = Arc::new(Barrier::new(LOGINS));
        let mut tasks = Vec::new();
        for _ in 0..LOGINS {
            let (b, barrier) = (k.browser(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let ok = b.login("alice").await.is_ok();
                (b, ok)
            }));
        }
        let mut browsers = Vec::new();
        for t in tasks {
            browsers.push(t.await.expect("task"));
        }
        let admitted = browsers.iter().filter(|(_, ok)| *ok).count();
        let mut active = 0;
        for (b, ok) in &browsers {
            if *ok && k.is_active(&b.sid()).await {
                active += 1;
            }
        }
        assert_eq!(
            active, LIMIT as usize,
            "G4 ({policy}): exactly the limit may be active"
        );
        assert_eq!(
            k.count_user("alice").await,
            u64::from(LIMIT),
            "G4 ({policy}): the user's count"
        );
        let listed = k
            .manager
            .list_user_sessions(&user("alice"))
            .await
            .expect("list");
        assert_eq!(
            listed.len(),
            LIMIT as usize,
            "G4 ({policy}): the user's list"
        );
        match policy {
            LimitPolicy::Deny => assert_eq!(
                admitted, LIMIT as usize,
                "G4 (deny): exactly the limit admitted"
            ),
            _ => assert_eq!(admitted, LOGINS, "G4 ({policy}): every login admitted"),
        }
    }
}

/// A session created outside a request ([`crate::SessionManager::session_builder`])
/// is stored whole in one store call: its data, metadata, idle timeout,
/// lifetime and cookie kind; a request presenting its id reads them; and
/// the per-user limit refuses one past it with nothing stored.
pub async fn g04_created_outside_a_request_whole_and_under_the_limit(h: Arc<dyn Harness>) {
    use std::time::Duration;
    let k = kit(&h, |b| {
        b.with_limit(UserLimit::at_most(1, LimitPolicy::Deny))
    })
    .await;
    let alice = user("alice");
    let (idle, lifetime) = (Duration::from_secs(300), Duration::from_secs(30 * 86_400));
    let before = k.probe.calls();
    let issued = k
        .manager
        .session_builder(&alice)
        .insert("tokens", serde_json::json!({"refresh": "r-1"}))
        .and_then(|b| b.insert("n", 1))
        .expect("insert")
        .metadata(crate::Metadata {
            device: Some("CLI".into()),
            ..crate::Metadata::default()
        })
        .idle_timeout(idle)
        .sign_in_options(crate::SignInOptions::remember(lifetime))
        .create()
        .await
        .expect("create");
    assert_eq!(
        k.probe.calls() - before,
        1,
        "G4: a creation is one store call"
    );
    assert!(
        issued.set_cookie().contains("Max-Age="),
        "a remembered session's cookie persists"
    );
    let crate::store::Loaded::Active { record, .. } = k.load(&issued.id).await else {
        panic!("G4: the session created outside a request is not active");
    };
    assert_eq!(record.public_id, issued.public_id);
    assert_eq!(
        record.data.get("tokens"),
        Some(&serde_json::json!({"refresh": "r-1"})),
        "G4: data lost"
    );
    assert_eq!(record.data.get("n"), Some(&1.into()), "G4: data lost");
    assert_eq!(record.user.as_ref(), Some(&alice));
    assert_eq!(record.metadata.device.as_deref(), Some("CLI"));
    assert_eq!(
        record.metadata.cookie,
        Some(crate::CookieLifetime::Persistent)
    );
    assert_eq!(record.idle_timeout, idle);
    assert_eq!(record.absolute_deadline, START.plus(lifetime));
    let s = k
        .manager
        .session_for_request([k.cookie_for(&issued.id).as_bytes()]);
    assert_eq!(s.increment("n", 1).await.expect("increment"), 2);

    let r = k
        .manager
        .session_builder(&alice)
        .insert("tokens", "second")
        .expect("insert")
        .create()
        .await;
    assert!(
        matches!(r, Err(SessionError::LimitReached { limit: 1 })),
        "G4: a creation past the limit must be refused, got {r:?}"
    );
    assert_eq!(
        k.count_user("alice").await,
        1,
        "G4: the refused creation stored a session"
    );
}
