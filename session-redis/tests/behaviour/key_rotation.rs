//! Rotating the server secret, as the procedure in session-core's `secret`
//! module says, on a real Redis: with the slot key pinned, retiring every
//! old signing key leaves each user's sessions in their index, so the
//! count, the device list and revoke-all still see them all. Unpinned,
//! retiring the last key moves the user (the defect the pin prevents).

use std::sync::Arc;

use session_core::store::SessionStore;
use session_core::{KeyRing, Metadata, SessionConfig, SessionManager, UserId};

use crate::support::Standalone;

fn manager(store: &Arc<dyn SessionStore>, ring: KeyRing) -> SessionManager {
    SessionManager::new(
        store.clone(),
        SessionConfig::builder(ring).build().expect("config"),
    )
}

#[tokio::test]
async fn retiring_signing_keys_never_moves_users_once_the_slot_key_is_pinned() {
    let h = Standalone::start();
    let store: Arc<dyn SessionStore> = Arc::new(h.redis_store().await);
    let alice = UserId::new("alice").expect("user id");
    let old = vec![7u8; 32];
    let new = vec![9u8; 32];

    // Before: one key, unpinned (the default). Two sessions.
    let m = manager(&store, KeyRing::new(vec![old.clone()]).expect("ring"));
    for _ in 0..2 {
        m.create_for_user(&alice, Metadata::default(), None)
            .await
            .expect("login");
    }

    // 1. Pin the slot key to the current last key: nothing moves.
    let pinned = |keys: Vec<Vec<u8>>| {
        KeyRing::new(keys)
            .expect("ring")
            .with_slot_key(old.clone())
            .expect("slot key")
    };
    let m = manager(&store, pinned(vec![old.clone()]));
    assert_eq!(m.count_user_sessions(&alice).await.expect("count"), 2);

    // 2. The new key in front: new logins join the same index.
    let m = manager(&store, pinned(vec![new.clone(), old.clone()]));
    m.create_for_user(&alice, Metadata::default(), None)
        .await
        .expect("login");
    assert_eq!(m.count_user_sessions(&alice).await.expect("count"), 3);

    // Unpinned, retiring the old (last) key would move alice elsewhere.
    let unpinned = manager(&store, KeyRing::new(vec![new.clone()]).expect("ring"));
    assert_eq!(
        unpinned.count_user_sessions(&alice).await.expect("count"),
        0,
        "without the pin the user moves (so the pin is what keeps her)"
    );

    // 3. The old key retired, the pin kept: every session is still hers.
    let m = manager(&store, pinned(vec![new.clone()]));
    assert_eq!(m.count_user_sessions(&alice).await.expect("count"), 3);
    assert_eq!(m.list_user_sessions(&alice).await.expect("list").len(), 3);
    assert_eq!(m.revoke_all(&alice, None).await.expect("revoke-all"), 3);
    assert_eq!(m.count_user_sessions(&alice).await.expect("count"), 0);
}

/// Guarantee of the Words section: retiring the key behind slot tags
/// without pinning it is refused at start, naming SESSION_SLOT_KEY, on
/// the path every application takes (`setup_from_env`); adding a key, or
/// pinning the old one, starts.
#[tokio::test]
async fn a_start_that_would_move_users_is_refused_naming_the_setting() {
    use session_core::{Environment, SetupError};

    let h = Standalone::start();
    // 32 bytes of 7 and of 9, in base64.
    let old = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=".to_owned();
    let new = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=".to_owned();
    let url = h.server.url();
    let start = |secret: String, slot: Option<String>| {
        let url = url.clone();
        let env = Environment::from_lookup(move |name| match name {
            "SESSION_SECRET" => Some(secret.clone()),
            "SESSION_SLOT_KEY" => slot.clone(),
            "REDIS_URL" => Some(url.clone()),
            _ => None,
        });
        async move { session_redis::setup_from_env(env).await }
    };
    // The first start keeps the fingerprint; signing under it.
    let first = start(old.clone(), None).await.expect("the first start");
    let alice = UserId::new("alice").expect("user id");
    first
        .into_manager()
        .create_for_user(&alice, Metadata::default(), None)
        .await
        .expect("login");
    // A new signing key in front: the last key, and so the slots, stay.
    assert!(start(format!("{new},{old}"), None).await.is_ok());
    // The old key retired, unpinned: users would move. Refused.
    match start(new.clone(), None).await {
        Err(e @ SetupError::SlotKeyChanged) => {
            assert!(e.to_string().contains("SESSION_SLOT_KEY"), "{e}");
        }
        other => panic!("expected SlotKeyChanged, got {:?}", other.map(|_| ())),
    }
    // A development start with an ephemeral secret neither is refused nor
    // replaces the fingerprint: the real secret still starts afterwards.
    let dev = Environment::from_lookup({
        let url = url.clone();
        move |name| (name == "REDIS_URL").then(|| url.clone())
    })
    .allow_ephemeral_secret();
    assert!(session_redis::setup_from_env(dev).await.is_ok());
    assert!(start(old.clone(), None).await.is_ok());
    // Pinned to the old key, as the procedure says: it starts, and alice's
    // session is still in her index.
    let pinned = start(new, Some(old)).await.expect("pinned to the old key");
    let m = pinned.into_manager();
    assert_eq!(m.count_user_sessions(&alice).await.expect("count"), 1);
}
