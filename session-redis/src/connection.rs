//! The connection to Redis, and the one place where Redis errors become
//! [`StoreFailure`]s and every call gets its deadline.
//!
//! * A single Redis: one auto-reconnecting multiplexed connection
//!   (redis-rs's `ConnectionManager`), shared by every request.
//! * Redis Cluster: redis-rs's async cluster connection, which routes each
//!   script by the slot of its first key and follows MOVED/ASK.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{RedisError, Script, Value};
use session_core::StoreFailure;

#[derive(Clone)]
enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

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

    /// A cluster, from any reachable seed nodes.
    pub(crate) async fn cluster(
        seeds: Vec<String>,
        credentials: Option<(String, String)>,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<Self, RedisError> {
        let mut builder = redis::cluster::ClusterClient::builder(seeds)
            .connection_timeout(connect_timeout)
            .response_timeout(command_timeout)
            .retries(2);
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
                Link::Cluster(c) => invocation.invoke_async::<Value>(&mut c.clone()).await,
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
