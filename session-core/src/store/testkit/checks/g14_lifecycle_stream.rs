//! Guarantee 14: the lifecycle stream records every sign-in, rotation and
//! end in the same step as the change, and a consumer group hands each
//! event out once.

use super::support::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::super::Harness;
use crate::events::{ConsumerName, ConsumerOptions, EventConsumer, EventKind, SessionEvent};
use crate::{EndReason, LimitPolicy, Metadata, PublicId, SessionId, UserLimit};

/// A consumer that sweeps before every read.
fn consumer(k: &Kit, group: &str, name: &str) -> EventConsumer {
    let options = ConsumerOptions {
        sweep_every: std::time::Duration::ZERO,
        ..ConsumerOptions::default()
    };
    let name = ConsumerName::new(group, name).expect("a valid consumer name");
    k.manager.events_with(name, options)
}

/// Reads and acknowledges until a read comes back empty.
async fn drain(c: &mut EventConsumer) -> Vec<SessionEvent> {
    let mut all = Vec::new();
    loop {
        let batch = c.next_batch().await.expect("G14: reading the stream");
        if batch.is_empty() {
            return all;
        }
        c.ack(&batch).await.expect("G14: acknowledging");
        all.extend(batch);
    }
}

/// Each public id's events as (kind, reason code) in stream order.
fn by_session(events: &[SessionEvent]) -> BTreeMap<PublicId, Vec<(EventKind, &'static str)>> {
    let mut out: BTreeMap<PublicId, Vec<(EventKind, &'static str)>> = BTreeMap::new();
    for e in events {
        let reason = e.reason.as_ref().map_or("", EndReason::code);
        out.entry(e.public_id).or_default().push((e.kind, reason));
    }
    out
}

fn assert_keys_unique(events: &[SessionEvent]) {
    let keys: BTreeSet<_> = events.iter().map(|e| e.key.clone()).collect();
    assert_eq!(
        keys.len(),
        events.len(),
        "G14: an event was handed out twice"
    );
}

/// Guarantee 14: a sign-in, a rotation, and each way of ending (the limit,
/// logout, a device revoked, revoke-all, an expiry found by the sweep) are
/// each recorded once, with the session's public id, its user and why.
pub async fn g14_every_change_is_recorded_once(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| {
        b.with_limit(UserLimit::at_most(2, LimitPolicy::EvictIdle))
            .with_expiry(expiry(600, 60, 86_400))
    })
    .await;
    let (b1, b2, b3) = (k.browser(), k.browser(), k.browser());
    let p1 = b1.must_login("alice").await;
    let s = b1.request();
    s.rotate().await.expect("G14: rotating");
    b1.finish(&s).await;
    k.clock.advance(SECOND);
    let p2 = b2.must_login("alice").await;
    k.clock.advance(SECOND);
    // The limit of 2 evicts b1, the least recently active.
    let p3 = b3.must_login("alice").await;
    let s = b2.request();
    s.logout().await.expect("G14: logging out");
    b2.finish(&s).await;
    let p4 = k.browser().must_login("alice").await;
    assert!(
        k.manager
            .revoke_device(&user("alice"), &p4, "lost")
            .await
            .expect("G14: revoking a device")
    );
    let p5 = k.browser().must_login("bob").await;
    k.manager
        .revoke_all(&user("bob"), None)
        .await
        .expect("G14: revoke-all");
    let (_, carol) = k
        .manager
        .create_for_user(&user("carol"), Metadata::default(), None)
        .await
        .expect("G14: creating outside a request");
    let p6 = carol.public_id;
    // Nobody touches p3 or carol's session again: only the sweep sees
    // them expire.
    k.clock.advance(601 * SECOND);
    let mut c = consumer(&k, "audit", "c1");
    let events = drain(&mut c).await;
    assert_keys_unique(&events);
    let seen = by_session(&events);
    let signed_in = (EventKind::SignedIn, "");
    let ended = |code| (EventKind::Ended, code);
    let want: BTreeMap<PublicId, Vec<(EventKind, &str)>> = [
        (
            p1,
            vec![signed_in, (EventKind::Rotated, ""), ended("limit")],
        ),
        (p2, vec![signed_in, ended("logout")]),
        (p3, vec![signed_in, ended("expired")]),
        (p4, vec![signed_in, ended("revoked")]),
        (p5, vec![signed_in, ended("revoke-all")]),
        (p6, vec![signed_in, ended("expired")]),
    ]
    .into_iter()
    .collect();
    assert_eq!(seen, want, "G14: the stream does not match what happened");
    let revoked = events
        .iter()
        .find(|e| e.public_id == p4 && e.kind == EventKind::Ended)
        .expect("G14: p4 ended");
    assert_eq!(revoked.reason, Some(EndReason::revoked("lost")), "G14");
    assert_eq!(
        revoked.user,
        Some(user("alice")),
        "G14: the event names the user"
    );
    let expired = events
        .iter()
        .find(|e| e.public_id == p6 && e.kind == EventKind::Ended)
        .expect("G14: carol's session ended");
    assert_eq!(
        expired.at, carol.idle_deadline,
        "G14: an expiry is dated at the deadline that passed"
    );
    // Acknowledged: the group never hands them out again.
    assert!(
        drain(&mut c).await.is_empty(),
        "G14: acknowledged events came back"
    );
}

