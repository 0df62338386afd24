//! Guarantee 7: expiry is exact and final.

use super::support::*;
use std::sync::Arc;
use std::time::Duration;

use super::super::Harness;
use crate::store::Loaded;
use crate::{Clock, EndReason, Ending, ExpiryPolicy, ManualClock, SessionManager};

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

/// Guarantee 7: a peek (the manager's read for admin views) never moves
/// the idle deadline, even within the threshold; and under
/// [`crate::ExpiryMode::Fixed`] neither loads nor saves do, so the session
/// ends at `created + idle timeout` however active it is.
pub async fn g07_peek_and_fixed_expiry_never_refresh(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b.with_expiry(expiry(600, 60, 86_400))).await;
    let a = k.browser();
    a.must_login("alice").await;
    let sid = a.sid();
    let first = START.plus(Duration::from_secs(600));
    k.clock.advance(Duration::from_secs(580));
    for _ in 0..2 {
        let Ok(Loaded::Active { record, refreshed }) = k.manager.peek(&sid).await else {
            panic!("G7: active when peeked");
        };
        assert!(!refreshed, "G7: a peek refreshed the session");
        assert_eq!(record.idle_deadline, first, "G7: a peek moved the deadline");
    }
    let Loaded::Active { record, .. } = k.load(&sid).await else {
        panic!("G7: active");
    };
    assert!(
        record.idle_deadline > first,
        "G7: a load within the threshold after peeks must still refresh"
    );

    let fixed = expiry(600, 60, 86_400).with_mode(crate::ExpiryMode::Fixed);
    let k = kit(&h, |b| b.with_expiry(fixed)).await;
    let a = k.browser();
    a.must_login("bob").await;
    let sid = a.sid();
    let deadline = k.clock.now().plus(Duration::from_secs(600));
    k.clock.advance(Duration::from_secs(590));
    let Loaded::Active { record, refreshed } = k.load(&sid).await else {
        panic!("G7: active before the fixed deadline");
    };
    assert!(!refreshed, "G7: fixed expiry refreshed on load");
    assert_eq!(record.idle_deadline, deadline, "G7: fixed expiry moved");
    a.insert("n", 1.into()).await;
    let Loaded::Active { record, .. } = k.load(&sid).await else {
        panic!("G7: active after a save");
    };
    assert_eq!(
        record.idle_deadline, deadline,
        "G7: a save moved a fixed expiry"
    );
    k.clock.advance(Duration::from_secs(10));
    assert!(
        !k.is_active(&sid).await,
        "G7: a fixed-expiry session outlived created + idle timeout"
    );
}

/// Guarantee 7: an increment, like a load, pushes the idle deadline only
/// when less than the refresh threshold remains.
pub async fn g07_increments_refresh_only_within_threshold(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b.with_expiry(expiry(600, 60, 86_400))).await;
    let a = k.browser();
    a.insert("n", 0.into()).await;
    let sid = a.sid();
    k.clock.advance(Duration::from_secs(100));
    let s = a.request();
    assert_eq!(s.increment("n", 1).await.expect("G7: increment"), 1);
    a.finish(&s).await;
    let Loaded::Active { record, .. } = k.load(&sid).await else {
        panic!("G7: active");
    };
    assert_eq!(
        record.idle_deadline,
        START.plus(Duration::from_secs(600)),
        "G7: an increment with more than the threshold left moved the idle deadline"
    );
    // 59 s left: the next increment refreshes, so the session outlives its
    // first deadline.
    k.clock.advance(Duration::from_secs(441));
    let s = a.request();
    assert_eq!(s.increment("n", 1).await.expect("G7: increment"), 2);
    a.finish(&s).await;
    k.clock.advance(Duration::from_secs(100));
    assert!(
        k.is_active(&sid).await,
        "G7: an increment with less than the threshold left did not refresh"
    );
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

/// A kit (60 s idle, 30 s threshold) and a second manager over its store
/// whose clock runs 5 s ahead: two instances whose clocks differ.
async fn skewed(h: &Arc<dyn Harness>) -> (Kit, SessionManager, ManualClock) {
    const SKEW: Duration = Duration::from_secs(5);
    let k = kit(h, |b| b.with_expiry(expiry(60, 30, 86_400))).await;
    let fast_clock = ManualClock::new(START.plus(SKEW));
    let fast = SessionManager::with_clock(
        k.probe.clone(),
        k.manager.config().clone(),
        Arc::new(fast_clock.clone()),
    );
    (k, fast, fast_clock)
}

