//! The request handle's unit tests.
use super::*;

fn send_sync_clone<T: Send + Sync + Clone>(_: &T) {}
fn send<T: Send>(_: T) {}

/// Framework handlers need the handle, and the futures of its methods,
/// to be `Send`; extractors need it `Clone + Sync`.
#[test]
fn the_handle_and_its_futures_are_send() {
    let config = crate::SessionConfig::builder(crate::KeyRing::generate())
        .build()
        .unwrap();
    let manager = crate::SessionManager::new(Arc::new(crate::MemoryStore::new()), config);
    let s = manager.session_for_request([]);
    send_sync_clone(&s);
    send(s.get::<i64>("k"));
    send(s.insert("k", 1));
    send(s.increment("k", 1));
    send(s.login(UserId::new("a").unwrap()));
    send(s.rotate());
    send(s.logout());
    send(s.save());
    send(s.finish());
}

/// Non-browser clients: a request carrying the id header (even empty)
/// gets a new id back in that header and never a `Set-Cookie`; a
/// browser (no header) never gets the id in a header, only the cookie.
#[tokio::test]
async fn the_id_header_goes_only_to_header_clients() {
    use crate::adapter::begin_request;
    let config = crate::SessionConfig::builder(crate::KeyRing::generate())
        .with_id_header("X-Session-Id")
        .build()
        .unwrap();
    let manager = crate::SessionManager::new(Arc::new(crate::MemoryStore::new()), config);
    let login = |headers: &[(&str, &[u8])]| {
        let s = begin_request(&manager, "POST", headers).unwrap();
        async move {
            s.login(UserId::new("api-client").unwrap()).await.unwrap();
            s.finish().await
        }
    };
    // A header client, with an empty header: no session yet.
    let update = login(&[("x-session-id", b"")]).await;
    assert!(
        update.set_cookie().is_none(),
        "no cookie for a header client"
    );
    let id = update
        .id_header("X-Session-Id")
        .expect("a new id is sent in the header")
        .to_owned();
    let s = begin_request(&manager, "GET", &[("x-session-id", id.as_bytes())]).unwrap();
    assert_eq!(
        s.user().await.unwrap(),
        Some(UserId::new("api-client").unwrap())
    );
    assert_eq!(s.finish().await.headers().count(), 0);

    // A browser: the cookie only, never the id in a header.
    let update = login(&[]).await;
    assert!(update.set_cookie().is_some());
    assert!(update.id_header("x-session-id").is_none());
    assert_eq!(update.headers().count(), 1);

    // A header client that ends its session gets no cookie removal.
    let s = begin_request(&manager, "POST", &[("x-session-id", id.as_bytes())]).unwrap();
    s.logout().await.unwrap();
    assert_eq!(s.finish().await.headers().count(), 0);

    // Without the setting, the header means nothing.
    let plain = crate::SessionManager::new(
        manager.store().clone(),
        crate::SessionConfig::builder(manager.config().keys().clone())
            .build()
            .unwrap(),
    );
    let s = begin_request(&plain, "GET", &[("x-session-id", id.as_bytes())]).unwrap();
    assert_eq!(s.user().await.unwrap(), None);
}

/// Guarantee 13: a client-sized user agent is stored cut, and metadata
/// over the whole cap is refused, leaving the stored metadata as it was,
/// on a session started here and on a stored one, and through
/// `create_for_user`.
#[tokio::test]
async fn metadata_is_cut_or_refused_never_stored_whole() {
    let manager = crate::SessionManager::new(
        Arc::new(crate::MemoryStore::new()),
        crate::SessionConfig::builder(crate::KeyRing::generate())
            .build()
            .unwrap(),
    );
    let huge = Metadata {
        user_agent: Some("x".repeat(60_000)),
        device: Some("laptop".into()),
        ..Metadata::default()
    };
    let s = manager.session_for_request([]);
    s.set_metadata(huge.clone()).await.unwrap();
    s.login(UserId::new("alice").unwrap()).await.unwrap();
    let cookie = s.finish().await.set_cookie().unwrap().to_owned();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let s = manager.session_for_request([pair.as_bytes()]);
    let stored = s.record().await.unwrap().unwrap().metadata;
    assert_eq!(stored.user_agent.map(|ua| ua.len()), Some(512));
    let too_much = Metadata {
        extra: (0..8).map(|i| (format!("k{i}"), "v".repeat(500))).collect(),
        ..Metadata::default()
    };
    assert!(matches!(
        s.set_metadata(too_much.clone()).await,
        Err(SessionError::MetadataTooLarge { .. })
    ));
    assert_eq!(
        s.record()
            .await
            .unwrap()
            .unwrap()
            .metadata
            .device
            .as_deref(),
        Some("laptop"),
        "a refused change leaves the metadata as it was"
    );
    let alice = UserId::new("alice").unwrap();
    assert!(matches!(
        manager.create_for_user(&alice, too_much, None).await,
        Err(SessionError::MetadataTooLarge { .. })
    ));
    let (_, made) = manager.create_for_user(&alice, huge, None).await.unwrap();
    assert_eq!(made.metadata.user_agent.map(|ua| ua.len()), Some(512));
}

