//! The Redis under the store: one that stops fails each call within the
//! deadline and the store recovers when it comes back; an evicting
//! `maxmemory-policy` is warned about at start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::{Metadata, StoreFailure, UserId};

use crate::common::manager;
use crate::support::Standalone;

#[tokio::test]
async fn a_stopped_redis_fails_within_the_deadline_and_the_store_recovers() {
    let mut h = Standalone::start();
    let store = session_redis::RedisStore::builder(h.server.url())
        .with_command_timeout(Duration::from_millis(300))
        .with_connect_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let m = manager(Arc::new(store));
    let alice = UserId::new("alice").unwrap();
    m.create_for_user(&alice, Metadata::default(), None)
        .await
        .unwrap();
    h.server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let err = m.count_user_sessions(&alice).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreFailure::Unavailable(_)
                    | StoreFailure::TimedOut(_)
                    | StoreFailure::OutcomeUnknown(_)
            ),
            "{err:?}"
        );
        // Generous: the point is "fails, does not hang", not a latency goal.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        let s = m.session_for_request([]);
        assert!(s.login(alice.clone()).await.is_err());
    }
    h.server.restart().unwrap();
    // The restarted server kept nothing (no persistence); the store works
    // again without being rebuilt.
    let mut recovered = false;
    for _ in 0..50 {
        if m.create_for_user(&alice, Metadata::default(), None)
            .await
            .is_ok()
        {
            recovered = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(recovered, "the store did not recover after Redis came back");
    assert_eq!(m.count_user_sessions(&alice).await.unwrap(), 1);
}

/// Captures formatted tracing output for one test.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

async fn startup_log(server: &redis_harness::Server) -> String {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    session_redis::RedisStore::connect(&server.url())
        .await
        .expect("store");
    let bytes = captured.0.lock().map(|v| v.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn an_evicting_maxmemory_policy_is_warned_about_at_start() {
    let lru = redis_harness::Server::start_with(&["--maxmemory-policy", "allkeys-lru"]).unwrap();
    let log = startup_log(&lru).await;
    assert!(
        log.contains("WARN") && log.contains("allkeys-lru"),
        "no warning for allkeys-lru: {log:?}"
    );
    let ok = redis_harness::Server::standalone().unwrap();
    let log = startup_log(&ok).await;
    assert!(
        !log.contains("maxmemory"),
        "noeviction needs no warning: {log:?}"
    );
}
