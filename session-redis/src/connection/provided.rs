//! The application's own connection, shared with the store: a redis-rs
//! `ConnectionManager`, a bb8 pool of multiplexed connections, or a
//! cluster connection. The store never reconnects these (the manager and
//! the pool do it themselves) and gets no second connection for WAIT.

use super::call::send_and_wait;
use super::*;

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

/// A pool the application owns, lending multiplexed connections
/// (`bb8::Pool<bb8_redis::RedisConnectionManager>`, or any bb8 manager of
/// redis-rs multiplexed connections).
#[cfg(feature = "pool")]
#[async_trait::async_trait]
pub(crate) trait SharedPool: Send + Sync {
    /// A connection, returned to the pool when dropped.
    async fn checkout(
        &self,
    ) -> Result<Box<dyn std::ops::DerefMut<Target = MultiplexedConnection> + Send>, RedisError>;
}

#[cfg(feature = "pool")]
#[async_trait::async_trait]
impl<M> SharedPool for bb8::Pool<M>
where
    M: bb8::ManageConnection<Connection = MultiplexedConnection, Error = RedisError>,
{
    async fn checkout(
        &self,
    ) -> Result<Box<dyn std::ops::DerefMut<Target = MultiplexedConnection> + Send>, RedisError>
    {
        let conn = self.get_owned().await.map_err(super::pool::pool_error)?;
        Ok(Box::new(conn))
    }
}

impl Connection {
    /// The application's own connection: no second connection for WAIT
    /// (an invalidation waiting for replicas holds up the app's commands on
    /// it meanwhile).
    pub(crate) fn provided(provided: Provided, command_timeout: Duration) -> Self {
        let link = match provided {
            Provided::Manager(m) => Link::Manager(m),
            #[cfg(feature = "cluster")]
            Provided::Cluster(c) => Link::Cluster(Arc::new(super::cluster::Clustered::provided(c))),
            #[cfg(feature = "pool")]
            Provided::Pool(p) => Link::AppPool(p),
        };
        Connection {
            link,
            waiting: None,
            deadline: command_timeout,
        }
    }
}

/// One attempt on the application's connection manager.
pub(super) async fn attempt_manager(
    m: &ConnectionManager,
    call: &Call<'_>,
    wait: Option<ReplicaWait>,
) -> Attempt {
    send_and_wait(call, &mut m.clone(), wait).await
}

/// One attempt on a connection of the application's pool.
#[cfg(feature = "pool")]
pub(super) async fn attempt_pool(
    pool: &dyn SharedPool,
    call: &Call<'_>,
    wait: Option<ReplicaWait>,
) -> Attempt {
    match pool.checkout().await {
        // Nothing was sent: try again.
        Err(e) => Err((e, Verdict::NotApplied { reconnect: true })),
        Ok(mut conn) => send_and_wait(call, &mut **conn, wait).await,
    }
}
