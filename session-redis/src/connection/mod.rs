//! The connection to Redis, and the one place where Redis errors become
//! [`StoreFailure`]s and every call gets its deadline.
//!
//! * A single Redis: by default one multiplexed connection shared by every
//!   request, which pipelines concurrent requests on one socket; or a bb8
//!   pool of connections, each request checking one out exclusively (no
//!   PING on checkout, so no extra round trip).
//! * Redis Cluster: redis-rs's async cluster connection, built with no
//!   retries of its own (it would resend a command whose reply was lost on
//!   a new connection); this module retries what provably did not run.
//! * Sentinel: a multiplexed connection to the primary the sentinels name.
//!
//! One rule for all (the contract's Topologies section): a command is sent
//! at most once unless its reply proves it did not run. MOVED, ASK,
//! TRYAGAIN, CLUSTERDOWN, MASTERDOWN, LOADING and READONLY (a demoted
//! primary) are retried within the deadline, after dropping the connection
//! when the server may have changed (READONLY: a managed Redis failed over
//! behind one name, or Sentinel promoted another node). A connection that
//! fails after the command was sent gives [`StoreFailure::OutcomeUnknown`]
//! and is dropped (a pooled one is discarded), never repeated; the next
//! call connects afresh, so every mode recovers after a restart.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
#[cfg(feature = "cluster")]
use redis::cluster_async::ClusterConnection;
#[cfg(feature = "sentinel")]
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, Script, ServerErrorKind, Value};
use session_core::StoreFailure;

mod call;
mod direct;
mod every_primary;
#[cfg(feature = "pool")]
mod pool;

#[cfg(feature = "cluster")]
use call::slot_of;
use call::{Call, RETRY_PAUSE, Verdict, acks, evalsha, forgets, refused, verdict, wait_command};
pub(crate) use direct::client;
use direct::{Direct, Source};
#[cfg(feature = "pool")]
use pool::PoolManager;
#[cfg(feature = "pool")]
pub(crate) use pool::{SharedPool, pool_error};

#[derive(Clone)]
enum Link {
    Direct(Arc<Direct>),
    #[cfg(feature = "pool")]
    Pool(bb8::Pool<PoolManager>),
    #[cfg(feature = "cluster")]
    Cluster(ClusterConnection),
    /// The application's own connection manager (it reconnects by itself).
    Manager(ConnectionManager),
    /// The application's own bb8 pool of multiplexed connections.
    #[cfg(feature = "pool")]
    AppPool(Arc<dyn SharedPool>),
}

