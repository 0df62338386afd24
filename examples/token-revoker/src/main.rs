//! Runs the token revoker against the store the environment names
//! (`REDIS_URL`, else the in-memory store), with the fake endpoint on a loopback
//! port (its address is printed): `cargo run -p token-revoker`. Sign in and out of
//! a demo sharing the same Redis and `SESSION_SECRET` to see it work.

use std::sync::Arc;

use session_core::events::ConsumerName;
use session_core::{MemoryStore, SessionConfig, SessionManager, store::SessionStore};
use token_revoker::{FakeTokenEndpoint, TokenRevoker};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = SessionConfig::from_env()?;
    let store: Arc<dyn SessionStore> = match std::env::var("REDIS_URL") {
        Ok(url) => Arc::new(session_redis::RedisStore::connect(&url).await?),
        Err(_) => Arc::new(MemoryStore::new()),
    };
    let manager = SessionManager::new(store, config);
    let endpoint = FakeTokenEndpoint::start().await?;
    println!("fake token endpoint on {}", endpoint.url());
    let revoker = TokenRevoker::new(&endpoint.url());
    let mut consumer = manager.events(ConsumerName::new("token-revoker", "example")?);
    let error = revoker.run(&mut consumer).await;
    Err(error.into())
}
