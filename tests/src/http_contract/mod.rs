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

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use session_core::store::SessionStore;
use session_core::store::testkit::FaultyStore;
use session_core::{
    CsrfGuard, ExpiryPolicy, KeyRing, LimitPolicy, ManualClock, MemoryStore, SessionConfig,
    SessionConfigBuilder, SessionManager, UserLimit,
};

/// A demo running on a loopback port; stopped when dropped.
pub struct RunningDemo {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Stops the server.
    pub stop: Box<dyn FnOnce() + Send>,
}

/// How to start one framework's demo.
pub trait Launcher: Send + Sync {
    /// The demo's own configuration rules (the JSON-only CSRF rule).
    fn configure(&self, builder: SessionConfigBuilder) -> SessionConfigBuilder;

    /// Serves the demo over `manager` on a free loopback port.
    fn start(&self, manager: SessionManager) -> Pin<Box<dyn Future<Output = RunningDemo> + Send>>;
}

/// The axum demo, served in this process.
pub struct AxumDemo;

impl Launcher for AxumDemo {
    fn configure(&self, builder: SessionConfigBuilder) -> SessionConfigBuilder {
        axum_demo::configure(builder)
    }

    fn start(&self, manager: SessionManager) -> Pin<Box<dyn Future<Output = RunningDemo> + Send>> {
        Box::pin(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port");
            let base = format!("http://{}", listener.local_addr().expect("an address"));
            let app = axum_demo::router(manager)
                .into_make_service_with_connect_info::<std::net::SocketAddr>();
            let server = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            RunningDemo {
                base,
                stop: Box::new(move || server.abort()),
            }
        })
    }
}

/// The actix-web demo, served on its own thread (actix runs its own
/// runtime: one System for the server, one per worker).
pub struct ActixDemo;

impl Launcher for ActixDemo {
    fn configure(&self, builder: SessionConfigBuilder) -> SessionConfigBuilder {
        actix_demo::configure(builder)
    }

    fn start(&self, manager: SessionManager) -> Pin<Box<dyn Future<Output = RunningDemo> + Send>> {
        Box::pin(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
            let base = format!("http://{}", listener.local_addr().expect("an address"));
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let server =
                        actix_demo::server(manager, listener, 2).expect("the server starts");
                    let _ = tx.send(server.handle());
                    let _ = server.await;
                });
            });
            let handle = rx.recv().expect("the server's handle");
            RunningDemo {
                base,
                stop: Box::new(move || {
                    // Stopping is a future; nothing needs to wait for it.
                    drop(handle.stop(false));
                }),
            }
        })
    }
}

/// The rocket demo, launched in this process on a free loopback port
/// (Rocket's logging and Ctrl-C handling off).
pub struct RocketDemo;

impl Launcher for RocketDemo {
    fn configure(&self, builder: SessionConfigBuilder) -> SessionConfigBuilder {
        rocket_demo::configure(builder)
    }

    fn start(&self, manager: SessionManager) -> Pin<Box<dyn Future<Output = RunningDemo> + Send>> {
        Box::pin(async move {
            let port = redis_harness::free_port().expect("a free port");
            let config = rocket::Config {
                port,
                address: std::net::Ipv4Addr::LOCALHOST.into(),
                log_level: rocket::config::LogLevel::Off,
                cli_colors: false,
                shutdown: rocket::config::Shutdown {
                    ctrlc: false,
                    ..rocket::config::Shutdown::default()
                },
                ..rocket::Config::debug_default()
            };
            let ignited = rocket_demo::rocket(manager, config)
                .ignite()
                .await
                .expect("rocket ignites");
            let shutdown = ignited.shutdown();
            tokio::spawn(async move {
                let _ = ignited.launch().await;
            });
            let base = format!("http://127.0.0.1:{port}");
            // Launching binds asynchronously: wait until it answers.
            let client = reqwest::Client::new();
            for _ in 0..200 {
                if client.get(&base).send().await.is_ok() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            RunningDemo {
                base,
                stop: Box::new(move || shutdown.notify()),
            }
        })
    }
}

/// The store under the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The in-memory store.
    Memory,
    /// Redis, one server started for the scenario.
    RedisStandalone,
    /// A 3-primary Redis Cluster started for the scenario.
    RedisCluster,
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
    /// The port of the single Redis server under the demo
    /// ([`StoreKind::RedisStandalone`] only).
    redis_port: Option<u16>,
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
    let (store, servers, redis_port): (Arc<dyn SessionStore>, Servers, _) = match kind {
        StoreKind::Memory => (Arc::new(MemoryStore::new()), None, None),
        StoreKind::RedisStandalone => {
            let server = redis_harness::Server::standalone().expect("redis-server starts");
            let store = session_redis::RedisStore::connect(&server.url())
                .await
                .expect("connects");
            let port = server.port();
            (Arc::new(store), Some(Box::new(server)), Some(port))
        }
        StoreKind::RedisCluster => {
            let cluster = redis_harness::Cluster::start(3).expect("the cluster starts");
            let store = session_redis::RedisStore::connect(&cluster.url())
                .await
                .expect("connects");
            (Arc::new(store), Some(Box::new(cluster)), None)
        }
    };
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

