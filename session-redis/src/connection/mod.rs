//! The connection to Redis, and the one place where Redis errors become
//! [`StoreFailure`]s and every call gets its deadline.
//!
//! One file per kind of link:
//!
//! * [`direct`]: by default one multiplexed connection to a single Redis,
//!   or to the primary the sentinels name, shared by every request (it
//!   pipelines concurrent requests on one socket) and made again after a
//!   failure.
//! * [`pool`]: the store's own bb8 pool on bb8-redis's connection manager,
//!   each request checking one connection out exclusively (no PING on
//!   checkout, so no extra round trip).
//! * [`cluster`]: redis-rs's async cluster connection, built with no
//!   retries of its own (it would resend a command whose reply was lost on
//!   a new connection); this module retries what provably did not run.
//! * [`provided`]: the application's own connection manager, bb8 pool or
//!   cluster connection.
//!
//! One rule for all (the contract's Topologies section): a command is sent
//! again only when its reply proves it did not run, or when its resend is
//! a no-op. MOVED, ASK, TRYAGAIN, CLUSTERDOWN, MASTERDOWN, LOADING and
//! READONLY (a demoted primary) are retried within the deadline, after
//! dropping the connection when the server may have changed (READONLY: a
//! managed Redis failed over behind one name, or Sentinel promoted another
//! node). A connection that fails after the command was sent is dropped (a
//! pooled one is discarded) and the call is sent again on a fresh one when
//! its resend is a no-op: every script (the steps that are not idempotent
//! carry an operation id, `scripts/operation.lua`) and a read. Only when
//! the deadline passes is the outcome [`StoreFailure::OutcomeUnknown`]. A
//! plain write and the plain save's pipeline are never sent again: they
//! fail with it at once. The next call connects afresh, so every mode
//! recovers after a restart.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
#[cfg(feature = "cluster")]
use redis::cluster_async::ClusterConnection;
use redis::{RedisError, Script, Value};
use session_core::StoreFailure;

mod call;
#[cfg(feature = "cluster")]
mod cluster;
mod direct;
mod every_primary;
#[cfg(feature = "pool")]
mod pool;
mod provided;

use call::{Attempt, Call, RETRY_PAUSE, Resend, Verdict, evalsha, forgets, refused};
use direct::Direct;
pub(crate) use direct::client;
pub(crate) use provided::Provided;
#[cfg(feature = "pool")]
pub(crate) use provided::SharedPool;

/// How long connecting may take, and the deadline of every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// Opening a connection (to a server, a sentinel or a cluster node).
    pub(crate) connect: Duration,
    /// One call, retries of what provably did not run included.
    pub(crate) command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            command: Duration::from_secs(1),
        }
    }
}

/// Whether connections use TLS, and which roots they trust.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Tls {
    /// Plain TCP.
    Off,
    /// TLS, trusting the system's roots.
    SystemRoots,
    /// TLS, trusting this CA certificate (PEM) instead.
    #[cfg(feature = "tls")]
    PrivateRoot(Vec<u8>),
}

/// The link every call of a [`Connection`] takes.
#[derive(Clone)]
enum Link {
    /// The shared multiplexed connection (a single server or Sentinel).
    Direct(Arc<Direct>),
    /// The store's own bb8 pool.
    #[cfg(feature = "pool")]
    Pool(bb8::Pool<pool::PoolManager>),
    /// A Redis Cluster (the store's or the application's connection).
    #[cfg(feature = "cluster")]
    Cluster(Arc<cluster::Clustered>),
    /// The application's own connection manager (it reconnects by itself).
    Manager(ConnectionManager),
    /// The application's own bb8 pool of multiplexed connections.
    #[cfg(feature = "pool")]
    AppPool(Arc<dyn SharedPool>),
}

/// How replies from every primary become one.
#[cfg(feature = "cluster")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    /// Integer replies are added up.
    Sum,
    /// Array replies are concatenated.
    Concatenate,
}

/// A cloneable handle on the shared connection.
#[derive(Clone)]
pub(crate) struct Connection {
    link: Link,
    /// On a direct link: a second connection for invalidations that wait
    /// for replicas (WAIT blocks the connection it runs on, and would hold
    /// up every request sharing it).
    waiting: Option<Link>,
    deadline: Duration,
}

/// What a script's last argument is: an operation id, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A step that is not idempotent, whose last argument is its operation
    /// id (`scripts/operation.lua`): a resend marks the id with its age.
    WithId,
    /// A script whose resend is a no-op as it is.
    Plain,
}

impl Step {
    /// How to send `script` again after a lost reply, when it is a step
    /// with an id (else it is sent again as it is).
    fn resend<'a, K>(
        self,
        script: &'a Script,
        keys: &'a [K],
        args: &'a [String],
    ) -> Option<Resend<'a, K>> {
        match self {
            Step::WithId => Some(Resend { script, keys, args }),
            Step::Plain => None,
        }
    }
}

