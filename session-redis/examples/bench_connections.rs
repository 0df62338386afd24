//! Benchmark: the shared multiplexed connection against a bb8 pool, on the
//! same Redis in the same run, under 32 concurrent clients doing read-only
//! session requests (one store round trip each).
//!
//! ```sh
//! cargo run --release -p session-redis --features pool --example bench_connections
//! ```
//!
//! Starts its own redis-server on a free loopback port (or uses
//! `REDIS_URL`), runs 5 alternating rounds per kind and prints each round
//! and the medians, with the ratio between them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::{KeyRing, Metadata, SessionConfig, SessionManager, UserId};
use session_redis::RedisStore;

const CLIENTS: usize = 32;
const REQUESTS_PER_CLIENT: usize = 1_000;
const ROUNDS: usize = 5;

async fn manager(url: &str, prefix: &str, pool: Option<u32>) -> SessionManager {
    let mut builder = RedisStore::builder(url).with_prefix(prefix);
    if let Some(n) = pool {
        builder = builder.with_pool(n);
    }
    let store = builder.build().await.expect("the store connects");
    let config = SessionConfig::builder(KeyRing::generate())
        .build()
        .expect("config");
    SessionManager::new(Arc::new(store), config)
}

/// Requests per second for one round.
async fn round(m: &SessionManager, cookie: &Arc<String>) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (m, cookie) = (m.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..REQUESTS_PER_CLIENT {
                let s = m.session_for_request([cookie.as_bytes()]);
                s.user().await.expect("a read succeeds");
                s.finish().await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("a client task");
    }
    (CLIENTS * REQUESTS_PER_CLIENT) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let server = match std::env::var("REDIS_URL") {
        Ok(_) => None,
        Err(_) => Some(redis_harness::Server::standalone().expect("redis-server starts")),
    };
    let url = std::env::var("REDIS_URL")
        .unwrap_or_else(|_| server.as_ref().map(|s| s.url()).unwrap_or_default());
    let kinds = [("multiplexed", None), ("bb8 pool (32)", Some(32))];
    let mut managers = Vec::new();
    for (i, (name, pool)) in kinds.iter().enumerate() {
        let m = manager(&url, &format!("bench{i}"), *pool).await;
        let user = UserId::new("bench").expect("user");
        let ttl = Some(Duration::from_secs(3600));
        let (id, _) = m
            .create_for_user(&user, Metadata::default(), ttl)
            .await
            .expect("a session");
        let cookie = Arc::new(format!("sid={}", id.expose_secret()));
        round(&m, &cookie).await; // warm up: scripts loaded, pool filled
        managers.push((*name, m, cookie, Vec::new()));
    }
    for r in 0..ROUNDS {
        for (name, m, cookie, results) in &mut managers {
            let rps = round(m, cookie).await;
            println!("round {r}: {name:>14}: {rps:>9.0} requests/s");
            results.push(rps);
        }
    }
    let medians: Vec<(&str, f64)> = managers
        .into_iter()
        .map(|(n, _, _, r)| (n, median(r)))
        .collect();
    println!();
    for (name, m) in &medians {
        println!("median {name:>14}: {m:>9.0} requests/s");
    }
    println!(
        "ratio multiplexed / pool: {:.2}",
        medians[0].1 / medians[1].1
    );
}