    /// The port of the single Redis server under the demo, on
    /// [`StoreKind::RedisStandalone`] (`None` on the other stores).
    pub fn redis_standalone_port(&self) -> Option<u16> {
        self.redis_port
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

// ------------------------------------------------------------ scenarios ---

/// Every route of the contract answers as specified, and the cookie carries
/// the required attributes.
pub async fn routes_and_cookie_attributes(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let page = env.browser().send(Method::GET, "/", None).await;
    assert_eq!(page.status, 200);
    assert!(page.set_cookies.is_empty(), "the page touches no session");
    let b = env.browser();
    let login = b.login("alice", "laptop").await;
    assert_eq!(login.status, 200, "{:?}", login.json);
    for field in ["user", "public_id", "created_at", "expires_at"] {
        assert!(login.json.get(field).is_some(), "login lacks {field}");
    }
    let cookie = &login.set_cookies[0];
    assert!(
        cookie.starts_with("__Host-sid="),
        "with Secure and no Domain the name carries __Host-: {cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(cookie.contains(attr), "the cookie lacks {attr}: {cookie}");
    }
    let me = b.me().await;
    assert_eq!(me.status, 200);
    for field in [
        "user",
        "public_id",
        "created_at",
        "last_seen_at",
        "expires_at",
        "absolute_expires_at",
        "counter",
        "work_done",
        "metadata",
    ] {
        assert!(me.json.get(field).is_some(), "me lacks {field}");
    }
    assert_eq!(me.json["metadata"]["device"], "laptop");
    assert_eq!(me.json["metadata"]["ip"], "127.0.0.1");
    assert_eq!(
        b.send(Method::POST, "/api/counter", None).await.json["counter"],
        1
    );
    assert_eq!(
        b.send(Method::POST, "/api/work?ms=0", None).await.json["work_done"],
        1
    );
    let list = b.send(Method::GET, "/api/sessions", None).await;
    assert_eq!(list.json["sessions"].as_array().map(Vec::len), Some(1));
    assert_eq!(list.json["sessions"][0]["current"], true);
    let stats = b.send(Method::GET, "/api/stats", None).await;
    assert_eq!(stats.json, json!({"active_sessions": 1, "active_users": 1}));
    assert_eq!(
        b.send(Method::POST, "/api/work?ms=10001", None)
            .await
            .status,
        400
    );
    assert_eq!(
        b.send(Method::POST, "/api/ttl", Some(json!({"seconds": 0})))
            .await
            .status,
        400
    );
    assert_eq!(
        b.send(Method::POST, "/api/ttl", Some(json!({"seconds": 604_801})))
            .await
            .status,
        400
    );
    let bad = env.browser();
    assert_eq!(
        bad.send_raw(Method::POST, "/api/login", Some("{nope".into()), None)
            .await
            .status,
        400
    );
    assert_eq!(bad.login("", "x").await.status, 400);
    for (method, path) in [
        (Method::GET, "/api/me"),
        (Method::POST, "/api/counter"),
        (Method::GET, "/api/sessions"),
        (Method::POST, "/api/rotate"),
    ] {
        let a = bad.send(method, path, None).await;
        assert_eq!(a.status, 401, "{path} without a session");
        assert_eq!(a.json["error"], "unauthenticated");
    }
    let out = b.send(Method::POST, "/api/logout", None).await;
    assert_eq!(out.status, 204);
    assert!(removes_cookie(&out));
}

/// An id held before login is worthless after it (session fixation).
pub async fn login_rotates_the_id(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let attacker = env.browser();
    attacker.login("mallory", "attacker").await;
    let planted = attacker.cookie();
    let victim = attacker.copy();
    assert_eq!(victim.login("alice", "victim").await.status, 200);
    assert_ne!(victim.cookie(), planted, "login must issue a new id");
    let a = attacker.me().await;
    assert_eq!(a.status, 401, "the planted id still works");
    assert_eq!(victim.me().await.json["user"], "alice");
}

/// The starsessions race: a slow request loads, the session is logged out,
/// the slow request's save is refused with 401 and its cookie removed.
pub async fn slow_request_overlapped_by_logout(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let slow = b.copy();
    let before = env.probe.calls();
    let work = tokio::spawn(async move { slow.send(Method::POST, "/api/work?ms=400", None).await });
    store_reached(&env, before).await; // the work request has loaded its session
    assert_eq!(b.send(Method::POST, "/api/logout", None).await.status, 204);
    let answer = work.await.expect("the work request");
    assert_eq!(
        answer.status, 401,
        "the slow save after logout must be refused: {:?}",
        answer.json
    );
    assert!(
        removes_cookie(&answer),
        "the refused request removes the cookie"
    );
    assert_eq!(answer.json["reason"], "logout");
}

/// Concurrent increments add exactly, and overlap a slow save without a
/// lost update on either key.
pub async fn concurrent_counter_and_no_lost_update(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let slow = b.copy();
    let before = env.probe.calls();
    let work = tokio::spawn(async move { slow.send(Method::POST, "/api/work?ms=300", None).await });
    store_reached(&env, before).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = b.copy();
        tasks.push(tokio::spawn(async move {
            c.send(Method::POST, "/api/counter", None).await
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        let a = t.await.expect("a counter request");
        assert_eq!(a.status, 200);
        seen.push(a.json["counter"].as_i64().expect("a number"));
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=20).collect::<Vec<i64>>(),
        "increments must be atomic"
    );
    assert_eq!(work.await.expect("work").status, 200);
    let me = b.me().await;
    assert_eq!(
        me.json["counter"], 20,
        "the slow save overwrote the counter"
    );
    assert_eq!(me.json["work_done"], 1, "the slow save was lost");
}

/// The per-user limit holds under concurrent logins, evicting or denying.
pub async fn limit_under_concurrent_logins(l: &dyn Launcher, kind: StoreKind) {
    for policy in [LimitPolicy::EvictIdle, LimitPolicy::Deny] {
        let env = start(l, kind, |b| b.with_limit(UserLimit::at_most(2, policy))).await;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let b = env.browser();
            tasks.push(tokio::spawn(async move {
                let a = b.login("alice", &format!("device {i}")).await;
                (b, a.status)
            }));
        }
        let mut ok = Vec::new();
        for t in tasks {
            let (b, status) = t.await.expect("a login");
            match status.as_u16() {
                200 => ok.push(b),
                409 => assert_eq!(policy, LimitPolicy::Deny, "409 under {policy}"),
                other => panic!("login answered {other}"),
            }
        }
        let mut active = 0;
        for b in &ok {
            if b.me().await.status == 200 {
                active += 1;
            }
        }
        assert_eq!(active, 2, "exactly the limit may be active ({policy})");
        if policy == LimitPolicy::Deny {
            assert_eq!(ok.len(), 2, "deny admits exactly the limit");
        }
    }
}

/// Sign out everywhere, keeping this device or not; revoke one device by
/// public id, and never another user's.
pub async fn logout_all_and_revoke_device(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let (a, b, c) = (env.browser(), env.browser(), env.browser());
    for (br, d) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        br.login("alice", d).await;
    }
    let bob = env.browser();
    bob.login("bob", "bob's").await;
    let b_public = b.me().await.json["public_id"]
        .as_str()
        .expect("public id")
        .to_owned();
    let bob_public = bob.me().await.json["public_id"]
        .as_str()
        .expect("public id")
        .to_owned();
    assert_eq!(
        a.send(Method::DELETE, &format!("/api/sessions/{bob_public}"), None)
            .await
            .status,
        404,
        "revoked another user's session"
    );
    assert_eq!(
        a.send(Method::DELETE, "/api/sessions/not-a-public-id", None)
            .await
            .status,
        404
    );
    assert_eq!(
        a.send(Method::DELETE, &format!("/api/sessions/{b_public}"), None)
            .await
            .status,
        204
    );
    let gone = b.me().await;
    assert_eq!(gone.status, 401);
    assert_eq!(gone.json["reason"], "revoked");
    assert_eq!(bob.me().await.status, 200);

    let all = a
        .send(
            Method::POST,
            "/api/logout-all",
            Some(json!({"keep_current": true, "reason": "password changed"})),
        )
        .await;
    assert_eq!(all.json["revoked"], 1);
    assert_eq!(a.me().await.status, 200, "keep_current kept this device");
    let cut = c.me().await;
    assert_eq!(cut.status, 401);
    assert_eq!(cut.json["reason"], "revoke-all");
    assert_eq!(
        cut.json["reason_text"], "password changed",
        "the revoke-all reason reaches the signed-out device"
    );
    a.login("alice", "again").await;
    let all = a
        .send(
            Method::POST,
            "/api/logout-all",
            Some(json!({"keep_current": false})),
        )
        .await;
    assert_eq!(all.status, 200);
    assert!(removes_cookie(&all));
    assert_eq!(a.me().await.status, 401);
}

/// Rotation issues a new id, keeps the public id, and ends the old id.
pub async fn rotation(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let old = b.copy();
    let public = b.me().await.json["public_id"].clone();
    let r = b.send(Method::POST, "/api/rotate", None).await;
    assert_eq!(r.status, 200);
    assert_ne!(b.cookie(), old.cookie());
    assert_eq!(b.me().await.json["public_id"], public);
    let stale = old.me().await;
    assert_eq!(stale.status, 401);
    assert_eq!(stale.json["reason"], "rotated");
    assert!(
        stale.set_cookies.is_empty(),
        "an id ended by rotation gets no cookie change: {:?}",
        stale.set_cookies
    );
    // A poll still carrying the old cookie after the rotation answered
    // must not sign the browser out.
    let poll = b.send_raw(Method::GET, "/api/me", None, old.cookie()).await;
    assert!(poll.set_cookies.is_empty());
    assert_eq!(b.me().await.status, 200, "the browser is still signed in");
}

/// The idle timeout set through /api/ttl expires the session.
pub async fn ttl_expiry(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| {
        b.with_expiry(ExpiryPolicy::default().with_refresh_threshold(Duration::from_secs(10)))
    })
    .await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let t = b
        .send(Method::POST, "/api/ttl", Some(json!({"seconds": 30})))
        .await;
    assert_eq!(t.status, 200);
    assert!(t.json["expires_at"].is_string());
    env.clock.advance(Duration::from_secs(29));
    assert_eq!(b.me().await.status, 200);
    env.clock.advance(Duration::from_secs(31));
    let expired = b.me().await;
    assert_eq!(expired.status, 401, "the session outlived its idle timeout");
    assert!(removes_cookie(&expired));
}

