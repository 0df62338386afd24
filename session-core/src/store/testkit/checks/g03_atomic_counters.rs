//! Guarantee 3: atomic counters, and values read once (`take`).

use super::support::*;
use std::sync::Arc;

use tokio::sync::Barrier;

use super::super::Harness;
use crate::{EndReason, SessionError};

/// Guarantee 3: an increment is one store call with no load; it is refused
/// on an ended session; a non-integer is reported and left alone.
pub async fn g03_increment_is_one_call_and_refused_when_ended(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    a.insert("name", "bob".into()).await;
    let before = k.probe.calls();
    let s = a.request();
    assert_eq!(s.increment("n", 1).await.expect("increment"), 1, "G3");
    assert_eq!(s.increment("n", 41).await.expect("increment"), 42, "G3");
    let u = a.finish(&s).await;
    assert!(u.error().is_none() && u.set_cookie().is_none());
    assert_eq!(
        k.probe.calls() - before,
        2,
        "G3: an increment must cost exactly one store call"
    );
    assert_eq!(a.get("n").await, Some(42.into()), "G3");

    let s = a.request();
    let r = s.increment("name", 1).await;
    assert!(
        matches!(r, Err(SessionError::NotAnInteger { .. })),
        "G3: got {r:?}"
    );
    a.finish(&s).await;
    assert_eq!(
        a.get("name").await,
        Some("bob".into()),
        "G3: a refused increment changed the value"
    );

    let b = a.copy();
    let out = a.request();
    out.logout().await.expect("logout");
    a.finish(&out).await;
    let s = b.request();
    let r = s.increment("n", 1).await;
    assert!(
        matches!(&r, Err(SessionError::Ended(e)) if e.reason == EndReason::Logout),
        "G3: increment after logout must be refused, got {r:?}"
    );
    assert!(
        is_removal(&b.finish(&s).await),
        "G3: the refused request removes the cookie"
    );
}

/// Guarantee 3, stressed: concurrent increments from many requests add
/// exactly, and every returned value is distinct.
pub async fn g03_stress_concurrent_increments_add_exactly(h: Arc<dyn Harness>) {
    const TASKS: usize = 16;
    const EACH: usize = 25;
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (b, barrier) = (a.copy(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut seen = Vec::new();
            for _ in 0..EACH {
                let s = b.request();
                seen.push(s.increment("counter", 1).await.expect("increment"));
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort_unstable();
    let want: Vec<i64> = (1..=(TASKS * EACH) as i64).collect();
    assert_eq!(
        all, want,
        "G3: concurrent increments must each see a distinct value and add up exactly"
    );
    assert_eq!(
        a.get("counter").await,
        Some(((TASKS * EACH) as i64).into()),
        "G3"
    );
}

/// Guarantee 3: `take` reads and removes a key in one store call (after
/// the load), hands the value out once, keeps the other keys, and is
/// refused on an ended session with the stored value left alone.
pub async fn g03_take_hands_out_a_value_once(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    a.insert("flash:notice", "saved".into()).await;
    a.insert("keep", 7.into()).await;
    let s = a.request();
    s.get::<i64>("keep").await.expect("load");
    let before = k.probe.calls();
    let got = s.take_flash::<String>("notice").await.expect("take");
    assert_eq!(got.as_deref(), Some("saved"), "G3: take returns the value");
    assert_eq!(
        k.probe.calls() - before,
        1,
        "G3: a take on a loaded session is one store call"
    );
    assert_eq!(s.take_flash::<String>("notice").await.expect("take"), None);
    a.finish(&s).await;
    assert_eq!(a.get("flash:notice").await, None, "G3: a taken key is gone");
    assert_eq!(
        a.get("keep").await,
        Some(7.into()),
        "G3: take kept the rest"
    );

    // A request that loaded the session before another signed it out.
    a.insert("otp", 42.into()).await;
    let b = a.copy();
    let s = b.request();
    s.get::<i64>("keep").await.expect("load");
    let out = a.request();
    out.logout().await.expect("logout");
    a.finish(&out).await;
    let r = s.take::<i64>("otp").await;
    assert!(
        matches!(&r, Err(SessionError::Ended(e)) if e.reason == EndReason::Logout),
        "G3: take after logout must be refused, got {r:?}"
    );
    b.finish(&s).await;
}

/// Guarantee 3, stressed: many requests take one key at once, round after
/// round; exactly one of them gets it each time.
pub async fn g03_stress_racing_takes_hand_out_each_value_once(h: Arc<dyn Harness>) {
    const TASKS: usize = 8;
    const ROUNDS: usize = 10;
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    for round in 0..ROUNDS {
        a.insert("otp", round.into()).await;
        let barrier = Arc::new(Barrier::new(TASKS));
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let (b, barrier) = (a.copy(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                let s = b.request();
                s.get::<i64>("otp").await.expect("load");
                barrier.wait().await;
                let got = s.take::<usize>("otp").await.expect("take");
                b.finish(&s).await;
                got
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            winners.extend(t.await.expect("task"));
        }
        assert_eq!(
            winners,
            vec![round],
            "G3: {TASKS} racing takes of one value must hand it out exactly once"
        );
    }
}