/// Guarantee 13: with the default configuration a user's sessions are
/// capped: the 1,001st sign-in evicts the least recently active.
#[tokio::test]
async fn a_user_has_at_most_1000_sessions_by_default() {
    let clock = crate::ManualClock::starting_now();
    let manager = crate::SessionManager::with_clock(
        Arc::new(crate::MemoryStore::new()),
        crate::SessionConfig::builder(crate::KeyRing::generate())
            .build()
            .unwrap(),
        Arc::new(clock.clone()),
    );
    let alice = UserId::new("alice").unwrap();
    let (_, first) = manager
        .create_for_user(&alice, Metadata::default(), None)
        .await
        .unwrap();
    // The first is the least recently active by a second, not by a tie.
    clock.advance(Duration::from_secs(1));
    for _ in 0..1000 {
        manager
            .create_for_user(&alice, Metadata::default(), None)
            .await
            .unwrap();
    }
    assert_eq!(manager.count_user_sessions(&alice).await.unwrap(), 1000);
    let listed = manager.list_user_sessions(&alice).await.unwrap();
    assert!(
        listed.iter().all(|s| s.public_id != first.public_id),
        "the least recently active went"
    );
}

/// The budget path: changes, then settings, then an explicit save, then
/// the end of the request cost one write, on a stored session (one
/// `apply`) as on a new one (one `create`).
#[tokio::test]
async fn changes_settings_and_save_cost_one_write() {
    let config = crate::SessionConfig::builder(crate::KeyRing::generate())
        .build()
        .unwrap();
    let probe = Arc::new(crate::store::testkit::FaultyStore::new(Arc::new(
        crate::MemoryStore::new(),
    )));
    let manager = crate::SessionManager::new(probe.clone(), config);
    let s = manager.session_for_request([]);
    s.insert("k", 1).await.unwrap();
    s.set_metadata(Metadata::default()).await.unwrap();
    s.set_idle_timeout(Duration::from_secs(60)).await.unwrap();
    s.save().await.unwrap();
    let cookie = s.finish().await.set_cookie().unwrap().to_owned();
    assert_eq!(probe.calls(), 1, "a new session: one create");

    let pair = cookie.split(';').next().unwrap().to_owned();
    let s = manager.session_for_request([pair.as_bytes()]);
    s.insert("k", 2).await.unwrap();
    s.set_metadata(Metadata::default()).await.unwrap();
    s.set_idle_timeout(Duration::from_secs(90)).await.unwrap();
    s.save().await.unwrap();
    assert!(s.finish().await.error().is_none());
    assert_eq!(probe.calls(), 3, "a stored session: one load, one apply");
}

/// Durations past 100 years are refused before any store call.
#[tokio::test]
async fn oversized_idle_timeouts_are_refused() {
    let config = crate::SessionConfig::builder(crate::KeyRing::generate())
        .build()
        .unwrap();
    let manager = crate::SessionManager::new(Arc::new(crate::MemoryStore::new()), config);
    let s = manager.session_for_request([]);
    assert!(matches!(
        s.set_idle_timeout(Duration::MAX).await,
        Err(SessionError::InvalidDuration)
    ));
    s.set_idle_timeout(crate::MAX_DURATION).await.unwrap();
    let alice = UserId::new("alice").unwrap();
    assert!(matches!(
        manager
            .create_for_user(&alice, Metadata::default(), Some(Duration::MAX))
            .await,
        Err(SessionError::InvalidDuration)
    ));
}
