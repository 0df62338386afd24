//! The per-session data cap: an insert that would take the data past it
//! fails with `SessionError::TooLarge` and changes nothing, in the request
//! or in the store; replacing a value counts the new value only.

use std::sync::Arc;

use session_core::{KeyRing, MemoryStore, SessionConfig, SessionError, SessionManager};

fn cookie_of(set_cookie: Option<&str>) -> String {
    let header = set_cookie.expect("a new session sets its cookie");
    header.split(';').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_insert_past_the_cap_fails_and_stores_nothing() {
    let config = SessionConfig::builder(KeyRing::generate())
        .with_max_data_bytes(100)
        .build()
        .unwrap();
    let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);

    // "a" plus its 52-byte JSON string: 53 bytes.
    let first = manager.session_for_request([]);
    first.insert("a", "x".repeat(50)).await.unwrap();
    let cookie = cookie_of(first.finish().await.set_cookie());

    let second = manager.session_for_request([cookie.as_bytes()]);
    let refused = second.insert("b", "y".repeat(60)).await;
    assert!(
        matches!(
            refused,
            Err(SessionError::TooLarge {
                size: 116,
                limit: 100
            })
        ),
        "{refused:?}"
    );
    assert_eq!(second.get::<String>("b").await.unwrap(), None);
    second.finish().await;

    let third = manager.session_for_request([cookie.as_bytes()]);
    assert_eq!(third.get::<String>("b").await.unwrap(), None, "stored");
    assert_eq!(
        third.get::<String>("a").await.unwrap(),
        Some("x".repeat(50))
    );
    // Replacing "a" counts its new value, not both: 1 + 92 bytes fit.
    third.insert("a", "z".repeat(90)).await.unwrap();
    third.finish().await;

    let fourth = manager.session_for_request([cookie.as_bytes()]);
    assert_eq!(
        fourth.get::<String>("a").await.unwrap(),
        Some("z".repeat(90))
    );
}
