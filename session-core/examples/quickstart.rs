//! The manager API on the in-memory store: sign a user in on two devices,
//! list the devices, revoke one, and see why it ended.
//!
//! Run with `cargo run -p session-core --example quickstart`.

use std::sync::Arc;

use session_core::{
    KeyRing, MemoryStore, Metadata, SessionConfig, SessionError, SessionManager, UserId,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), SessionError> {
    // One key ring shared by every instance; here a random one for the demo.
    let config = SessionConfig::builder(KeyRing::generate())
        .build()
        .expect("the default configuration is valid");
    let manager = SessionManager::new(Arc::new(MemoryStore::new()), config);
    let alice = UserId::new("alice").expect("a valid user id");

    // A browser request without a cookie signs in. The adapter would send
    // `set_cookie` back; we keep the cookie to play the browser.
    let laptop = manager.session_for_request([]);
    laptop
        .set_metadata(Metadata {
            device: Some("laptop".into()),
            ..Metadata::default()
        })
        .await?;
    laptop.login(alice.clone()).await?;
    laptop.insert("theme", "dark").await?;
    let cookie = cookie_of(laptop.finish().await.set_cookie().map(str::to_owned));

    // A second device, created outside a request (say, an API token).
    let (_phone_id, phone) = manager
        .create_for_user(
            &alice,
            Metadata {
                device: Some("phone".into()),
                ..Metadata::default()
            },
            None,
        )
        .await?;

    println!("alice's devices:");
    for s in manager.list_user_sessions(&alice).await? {
        println!(
            "  {} {:?} created {}",
            s.public_id, s.metadata.device, s.created_at
        );
    }
    println!(
        "active sessions: {}, active users: {}",
        manager.count_active().await?,
        manager.count_active_users().await?
    );

    // The laptop's next request reads its data with the cookie.
    let next = manager.session_for_request([cookie.as_bytes()]);
    println!(
        "theme on the laptop: {:?}",
        next.get::<String>("theme").await?
    );

    // "Sign out my other devices" from the phone, keeping the phone.
    let revoked = manager.revoke_all(&alice, Some(&phone.public_id)).await?;
    println!("revoked {revoked} other session(s)");

    // The laptop learns why it was signed out.
    let again = manager.session_for_request([cookie.as_bytes()]);
    match again.ended().await? {
        Some(ending) => println!("laptop: {ending}"),
        None => println!("laptop: still signed in"),
    }
    Ok(())
}

/// The `name=value` part of a `Set-Cookie` header, as a browser would send it.
fn cookie_of(set_cookie: Option<String>) -> String {
    let header = set_cookie.expect("signing in sets a cookie");
    header.split(';').next().unwrap_or_default().to_owned()
}
