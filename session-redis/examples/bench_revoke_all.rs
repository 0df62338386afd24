//! Benchmark: revoke-all of one user holding 10,000 sessions (guarantee 5:
//! linear, and Redis stays responsive), while another connection PINGs.
//!
//! ```sh
//! cargo run --release -p session-redis --example bench_revoke_all
//! ```
//!
//! Starts its own redis-server on a free loopback port. For each of 3
//! rounds it builds the sessions, then measures: the Redis time of the
//! revoke-all script (`INFO commandstats`, EVALSHA usec), its round trip,
//! and the slowest PING answered during it. Prints each round and the
//! medians. Goal: Redis time under 100 ms, every PING within 150 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis_harness::raw_command;
use session_core::{Metadata, UserId};

mod common;

const SESSIONS: usize = 10_000;
const ROUNDS: usize = 3;

fn evalsha_usec(port: u16) -> u64 {
    let stats = raw_command(port, &["INFO", "commandstats"]).unwrap_or_default();
    stats
        .lines()
        .find(|l| l.starts_with("cmdstat_evalsha:"))
        .and_then(|l| l.split("usec=").nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let (server, m) = common::own_server_and_manager().await;
    let port = server.port();
    let (mut redis_ms, mut rtt_ms, mut ping_ms) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let user = UserId::new(format!("bench-{round}")).expect("user id");
        let build = Instant::now();
        for _ in 0..SESSIONS {
            m.create_for_user(&user, Metadata::default(), None)
                .await
                .expect("login");
        }
        let built = build.elapsed();
        let pinging = Arc::new(AtomicBool::new(true));
        let flag = pinging.clone();
        let pinger = std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            while flag.load(Ordering::SeqCst) {
                let t = Instant::now();
                let _ = raw_command(port, &["PING"]);
                worst = worst.max(t.elapsed());
                std::thread::sleep(Duration::from_millis(2));
            }
            worst
        });
        let before = evalsha_usec(port);
        let started = Instant::now();
        let ended = m.revoke_all(&user, None).await.expect("revoke-all");
        let rtt = started.elapsed();
        let redis = Duration::from_micros(evalsha_usec(port) - before);
        pinging.store(false, Ordering::SeqCst);
        let worst_ping = pinger.join().unwrap_or_default();
        assert_eq!(ended, SESSIONS as u64);
        println!(
            "round {round}: built {SESSIONS} sessions in {built:?}; revoke-all: Redis {redis:?}, round trip {rtt:?}, slowest concurrent PING {worst_ping:?}"
        );
        redis_ms.push(redis.as_secs_f64() * 1e3);
        rtt_ms.push(rtt.as_secs_f64() * 1e3);
        ping_ms.push(worst_ping.as_secs_f64() * 1e3);
    }
    println!(
        "medians over {ROUNDS} rounds, {SESSIONS} sessions of one user: Redis time {:.1} ms (goal < 100), round trip {:.1} ms, slowest PING {:.1} ms (goal < 150)",
        median(redis_ms),
        median(rtt_ms),
        median(ping_ms)
    );
}