/// Garbage, forged, oversized and duplicated cookies: 401 (never 5xx), the
/// cookie removed, and no store call.
pub async fn garbage_cookies(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let good = b.cookie().expect("a cookie");
    let other = start(l, StoreKind::Memory, |b| b).await;
    let foreign = other.browser();
    foreign.login("alice", "elsewhere").await;
    let forged = foreign.cookie().expect("a cookie");
    let name = &env.cookie_name;
    let before = env.probe.calls();
    for cookie in [
        format!("{name}=garbage"),
        forged,
        format!("{name}={}", "A".repeat(4000)),
        format!("{name}="),
    ] {
        let a = b
            .send_raw(Method::GET, "/api/me", None, Some(cookie.clone()))
            .await;
        assert_eq!(a.status, 401, "cookie {cookie:.40}");
        assert!(removes_cookie(&a), "the bad cookie must be removed");
    }
    // Cookie tossing: no session, and no removal.
    let tossed = b
        .send_raw(
            Method::GET,
            "/api/me",
            None,
            Some(format!("{good}; {good}")),
        )
        .await;
    assert_eq!(tossed.status, 401);
    assert!(
        tossed.set_cookies.is_empty(),
        "duplicated cookies get no removal: {:?}",
        tossed.set_cookies
    );
    assert_eq!(env.probe.calls(), before, "a bad cookie reached the store");
}

