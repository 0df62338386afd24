//! The setups the randomized history (the parent module) runs on, each
//! reached through fault proxies, each with a call deadline of
//! [`DEADLINE`]:
//! * one Redis on the store's default multiplexed connection, and the
//!   same through the store's own pool (feature `pool`): one proxy, and
//!   the server restarted twice during the run (it keeps its data in an
//!   append-only file synced on every write, so a restart loses nothing
//!   acknowledged);
//! * a 3-primary Cluster (feature `cluster`), each primary behind a proxy
//!   it announces as its address;
//! * a Sentinel group (feature `sentinel`), its sentinels told to monitor
//!   the primary at a proxy's address, so the store reaches the primary
//!   the sentinels name through the proxy (the replica replicates
//!   directly).
//!
//! Cluster and Sentinel are not restarted: a cluster node forgets the
//! address it announces, and a Sentinel primary's restart is a failover
//! test of its own (`sentinel_failover`).
//!
//! Also here: the run of the history on a setup, its summary (printed,
//! and in every failure message), the checks on the final state, and the
//! fixtures (the seeded generator, the context, new sessions).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_harness::{Fault, FaultProxy, Server};
use session_core::store::{Loaded, NewSession, SessionStore, SlotTag, StoreContext, UserKey};
use session_core::{KeyRing, Metadata, PublicId, SessionId, Timestamp, UserId};
use session_redis::RedisStore;

use super::{CLIENTS, Client, ClientEnd, End, History, LIMIT, Tally, USERS, lock};

/// Each call's deadline, within which a lost reply is sent again (and a
/// reply that has not come within half of it is taken as lost). Longer
/// than the default 1 s (which faults.rs and the HTTP suite's
/// `lost_replies` run with) so that a machine loaded by the tests running
/// beside this one (2 cores) does not turn a slow resend into an unknown
/// outcome: this test is about what is resent, not how fast. Seen at 1 s
/// under `cargo nextest`: 1 unknown of 1,671 calls on Sentinel.
const DEADLINE: Duration = Duration::from_secs(10);

/// xorshift64*: small, seeded, good enough to pick operations.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    /// The next number.
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A number below `n`.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The wall clock, as the store's context takes it.
pub(super) fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Timestamp::from_unix_millis(ms)
}

/// The context of every call: now, long retention, no data cap.
pub(super) fn cx() -> StoreContext {
    StoreContext {
        now: now(),
        ended_retention: Duration::from_secs(600),
        refresh_threshold: Duration::from_secs(60),
        max_data_bytes: usize::MAX,
        anonymous_analytics: true,
    }
}

/// The key of user `u` of [`USERS`].
pub(super) fn user_key(ring: &KeyRing, u: usize) -> UserKey {
    UserKey::new(ring, UserId::new(USERS[u]).expect("user id"))
}

/// A session on a fresh key, for `user` (anonymous: `None`), with the
/// counter field `n` at 0.
pub(super) fn new_session(ring: &KeyRing, user: Option<UserKey>) -> NewSession {
    let slot = user.as_ref().map_or_else(SlotTag::random, |u| u.slot);
    NewSession {
        key: SessionId::generate(ring, slot).storage_key(),
        public_id: PublicId::generate(),
        user,
        idle_timeout: Duration::from_secs(3600),
        absolute_deadline: now().plus(Duration::from_secs(86_400)),
        metadata: Metadata::default(),
        data: BTreeMap::from([("n".to_owned(), "0".to_owned())]),
    }
}

