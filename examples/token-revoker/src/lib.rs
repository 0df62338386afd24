//! An example handler for the lifecycle stream: the token store's
//! requirement. When a session ends, for any reason (logout, revoked from
//! another device, revoke-all, the per-user limit, expiry), the upstream
//! OAuth token it held must be revoked, exactly once.
//!
//! [`TokenRevoker`] reads the stream as a member of a consumer group
//! ([`session_core::SessionManager::events`]) and, for each `ended` event,
//! calls the token endpoint with the event's idempotency key as the
//! `Idempotency-Key` header. The consumer hands each event out once while
//! it runs; after a crash it hands out again what it had not acknowledged,
//! and the endpoint's own record of keys makes that repeat a no-op. That is
//! the whole recipe for exactly once: at-least-once delivery plus a key the
//! effect is recorded under.
//!
//! [`FakeTokenEndpoint`] stands in for the OAuth provider on a loopback
//! port and counts what it receives, so tests can check "each once".
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use session_core::events::ConsumerName;
//! use session_core::{KeyRing, MemoryStore, SessionConfig, SessionManager};
//! use std::sync::Arc;
//! use token_revoker::{FakeTokenEndpoint, TokenRevoker};
//!
//! let manager = SessionManager::new(
//!     Arc::new(MemoryStore::new()),
//!     SessionConfig::builder(KeyRing::generate()).build()?,
//! );
//! let endpoint = FakeTokenEndpoint::start().await?;
//! let revoker = TokenRevoker::new(&endpoint.url());
//! let mut consumer = manager.events(ConsumerName::new("token-revoker", "host-1")?);
//! // Runs until the endpoint refuses a call (then restart it: nothing is lost).
//! let error = revoker.run(&mut consumer).await;
//! eprintln!("token revoker stopped: {error}");
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use session_core::events::{EventConsumer, EventKind, SessionEvent};

/// The header that carries the event's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Why a revocation call failed.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// The endpoint could not be reached or did not answer.
    #[error("the token endpoint could not be reached: {0}")]
    Unreachable(#[from] reqwest::Error),
    /// The endpoint answered with an error status.
    #[error("the token endpoint refused the revocation: HTTP {0}")]
    Refused(u16),
}

/// What the handler sends for one ended session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revocation {
    /// The session's public id (the token store files tokens under it).
    pub session: String,
    /// Why the session ended (`EndReason::code`).
    pub reason: String,
}

/// The handler: revokes the token of every session that ends.
#[derive(Debug, Clone)]
pub struct TokenRevoker {
    client: reqwest::Client,
    revoke_url: String,
}

impl TokenRevoker {
    /// A handler calling `endpoint` + `/revoke`.
    pub fn new(endpoint: &str) -> Self {
        TokenRevoker {
            client: reqwest::Client::new(),
            revoke_url: format!("{}/revoke", endpoint.trim_end_matches('/')),
        }
    }

    /// Handles one event: an `ended` event revokes the session's token
    /// (the event's key as the idempotency key); other kinds need nothing.
    pub async fn handle(&self, event: &SessionEvent) -> Result<(), RevokeError> {
        if event.kind != EventKind::Ended {
            return Ok(());
        }
        let body = Revocation {
            session: event.public_id.to_string(),
            reason: event
                .reason
                .as_ref()
                .map_or("unknown", |r| r.code())
                .to_owned(),
        };
        let response = self
            .client
            .post(&self.revoke_url)
            .header(IDEMPOTENCY_HEADER, event.key.as_str())
            .json(&body)
            .send()
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(RevokeError::Refused(response.status().as_u16()))
        }
    }

    /// Handles every event `consumer` reads, acknowledging each after its
    /// revocation succeeded, until a revocation fails (returned; restart
    /// the consumer to retry it).
    pub async fn run(&self, consumer: &mut EventConsumer) -> RevokeError {
        consumer
            .run(|event| async move { self.handle(&event).await })
            .await
    }
}

/// What the fake endpoint has seen.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    /// Calls received, by idempotency key (a repeat counts here).
    pub calls: HashMap<String, u32>,
    /// Revocations applied, by session public id (a repeated key applies
    /// nothing).
    pub revoked: HashMap<String, u32>,
    /// The reason of each revoked session.
    pub reasons: HashMap<String, String>,
}

/// A stand-in for the OAuth provider's revocation endpoint on a loopback
/// port: `POST /revoke` with [`Revocation`] JSON and an
/// [`IDEMPOTENCY_HEADER`]. A key seen before is answered 200 and applies
/// nothing, as real providers with idempotency keys do. Clones share the
/// running endpoint and its ledger.
#[derive(Debug, Clone)]
pub struct FakeTokenEndpoint {
    url: String,
    ledger: Arc<Mutex<Ledger>>,
}

impl FakeTokenEndpoint {
    /// Starts the endpoint on a free loopback port, serving until the
    /// process ends.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let app = axum::Router::new()
            .route("/revoke", post(revoke))
            .with_state(ledger.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the fake token endpoint stopped");
            }
        });
        Ok(FakeTokenEndpoint { url, ledger })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A copy of what it has seen so far.
    pub fn ledger(&self) -> Ledger {
        self.ledger.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

async fn revoke(
    State(ledger): State<Arc<Mutex<Ledger>>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Revocation>,
) -> StatusCode {
    let Some(key) = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return StatusCode::BAD_REQUEST;
    };
    let Ok(mut ledger) = ledger.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR;
    };
    let calls = ledger.calls.entry(key.to_owned()).or_insert(0);
    *calls += 1;
    if *calls == 1 {
        *ledger.revoked.entry(body.session.clone()).or_insert(0) += 1;
        ledger.reasons.insert(body.session, body.reason);
    }
    StatusCode::OK
}