/// The CSRF rules: a cross-site or cross-origin state change gets 403, a
/// body that is not JSON gets 415; both before any store call and with no
/// cookie change. Same-origin requests and non-browser clients pass.
pub async fn csrf_rules(l: &dyn Launcher, kind: StoreKind) {
    // The public origin of a deployment behind a proxy that rewrites Host.
    let public = "https://public.example";
    let env = start(l, kind, |b| {
        b.with_csrf(
            CsrfGuard::default()
                .with_json_bodies_only(true)
                .with_allowed_origin(public),
        )
    })
    .await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    let cookie = b.cookie().expect("a cookie");
    let host = env.base.trim_start_matches("http://").to_owned();
    let json = Some(r#"{"username":"mallory"}"#.to_owned());
    let before = env.probe.calls();
    let refused = [
        (
            "/api/logout-all",
            None,
            vec![("sec-fetch-site", "cross-site".to_owned())],
            403,
        ),
        (
            "/api/logout",
            None,
            vec![("origin", "http://evil.example".to_owned())],
            403,
        ),
        (
            "/api/logout",
            None,
            vec![("origin", "null".to_owned())],
            403,
        ),
        // Another port of the same host is same-site but another origin.
        (
            "/api/logout",
            None,
            vec![("origin", "http://127.0.0.1:1".to_owned())],
            403,
        ),
        // The cookie is Secure, so the site is https: the same host's
        // http page is another origin.
        (
            "/api/logout",
            None,
            vec![
                ("host", "app.example".to_owned()),
                ("origin", "http://app.example".to_owned()),
            ],
            403,
        ),
        // Behind a proxy that rewrites Host, the public origin is not the
        // request's authority; the allow-list names it (below, it passes).
        (
            "/api/logout",
            None,
            vec![
                ("host", "backend.internal:9000".to_owned()),
                ("origin", "https://other.example".to_owned()),
            ],
            403,
        ),
        // A plain HTML form (text/plain) cannot reach a JSON route.
        (
            "/api/login",
            json.clone(),
            vec![("content-type", "text/plain".to_owned())],
            415,
        ),
        ("/api/ttl", Some(r#"{"seconds":1}"#.to_owned()), vec![], 415),
    ];
    for (path, body, mut headers, want) in refused {
        headers.push(("cookie", cookie.clone()));
        let a = b.send_with(Method::POST, path, body, &headers).await;
        assert_eq!(a.status, want, "{path} with {headers:?}");
        let code = if want == 403 {
            "forbidden"
        } else {
            "unsupported_media_type"
        };
        assert_eq!(a.json["error"], code);
        assert!(
            a.set_cookies.is_empty(),
            "a refused request changes no cookie"
        );
    }
    assert_eq!(
        env.probe.calls(),
        before,
        "a refused request reached the store"
    );
    assert_eq!(b.me().await.status, 200, "nothing changed");
    // The page's own requests pass: same origin, JSON.
    let ok = b
        .send_with(
            Method::POST,
            "/api/ttl",
            Some(r#"{"seconds":600}"#.to_owned()),
            &[
                ("cookie", cookie.clone()),
                ("origin", format!("http://{host}")),
                ("sec-fetch-site", "same-origin".to_owned()),
                ("content-type", "application/json; charset=utf-8".to_owned()),
            ],
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    let proxied = b
        .send_with(
            Method::POST,
            "/api/ttl",
            Some(r#"{"seconds":600}"#.to_owned()),
            &[
                ("cookie", cookie.clone()),
                ("host", "backend.internal:9000".to_owned()),
                ("origin", public.to_owned()),
                ("content-type", "application/json".to_owned()),
            ],
        )
        .await;
    assert_eq!(proxied.status, 200, "{:?}", proxied.json);
    let own = b
        .send_with(
            Method::POST,
            "/api/ttl",
            Some(r#"{"seconds":600}"#.to_owned()),
            &[
                ("cookie", cookie.clone()),
                ("host", "app.example".to_owned()),
                ("origin", "https://app.example".to_owned()),
                ("content-type", "application/json".to_owned()),
            ],
        )
        .await;
    assert_eq!(
        own.status, 200,
        "the site's own https origin: {:?}",
        own.json
    );
}

/// The limits on what a client sends: a body over 16 KiB is refused with
/// 413 `payload_too_large` before any store call and with no cookie (one
/// of exactly 16 KiB passes); `username` is at most 256 bytes and `device`
/// at most 100 characters (400 past them); the stored user agent is cut to
/// 256 bytes; no error answer repeats what the client sent. On a single
/// Redis, one login with the largest inputs adds under 4 KiB to the
/// server's memory.
pub async fn client_input_limits(l: &dyn Launcher, kind: StoreKind) {
    /// Put in every refused input: no answer may repeat it.
    const MARKER: &str = "ECHO-MARKER-7f3a";
    let env = start(l, kind, |b| b).await;
    let json = ("content-type", "application/json".to_owned());
    let no_echo = |what: &str, a: &Answer| {
        assert!(
            !a.text.contains(MARKER),
            "{what}: the answer repeats the client's input: {}",
            a.text
        );
        assert!(a.json["error"].is_string(), "{what}: {}", a.text);
    };
    let b = env.browser();
    assert_eq!(b.login("alice", "laptop").await.status, 200);
    let cookie = b.cookie().expect("a cookie");

    // A body over 16 KiB: 413, no store call, no cookie; signed in or not,
    // on every route that reads a body.
    let big = |field: &str| {
        let mut body = json!({ field: MARKER }).to_string();
        body.insert_str(1, &format!(r#""pad":"{}","#, "x".repeat(17 * 1024)));
        body
    };
    let before = env.probe.calls();
    for (path, field, cookie) in [
        ("/api/login", "username", None),
        ("/api/login", "username", Some(cookie.clone())),
        ("/api/ttl", "seconds", Some(cookie.clone())),
        ("/api/logout-all", "reason", Some(cookie.clone())),
    ] {
        let mut headers = vec![json.clone()];
        headers.extend(cookie.clone().map(|c| ("cookie", c)));
        let body = big(field);
        assert!(body.len() > 17 * 1024);
        let a = b.send_with(Method::POST, path, Some(body), &headers).await;
        let what = format!("{path} with a 17 KiB body (cookie: {})", cookie.is_some());
        assert_eq!(a.status, 413, "{what}: {}", a.text);
        assert_eq!(a.json["error"], "payload_too_large", "{what}: {}", a.text);
        assert!(a.json["message"].is_string(), "{what}: {}", a.text);
        assert!(a.set_cookies.is_empty(), "{what}: {:?}", a.set_cookies);
        no_echo(&what, &a);
    }
    assert_eq!(
        env.probe.calls(),
        before,
        "a body over the limit reached the store"
    );
    let me = b.me().await;
    assert_eq!(me.json["user"], "alice", "nothing changed: {}", me.text);
    // Exactly 16 KiB is within the limit.
    let mut body = json!({"username": "bob", "device": "d"}).to_string();
    body.push_str(&" ".repeat(16 * 1024 - body.len()));
    let a = env
        .browser()
        .send_with(
            Method::POST,
            "/api/login",
            Some(body),
            std::slice::from_ref(&json),
        )
        .await;
    assert_eq!(a.status, 200, "a 16 KiB body: {}", a.text);

    // username: 256 bytes pass, 257 do not; device: 100 characters pass
    // (here 184 bytes), 101 do not.
    let login = |username: String, device: String| {
        let c = env.browser();
        async move {
            c.send(
                Method::POST,
                "/api/login",
                Some(json!({"username": username, "device": device})),
            )
            .await
        }
    };
    let name = |len: usize| format!("{MARKER}{}", "u".repeat(len - MARKER.len()));
    let device = |chars: usize| format!("{MARKER}{}", "é".repeat(chars - MARKER.len()));
    let a = login(name(257), "d".into()).await;
    assert_eq!(a.status, 400, "a 257-byte username: {}", a.text);
    assert!(a.set_cookies.is_empty());
    no_echo("a 257-byte username", &a);
    let a = login(name(256), "d".into()).await;
    assert_eq!(a.status, 200, "a 256-byte username: {}", a.text);
    let a = login("carol".into(), device(101)).await;
    assert_eq!(a.status, 400, "a 101-character device: {}", a.text);
    assert!(a.set_cookies.is_empty());
    no_echo("a 101-character device", &a);
    let a = login("carol".into(), device(100)).await;
    assert_eq!(a.status, 200, "a 100-character device: {}", a.text);

    // A 60 KB User-Agent signs in; the stored one is its first 256 bytes.
    let agent = format!("Mozilla/5.0 {}", "a".repeat(60_000));
    let ua = env.browser();
    let a = ua
        .send_with(
            Method::POST,
            "/api/login",
            Some(json!({"username": "dave"}).to_string()),
            &[json.clone(), ("user-agent", agent.clone())],
        )
        .await;
    assert_eq!(a.status, 200, "a 60 KB User-Agent: {}", a.text);
    let me = ua.me().await;
    let stored = me.json["metadata"]["user_agent"]
        .as_str()
        .expect("the user agent is recorded");
    assert!(stored.len() <= 256, "{} bytes stored", stored.len());
    assert!(agent.starts_with(stored) && stored.starts_with("Mozilla/5.0"));

    // Other refused input: the answer never repeats it.
    let probes = [
        (
            "/api/login",
            r#"{"username":"x","remember":"ECHO-MARKER-7f3a"}"#,
            400,
        ),
        (
            "/api/login",
            r#"{"username":"ECHO-MARKER-7f3a\u0001"}"#,
            400,
        ),
        (
            "/api/login",
            r#"{"username":"x","device":"ECHO-MARKER-7f3a"#,
            400,
        ),
        ("/api/login", "ECHO-MARKER-7f3a", 400),
        ("/api/ttl", r#"{"seconds":"ECHO-MARKER-7f3a"}"#, 400),
        (
            "/api/logout-all",
            r#"{"keep_current":"ECHO-MARKER-7f3a"}"#,
            400,
        ),
    ];
    for (path, body, want) in probes {
        let a = b
            .send_with(
                Method::POST,
                path,
                Some(body.to_owned()),
                &[json.clone(), ("cookie", cookie.clone())],
            )
            .await;
        assert_eq!(a.status, want, "{path} {body}: {}", a.text);
        no_echo(&format!("{path} {body}"), &a);
    }
    let a = b
        .send(Method::POST, &format!("/api/work?ms={MARKER}"), None)
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    no_echo("/api/work?ms=MARKER", &a);
    // A path segment that is not UTF-8 is a malformed public id too.
    for path in [
        format!("/api/sessions/{MARKER}"),
        format!("/api/sessions/{MARKER}%FF"),
    ] {
        let a = b.send(Method::DELETE, &path, None).await;
        assert_eq!(a.status, 404, "DELETE {path}: {}", a.text);
        no_echo(&format!("DELETE {path}"), &a);
    }
    assert_eq!(b.me().await.json["user"], "alice", "nothing changed");

    // What one login with the largest inputs (a 256-byte username, a
    // device of 100 four-byte characters, a 60 KB User-Agent; a new user
    // each time) adds to a single Redis server in use. The first logins
    // also build the store's per-bucket structures (made once for its 64
    // buckets, not per login), so the cost is measured after 200 of them.
    let Some(port) = env.redis_standalone_port() else {
        return;
    };
    let used_memory = || {
        let info = redis_harness::raw_command(port, &["INFO", "memory"]).expect("INFO memory");
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .expect("used_memory in INFO memory")
    };
    const WARM_UP: i64 = 200;
    const LOGINS: i64 = 20;
    let mut used = vec![used_memory()];
    for (phase, count) in [(0, WARM_UP), (1, LOGINS)] {
        for i in 0..count {
            let username = format!("{phase}{i:03}{}", "u".repeat(252));
            let a = env
                .browser()
                .send_with(
                    Method::POST,
                    "/api/login",
                    Some(json!({"username": username, "device": "𝄞".repeat(100)}).to_string()),
                    &[json.clone(), ("user-agent", agent.clone())],
                )
                .await;
            assert_eq!(a.status, 200, "{}", a.text);
        }
        used.push(used_memory());
    }
    let warm_up = (used[1] - used[0]) / WARM_UP;
    let per_login = (used[2] - used[1]) / LOGINS;
    eprintln!(
        "client_input_limits: one login with the largest inputs adds {per_login} bytes to Redis's used_memory ({warm_up} bytes each over the first {WARM_UP}, which build the per-bucket structures)"
    );
    assert!(
        per_login < 4096,
        "one login adds {per_login} bytes to Redis (limit 4 KiB)"
    );
}

/// Non-browser clients: with `SESSION_ID_HEADER` set, a request carrying
/// the header (even empty) gets its new id in that header and no cookie; a
/// browser never gets the id in a header.
pub async fn id_header_clients(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b.with_id_header("x-session-id")).await;
    let api = env.browser();
    let body = Some(r#"{"username":"robot"}"#.to_owned());
    let json = ("content-type", "application/json".to_owned());
    let login = api
        .send_with(
            Method::POST,
            "/api/login",
            body.clone(),
            &[("x-session-id", String::new()), json.clone()],
        )
        .await;
    assert_eq!(login.status, 200);
    assert!(
        login.set_cookies.is_empty(),
        "a header client gets no cookie"
    );
    let id = login.headers["x-session-id"]
        .to_str()
        .expect("an ASCII id")
        .to_owned();
    let me = api
        .send_with(
            Method::GET,
            "/api/me",
            None,
            &[("x-session-id", id.clone())],
        )
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["user"], "robot");
    assert!(me.headers.get("x-session-id").is_none() && me.set_cookies.is_empty());

    let browser = env.browser();
    let login = browser.login("alice", "laptop").await;
    assert_eq!(login.status, 200);
    assert_eq!(login.set_cookies.len(), 1);
    assert!(
        login.headers.get("x-session-id").is_none(),
        "a browser never gets its id in a header"
    );
}

/// The store down: 503 with no internals; back up: it works again.
pub async fn store_down_and_recovery(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let b = env.browser();
    b.login("alice", "laptop").await;
    env.probe.set_down(true);
    for (method, path) in [
        (Method::GET, "/api/me"),
        (Method::POST, "/api/counter"),
        (Method::GET, "/api/stats"),
    ] {
        let a = b.send(method, path, None).await;
        assert_eq!(a.status, 503, "{path} with the store down");
        assert_eq!(a.json["error"], "store_unavailable");
        assert!(
            !a.json.to_string().contains("switched off"),
            "internals leaked: {}",
            a.json
        );
    }
    let login = env.browser().login("bob", "x").await;
    assert_eq!(login.status, 503);
    assert!(login.set_cookies.is_empty());
    env.probe.set_down(false);
    assert_eq!(b.me().await.status, 200, "the session survives the outage");
}

/// Days between two RFC 3339 UTC timestamps with the same time of day (the
/// test asserts that too).
fn whole_days_between(from: &serde_json::Value, to: &serde_json::Value) -> i64 {
    fn day_number(t: &str) -> i64 {
        let date: Vec<i64> = t[..10]
            .split('-')
            .map(|p| p.parse().expect("a date"))
            .collect();
        let (y, m, d) = (date[0], date[1], date[2]);
        // Days from civil (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy
    }
    let (from, to) = (from.as_str().expect("a time"), to.as_str().expect("a time"));
    assert_eq!(from[10..], to[10..], "not whole days apart: {from} {to}");
    day_number(to) - day_number(from)
}

/// Remember me: `"remember": true` gives a persistent cookie and a session
/// living 30 days from sign-in; `false` a browser-session cookie (no
/// `Max-Age`) and the configured 7 days. The choice is kept with the
/// session: a rotation sends the same kind of cookie.
pub async fn remember_me(l: &dyn Launcher, kind: StoreKind) {
    let env = start(l, kind, |b| b).await;
    let login = |b: &Browser, remember: Option<bool>| {
        let mut body = json!({"username": "alice", "device": "d"});
        if let Some(r) = remember {
            body["remember"] = json!(r);
        }
        let b = b.clone();
        async move { b.send(Method::POST, "/api/login", Some(body)).await }
    };
    let lifetime =
        |me: &Answer| whole_days_between(&me.json["created_at"], &me.json["absolute_expires_at"]);

    let kept = env.browser();
    let r = login(&kept, Some(true)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(
        r.set_cookies[0].contains("; Max-Age=2592000"),
        "{:?}",
        r.set_cookies
    );
    assert_eq!(lifetime(&kept.me().await), 30, "remember me lives 30 days");

    let closing = env.browser();
    let r = login(&closing, Some(false)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(!r.set_cookies[0].contains("Max-Age"), "{:?}", r.set_cookies);
    assert_eq!(lifetime(&closing.me().await), 7);
    let rotated = closing.send(Method::POST, "/api/rotate", None).await;
    assert_eq!(rotated.status, 200);
    assert!(
        !rotated.set_cookies.is_empty() && !rotated.set_cookies[0].contains("Max-Age"),
        "a rotation keeps the browser-session cookie: {:?}",
        rotated.set_cookies
    );
    let rotated = kept.send(Method::POST, "/api/rotate", None).await;
    assert!(
        rotated.set_cookies[0].contains("; Max-Age="),
        "a rotation keeps the persistent cookie: {:?}",
        rotated.set_cookies
    );

    let plain = env.browser();
    let r = login(&plain, None).await;
    assert!(
        r.set_cookies[0].contains("; Max-Age=604800"),
        "{:?}",
        r.set_cookies
    );
}

/// Expands to one `#[tokio::test]` per scenario, for `$launcher` on `$store`.
#[macro_export]
macro_rules! http_contract_tests {
    ($launcher:expr, $store:expr) => {
        $crate::http_contract_tests!(@each $launcher, $store;
            routes_and_cookie_attributes login_rotates_the_id slow_request_overlapped_by_logout
            concurrent_counter_and_no_lost_update limit_under_concurrent_logins
            logout_all_and_revoke_device rotation ttl_expiry garbage_cookies store_down_and_recovery
            csrf_rules client_input_limits id_header_clients remember_me);
    };
    (@each $launcher:expr, $store:expr; $($name:ident)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            $crate::http_contract::$name(&$launcher, $store).await;
        }
    )*};
}