/// Guarantee 7, expiry decisions are final under clock skew. Two managers
/// share one store, one clock running 5 s ahead. Near the session's idle
/// deadline the fast instance (past it) counts and lists the user, then the
/// slow instance (before it) loads the session. Afterwards the session is
/// either gone everywhere, or still in its user's index: counted, listed
/// and revocable. Never a ghost that is active but outside the index,
/// where revoke-all, the limit and the device list miss it.
pub async fn g07_skewed_clocks_expiry_is_final(h: Arc<dyn Harness>) {
    let (k, fast, fast_clock) = skewed(&h).await;
    let alice = user("alice");
    let a = k.browser();
    let public_id = a.must_login("alice").await;
    let sid = a.sid();
    // The slow clock is 2 s before the idle deadline, the fast one 3 s past.
    k.clock.advance(Duration::from_secs(58));
    fast_clock.advance(Duration::from_secs(58));
    let _ = fast.count_user_sessions(&alice).await.expect("count");
    let _ = fast.list_user_sessions(&alice).await.expect("list");
    let _ = fast.count_active().await.expect("count");
    let _ = k.manager.get(&sid).await.expect("load");
    k.clock.advance(SECOND);
    fast_clock.advance(SECOND);
    let active = |l: Loaded| matches!(l, Loaded::Active { .. });
    let on_slow = active(k.manager.get(&sid).await.expect("load"));
    let on_fast = active(fast.get(&sid).await.expect("load"));
    if !on_slow && !on_fast {
        return; // Ended everywhere: skew ended it early, which is allowed.
    }
    assert_eq!(
        k.manager.count_user_sessions(&alice).await.expect("count"),
        1,
        "G7: a session active after clock skew is missing from its user's count (a ghost)"
    );
    let listed = k.manager.list_user_sessions(&alice).await.expect("list");
    assert!(
        listed.iter().any(|s| s.public_id == public_id),
        "G7: a session active after clock skew is missing from its user's list (a ghost)"
    );
    k.manager
        .revoke_all(&alice, None)
        .await
        .expect("revoke-all");
    assert!(
        !active(k.manager.get(&sid).await.expect("load")),
        "G7: revoke-all missed a session that survived clock skew"
    );
}

/// Guarantee 7, an expiry a load reports is final. Two managers share one
/// store, one clock running 5 s ahead. Just past the idle deadline by its
/// clock, the fast instance loads the session and finds it expired; the
/// slow instance, still 3 s before the deadline (inside the refresh
/// threshold, so its load would refresh), then loads it too and must find
/// it ended: once one instance told its user "expired", no instance may
/// bring the session back. Skew ends it early by at most the skew.
pub async fn g07_expiry_seen_by_a_load_is_final(h: Arc<dyn Harness>) {
    let (k, fast, fast_clock) = skewed(&h).await;
    let a = k.browser();
    a.must_login("alice").await;
    let sid = a.sid();
    // The slow clock is 3 s before the idle deadline, the fast one 2 s past.
    k.clock.advance(Duration::from_secs(57));
    fast_clock.advance(Duration::from_secs(57));
    let seen = fast.get(&sid).await.expect("load");
    assert!(
        inactive(&seen),
        "G7: a session past its idle deadline loaded as {seen:?}"
    );
    let later = k.manager.get(&sid).await.expect("load");
    assert!(
        inactive(&later),
        "G7: a session one instance found expired was active on another (the expiry was not final): {later:?}"
    );
    let peeked = k.manager.peek(&sid).await.expect("peek");
    assert!(inactive(&peeked), "G7: a peek found it active: {peeked:?}");
}

