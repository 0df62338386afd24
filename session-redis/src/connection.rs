//! The connection to Redis, and the one place where Redis errors become
//! [`StoreFailure`]s and every call gets its deadline.
//!
//! * A single Redis: by default one auto-reconnecting multiplexed
//!   connection (redis-rs's `ConnectionManager`) shared by every request,
//!   which pipelines concurrent requests on one socket; or a bb8 pool of
//!   connections, each request checking one out exclusively (no PING on
//!   checkout, so no extra round trip). Prefer the pool when single
//!   requests carry large values that would hold up others on a shared
//!   socket; the benchmark `bench_connections` compares the two.
//! * Redis Cluster: redis-rs's async cluster connection, which routes each
//!   script by the slot of its first key and follows MOVED/ASK.
//! * Sentinel: a multiplexed connection to the primary the sentinels name.
//!   A script refused with READONLY (a failover is under way: nothing was
//!   applied) drops that connection and is retried against the primary the
//!   sentinels then name, within the deadline. A connection that fails
//!   mid-command (the outcome is unknown) is dropped and the error is
//!   reported, never repeated, so nothing is applied twice; the next call
//!   connects to the current primary.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    AsyncConnectionConfig, ErrorKind, RedisConnectionInfo, RedisError, Script, ServerErrorKind,
    Value,
};
use session_core::StoreFailure;

#[derive(Clone)]
enum Link {
    Single(ConnectionManager),
    Pool(bb8::Pool<redis::Client>),
    Cluster(ClusterConnection),
    Sentinel(Arc<SentinelLink>),
}

/// The sentinels, and the connection to the primary they last named.
struct SentinelLink {
    client: tokio::sync::Mutex<SentinelClient>,
    current: std::sync::Mutex<Option<MultiplexedConnection>>,
    config: AsyncConnectionConfig,
}

impl SentinelLink {
    fn current(&self) -> Option<MultiplexedConnection> {
        self.current.lock().ok().and_then(|c| c.clone())
    }

    /// The connection to the primary, asking the sentinels when there is none.
    async fn connection(&self) -> Result<MultiplexedConnection, RedisError> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let mut client = self.client.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let conn = client
            .get_async_connection_with_config(&self.config)
            .await?;
        if let Ok(mut current) = self.current.lock() {
            *current = Some(conn.clone());
        }
        Ok(conn)
    }

    fn forget(&self) {
        if let Ok(mut current) = self.current.lock() {
            *current = None;
        }
    }
}

/// How replies from every primary become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    /// Integer replies are added up.
    Sum,
    /// Array replies are concatenated.
    Concatenate,
}

/// How long to wait before asking the sentinels again during a failover.
const FAILOVER_PAUSE: Duration = Duration::from_millis(50);