/// Sessions that end in two ways (revoked; left to expire) while no
/// consumer runs.
async fn ended_while_stopped(k: &Kit, revoked: usize, expired: usize) -> BTreeSet<PublicId> {
    let mut ids: Vec<(SessionId, PublicId)> = Vec::new();
    for i in 0..revoked + expired {
        let (id, rec) = k
            .manager
            .create_for_user(&user(&format!("u{}", i % 7)), Metadata::default(), None)
            .await
            .expect("G14: creating");
        ids.push((id, rec.public_id));
    }
    for (id, _) in &ids[..revoked] {
        k.manager
            .revoke(id, EndReason::revoked("test"))
            .await
            .expect("G14: revoking");
    }
    k.clock.advance(3601 * SECOND);
    ids.iter().map(|(_, p)| *p).collect()
}

/// Guarantee 14: with no consumer running, sessions are revoked and left to
/// expire; consumers started afterwards (two in one group, a restart that
/// left events unacknowledged) handle every end once, and another group
/// gets them all again.
pub async fn g14_a_group_handles_each_end_once_across_restarts(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b.with_expiry(expiry(3600, 60, 86_400))).await;
    let all = ended_while_stopped(&k, 30, 30).await;
    // The first consumer reads a batch and crashes before acknowledging.
    let mut first = consumer(&k, "tokens", "a");
    let unacked = first.next_batch().await.expect("G14: reading");
    assert!(!unacked.is_empty(), "G14: nothing recorded");
    drop(first);
    // Its restart (same name) gets those first, once.
    let mut restarted = consumer(&k, "tokens", "a");
    let again = restarted.next_batch().await.expect("G14: reading");
    let keys = |v: &[SessionEvent]| v.iter().map(|e| e.key.clone()).collect::<BTreeSet<_>>();
    assert_eq!(
        keys(&again),
        keys(&unacked),
        "G14: a restarted consumer must get its unacknowledged events first"
    );
    restarted.ack(&again).await.expect("G14: acknowledging");
    // Two members of the group share the rest, racing.
    let mut other = consumer(&k, "tokens", "b");
    let (a, b) = tokio::join!(drain(&mut restarted), drain(&mut other));
    let mut handled: Vec<SessionEvent> = again;
    handled.extend(a);
    handled.extend(b);
    assert_keys_unique(&handled);
    let ends: Vec<&SessionEvent> = handled
        .iter()
        .filter(|e| e.kind == EventKind::Ended)
        .collect();
    let ended: BTreeSet<PublicId> = ends.iter().map(|e| e.public_id).collect();
    assert_eq!(ends.len(), all.len(), "G14: each end handled exactly once");
    assert_eq!(ended, all, "G14: an end was lost");
    let expired = ends
        .iter()
        .filter(|e| e.reason == Some(EndReason::Expired))
        .count();
    assert_eq!(expired, 30, "G14: every unobserved expiry is recorded");
    // Another group reads the whole stream for itself.
    let mut audit = consumer(&k, "audit", "a");
    let second = drain(&mut audit).await;
    assert_eq!(
        second.iter().filter(|e| e.kind == EventKind::Ended).count(),
        all.len(),
        "G14: each group gets every event"
    );
}

/// Guarantee 14: a consumer's unacknowledged events move to another
/// member of its group that claims them (the first consumer crashed for
/// good).
pub async fn g14_a_crashed_consumer_s_events_are_taken_over(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b.with_expiry(expiry(3600, 60, 86_400))).await;
    let all = ended_while_stopped(&k, 5, 0).await;
    let mut crashed = consumer(&k, "tokens", "gone");
    let mut left = Vec::new();
    loop {
        let batch = crashed.next_batch().await.expect("G14: reading");
        if batch.is_empty() {
            break;
        }
        left.extend(batch);
    }
    drop(crashed);
    // A store may judge idleness by its own clock (Redis does), so the heir
    // claims at once rather than after a move of the manual clock.
    let options = ConsumerOptions {
        claim_after: std::time::Duration::ZERO,
        ..ConsumerOptions::default()
    };
    let name = ConsumerName::new("tokens", "heir").expect("a valid consumer name");
    let mut heir = k.manager.events_with(name, options);
    let taken = drain(&mut heir).await;
    assert_keys_unique(&taken);
    let ended: BTreeSet<PublicId> = taken
        .iter()
        .filter(|e| e.kind == EventKind::Ended)
        .map(|e| e.public_id)
        .collect();
    assert_eq!(
        ended, all,
        "G14: a crashed consumer's events were not taken over"
    );
    assert_eq!(taken.len(), left.len(), "G14");
}

/// Guarantee 14 (with guarantee 11): anonymous sessions are streamed only
/// when anonymous analytics are on.
pub async fn g14_anonymous_sessions_stream_only_with_analytics(h: Arc<dyn Harness>) {
    for analytics in [false, true] {
        let k = kit(&h, |b| b.with_anonymous_analytics(analytics)).await;
        let b = k.browser();
        b.insert("cart", serde_json::json!(1)).await;
        let s = b.request();
        s.logout().await.expect("G14: logging out");
        b.finish(&s).await;
        let events = drain(&mut consumer(&k, "audit", "a")).await;
        let want = usize::from(analytics);
        assert_eq!(
            events.len(),
            want,
            "G14: anonymous analytics {analytics}: {events:?}"
        );
    }
}