/// A setup to run the history on.
pub(super) struct Rig {
    /// Its name, in the printed summary.
    pub name: &'static str,
    /// The store under test, reaching Redis through `proxies`.
    pub store: RedisStore,
    /// Where the final reads connect, once the faults are off.
    pub final_url: String,
    /// The proxies in front of the servers.
    pub proxies: Vec<Arc<FaultProxy>>,
    /// Restarts the server, keeping its data (blocking); `None` where the
    /// setup cannot.
    pub restart: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// Runs the history on `rig` and checks it; panics, naming the seed, on a
/// violation, and when any call's outcome was left unknown.
async fn run(rig: Rig) {
    let seed = std::env::var("RANDOMIZED_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now().as_unix_millis() | 1);
    let name = rig.name;
    println!("{name}: RANDOMIZED_SEED={seed}");
    let started = Instant::now();
    let rig = Arc::new(rig);
    let ring = KeyRing::generate();
    let h = Arc::new(History::default());
    lock(&h.born).resize(USERS.len(), BTreeSet::new());
    let t = Arc::new(Tally::default());
    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        let c = Client {
            id,
            rig: rig.clone(),
            ring: ring.clone(),
            h: h.clone(),
            t: t.clone(),
            field: format!("k{id}"),
        };
        tasks.push(tokio::spawn(c.run(seed)));
    }
    let mut ends = Vec::new();
    for task in tasks {
        ends.push(task.await.expect("a client panicked"));
    }
    let took = started.elapsed();
    for p in &rig.proxies {
        p.set(Fault::None);
    }
    let dropped: u64 = rig.proxies.iter().map(|p| p.replies_dropped()).sum();
    let ops: u64 = t.ends.iter().map(|n| n.load(Ordering::SeqCst)).sum();
    let summary = format!(
        "{name} (seed {seed}): {ops} operations in {took:.1?}: {} acknowledged, {} unknown, \
         {} timed out, {} unreplicated, {} failed (not applied), {} other; {dropped} replies dropped, \
         {} resets, {} restarts",
        t.count(End::Acked),
        t.count(End::Unknown),
        t.count(End::TimedOut),
        t.count(End::Unreplicated),
        t.count(End::Failed),
        t.count(End::Unexpected),
        t.resets.load(Ordering::SeqCst),
        t.restarts.load(Ordering::SeqCst),
    );
    println!("{summary}");
    let problems = final_checks(&rig.final_url, &ring, &h, &ends).await;
    // The first violation of each kind (the text before its first digit).
    let mut kinds: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for p in &problems {
        let kind = p.split(|c: char| c.is_ascii_digit()).next().unwrap_or(p);
        kinds.entry(kind).or_insert((0, p)).0 += 1;
    }
    let kinds: Vec<String> = kinds
        .values()
        .map(|(n, first)| format!("{n} × {first}"))
        .collect();
    assert!(
        problems.is_empty(),
        "{summary}: {} violations, by kind (count × first):\n{}",
        problems.len(),
        kinds.join("\n")
    );
    assert_eq!(
        t.count(End::Unknown),
        0,
        "{summary}: calls were left with an unknown outcome (a resend should have answered them)"
    );
    assert!(
        dropped > 0,
        "{summary}: no reply was dropped: raise the fault rate"
    );
    println!("{name}: checked, {:.1?} in all", started.elapsed());
}

/// The checks on the final state, read on a store of its own with the
/// faults off; returns the violations, those of the history first.
async fn final_checks(url: &str, ring: &KeyRing, h: &History, ends: &[ClientEnd]) -> Vec<String> {
    let direct = RedisStore::connect(url).await.expect("the final store");
    let mut problems = lock(&h.violations).clone();
    let (mut exact, mut ranged) = (0, 0);
    for end in ends {
        let Ok(Loaded::Active { record, .. }) = direct.load(&end.counter, &cx()).await else {
            problems.push("a counter session is not active".into());
            continue;
        };
        let n = record.data["n"].as_u64().unwrap_or(u64::MAX);
        if n < end.acked || n > end.acked + end.unsure {
            problems.push(format!(
                "G3: counter {n} with {} acknowledged and {} unsure increments",
                end.acked, end.unsure
            ));
        }
        if end.unsure == 0 {
            exact += 1
        } else {
            ranged += 1
        }
    }
    let tainted = lock(&h.tainted).clone();
    let ended = lock(&h.ended).clone();
    for (u, name) in USERS.iter().enumerate() {
        let listed = direct
            .list_user_sessions(&user_key(ring, u), &cx())
            .await
            .expect("list");
        if listed.len() > LIMIT as usize {
            problems.push(format!("G4: {name} ends with {} sessions", listed.len()));
        }
        if tainted.contains(&u) {
            continue;
        }
        let active: BTreeSet<PublicId> = listed.iter().map(|s| s.public_id).collect();
        let born = lock(&h.born)[u].clone();
        let expected: BTreeSet<PublicId> = born
            .iter()
            .filter(|p| !ended.contains(p))
            .copied()
            .collect();
        if active != expected {
            problems.push(format!(
                "{name}: {} sessions active, {} expected: {} expected not active, {} active not expected",
                active.len(),
                expected.len(),
                expected.difference(&active).count(),
                active.difference(&expected).count()
            ));
        }
    }
    for end in ends {
        for m in &end.sessions {
            if tainted.contains(&m.user) || ended.contains(&m.public) {
                continue;
            }
            match direct.load(&m.key, &cx()).await {
                Ok(Loaded::Active { record, .. }) if record.public_id == m.public => {
                    let read = record.data.get(&end.field).and_then(|v| v.as_u64());
                    if let Some(left) = m.value.filter(|left| *left != read) {
                        problems.push(format!(
                            "a final read found {read:?} where {left:?} was left"
                        ));
                    }
                }
                other => problems.push(format!("a live session's current key loads {other:?}")),
            }
        }
    }
    println!(
        "counters: {exact} exact, {ranged} within a range (an increment's outcome unsure); users left \
         out of the exact session checks: {}",
        tainted.len()
    );
    problems
}

/// One Redis that keeps its data across a restart (an append-only file,
/// synced before each reply), behind a proxy; and a restart of it for the
/// rig.
fn durable_server() -> (Arc<FaultProxy>, String, Arc<dyn Fn() + Send + Sync>) {
    let settings = ["--appendonly", "yes", "--appendfsync", "always"];
    let server = Server::start_with(&settings).expect("redis");
    let proxy = Arc::new(FaultProxy::start(server.port()).expect("proxy"));
    let url = server.url();
    let server = Mutex::new(server);
    let restart = move || {
        server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .restart()
            .expect("the server restarts");
    };
    (proxy, url, Arc::new(restart))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_on_one_redis() {
    let (proxy, final_url, restart) = durable_server();
    let store = RedisStore::builder(proxy.url())
        .with_command_timeout(DEADLINE)
        .build()
        .await
        .expect("store");
    run(Rig {
        name: "one Redis",
        store,
        final_url,
        proxies: vec![proxy],
        restart: Some(restart),
    })
    .await;
}

#[cfg(feature = "pool")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_on_the_pool() {
    let (proxy, final_url, restart) = durable_server();
    let store = RedisStore::builder(proxy.url())
        .with_pool(4)
        .with_command_timeout(DEADLINE)
        .build()
        .await
        .expect("store");
    run(Rig {
        name: "pool",
        store,
        final_url,
        proxies: vec![proxy],
        restart: Some(restart),
    })
    .await;
}

#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_on_cluster() {
    let (cluster, proxies) = redis_harness::Cluster::start_behind_proxies(3).expect("cluster");
    let seeds: Vec<String> = proxies
        .iter()
        .map(|p| format!("127.0.0.1:{}", p.port()))
        .collect();
    let url = format!("redis+cluster://{}", seeds.join(","));
    let store = RedisStore::builder(url.clone())
        .with_command_timeout(DEADLINE)
        .build()
        .await
        .expect("store");
    run(Rig {
        name: "Cluster",
        store,
        // Through the proxies (the nodes announce them), faults off.
        final_url: url,
        proxies: proxies.into_iter().map(Arc::new).collect(),
        restart: None,
    })
    .await;
    drop(cluster);
}