/// Guarantee 7: the longest durations a configuration accepts (100 years)
/// round-trip exactly, for the policy and for a per-session idle timeout.
pub async fn g07_long_lifetimes_round_trip(h: Arc<dyn Harness>) {
    let century = crate::MAX_DURATION;
    let k = kit(&h, |b| {
        b.with_expiry(
            ExpiryPolicy::default()
                .with_idle_timeout(century)
                .with_absolute_lifetime(century)
                .with_refresh_threshold(Duration::from_secs(3600)),
        )
    })
    .await;
    let a = k.browser();
    a.must_login("alice").await;
    a.insert("k", 1.into()).await;
    let sid = a.sid();
    let Loaded::Active { record, .. } = k.load(&sid).await else {
        panic!("G7: a session with a 100-year lifetime must load");
    };
    assert_eq!(record.idle_timeout, century, "G7: the idle timeout");
    assert_eq!(record.absolute_deadline, START.plus(century), "G7");
    assert_eq!(record.idle_deadline, START.plus(century), "G7");
    k.clock.advance(century / 2);
    let Loaded::Active { record, .. } = k.load(&sid).await else {
        panic!("G7: a 100-year session must be active after 50 years");
    };
    assert_eq!(record.absolute_deadline, START.plus(century), "G7");
    // A per-session idle timeout, saved as a change and at creation.
    let shorter = century - SECOND;
    let s = a.request();
    s.set_idle_timeout(shorter).await.expect("a valid timeout");
    assert!(a.finish(&s).await.error().is_none(), "G7: saving it failed");
    let Loaded::Active { record, .. } = k.load(&sid).await else {
        panic!("G7: still active");
    };
    assert_eq!(record.idle_timeout, shorter, "G7: a saved idle timeout");
    let b = k.browser();
    let s = b.request();
    s.set_idle_timeout(century).await.expect("a valid timeout");
    s.insert("k", 1).await.expect("insert");
    b.finish(&s).await;
    let Loaded::Active { record, .. } = k.load(&b.sid()).await else {
        panic!("G7: a new session with a 100-year idle timeout must load");
    };
    assert_eq!(record.idle_timeout, century, "G7: a new session's timeout");
    assert_eq!(record.idle_deadline, k.clock.now().plus(century), "G7");
}

/// Guarantee 7, no garbage: many sessions expire while traffic goes on and
/// nobody asks for analytics; the store's own size measure
/// ([`Harness::footprint`]) follows the live sessions, not the sessions
/// ever created.
pub async fn g07_analytics_stay_bounded(h: Arc<dyn Harness>) {
    const ROUNDS: usize = 10;
    const PER_ROUND: usize = 40;
    let live = PER_ROUND as u64;
    let k = kit(&h, |b| b.with_expiry(expiry(60, 30, 86_400))).await;
    // Two stretches of ROUNDS rounds: a store whose indexes or analytics
    // keep ended sessions grows by every session the second stretch
    // created; one that prunes them as it goes holds about as much after
    // it as before. (A store spread over buckets, as on Cluster, prunes a
    // bucket when an operation touches it: what it holds depends on which
    // buckets were touched lately, so the bound has slack.)
    let mut sizes = Vec::new();
    for stretch in 0..2 {
        for round in 0..=ROUNDS {
            analytics_round(&k, stretch * 100 + round, PER_ROUND).await;
            if round < ROUNDS {
                k.clock.advance(Duration::from_secs(61));
            }
        }
        let Some(size) = h.footprint().await else {
            println!("g07_analytics_stay_bounded: skipped, the harness has no size measure");
            return;
        };
        sizes.push(size);
        k.clock.advance(Duration::from_secs(61));
    }
    let created = 2 * (ROUNDS + 1) * PER_ROUND;
    for size in &sizes {
        assert!(
            *size <= 8 * live + 100,
            "G7: the store holds {size} entries for {live} live sessions ({created} created): \
             indexes or analytics grow with the sessions ever created"
        );
    }
    assert!(
        sizes[1] <= sizes[0] + 4 * live,
        "G7: the store grew from {} to {} entries while the live sessions stayed at {live}: \
         indexes or analytics grow with the sessions ever created",
        sizes[0],
        sizes[1]
    );
}

/// One round of `g07_analytics_stay_bounded`: `per_round` sessions, every
/// other one signed in as a new user, and an increment on the newest.
async fn analytics_round(k: &Kit, round: usize, per_round: usize) {
    let mut newest = None;
    for i in 0..per_round {
        let b = k.browser();
        if i % 2 == 0 {
            b.must_login(&format!("user-{round}-{i}")).await;
        } else {
            b.insert("n", i.into()).await;
        }
        newest = Some(b);
    }
    if let Some(b) = newest {
        let s = b.request();
        s.increment("n", 1).await.expect("increment");
        b.finish(&s).await;
    }
}
