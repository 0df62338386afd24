//! The in-memory store's unit tests.
use super::*;
use crate::record::Metadata;
use crate::store::SlotTag;
use crate::time::Timestamp;
use crate::{KeyRing, SessionId};
use std::time::Duration;

fn cx(now: u64) -> StoreContext {
    StoreContext {
        now: Timestamp::from_unix_millis(now),
        ended_retention: Duration::from_secs(60),
        refresh_threshold: Duration::from_secs(10),
        max_data_bytes: usize::MAX,
        anonymous_analytics: true,
    }
}

fn new(keys: &KeyRing, user: Option<&str>) -> NewSession {
    let user = user.map(|u| {
        let user = UserId::new(u).unwrap();
        UserKey::new(keys, user)
    });
    let slot = user.as_ref().map_or_else(SlotTag::random, |u| u.slot);
    NewSession {
        key: SessionId::generate(keys, slot).storage_key(),
        public_id: PublicId::generate(),
        user,
        idle_timeout: Duration::from_secs(100),
        absolute_deadline: Timestamp::from_unix_millis(1_000_000),
        metadata: Metadata::default(),
        data: BTreeMap::new(),
    }
}

#[tokio::test]
async fn ended_and_expired_entries_do_not_accumulate() {
    let keys = KeyRing::generate();
    let store = MemoryStore::new();
    let mut made = Vec::new();
    for i in 0..200 {
        let user = (i % 2 == 0).then(|| format!("user-{}", i % 7));
        let s = new(&keys, user.as_deref());
        made.push(s.key);
        store
            .create(s, UserLimit::unlimited(), &cx(0))
            .await
            .unwrap();
    }
    for key in made.iter().step_by(3) {
        store
            .invalidate(key, EndReason::Logout, &cx(1_000))
            .await
            .unwrap();
    }
    assert_eq!(
        store.entry_count(&cx(1_000)),
        200,
        "tombstones are kept for the retention"
    );
    // Idle timeout (100 s) plus retention (60 s) later, nothing is left.
    assert_eq!(store.entry_count(&cx(160_001)), 0);
    assert_eq!(store.count_active(&cx(160_001)).await.unwrap(), 0);
    assert_eq!(store.count_active_users(&cx(160_001)).await.unwrap(), 0);
    let state = store.lock();
    assert!(state.users.is_empty() && state.wakeups.is_empty());
}

#[tokio::test]
async fn the_wakeup_queue_stays_bounded_under_refreshes() {
    let keys = KeyRing::generate();
    let store = MemoryStore::new();
    let s = new(&keys, Some("alice"));
    let key = s.key;
    store
        .create(s, UserLimit::unlimited(), &cx(0))
        .await
        .unwrap();
    // A load every second for 10 minutes: one refresh per threshold.
    for t in 1..600u64 {
        store.load(&key, &cx(t * 1000)).await.unwrap();
    }
    assert!(store.lock().wakeups.len() <= 12, "stale wake-ups piled up");
}
