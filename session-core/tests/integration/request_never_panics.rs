//! Nothing from a request can panic the lifecycle: arbitrary bytes in the
//! Cookie headers and in the id header go through the whole request (read,
//! load, write, increment, rotate, logout, finish) without a panic, never
//! sign anyone in, and never reach the store before a write.

use std::sync::Arc;

use proptest::prelude::*;
use session_core::adapter::begin_request;
use session_core::store::testkit::FaultyStore;
use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager};

fn manager() -> (SessionManager, Arc<FaultyStore>) {
    let keys = KeyRing::new(vec![vec![9; 32]]).unwrap();
    let config = SessionConfig::builder(keys)
        .with_id_header("x-session-id")
        .build()
        .unwrap();
    let probe = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    (SessionManager::new(probe.clone(), config), probe)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_request_bytes_never_panic_or_sign_in(
        headers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..512), 0..4),
        id_header in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..128)),
        key in "\\PC{0,300}",
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let (manager, probe) = manager();
            let mut pairs: Vec<(&str, &[u8])> =
                headers.iter().map(|h| ("cookie", h.as_slice())).collect();
            if let Some(h) = &id_header {
                pairs.push(("x-session-id", h.as_slice()));
            }
            let s = begin_request(&manager, "POST", pairs.as_slice()).expect("no CSRF headers");
            prop_assert_eq!(s.user().await.ok().flatten(), None);
            let _ = s.get::<serde_json::Value>(&key).await;
            prop_assert_eq!(probe.calls(), 0, "garbage reached the store");
            let _ = s.insert(&key, 1).await;
            let _ = s.increment(&key, i64::MAX).await;
            let _ = s.increment(&key, 1).await;
            let _ = s.rotate().await;
            let _ = s.logout().await;
            let update = s.finish().await;
            if let Some(cookie) = update.set_cookie() {
                prop_assert!(cookie.is_ascii());
            }
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn garbage_around_a_valid_cookie_never_panics(
        noise in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let (manager, _) = manager();
            let s = manager.session_for_request([]);
            s.insert("k", 1).await.unwrap();
            let update = s.finish().await;
            let cookie = update.set_cookie().unwrap();
            let pair = cookie.split(';').next().unwrap().as_bytes().to_vec();
            let mut header = noise.clone();
            header.extend_from_slice(b"; ");
            header.extend_from_slice(&pair);
            let s = manager.session_for_request([header.as_slice()]);
            let _ = s.get::<i64>("k").await;
            let _ = s.finish().await;
            Ok::<(), TestCaseError>(())
        })?;
    }
}