/// A connection the application already has, for the store to share.
#[derive(Clone)]
pub(crate) enum Provided {
    /// A redis-rs `ConnectionManager` to one server.
    Manager(ConnectionManager),
    /// A redis-rs cluster connection.
    #[cfg(feature = "cluster")]
    Cluster(ClusterConnection),
    /// A bb8 pool of multiplexed connections.
    #[cfg(feature = "pool")]
    Pool(Arc<dyn SharedPool>),
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
    fn direct(source: Source, connect_timeout: Duration, command_timeout: Duration) -> Self {
        let source = Arc::new(source);
        let link = || {
            Link::Direct(Arc::new(Direct {
                source: source.clone(),
                current: std::sync::Mutex::new(None),
                config: AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(command_timeout)),
                connecting: tokio::sync::Mutex::new(()),
            }))
        };
        Connection {
            link: link(),
            waiting: Some(link()),
            deadline: command_timeout,
        }
    }

    /// One server.
    pub(crate) async fn single(
        client: redis::Client,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<Self, RedisError> {
        let conn = Self::direct(Source::Server(client), connect_timeout, command_timeout);
        conn.connect_now().await?;
        Ok(conn)
    }

    /// One server, through a pool of `size` connections.
    #[cfg(feature = "pool")]
    pub(crate) async fn pool(
        client: redis::Client,
        size: u32,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<Self, RedisError> {
        let pool = bb8::Pool::builder()
            .max_size(size.max(1))
            .connection_timeout(connect_timeout)
            .test_on_check_out(false)
            .build(PoolManager(client))
            .await?;
        // Fail now, like the other topologies, if the server is unreachable.
        drop(pool.get().await.map_err(pool_error)?);
        Ok(Connection {
            link: Link::Pool(pool),
            waiting: None,
            deadline: command_timeout,
        })
    }

    /// A cluster, from any reachable seed nodes; over TLS when `tls` is
    /// `Some` (with the given root, else the system's roots).
    #[cfg(feature = "cluster")]
    pub(crate) async fn cluster(
        seeds: Vec<String>,
        credentials: Option<(String, String)>,
        tls: Option<Option<Vec<u8>>>,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<Self, RedisError> {
        // No retries by the client: it would resend a command whose reply
        // was lost. `run` retries what provably did not run.
        let mut builder = redis::cluster::ClusterClient::builder(seeds)
            .connection_timeout(connect_timeout)
            .response_timeout(command_timeout)
            .retries(0);
        // (Without the tls feature, parsing refuses rediss+cluster URLs.)
        #[cfg(feature = "tls")]
        if let Some(root) = tls {
            builder = builder.tls(redis::TlsMode::Secure);
            if let Some(root) = root {
                builder = builder.certs(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root),
                });
            }
        }
        #[cfg(not(feature = "tls"))]
        let _ = tls;
        if let Some((user, password)) = credentials {
            if !user.is_empty() {
                builder = builder.username(user);
            }
            builder = builder.password(password);
        }
        let conn = builder.build()?.get_async_connection().await?;
        Ok(Connection {
            link: Link::Cluster(conn),
            waiting: None,
            deadline: command_timeout,
        })
    }

    /// The application's own connection: no second connection for WAIT
    /// (an invalidation waiting for replicas holds up the app's commands on
    /// it meanwhile).
    pub(crate) fn provided(provided: Provided, command_timeout: Duration) -> Self {
        let link = match provided {
            Provided::Manager(m) => Link::Manager(m),
            #[cfg(feature = "cluster")]
            Provided::Cluster(c) => Link::Cluster(c),
            #[cfg(feature = "pool")]
            Provided::Pool(p) => Link::AppPool(p),
        };
        Connection {
            link,
            waiting: None,
            deadline: command_timeout,
        }
    }

    /// A primary watched by sentinels.
    #[cfg(feature = "sentinel")]
    pub(crate) async fn sentinel(
        sentinels: Vec<String>,
        master: String,
        credentials: Option<(String, String)>,
        tls: bool,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<Self, RedisError> {
        let mut node = SentinelNodeConnectionInfo::default();
        if tls {
            node = node.set_tls_mode(redis::TlsMode::Secure);
        }
        if let Some((user, password)) = credentials {
            let mut info = redis::RedisConnectionInfo::default().set_password(password);
            if !user.is_empty() {
                info = info.set_username(user);
            }
            node = node.set_redis_connection_info(info);
        }
        let client =
            SentinelClient::build(sentinels, master, Some(node), SentinelServerType::Master)?;
        let conn = Self::direct(
            Source::Sentinel(tokio::sync::Mutex::new(client)),
            connect_timeout,
            command_timeout,
        );
        conn.connect_now().await?;
        Ok(conn)
    }

    async fn connect_now(&self) -> Result<(), RedisError> {
        if let Link::Direct(d) = &self.link {
            d.connection().await?;
        }
        Ok(())
    }

    /// Runs `script` by SHA (loading it on NOSCRIPT) within the deadline,
    /// sending it again only when a reply proves it did not run.
    pub(crate) async fn run<K: AsRef<str> + Sync>(
        &self,
        script: &Script,
        keys: &[K],
        args: &[String],
    ) -> Result<Value, StoreFailure> {
        Ok(self
            .run_on(
                &self.link,
                Call::Script(script, &evalsha(script, keys, args)),
                keys,
                None,
            )
            .await?
            .0)
    }

    /// Sends one plain command (a read) with the same deadline and rules.
    pub(crate) async fn query(&self, cmd: &redis::Cmd) -> Result<Value, StoreFailure> {
        Ok(self
            .run_on(&self.link, Call::Command(cmd), &[] as &[&str], None)
            .await?
            .0)
    }

    /// Sends plain commands on `key` in one round trip (a pipeline), with
    /// the same deadline and rules: sent again only when a reply proves
    /// they did not run. The reply is the list of their replies.
    pub(crate) async fn pipeline(
        &self,
        pipe: &redis::Pipeline,
        key: &str,
    ) -> Result<Value, StoreFailure> {
        Ok(self
            .run_on(&self.link, Call::Pipeline(pipe), &[key], None)
            .await?
            .0)
    }

    /// Runs `script` like [`Connection::run`], then waits (WAIT, on the
    /// same connection) until `wait.replicas` replicas acknowledge it or
    /// `wait.within` passes. Returns the reply and whether enough replicas
    /// acknowledged.
    pub(crate) async fn run_and_wait<K: AsRef<str> + Sync>(
        &self,
        script: &Script,
        keys: &[K],
        args: &[String],
        wait: ReplicaWait,
    ) -> Result<(Value, bool), StoreFailure> {
        let link = self.waiting.as_ref().unwrap_or(&self.link);
        let cmd = evalsha(script, keys, args);
        let call = Call::Script(script, &cmd);
        let (value, acked) = self.run_on(link, call, keys, Some(wait)).await?;
        Ok((value, acked.unwrap_or(0) >= i64::from(wait.replicas)))
    }

    async fn run_on<K: AsRef<str> + Sync>(
        &self,
        link: &Link,
        call: Call<'_>,
        keys: &[K],
        wait: Option<ReplicaWait>,
    ) -> Result<(Value, Option<i64>), StoreFailure> {
        let call = async {
            loop {
                let attempt = match link {
                    Link::Direct(d) => Self::attempt_direct(d, &call, wait).await,
                    // Boxed: the pool's and the cluster client's futures
                    // are kilobytes, and every call would carry them.
                    other => Box::pin(Self::attempt_other(other, &call, keys, wait)).await,
                };
                if let Err((_, v)) = &attempt
                    && forgets(*v)
                {
                    self.forget_direct();
                }
                match attempt {
                    Ok(done) => return Ok(done),
                    Err((_, Verdict::NotApplied { .. })) => tokio::time::sleep(RETRY_PAUSE).await,
                    Err((e, Verdict::Unknown)) => {
                        return Err(StoreFailure::OutcomeUnknown(Arc::new(e)));
                    }
                    Err((e, Verdict::Refused)) => return Err(refused(e)),
                }
            }
        };
        let deadline = self.deadline + wait.map_or(Duration::ZERO, |w| w.within);
        match tokio::time::timeout(deadline, call).await {
            Err(_) => Err(StoreFailure::TimedOut(deadline)),
            Ok(result) => result,
        }
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

    /// One attempt on the shared multiplexed connection (the default).
    /// Connecting and waiting for replicas are boxed: they are rare, and
    /// their futures would otherwise make every call's future kilobytes.
    async fn attempt_direct(
        d: &Direct,
        call: &Call<'_>,
        wait: Option<ReplicaWait>,
    ) -> Result<(Value, Option<i64>), (RedisError, Verdict)> {
        let mut conn = match d.current() {
            Some(conn) => conn,
            None => match Box::pin(d.connection()).await {
                Ok(conn) => conn,
                // Nothing was sent: try again.
                Err(e) => return Err((e, Verdict::NotApplied { reconnect: true })),
            },
        };
        match call.send(&mut conn).await {
            Ok(v) => {
                let acked = match wait {
                    None => None,
                    Some(w) => Box::pin(acks(&mut conn, Some(&wait_command(w)))).await,
                };
                Ok((v, acked))
            }
            Err(e) => {
                let v = verdict(&e);
                if forgets(v) {
                    d.forget();
                }
                Err((e, v))
            }
        }
    }

    /// One attempt on a pool, the application's connection or a cluster.
    async fn attempt_other<K: AsRef<str> + Sync>(
        link: &Link,
        call: &Call<'_>,
        keys: &[K],
        wait: Option<ReplicaWait>,
    ) -> Result<(Value, Option<i64>), (RedisError, Verdict)> {
        // (The keys route a cluster's WAIT to the primary that wrote.)
        #[cfg(not(feature = "cluster"))]
        let _ = keys;
        let wait_cmd = wait.map(wait_command);
        let wait_cmd = wait_cmd.as_ref();
        match link {
            Link::Direct(d) => Self::attempt_direct(d, call, wait).await,
            #[cfg(feature = "pool")]
            Link::Pool(pool) => match pool.get().await {
                Err(e) => Err((pool_error(e), Verdict::NotApplied { reconnect: true })),
                Ok(mut pooled) => match call.send(&mut pooled.conn).await {
                    Ok(v) => Ok((v, acks(&mut pooled.conn, wait_cmd).await)),
                    Err(e) => {
                        let v = verdict(&e);
                        if forgets(v) {
                            pooled.broken = true;
                        }
                        Err((e, v))
                    }
                },
            },
            #[cfg(feature = "pool")]
            Link::AppPool(pool) => match pool.checkout().await {
                // Nothing was sent: try again.
                Err(e) => Err((e, Verdict::NotApplied { reconnect: true })),
                Ok(mut conn) => match call.send(&mut **conn).await {
                    Ok(v) => Ok((v, acks(&mut **conn, wait_cmd).await)),
                    Err(e) => {
                        let v = verdict(&e);
                        Err((e, v))
                    }
                },
            },
            Link::Manager(m) => {
                let mut m = m.clone();
                match call.send(&mut m).await {
                    Ok(v) => Ok((v, acks(&mut m, wait_cmd).await)),
                    Err(e) => {
                        let v = verdict(&e);
                        Err((e, v))
                    }
                }
            }
            #[cfg(feature = "cluster")]
            Link::Cluster(c) => {
                let mut c = c.clone();
                match call.send(&mut c).await {
                    Ok(v) => {
                        let acked = match (wait_cmd, keys.first()) {
                            (Some(cmd), Some(key)) => {
                                use redis::cluster_routing::{
                                    Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr,
                                };
                                let route =
                                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                                        Route::new(slot_of(key.as_ref()), SlotAddr::Master),
                                    ));
                                c.route_command(cmd.clone(), route)
                                    .await
                                    .ok()
                                    .and_then(|v| redis::from_redis_value(v).ok())
                            }
                            _ => None,
                        };
                        Ok((v, acked))
                    }
                    Err(e) => {
                        let v = verdict(&e);
                        Err((e, v))
                    }
                }
            }
        }
    }

    /// Whether multi-key scripts must stay within one slot.
    #[cfg(feature = "cluster")]
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.link, Link::Cluster(_))
    }

    /// Never: this build has no Cluster support.
    #[cfg(not(feature = "cluster"))]
    pub(crate) fn is_cluster(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests;
