//! The harness starts what it promises and stops it by PID, and its proxy
//! loses what it is told to.

use redis_harness::{Cluster, Fault, FaultProxy, Sentinel, Server, raw_command};

#[test]
fn a_standalone_server_starts_stops_and_restarts_on_its_port() {
    let mut s = Server::standalone().unwrap();
    assert_ne!(s.port(), 6379);
    assert!(
        raw_command(s.port(), &["SET", "k", "v"])
            .unwrap()
            .starts_with("+OK")
    );
    let pid = s.pid().unwrap();
    s.stop();
    assert!(!s.is_running());
    assert!(
        raw_command(s.port(), &["PING"]).is_err(),
        "the stopped server still answers"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z"))
                .unwrap_or(true)
    );
    s.restart().unwrap();
    assert!(
        raw_command(s.port(), &["PING"])
            .unwrap()
            .starts_with("+PONG")
    );
}

#[test]
fn dropping_a_server_kills_it() {
    let s = Server::standalone().unwrap();
    let port = s.port();
    drop(s);
    assert!(raw_command(port, &["PING"]).is_err());
}

#[test]
fn a_cluster_of_three_primaries_covers_every_slot() {
    let c = Cluster::start(3).unwrap();
    assert_eq!(c.nodes().len(), 3);
    let info = raw_command(c.nodes()[0].port(), &["CLUSTER", "INFO"]).unwrap();
    assert!(
        info.contains("cluster_slots_assigned:16384") && info.contains("cluster_size:3"),
        "{info}"
    );
    assert!(c.url().starts_with("redis+cluster://127.0.0.1:"));
}

#[test]
fn sentinel_watches_a_primary_and_a_replica() {
    let s = Sentinel::start().unwrap();
    let primary = s.current_primary_port().unwrap();
    assert_ne!(primary, s.replica().port());
    assert!(s.url().ends_with("/mymaster"));
    s.wait_until_failover_ready().unwrap();
}

#[test]
fn a_proxy_drops_the_share_of_script_replies_it_is_told_after_they_ran() {
    let server = Server::standalone().expect("redis-server starts");
    let proxy = FaultProxy::start(server.port()).expect("proxy");
    proxy.set(Fault::DropScriptReplies(15));
    let mut answered = 0;
    for _ in 0..100 {
        // One connection per call: a dropped reply resets only its own.
        if let Ok(reply) = raw_command(proxy.port(), &["EVAL", "return 1", "0"])
            && reply.starts_with(":1")
        {
            answered += 1;
        }
        let ping = raw_command(proxy.port(), &["PING"]).expect("PING through the proxy");
        assert!(ping.starts_with("+PONG"), "other commands pass: {ping}");
    }
    assert_eq!(proxy.replies_dropped(), 15, "exactly 15% of script replies");
    assert_eq!(answered, 85);
    // Every script ran, answered or not.
    let stats = raw_command(server.port(), &["INFO", "commandstats"]).expect("INFO");
    assert!(stats.contains("cmdstat_eval:calls=100,"), "{stats}");
}
