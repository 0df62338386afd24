//! Cluster spread: how evenly sessions land on the primaries of a Redis
//! Cluster. Every session lives in one of 64 buckets (`BUCKETS`), each one
//! hash slot, so a Cluster of any size spreads them over at most 64 slots.
//!
//! ```sh
//! cargo run --release -p session-redis --features cluster --example cluster_spread            # 6 primaries, 60,000 sessions
//! cargo run --release -p session-redis --features cluster --example cluster_spread -- 9 90000 # 9 primaries
//! ```
//!
//! Starts its own Cluster on free loopback ports, creates the sessions
//! (half anonymous, half signed in, two per user) and prints, per primary,
//! its keys and `used_memory`, and the busiest primary's share against an
//! even one. docs/operations.md quotes a run.

use common::{info_field, manager_on};
use redis_harness::{Cluster, raw_command};
use session_core::{KeyRing, Metadata, SessionConfig, UserId};

mod common;

fn keys(port: u16) -> u64 {
    raw_command(port, &["DBSIZE"])
        .unwrap_or_default()
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let primaries: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(6);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(60_000);
    let cluster = Cluster::start(primaries).expect("the cluster starts");
    let ports: Vec<u16> = cluster.nodes().iter().map(|s| s.port()).collect();
    let config = SessionConfig::builder(KeyRing::generate())
        .build()
        .expect("config");
    let m = manager_on(&cluster.url(), config).await;
    let before: Vec<u64> = ports
        .iter()
        .map(|p| info_field(*p, "memory", "used_memory"))
        .collect();
    let mut workers = Vec::new();
    for w in 0..32 {
        let m = m.clone();
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                if i % 2 == 0 {
                    let s = m.session_for_request([]);
                    s.insert("counter", 0).await.expect("insert");
                    s.finish().await;
                } else {
                    let user = UserId::new(format!("user-{}", i / 4)).expect("user id");
                    m.create_for_user(&user, Metadata::default(), None)
                        .await
                        .expect("a signed-in session");
                }
                i += 32;
            }
        }));
    }
    for w in workers {
        w.await.expect("creator");
    }
    println!("{primaries} primaries, {n} sessions (half anonymous, half signed in)");
    let mut total_keys = 0;
    let mut counts = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let k = keys(*p);
        let mem = info_field(*p, "memory", "used_memory").saturating_sub(before[i]);
        println!("  primary {i}: {k} keys, {} KB more memory", mem / 1024);
        total_keys += k;
        counts.push(k);
    }
    let busiest = counts.iter().copied().max().unwrap_or(0);
    let quietest = counts.iter().copied().min().unwrap_or(0);
    let even = total_keys as f64 / primaries as f64;
    println!(
        "busiest primary: {:.1}% of the keys ({:.2}x an even share); quietest: {:.1}%",
        100.0 * busiest as f64 / total_keys.max(1) as f64,
        busiest as f64 / even.max(1.0),
        100.0 * quietest as f64 / total_keys.max(1) as f64,
    );
}
