//! Guarantee 12: every creation, rotation, sign-in, ending and store failure
//! emits a `tracing` event with the public id, and no event ever carries the
//! session id.

use std::sync::{Arc, Mutex};

use session_core::store::testkit::FaultyStore;
use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager, UserId, lifecycle};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records every event as one line of `field=value` text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = format!("target={} ", event.metadata().target());
        event.record(&mut Line(&mut line));
        if let Ok(mut lines) = self.0.lock() {
            lines.push(line);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn every_lifecycle_step_is_an_event_with_the_public_id_and_never_the_sid() {
    let capture = Capture::default();
    let lines = capture.0.clone();
    let probe = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let config = SessionConfig::builder(KeyRing::generate()).build().unwrap();
    let manager = SessionManager::new(probe.clone(), config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let (secrets, public, phone) = tracing::subscriber::with_default(capture, || {
        runtime.block_on(async {
            let mut secrets = Vec::new();
            // An anonymous session, stored at the end of the request.
            let s = manager.session_for_request([]);
            s.insert("cart", 1).await.unwrap();
            let cookie = s.finish().await.set_cookie().map(str::to_owned).unwrap();
            secrets.push(cookie.split(';').next().unwrap().to_owned());
            let cookie = secrets[0].clone();
            // Sign in (rotation), rotate again, log out.
            let s = manager.session_for_request([cookie.as_bytes()]);
            let public = s
                .login(UserId::new("alice").unwrap())
                .await
                .unwrap()
                .record
                .public_id;
            s.rotate().await.unwrap();
            let set = s.finish().await.set_cookie().map(str::to_owned).unwrap();
            let cookie = set.split(';').next().unwrap().to_owned();
            secrets.push(cookie.clone());
            let s = manager.session_for_request([cookie.as_bytes()]);
            s.logout().await.unwrap();
            // Revoke-all (ending a second device), and a store failure.
            let alice = UserId::new("alice").unwrap();
            let (_, phone) = manager
                .create_for_user(&alice, Default::default(), None)
                .await
                .unwrap();
            assert_eq!(manager.revoke_all(&alice, None).await.unwrap(), 1);
            let phone = phone.public_id;
            probe.set_down(true);
            let s = manager.session_for_request([cookie.as_bytes()]);
            assert!(s.user().await.is_err());
            (secrets, public, phone)
        })
    });

    let lines = lines.lock().unwrap().clone();
    let ours: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(&format!("target={}", lifecycle::TARGET)))
        .collect();
    let with = |event: &str| {
        ours.iter()
            .filter(|l| l.contains(&format!("event=\"{event}\"")))
            .count()
    };
    assert!(with("created") >= 1, "no creation event in {ours:#?}");
    assert!(
        with("rotated") >= 2,
        "sign-in and rotation must each emit a rotation event"
    );
    assert_eq!(with("signed_in"), 2, "{ours:#?}");
    assert!(
        ours.iter()
            .any(|l| l.contains("event=\"ended\"") && l.contains("reason=\"logout\"")),
        "the logout must be an ending event with its reason: {ours:#?}"
    );
    assert_eq!(with("revoked_all"), 1);
    assert!(
        ours.iter()
            .any(|l| l.contains("reason=\"revoke-all\"")
                && l.contains(&format!("public_id={phone}"))),
        "revoke-all must emit an ending event per session: {ours:#?}"
    );
    assert!(
        with("store_failed") >= 1,
        "a store failure must be an event"
    );
    for step in ["rotated", "signed_in", "ended"] {
        assert!(
            ours.iter()
                .filter(|l| l.contains(&format!("event=\"{step}\"")))
                .all(|l| l.contains(&format!("public_id={public}"))
                    || l.contains(&format!("public_id={phone}"))),
            "{step} events must carry the public id"
        );
    }
    for line in &lines {
        for cookie in &secrets {
            let sid = cookie.split_once('=').unwrap().1;
            let secret_part = sid.split('.').nth(1).unwrap();
            assert!(
                !line.contains(secret_part),
                "a session id leaked into a log event: {line}"
            );
        }
    }
}
