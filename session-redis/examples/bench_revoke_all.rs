//! Benchmark: revoke-all of one user holding 10,000 sessions (guarantee 5:
//! linear, in bounded steps, and Redis stays responsive), while another
//! connection PINGs.
//!
//! ```sh
//! cargo run --release -p session-redis --example bench_revoke_all           # 10,000
//! cargo run --release -p session-redis --example bench_revoke_all -- 100000 # more
//! ```
//!
//! Starts its own redis-server on a free loopback port. For each of 3
//! rounds it builds the sessions, then measures: the Redis time of the
//! revoke-all (`INFO commandstats`, EVALSHA usec, all its chunks), the
//! longest single script among them (`SLOWLOG`), its round trip, and the
//! slowest PING answered during it. Prints each round and the medians.
//! Goals: the longest script about 50 ms at most, every PING within 150 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis_harness::raw_command;
use session_core::{Metadata, UserId};

mod common;

const ROUNDS: usize = 3;

/// The longest EVALSHA in the slow log, in microseconds.
fn longest_script_usec(port: u16) -> u64 {
    let log = raw_command(port, &["SLOWLOG", "GET", "100000"]).unwrap_or_default();
    // RESP: each entry is id, time, duration (us), [command args…], …; the
    // duration is the integer line before the command's array.
    let lines: Vec<&str> = log.lines().collect();
    lines
        .windows(4)
        .filter(|w| w[3].eq_ignore_ascii_case("evalsha"))
        .filter_map(|w| w[0].strip_prefix(':')?.parse().ok())
        .max()
        .unwrap_or(0)
}

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
    let sessions: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let (server, m) = common::own_server_and_manager().await;
    let port = server.port();
    let (mut longest_ms, mut chunks) = (Vec::new(), 0);
    let (mut redis_ms, mut rtt_ms, mut ping_ms) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let user = UserId::new(format!("bench-{round}")).expect("user id");
        let build = Instant::now();
        for _ in 0..sessions {
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
        raw_command(port, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]).expect("CONFIG");
        raw_command(port, &["CONFIG", "SET", "slowlog-max-len", "100000"]).expect("CONFIG");
        raw_command(port, &["SLOWLOG", "RESET"]).expect("SLOWLOG");
        let before = evalsha_usec(port);
        let started = Instant::now();
        let ended = m.revoke_all(&user, None).await.expect("revoke-all");
        let rtt = started.elapsed();
        let redis = Duration::from_micros(evalsha_usec(port) - before);
        pinging.store(false, Ordering::SeqCst);
        let longest = Duration::from_micros(longest_script_usec(port));
        chunks = sessions.div_ceil(1000);
        raw_command(port, &["CONFIG", "SET", "slowlog-log-slower-than", "10000"]).expect("CONFIG");
        let worst_ping = pinger.join().unwrap_or_default();
        assert_eq!(ended, sessions as u64);
        println!(
            "round {round}: built {sessions} sessions in {built:?}; revoke-all: Redis {redis:?} in all, longest script {longest:?}, round trip {rtt:?}, slowest concurrent PING {worst_ping:?}"
        );
        longest_ms.push(longest.as_secs_f64() * 1e3);
        redis_ms.push(redis.as_secs_f64() * 1e3);
        rtt_ms.push(rtt.as_secs_f64() * 1e3);
        ping_ms.push(worst_ping.as_secs_f64() * 1e3);
    }
    println!(
        "medians over {ROUNDS} rounds, {sessions} sessions of one user (about {chunks} scripts): Redis time {:.1} ms in all, longest script {:.1} ms (goal: about 50 at most), round trip {:.1} ms, slowest PING {:.1} ms (goal < 150)",
        median(redis_ms),
        median(longest_ms),
        median(rtt_ms),
        median(ping_ms)
    );
}
