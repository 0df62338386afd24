//! `local_redis cluster|sentinel|standalone`: starts that Redis topology on
//! free loopback ports (never 6379) with the test harness, prints the
//! `REDIS_URL` to point a demo at, and stays in the foreground until
//! Ctrl-C, SIGTERM or SIGHUP; then it stops every server it started, by
//! PID (the harness's handles stop them when they drop).
//!
//! `./scripts/redis-topology` runs it (installing Redis when missing).
//! Stdout gets the one line `REDIS_URL=…` (a shell assignment, nothing to
//! quote); everything else goes to stderr.

#![forbid(unsafe_code)]

use std::future::poll_fn;
use std::process::ExitCode;
use std::task::Poll;

use redis_harness::{Cluster, Sentinel, Server};
use tokio::signal::unix::{Signal, SignalKind, signal};

const USAGE: &str = "usage: local_redis cluster|sentinel|standalone
  cluster     3 primaries (Redis Cluster, no replicas)
  sentinel    a primary, a replica and 3 sentinels (master name mymaster)
  standalone  one server";

/// The started servers; dropping it stops them all.
enum Topology {
    Standalone(Server),
    Cluster(Cluster),
    Sentinel(Sentinel),
}

impl Topology {
    /// Whether `kind` names a topology.
    fn known(kind: &str) -> bool {
        matches!(kind, "standalone" | "cluster" | "sentinel")
    }

    fn start(kind: &str) -> Result<Topology, String> {
        let started = match kind {
            "standalone" => Server::standalone().map(Topology::Standalone),
            "cluster" => Cluster::start(3).map(Topology::Cluster),
            "sentinel" => Sentinel::start().map(Topology::Sentinel),
            other => return Err(format!("unknown topology `{other}`")),
        };
        started.map_err(|e| format!("could not start the {kind} set: {e}"))
    }

    fn url(&self) -> String {
        match self {
            Topology::Standalone(s) => s.url(),
            Topology::Cluster(c) => c.url(),
            Topology::Sentinel(s) => s.url(),
        }
    }

    /// What runs where, for the person reading the terminal.
    fn describe(&mut self) -> String {
        match self {
            Topology::Standalone(s) => format!("one redis-server on port {}", s.port()),
            Topology::Cluster(c) => {
                let ports: Vec<String> = c.nodes().iter().map(|n| n.port().to_string()).collect();
                format!(
                    "a Redis Cluster of {} primaries on ports {}",
                    ports.len(),
                    ports.join(", ")
                )
            }
            Topology::Sentinel(s) => {
                let replica = s.replica().port();
                let primary = s.primary_mut().port();
                format!(
                    "primary on port {primary}, replica on port {replica}, 3 sentinels (the URL's ports) watching `{}`",
                    redis_harness::SENTINEL_MASTER
                )
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = match args.as_slice() {
        [help] if help == "-h" || help == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [kind] if Topology::known(kind) => kind.clone(),
        [other] => {
            eprintln!("local_redis: unknown topology `{other}`\n{USAGE}");
            return ExitCode::from(2);
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("local_redis: cannot start the signal runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The handlers go in before any server starts: a signal that arrives
    // while the set starts up is kept, and the set is stopped right after.
    let signals = runtime.block_on(async {
        [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
        ]
        .into_iter()
        .map(signal)
        .collect::<std::io::Result<Vec<Signal>>>()
    });
    let mut signals = match signals {
        Ok(s) => s,
        Err(e) => {
            eprintln!("local_redis: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };

    eprintln!("local_redis: starting {kind}…");
    let mut topology = match Topology::start(&kind) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("local_redis: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = topology.url();
    println!("REDIS_URL={url}");
    eprintln!(
        "local_redis: {}.\n\
         Run a demo against it in another terminal:\n\
         \n    REDIS_URL='{url}' cargo run -p axum-demo    # or actix-demo, rocket-demo\n\
         \nCtrl-C (or SIGTERM) stops every server started here.",
        topology.describe()
    );

    runtime.block_on(poll_fn(|cx| {
        if signals.iter_mut().any(|s| s.poll_recv(cx).is_ready()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));

    drop(topology);
    eprintln!("local_redis: stopped the {kind} set");
    ExitCode::SUCCESS
}
