//! Sizing: Redis memory per session and the cost of the analytics at scale.
//!
//! ```sh
//! cargo run --release -p session-redis --example sizing            # 1,000,000 sessions
//! cargo run --release -p session-redis --example sizing -- 100000  # fewer
//! ```
//!
//! Starts its own redis-server on a free loopback port, then:
//! 1. creates N anonymous sessions holding one small integer (as
//!    `/seed` does in the HTTP benchmark) and reads `used_memory` before and
//!    after: bytes per anonymous session, analytics included;
//! 2. creates N signed-in sessions, two per user: bytes per signed-in
//!    session (user index and user analytics included);
//! 3. with 2N sessions stored, times each analytics call (median of 9) and
//!    counts the commands Redis ran for it (`INFO commandstats`).
//!
//! Prints one line per figure; docs/operations.md quotes a run.

use std::time::{Duration, Instant};

use redis_harness::raw_command;
use session_core::{Metadata, PageRequest, SessionManager, UserId};

mod common;

/// Concurrent creators (the store multiplexes them on one connection).
const WORKERS: usize = 64;

fn used_memory(port: u16) -> u64 {
    common::info_field(port, "memory", "used_memory")
}

fn commands(port: u16) -> u64 {
    let text = raw_command(port, &["INFO", "commandstats"]).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
        .filter(|l| !l.starts_with("cmdstat_config:"))
        .filter_map(|l| l.split("calls=").nth(1))
        .filter_map(|v| v.split(',').next())
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}

async fn create_all(m: &SessionManager, n: usize, signed_in: bool) -> Duration {
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let m = m.clone();
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                if signed_in {
                    let user = UserId::new(format!("user-{}", i / 2)).expect("user id");
                    m.create_for_user(&user, Metadata::default(), None)
                        .await
                        .expect("create a signed-in session");
                } else {
                    let s = m.session_for_request([]);
                    s.insert("counter", 0).await.expect("insert");
                    s.finish().await;
                }
                i += WORKERS;
            }
        }));
    }
    for w in workers {
        w.await.expect("creator");
    }
    started.elapsed()
}

async fn timed<T, F: Future<Output = T>>(
    port: u16,
    what: &str,
    mut call: impl FnMut() -> F,
) -> Option<T> {
    let mut times = Vec::new();
    let mut last = None;
    let mut cmds = 0;
    for _ in 0..9 {
        raw_command(port, &["CONFIG", "RESETSTAT"]).ok();
        let t = Instant::now();
        last = Some(call().await);
        times.push(t.elapsed());
        cmds = commands(port);
    }
    times.sort();
    println!(
        "  {what}: median {:?}, {cmds} Redis commands",
        times[times.len() / 2]
    );
    last
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let (server, m) = common::own_server_and_manager().await;
    let port = server.port();
    let version = raw_command(port, &["INFO", "server"])
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("redis_version:")
                .map(str::trim)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    println!("redis-server {version}, {n} sessions per kind");

    for (kind, signed_in) in [
        ("anonymous sessions (one integer)", false),
        ("signed-in sessions (two per user)", true),
    ] {
        let before = used_memory(port);
        let took = create_all(&m, n, signed_in).await;
        let bytes = used_memory(port).saturating_sub(before) as f64 / n as f64;
        println!(
            "{kind}: {bytes:.0} bytes each; created in {took:?} ({:.0}/s)",
            n as f64 / took.as_secs_f64()
        );
    }
    println!(
        "used_memory with {} sessions: {} MB",
        2 * n,
        used_memory(port) / 1_000_000
    );

    println!(
        "analytics with {} sessions and {} users stored:",
        2 * n,
        n / 2
    );
    let count = timed(port, "count_active", || m.count_active()).await;
    println!("    = {count:?}");
    let users = timed(port, "count_active_users", || m.count_active_users()).await;
    println!("    = {users:?}");
    let alice = UserId::new("user-7").expect("user id");
    timed(port, "count_user_sessions", || {
        m.count_user_sessions(&alice)
    })
    .await;
    timed(port, "list_user_sessions", || m.list_user_sessions(&alice)).await;
    timed(port, "active_users (first page of 50)", || {
        m.active_users(PageRequest {
            after: None,
            limit: 50,
        })
    })
    .await;
}
