//! The `metrics` feature: creations, endings by reason, store failures by
//! kind and store latency by operation reach the installed recorder.

use std::sync::Arc;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use session_core::store::testkit::FaultyStore;
use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager, UserId};

type Snapshot = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// The value of `name` with all of `labels`, if recorded.
fn value<'a>(
    snapshot: &'a Snapshot,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a DebugValue> {
    snapshot
        .iter()
        .find(|(key, _, _, _)| {
            key.key().name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(_, _, _, v)| v)
}

#[test]
fn lifecycle_and_store_calls_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
            let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
            let manager = SessionManager::new(store.clone(), config);
            let session = manager.session_for_request([]);
            session.login(UserId::new("alice").unwrap()).await.unwrap();
            session.logout().await.unwrap();
            store.set_down(true);
            let other = manager.session_for_request([]);
            assert!(other.login(UserId::new("bob").unwrap()).await.is_err());
        });
    });
    // One snapshot: taking one resets the debugging recorder's counters.
    let snapshot: Snapshot = snapshotter.snapshot().into_vec();
    assert_eq!(
        value(&snapshot, "session_created_total", &[("signed_in", "true")]),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        value(&snapshot, "session_ended_total", &[("reason", "logout")]),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        value(
            &snapshot,
            "session_store_failures_total",
            &[("operation", "create"), ("kind", "unavailable")]
        ),
        Some(&DebugValue::Counter(1))
    );
    let Some(DebugValue::Histogram(creates)) = value(
        &snapshot,
        "session_store_duration_seconds",
        &[("operation", "create")],
    ) else {
        panic!("no create latency recorded");
    };
    assert_eq!(creates.len(), 2, "one per create call: {creates:?}");
}
