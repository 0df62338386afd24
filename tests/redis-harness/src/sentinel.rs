//! A Sentinel set: a primary, a replica and three sentinels watching
//! them, plain or secured ([`Security`]: TLS, ACL users on the data nodes).

use std::time::{Duration, Instant};

use crate::security::{Auth, userinfo};
use crate::{
    FaultProxy, POLL, READY_WITHIN, Result, Security, Server, ServerKind, binary, fail, free_port,
    raw_command, scratch_dir, wait_replicated_as,
};

/// The name Sentinel monitors the primary under.
pub const SENTINEL_MASTER: &str = "mymaster";

/// A primary, a replica and three sentinels (quorum 2) watching them.
#[derive(Debug)]
pub struct Sentinel {
    primary: Server,
    replica: Server,
    sentinels: Vec<Server>,
}

/// Sends `args` to the data node `server` as the harness.
fn on(server: &Server, args: &[&str]) -> Result<String> {
    server.command(args).map_err(|e| fail(e.to_string()))
}

impl Sentinel {
    /// Starts the group and waits until the replica is in sync and every
    /// sentinel knows the primary.
    pub fn start() -> Result<Sentinel> {
        Ok(Self::start_inner(false, &Security::default())?.0)
    }

    /// The same set secured as `security` says. With TLS, the sentinels
    /// monitor the primary on its TLS port and name the TLS ports, the
    /// replica replicates over TLS, and clients reach the sentinels on
    /// their TLS ports; with ACL, the data nodes have the application's
    /// user and the harness's own (which the replica and the sentinels
    /// authenticate as), the default user off; the sentinels have no
    /// users. [`Sentinel::secure_url`] names it.
    pub fn start_secured(security: &Security) -> Result<Sentinel> {
        Ok(Self::start_inner(false, security)?.0)
    }

    /// The same group, the replica replicating through a [`FaultProxy`]:
    /// [`Fault::Blackhole`](crate::Fault::Blackhole) on it cuts the replication link (the primary's
    /// stream no longer arrives) while everything else keeps working.
    pub fn start_with_replication_proxy() -> Result<(Sentinel, FaultProxy)> {
        let (group, proxy) = Self::start_inner(true, &Security::default())?;
        let proxy = proxy.ok_or_else(|| fail("no proxy"))?;
        Ok((group, proxy))
    }

    fn start_inner(proxied: bool, security: &Security) -> Result<(Sentinel, Option<FaultProxy>)> {
        let settings = |extra: &[&str]| -> Vec<String> {
            // No 5 s wait before the first full sync (the default with
            // diskless sync).
            let mut s = vec!["--repl-diskless-sync-delay".to_owned(), "0".to_owned()];
            if let Some((user, password)) = security.harness_auth() {
                s.extend(["--masteruser".into(), user, "--masterauth".into(), password]);
            }
            s.extend(extra.iter().map(|a| a.to_string()));
            s
        };
        let primary = Server::start_secured(ServerKind::Redis, &settings(&[]), security, false)?;
        let proxy = if proxied {
            Some(FaultProxy::start(primary.port())?)
        } else {
            None
        };
        // Replicas and sentinels reach the primary on its TLS port when it
        // has one (tls-replication).
        let primary_addr = primary.tls_port().unwrap_or(primary.port());
        let upstream = proxy.as_ref().map_or(primary_addr, FaultProxy::port);
        let replica = Server::start_secured(
            ServerKind::Redis,
            &settings(&["--replicaof", "127.0.0.1", &upstream.to_string()]),
            security,
            false,
        )?;
        primary.wait_for("the replica's link", READY_WITHIN, |p| {
            p.command(&["INFO", "replication"])
                .is_ok_and(|r| r.contains("connected_slaves:1") && r.contains("state=online"))
        })?;
        // After a diskless sync the primary streams commands only once the
        // replica's first ACK arrives (up to a second later); until then a
        // WAIT cannot succeed. A write that reaches the replica proves the
        // stream flows.
        on(&primary, &["SET", "harness:stream-check", "1"])?;
        let auth: Auth = security.harness_auth();
        wait_replicated_as(&auth, primary.port(), replica.port(), READY_WITHIN)?;
        on(&primary, &["DEL", "harness:stream-check"])?;
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            sentinels.push(start_sentinel(primary_addr, security)?);
        }
        for s in &sentinels {
            s.wait_for("sentinel names the primary", READY_WITHIN, |s| {
                raw_command(
                    s.port(),
                    &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER],
                )
                .is_ok_and(|r| r.contains(&primary_addr.to_string()))
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

    /// The URL a client of a set from [`Sentinel::start_secured`] uses:
    /// `rediss+sentinel://` and the sentinels' TLS ports when they speak
    /// TLS, `credentials` (user, password, for the data nodes) when given:
    /// `rediss+sentinel://app:pw@127.0.0.1:T1,…/mymaster`.
    pub fn secure_url(&self, credentials: Option<(&str, &str)>) -> String {
        let tls = self.sentinels.iter().all(|s| s.tls_port().is_some());
        let seeds: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.tls_port().unwrap_or(s.port())))
            .collect();
        let scheme = if tls {
            "rediss+sentinel"
        } else {
            "redis+sentinel"
        };
        format!(
            "{scheme}://{}{}/{SENTINEL_MASTER}",
            userinfo(credentials),
            seeds.join(",")
        )
    }

    /// The server that is primary at the start.
    pub fn primary_mut(&mut self) -> &mut Server {
        &mut self.primary
    }

    /// The server that is a replica at the start.
    pub fn replica(&self) -> &Server {
        &self.replica
    }

    /// The (plain) port of the server the sentinels now name as primary
    /// (they name its TLS port on a TLS set).
    pub fn current_primary_port(&self) -> Option<u16> {
        let reply = raw_command(
            self.sentinels[0].port(),
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER],
        )
        .ok()?;
        let named = reply
            .lines()
            .filter_map(|l| l.trim().parse::<u16>().ok())
            .next()?;
        Some(
            [&self.primary, &self.replica]
                .into_iter()
                .find(|s| s.tls_port() == Some(named))
                .map_or(named, Server::port),
        )
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
                    raw_command(s.port(), &["SENTINEL", "MASTER", SENTINEL_MASTER]).is_ok_and(|r| {
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

/// One sentinel monitoring the primary at `primary_port` (its TLS port on
/// a TLS set), secured as `security` says.
fn start_sentinel(primary_port: u16, security: &Security) -> Result<Server> {
    let port = free_port()?;
    let tls_port = match security.tls {
        Some(_) => Some(free_port()?),
        None => None,
    };
    let dir = scratch_dir("sentinel")?;
    let conf = dir.join("sentinel.conf");
    let text = format!(
        "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\nlogfile {log}\n{tls}\
         sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {primary_port} 2\n{auth}\
         sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n\
         sentinel failover-timeout {SENTINEL_MASTER} 5000\n\
         sentinel parallel-syncs {SENTINEL_MASTER} 1\n",
        dir = dir.display(),
        log = dir.join("redis.log").display(),
        tls = security.sentinel_tls_lines(tls_port),
        auth = security.sentinel_auth_lines(SENTINEL_MASTER),
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
        auth: None,
        tls_port,
    };
    server.spawn_and_wait()?;
    Ok(server)
}