/// Whether a call was sent once, or again after a lost reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Its first send answered.
    Once,
    /// A reply was lost, and a resend answered.
    Again,
}

/// How many replicas an invalidation waits for, and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplicaWait {
    pub(crate) replicas: u32,
    pub(crate) within: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("cluster", &self.is_cluster())
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Connection {
    /// Sends one plain command with the same deadline and rules, never
    /// again after a lost reply.
    pub(crate) async fn query(&self, cmd: &redis::Cmd) -> Result<Value, StoreFailure> {
        let call = Call::Command(cmd);
        Ok(self.run_on(&self.link, call, &[] as &[&str], None).await?.0)
    }

    /// Sends one plain command whose resend is a no-op (a read), again on
    /// a fresh connection after a lost reply, within the deadline.
    pub(crate) async fn read(&self, cmd: &redis::Cmd) -> Result<Value, StoreFailure> {
        let call = Call::Read(cmd);
        Ok(self.run_on(&self.link, call, &[] as &[&str], None).await?.0)
    }

    /// Runs `script` by SHA (loading it on NOSCRIPT) within the deadline,
    /// sending it again when a reply proves it did not run, or on a fresh
    /// connection when its reply was lost (every script's resend is a
    /// no-op). Says whether it was sent again after a lost reply
    /// ([`Sent::Again`]): a create that then finds its own key knows it
    /// made it.
    ///
    /// `step` says whether the script is a step with an operation id (its
    /// last argument): a resend marks the id with its age (see
    /// `scripts/operation.lua`).
    pub(crate) async fn run_telling<K: AsRef<str> + Sync>(
        &self,
        script: &Script,
        keys: &[K],
        args: &[String],
        step: Step,
    ) -> Result<(Value, Sent), StoreFailure> {
        let cmd = evalsha(script, keys, args);
        let call = Call::Script(script, &cmd);
        let resend = step.resend(script, keys, args);
        let (value, _, sent) = self
            .run_sent(&self.link, call, keys, None, resend.as_ref())
            .await?;
        Ok((value, sent))
    }

    /// Sends plain commands on `key` in one round trip (a pipeline), with
    /// the same deadline and rules: sent again only when a reply proves
    /// they did not run. The reply is the list of their replies.
    pub(crate) async fn pipeline(
        &self,
        pipe: &redis::Pipeline,
        key: &str,
    ) -> Result<Value, StoreFailure> {
        let call = Call::Pipeline(pipe);
        Ok(self.run_on(&self.link, call, &[key], None).await?.0)
    }

    /// Runs `script` like [`Connection::run_telling`], then waits (WAIT, on the
    /// same connection) until `wait.replicas` replicas acknowledge it or
    /// `wait.within` passes. Returns the reply and whether enough replicas
    /// acknowledged.
    pub(crate) async fn run_and_wait<K: AsRef<str> + Sync>(
        &self,
        script: &Script,
        keys: &[K],
        args: &[String],
        step: Step,
        wait: ReplicaWait,
    ) -> Result<(Value, bool), StoreFailure> {
        let link = self.waiting.as_ref().unwrap_or(&self.link);
        let cmd = evalsha(script, keys, args);
        let call = Call::Script(script, &cmd);
        let resend = step.resend(script, keys, args);
        let (value, acked, _) = self
            .run_sent(link, call, keys, Some(wait), resend.as_ref())
            .await?;
        Ok((value, acked.unwrap_or(0) >= i64::from(wait.replicas)))
    }

    /// Sends `call` on `link` until it runs or provably cannot, within the
    /// deadline (plus the replica wait when there is one).
    async fn run_on<K: AsRef<str> + Sync>(
        &self,
        link: &Link,
        call: Call<'_>,
        keys: &[K],
        wait: Option<ReplicaWait>,
    ) -> Result<(Value, Option<i64>), StoreFailure> {
        let (value, acked, _) = self.run_sent(link, call, keys, wait, None).await?;
        Ok((value, acked))
    }

    /// [`Connection::run_on`], also saying whether the call was sent again
    /// after a lost reply. A resendable call whose reply was lost goes
    /// again on a fresh connection (at once the first time, then after
    /// [`RETRY_PAUSE`]); when the deadline passes after a lost reply, the
    /// outcome is unknown.
    async fn run_sent<K: AsRef<str> + Sync>(
        &self,
        link: &Link,
        call: Call<'_>,
        keys: &[K],
        wait: Option<ReplicaWait>,
        resend: Option<&Resend<'_, K>>,
    ) -> Result<(Value, Option<i64>, Sent), StoreFailure> {
        let mut lost: Option<RedisError> = None;
        let first_sent = std::time::Instant::now();
        let sending = async {
            loop {
                // A step's resend carries its id marked with its age.
                let again = match (&lost, resend, call) {
                    (Some(_), Some(resend), Call::Script(script, _)) => {
                        Some((script, resend.command(first_sent.elapsed())))
                    }
                    _ => None,
                };
                let call = match &again {
                    Some((script, cmd)) => Call::Script(script, cmd),
                    None => call,
                };
                let attempt = Self::attempt(link, &call, keys, wait);
                let attempt = match call.resendable() {
                    // A reply that has not come within half the deadline
                    // is taken as lost: the call goes again on a fresh
                    // connection (a no-op if it ran), instead of waiting
                    // out the deadline on a connection that may be dead
                    // without saying so.
                    true => match tokio::time::timeout(self.deadline / 2, attempt).await {
                        Ok(attempt) => attempt,
                        Err(_) => Err((Self::answered_nothing(link), Verdict::Unknown)),
                    },
                    false => attempt.await,
                };
                match attempt {
                    Ok((value, acked)) => {
                        let sent = if lost.is_some() {
                            Sent::Again
                        } else {
                            Sent::Once
                        };
                        return Ok((value, acked, sent));
                    }
                    Err((e, verdict)) => {
                        if forgets(verdict) {
                            self.forget_direct();
                        }
                        match verdict {
                            Verdict::NotApplied { .. } => tokio::time::sleep(RETRY_PAUSE).await,
                            Verdict::Unknown if call.resendable() => {
                                if lost.replace(e).is_some() {
                                    tokio::time::sleep(RETRY_PAUSE).await;
                                }
                            }
                            Verdict::Unknown => {
                                return Err(StoreFailure::OutcomeUnknown(Arc::new(e)));
                            }
                            Verdict::Refused => return Err(refused(e)),
                        }
                    }
                }
            }
        };
        let deadline = self.deadline + wait.map_or(Duration::ZERO, |w| w.within);
        let outcome = tokio::time::timeout(deadline, sending).await;
        if outcome.is_err() {
            Self::answered_nothing(link);
        }
        match (outcome, lost) {
            (Ok(result), _) => result,
            (Err(_), Some(e)) => Err(StoreFailure::OutcomeUnknown(Arc::new(e))),
            (Err(_), None) => Err(StoreFailure::TimedOut(deadline)),
        }
    }

    /// One attempt on whichever link this is. The attempts other than the
    /// direct one are boxed: the pool's and the cluster client's futures
    /// are kilobytes, and every call would carry them.
    async fn attempt<K: AsRef<str> + Sync>(
        link: &Link,
        call: &Call<'_>,
        keys: &[K],
        wait: Option<ReplicaWait>,
    ) -> Attempt {
        // (The keys route a cluster's WAIT to the primary that wrote.)
        #[cfg(not(feature = "cluster"))]
        let _ = keys;
        match link {
            Link::Direct(d) => d.attempt(call, wait).await,
            #[cfg(feature = "pool")]
            Link::Pool(p) => Box::pin(pool::attempt(p, call, wait)).await,
            #[cfg(feature = "cluster")]
            Link::Cluster(c) => Box::pin(cluster::attempt(c, call, keys, wait)).await,
            Link::Manager(m) => Box::pin(provided::attempt_manager(m, call, wait)).await,
            #[cfg(feature = "pool")]
            Link::AppPool(p) => Box::pin(provided::attempt_pool(p.as_ref(), call, wait)).await,
        }
    }

    /// After an attempt got no reply within its time: the error it stands
    /// for, and the store's own cluster connection marked to be replaced
    /// (see `cluster.rs`; a direct connection is dropped as after any lost
    /// reply).
    fn answered_nothing(link: &Link) -> RedisError {
        #[cfg(feature = "cluster")]
        if let Link::Cluster(c) = link {
            c.answered_nothing();
        }
        #[cfg(not(feature = "cluster"))]
        let _ = link;
        RedisError::from((redis::ErrorKind::Io, "no reply within half the deadline"))
    }

    /// Drops both direct connections (the shared one and the one that
    /// waits for replicas) after either failed: whatever broke one (a
    /// restart, a failover to another primary) broke the other too, and the
    /// one used less often would otherwise fail its next call as well.
    fn forget_direct(&self) {
        for link in std::iter::once(&self.link).chain(self.waiting.as_ref()) {
            if let Link::Direct(d) = link {
                d.forget();
            }
        }
    }

    /// Whether multi-key scripts must stay within one slot.
    pub(crate) fn is_cluster(&self) -> bool {
        #[cfg(feature = "cluster")]
        if let Link::Cluster(_) = self.link {
            return true;
        }
        false
    }
}