#[cfg(feature = "sentinel")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_on_sentinel() {
    use redis_harness::{SENTINEL_MASTER, raw_command};

    let mut group = redis_harness::Sentinel::start().expect("sentinel group");
    let primary = group.primary_mut().url();
    let proxy = Arc::new(FaultProxy::start(group.primary_mut().port()).expect("proxy"));
    // The sentinels' ports, from `redis+sentinel://127.0.0.1:S1,…/mymaster`.
    let url = group.url();
    let ports: Vec<String> = url
        .trim_start_matches("redis+sentinel://")
        .split('/')
        .next()
        .unwrap_or_default()
        .split(',')
        .filter_map(|a| a.rsplit(':').next().map(str::to_owned))
        .collect();
    assert_eq!(ports.len(), 3, "the sentinels of {url}");
    let at = proxy.port().to_string();
    for port in &ports {
        let port: u16 = port.parse().expect("a sentinel port");
        for args in [
            vec!["SENTINEL", "REMOVE", SENTINEL_MASTER],
            vec![
                "SENTINEL",
                "MONITOR",
                SENTINEL_MASTER,
                "127.0.0.1",
                &at,
                "2",
            ],
        ] {
            let r = raw_command(port, &args).expect("a sentinel answers");
            assert!(r.starts_with("+OK"), "{args:?} on sentinel {port}: {r}");
        }
        let named = raw_command(
            port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER],
        )
        .expect("a sentinel answers");
        assert!(named.contains(&at), "sentinel {port} names {named:?}");
    }
    let store = RedisStore::builder(url)
        .with_command_timeout(DEADLINE)
        .build()
        .await
        .expect("store");
    run(Rig {
        name: "Sentinel",
        store,
        // The primary itself, faults off.
        final_url: primary,
        proxies: vec![proxy],
        restart: None,
    })
    .await;
    drop(group);
}
