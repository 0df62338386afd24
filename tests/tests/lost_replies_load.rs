//! A MEASUREMENT for issue 26, not a check: the failed-request count under
//! lost script replies, to compare one tree against another.
//!
//! For each demo (axum, actix-web, rocket): one Redis, a `FaultProxy` in
//! front of it that drops the reply of `LOAD_PERCENT`% (default 8) of the
//! script calls (EVAL/EVALSHA) after Redis ran them and resets that
//! connection, the demo on a `RedisStore` connected to the proxy, and
//! `LOAD_CLIENTS` (default 8) concurrent HTTP clients, each signed in as
//! its own user (before the fault is set), sending `POST /api/counter` in
//! a loop for `LOAD_SECS` (default 12) seconds. Then the fault is turned
//! off, and each client's `GET /api/me` counter is compared with the number
//! of its increments that answered 200.
//!
//! Self-contained on purpose (only `Launcher` and the demos from
//! `session_tests::http_contract`, the harness, the store and the
//! manager), so that the same file builds in a tree before the store
//! resent lost replies. Run:
//!
//! ```text
//! cargo test -p session-tests --test lost_replies_load -- --ignored --nocapture
//! ```
//!
//! `LOAD_DEMOS=axum,rocket` picks demos. Only prints; asserts nothing about
//! the figures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_harness::{Fault, FaultProxy};
use session_core::{KeyRing, SessionConfig, SessionManager};
use session_tests::http_contract::{ActixDemo, AxumDemo, Launcher, RocketDemo};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One HTTP client with its own session cookie.
struct Client {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

/// What one request answered: a status and the JSON body, or a transport
/// error.
struct Reply {
    status: Option<u16>,
    json: serde_json::Value,
}

impl Client {
    fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            base: base.to_owned(),
            cookie: None,
        }
    }

    async fn send(&mut self, method: reqwest::Method, path: &str, body: Option<String>) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = match req.send().await {
            Ok(r) => r,
            Err(_) => {
                return Reply {
                    status: None,
                    json: serde_json::Value::Null,
                };
            }
        };
        let status = res.status().as_u16();
        for c in res.headers().get_all("set-cookie") {
            let Ok(c) = c.to_str() else { continue };
            let pair = c.split(';').next().unwrap_or_default().to_owned();
            let removed = c.contains("Max-Age=0") || pair.ends_with('=');
            self.cookie = if removed { None } else { Some(pair) };
        }
        let text = res.text().await.unwrap_or_default();
        Reply {
            status: Some(status),
            json: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// One client's run.
#[derive(Default)]
struct ClientRun {
    requests: u64,
    ok: u64,
    /// Non-200 answers by "status error-code" (or "transport").
    failures: BTreeMap<String, u64>,
    /// The counter values the 200 answers carried.
    ok_values: Vec<i64>,
    /// The slowest request.
    slowest: Duration,
    /// `GET /api/me`'s counter after the run (None: not 200).
    final_counter: Option<i64>,
    me_status: Option<u16>,
}

/// One demo's run.
struct DemoRun {
    demo: &'static str,
    clients: Vec<ClientRun>,
    dropped: u64,
    elapsed: Duration,
}

async fn measure(
    name: &'static str,
    launcher: &dyn Launcher,
    clients: usize,
    secs: u64,
    percent: u8,
) -> DemoRun {
    let server = redis_harness::Server::standalone().expect("redis-server starts");
    let proxy = Arc::new(FaultProxy::start(server.port()).expect("the proxy starts"));
    let store = session_redis::RedisStore::connect(&proxy.url())
        .await
        .expect("connects through the proxy");
    let config = launcher
        .configure(SessionConfig::builder(KeyRing::generate()))
        .build()
        .expect("a valid configuration");
    let manager = SessionManager::new(Arc::new(store), config);
    let running = launcher.start(manager).await;

    // Sign in every client before the fault is set.
    let mut signed_in = Vec::new();
    for i in 0..clients {
        let mut c = Client::new(&running.base);
        let body = serde_json::json!({"username": format!("user{i}"), "device": "load"});
        let login = c
            .send(reqwest::Method::POST, "/api/login", Some(body.to_string()))
            .await;
        assert_eq!(login.status, Some(200), "{name}: sign-in of client {i}");
        assert!(
            c.cookie.is_some(),
            "{name}: sign-in of client {i} set no cookie"
        );
        signed_in.push(c);
    }

    proxy.set(Fault::DropScriptReplies(percent));
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for mut c in signed_in {
        tasks.push(tokio::spawn(async move {
            let mut run = ClientRun::default();
            while Instant::now() < until {
                let t = Instant::now();
                let a = c.send(reqwest::Method::POST, "/api/counter", None).await;
                run.slowest = run.slowest.max(t.elapsed());
                run.requests += 1;
                match a.status {
                    Some(200) => {
                        run.ok += 1;
                        if let Some(v) = a.json["counter"].as_i64() {
                            run.ok_values.push(v);
                        }
                    }
                    Some(s) => {
                        let code = a.json["error"].as_str().unwrap_or("-");
                        *run.failures.entry(format!("{s} {code}")).or_default() += 1;
                    }
                    None => *run.failures.entry("transport".into()).or_default() += 1,
                }
            }
            (c, run)
        }));
    }
    let mut finished = Vec::new();
    for t in tasks {
        finished.push(t.await.expect("a client task"));
    }
    let elapsed = started.elapsed();
    proxy.set(Fault::None);
    let dropped = proxy.replies_dropped();

    let mut runs = Vec::new();
    for (mut c, mut run) in finished {
        let me = c.send(reqwest::Method::GET, "/api/me", None).await;
        run.me_status = me.status;
        if me.status == Some(200) {
            run.final_counter = me.json["counter"].as_i64();
        }
        runs.push(run);
    }
    (running.stop)();
    drop(proxy);
    drop(server);
    DemoRun {
        demo: name,
        clients: runs,
        dropped,
        elapsed,
    }
}

fn report(r: &DemoRun) {
    let requests: u64 = r.clients.iter().map(|c| c.requests).sum();
    let ok: u64 = r.clients.iter().map(|c| c.ok).sum();
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    for c in &r.clients {
        for (k, v) in &c.failures {
            *failures.entry(k.clone()).or_default() += v;
        }
    }
    let failed: u64 = failures.values().sum();
    let slowest = r
        .clients
        .iter()
        .map(|c| c.slowest)
        .max()
        .unwrap_or_default();
    println!(
        "== {}: {} requests in {:.2} s, {} answered 200, {} failed {:?}; script replies dropped: {}; slowest request {} ms",
        r.demo,
        requests,
        r.elapsed.as_secs_f64(),
        ok,
        failed,
        failures,
        r.dropped,
        slowest.as_millis()
    );
    println!(
        "   client | requests | 200s | failed | final counter | counter - 200s | 200 values distinct, max <= final"
    );
    let mut applied_but_failed = 0i64;
    let mut exact = true;
    for (i, c) in r.clients.iter().enumerate() {
        let failed: u64 = c.failures.values().sum();
        let mut values = c.ok_values.clone();
        values.sort_unstable();
        let n = values.len();
        values.dedup();
        let distinct = values.len() == n && n as u64 == c.ok;
        let max_ok = values.last().copied().unwrap_or(0);
        let (fin, diff, within) = match c.final_counter {
            Some(f) => {
                let d = f - i64::try_from(c.ok).unwrap_or(i64::MAX);
                applied_but_failed += d;
                exact &= d == 0;
                (f.to_string(), d.to_string(), max_ok <= f)
            }
            None => {
                exact = false;
                (format!("GET /api/me {:?}", c.me_status), "-".into(), false)
            }
        };
        println!(
            "   {i:>6} | {:>8} | {:>4} | {failed:>6} | {fin:>13} | {diff:>14} | {distinct}, {within}",
            c.requests, c.ok
        );
    }
    println!(
        "   counter check: {} (sum of final counters - sum of 200s = {applied_but_failed}: applied but reported failed)",
        if exact {
            "every final counter equals its 200s"
        } else {
            "NOT equal"
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement (issue 26), run by hand with --ignored --nocapture"]
async fn failed_requests_under_lost_script_replies() {
    let clients = env_or("LOAD_CLIENTS", 8usize);
    let secs = env_or("LOAD_SECS", 12u64);
    let percent = env_or("LOAD_PERCENT", 8u8);
    let demos = std::env::var("LOAD_DEMOS").unwrap_or_else(|_| "axum,actix,rocket".into());
    println!(
        "{clients} clients, {secs} s, {percent}% of script replies dropped, demos {demos}, {} build",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let mut runs = Vec::new();
    for d in demos.split(',') {
        let run = match d.trim() {
            "axum" => measure("axum", &AxumDemo, clients, secs, percent).await,
            "actix" => measure("actix-web", &ActixDemo, clients, secs, percent).await,
            "rocket" => measure("rocket", &RocketDemo, clients, secs, percent).await,
            other => panic!("unknown demo {other}"),
        };
        report(&run);
        runs.push(run);
    }
}
