//! Guarantee 5 at scale, proven by counting (never by timing): revoke-all
//! and the limit's eviction run in time linear in the user's sessions, and
//! a login costs the same bounded number of commands with 300 sessions
//! as with 600. Also the longest
//! durations the store can be handed round-trip (integer times in Lua).

use std::sync::Arc;
use std::time::Duration;

use redis_harness::raw_command;
use session_core::store::{Loaded, NewSession, SessionStore, SlotTag, StoreContext};
use session_core::{
    KeyRing, LimitPolicy, Metadata, PublicId, SessionConfig, SessionId, SessionManager, Timestamp,
    UserId, UserLimit,
};

use crate::support::{self, Standalone};

fn reset(port: u16) {
    assert!(
        raw_command(port, &["CONFIG", "RESETSTAT"])
            .expect("RESETSTAT")
            .starts_with("+OK")
    );
}

fn manager(store: Arc<dyn SessionStore>, ring: &KeyRing, limit: UserLimit) -> SessionManager {
    let config = SessionConfig::builder(ring.clone())
        .with_limit(limit)
        .build()
        .expect("config");
    SessionManager::new(store, config)
}

/// A server of its own and a manager over it with no per-user cap.
async fn unlimited() -> (Standalone, SessionManager) {
    let h = Standalone::start();
    let store = Arc::new(h.redis_store().await);
    let m = manager(store, &KeyRing::generate(), UserLimit::unlimited());
    (h, m)
}

/// Logs `user` in `n` times; returns the commands the last login cost.
async fn logins(m: &SessionManager, port: u16, user: &UserId, n: usize) -> u64 {
    for _ in 1..n {
        m.create_for_user(user, Metadata::default(), None)
            .await
            .expect("login");
    }
    reset(port);
    m.create_for_user(user, Metadata::default(), None)
        .await
        .expect("login");
    support::commands_run(port)
}

/// Commands Redis ran for one revoke-all of a user with `n` sessions.
async fn revoke_all_cost(h: &Standalone, n: usize) -> u64 {
    let m = manager(
        Arc::new(h.redis_store().await),
        &KeyRing::generate(),
        UserLimit::unlimited(),
    );
    let port = h.server.port();
    let user = UserId::new(format!("user-{n}")).expect("user id");
    logins(&m, port, &user, n).await;
    reset(port);
    let ended = m.revoke_all(&user, None).await.expect("revoke-all");
    let cost = support::commands_run(port);
    assert_eq!(ended, n as u64, "revoke-all ends every session");
    assert_eq!(m.count_user_sessions(&user).await.expect("count"), 0);
    cost
}

