//! `Session::until_ended`: a waiting page learns of its session's end from
//! the lifecycle stream, a rotation included.

use std::sync::Arc;
use std::time::Duration;

use session_core::{
    EndReason, KeyRing, ManualClock, MemoryStore, Metadata, SessionConfig, SessionManager, UserId,
};

/// A failure bound only: every wait below ends on an event long before.
const GUARD: Duration = Duration::from_secs(10);

fn manager() -> SessionManager {
    let config = SessionConfig::builder(KeyRing::generate())
        .build()
        .expect("config");
    SessionManager::with_clock(
        Arc::new(MemoryStore::new()),
        config,
        Arc::new(ManualClock::starting_now()),
    )
}

async fn signed_in(manager: &SessionManager) -> String {
    let (id, _) = manager
        .create_for_user(
            &UserId::new("alice").expect("user"),
            Metadata::default(),
            None,
        )
        .await
        .expect("create");
    let cookie = format!(
        "{}={}",
        manager.config().cookie().cookie_name(),
        id.expose_secret()
    );
    cookie
}

#[tokio::test]
async fn a_rotation_by_another_request_ends_the_wait_at_once() {
    let manager = manager();
    let cookie = signed_in(&manager).await;
    let page = manager.session_for_request([cookie.as_bytes()]);
    assert!(page.user().await.expect("load").is_some());
    let waiting = tokio::spawn(async move { page.until_ended().await });
    // On this single-threaded runtime one yield runs the waiter up to its
    // first real wait, subscribed. (Had the rotation come first, the
    // waiter's own load would report it: the answer is the same.)
    tokio::task::yield_now().await;
    let other = manager.session_for_request([cookie.as_bytes()]);
    other.rotate().await.expect("rotate");
    let _ = other.finish().await;
    let ending = tokio::time::timeout(GUARD, waiting)
        .await
        .expect("the wait ended within the guard")
        .expect("the task")
        .expect("no store failure")
        .expect("the page was signed in");
    assert_eq!(ending.reason, EndReason::Rotated);
}