/// A cloneable handle on the shared connection.
#[derive(Clone)]
pub(crate) struct Connection {
    link: Link,
    deadline: Duration,
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
    /// One server.
    pub(crate) async fn single(
        client: redis::Client,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<Self, RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(command_timeout))
            .set_number_of_retries(1);
        let manager = ConnectionManager::new_with_config(client, config).await?;
        Ok(Connection {
            link: Link::Single(manager),
            deadline: command_timeout,
        })
    }

    /// One server, through a pool of `size` connections.
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
            .build(client)
            .await?;
        // Fail now, like the other topologies, if the server is unreachable.
        drop(pool.get().await.map_err(pool_error)?);
        Ok(Connection {
            link: Link::Pool(pool),
            deadline: command_timeout,
        })
    }

    /// A cluster, from any reachable seed nodes.
    pub(crate) async fn cluster(
        seeds: Vec<String>,
        credentials: Option<(String, String)>,
        tls: Option<Option<Vec<u8>>>,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<Self, RedisError> {
        let mut builder = redis::cluster::ClusterClient::builder(seeds)
            .connection_timeout(connect_timeout)
            .response_timeout(command_timeout)
            .retries(2);
        if let Some(root) = tls {
            builder = builder.tls(redis::TlsMode::Secure);
            if let Some(root) = root {
                builder = builder.certs(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root),
                });
            }
        }
        if let Some((user, password)) = credentials {
            if !user.is_empty() {
                builder = builder.username(user);
            }
            builder = builder.password(password);
        }
        let conn = builder.build()?.get_async_connection().await?;
        Ok(Connection {
            link: Link::Cluster(conn),
            deadline: command_timeout,
        })
    }

    /// A primary watched by sentinels.
    pub(crate) async fn sentinel(
        sentinels: Vec<String>,
        master: String,
        credentials: Option<(String, String)>,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<Self, RedisError> {
        let mut node = SentinelNodeConnectionInfo::default();
        if let Some((user, password)) = credentials {
            let mut info = RedisConnectionInfo::default().set_password(password);
            if !user.is_empty() {
                info = info.set_username(user);
            }
            node = node.set_redis_connection_info(info);
        }
        let client =
            SentinelClient::build(sentinels, master, Some(node), SentinelServerType::Master)?;
        let link = Arc::new(SentinelLink {
            client: tokio::sync::Mutex::new(client),
            current: std::sync::Mutex::new(None),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(command_timeout)),
        });
        link.connection().await?;
        Ok(Connection {
            link: Link::Sentinel(link),
            deadline: command_timeout,
        })
    }

    /// Runs the script `source` (by EVAL: analytics are rare) with no keys on
    /// every primary of the cluster, adding up integer replies or
    /// concatenating array replies.
    pub(crate) async fn run_on_every_primary(
        &self,
        source: &str,
        args: &[String],
        combine: Combine,
    ) -> Result<Value, StoreFailure> {
        use redis::cluster_routing::{
            AggregateOp, MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo,
        };
        let Link::Cluster(c) = &self.link else {
            return Err(StoreFailure::Corrupt("not a cluster".into()));
        };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(source).arg(0).arg(args);
        let policy = match combine {
            Combine::Sum => ResponsePolicy::Aggregate(AggregateOp::Sum),
            Combine::Concatenate => ResponsePolicy::CombineArrays,
        };
        let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, Some(policy)));
        let call = async { c.clone().route_command(cmd, routing).await };
        match tokio::time::timeout(self.deadline, call).await {
            Err(_) => Err(StoreFailure::TimedOut(self.deadline)),
            Ok(Err(e)) => Err(StoreFailure::unavailable(e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Whether multi-key scripts must stay within one slot.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.link, Link::Cluster(_))
    }

    /// Runs `script` by SHA (loading it on NOSCRIPT) within the deadline.
    pub(crate) async fn run(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<Value, StoreFailure> {
        let mut invocation = script.prepare_invoke();
        for k in keys {
            invocation.key(k);
        }
        for a in args {
            invocation.arg(a);
        }
        let call = async {
            match &self.link {
                Link::Single(m) => invocation.invoke_async::<Value>(&mut m.clone()).await,
                Link::Pool(pool) => {
                    let mut conn = pool.get().await.map_err(pool_error)?;
                    invocation.invoke_async::<Value>(&mut *conn).await
                }
                Link::Cluster(c) => invocation.invoke_async::<Value>(&mut c.clone()).await,
                Link::Sentinel(link) => loop {
                    let mut conn = match link.connection().await {
                        Ok(c) => c,
                        // Nothing was sent: ask the sentinels again.
                        Err(_) => {
                            tokio::time::sleep(FAILOVER_PAUSE).await;
                            continue;
                        }
                    };
                    match invocation.invoke_async::<Value>(&mut conn).await {
                        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly) => {
                            // Refused by a demoted primary: not applied, safe to retry.
                            link.forget();
                            tokio::time::sleep(FAILOVER_PAUSE).await;
                        }
                        Err(e) => {
                            if e.is_io_error()
                                || e.is_connection_dropped()
                                || e.is_unrecoverable_error()
                            {
                                link.forget();
                            }
                            break Err(e);
                        }
                        Ok(v) => break Ok(v),
                    }
                },
            }
        };
        match tokio::time::timeout(self.deadline, call).await {
            Err(_) => Err(StoreFailure::TimedOut(self.deadline)),
            Ok(Err(e)) if e.is_timeout() => Err(StoreFailure::TimedOut(self.deadline)),
            Ok(Err(e)) => Err(StoreFailure::unavailable(e)),
            Ok(Ok(v)) => Ok(v),
        }
    }
}

/// A pool checkout failure as a Redis error.
fn pool_error(e: bb8::RunError<RedisError>) -> RedisError {
    match e {
        bb8::RunError::User(e) => e,
        bb8::RunError::TimedOut => {
            RedisError::from((ErrorKind::Io, "timed out waiting for a pooled connection"))
        }
    }
}

/// A client for one server: over TLS with `root` as the trusted CA when
/// given (a `rediss://` URL), else with the system's roots.
pub(crate) fn client(url: &str, root: Option<&[u8]>) -> Result<redis::Client, RedisError> {
    match root {
        Some(root) if url.starts_with("rediss://") => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.to_vec()),
            },
        ),
        _ => redis::Client::open(url),
    }
}