/// How many times Redis ran `cmd` since the last reset.
fn calls_of(port: u16, cmd: &str) -> u64 {
    let stats = raw_command(port, &["INFO", "commandstats"]).expect("INFO");
    let prefix = format!("cmdstat_{cmd}:calls=");
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Guarantee 5's bounded steps: a revoke-all of 2,500 sessions runs as
/// three scripts of at most 1,000 sessions each (no single step holds the
/// shared Redis for all of them), ends every session, and a revoke of one
/// device found past the first chunk still ends just it.
#[tokio::test]
async fn revoke_all_runs_in_bounded_chunks() {
    let (h, m) = unlimited().await;
    let port = h.server.port();
    let user = UserId::new("many").expect("user id");
    let (_, oldest) = m
        .create_for_user(&user, Metadata::default(), None)
        .await
        .expect("login");
    logins(&m, port, &user, 2_499).await;
    reset(port);
    assert!(
        m.revoke_device(&user, &oldest.public_id, "lost")
            .await
            .expect("revoke one"),
        "the device was found"
    );
    assert_eq!(m.count_user_sessions(&user).await.expect("count"), 2_499);
    reset(port);
    let ended = m.revoke_all(&user, None).await.expect("revoke-all");
    assert_eq!(
        calls_of(port, "evalsha"),
        3,
        "G5: 2,499 sessions take three bounded scripts, not one long one"
    );
    assert_eq!(ended, 2_499, "revoke-all ends every session");
    assert_eq!(m.count_user_sessions(&user).await.expect("count"), 0);
}

#[tokio::test]
async fn revoke_all_is_linear_in_the_users_sessions() {
    let h = Standalone::start();
    let small = revoke_all_cost(&h, 300).await;
    let large = revoke_all_cost(&h, 600).await;
    println!("revoke-all: {small} commands for 300 sessions, {large} for 600");
    assert!(
        large as f64 <= 2.2 * small as f64,
        "G5: revoke-all of 600 sessions ran {large} commands, of 300 {small}: not linear"
    );
}

#[tokio::test]
async fn a_login_costs_the_same_however_many_sessions_the_user_has() {
    let (h, m) = unlimited().await;
    let port = h.server.port();
    let alice = UserId::new("alice").expect("user id");
    let at_300 = logins(&m, port, &alice, 300).await;
    let at_600 = logins(&m, port, &alice, 300).await;
    println!("a login: {at_300} commands with 300 sessions, {at_600} with 600");
    // Pruning varies a little with the buckets a login sweeps; a rescan of
    // the index would cost at least one command per session.
    for cost in [at_300, at_600] {
        assert!(
            cost <= 40,
            "G5: a login ran {cost} commands: its cost grows with the user's sessions"
        );
    }
}

#[tokio::test]
async fn eviction_at_the_limit_is_one_pass() {
    // 600 sessions made without a limit, then a login under limit 300:
    // it evicts 301 in one pass (linear), not one rescan per eviction.
    let h = Standalone::start();
    let store: Arc<dyn SessionStore> = Arc::new(h.redis_store().await);
    let port = h.server.port();
    let alice = UserId::new("alice").expect("user id");
    let ring = KeyRing::generate();
    let free = manager(store.clone(), &ring, UserLimit::unlimited());
    logins(&free, port, &alice, 600).await;
    let limited = manager(
        store,
        &ring,
        UserLimit::at_most(300, LimitPolicy::EvictIdle),
    );
    reset(port);
    limited
        .create_for_user(&alice, Metadata::default(), None)
        .await
        .expect("login");
    let cost = support::commands_run(port);
    println!("a login evicting 301 of 600 sessions: {cost} commands");
    assert!(
        cost <= 600 * 8,
        "G4/G5: eviction ran {cost} commands for 600 sessions"
    );
    assert_eq!(
        limited.count_user_sessions(&alice).await.expect("count"),
        300
    );
}

#[tokio::test]
async fn the_longest_durations_round_trip_as_integers() {
    // Handed straight to the store (a configuration refuses more than 100
    // years; a custom caller may not): an idle timeout of Duration::MAX and
    // an absolute deadline at the largest time Lua holds exactly. The store
    // clamps them to what field `@` holds (below); a float written by a
    // script ("9.007199254741e+15") would load as Corrupt.
    let h = Standalone::start();
    let store = h.redis_store().await;
    let ring = KeyRing::generate();
    let id = SessionId::generate(&ring, SlotTag::random());
    let cx = StoreContext {
        now: Timestamp::from_unix_millis(1_700_000_000_000),
        ended_retention: Duration::from_secs(60),
        refresh_threshold: Duration::from_secs(60),
        max_data_bytes: usize::MAX,
        anonymous_analytics: true,
    };
    let far = Timestamp::from_unix_millis(9_007_199_254_740_991);
    let new = NewSession {
        key: id.storage_key(),
        public_id: PublicId::generate(),
        user: None,
        idle_timeout: Duration::MAX,
        absolute_deadline: far,
        metadata: Metadata::default(),
        data: Default::default(),
    };
    store
        .create(new, UserLimit::unlimited(), &cx)
        .await
        .expect("create");
    // Field `@` holds the absolute deadline as its distance from the
    // creation time: at most 2^48 - 1 ms (about 8,900 years; layout.rs).
    let latest = Timestamp::from_unix_millis(cx.now.as_unix_millis() + (1 << 48) - 1);
    for now in [
        cx.now,
        Timestamp::from_unix_millis(latest.as_unix_millis() - 1),
    ] {
        let cx = StoreContext { now, ..cx };
        match store.load(&id.storage_key(), &cx).await.expect("load") {
            Loaded::Active { record, .. } => {
                assert_eq!(record.absolute_deadline, latest);
                assert_eq!(record.idle_deadline, latest);
            }
            other => panic!("G7: a session with the longest durations loads as {other:?}"),
        }
    }
}
