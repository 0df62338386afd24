//! Pools: the store's own bb8 pool of connections that remember when they
//! failed, and the application's bb8 pool behind one small trait.

use super::*;

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
        let conn = self.get_owned().await.map_err(pool_error)?;
        Ok(Box::new(conn))
    }
}

/// Pooled connections that remember when they failed, so bb8 discards them
/// instead of lending a dead socket forever after a restart.
#[cfg(feature = "pool")]
pub(super) struct PoolManager(pub(super) redis::Client);

/// A pooled connection and whether it failed.
#[cfg(feature = "pool")]
pub(super) struct Pooled {
    pub(super) conn: MultiplexedConnection,
    pub(super) broken: bool,
}

#[cfg(feature = "pool")]
impl bb8::ManageConnection for PoolManager {
    type Connection = Pooled;
    type Error = RedisError;

    async fn connect(&self) -> Result<Pooled, RedisError> {
        Ok(Pooled {
            conn: self.0.get_multiplexed_async_connection().await?,
            broken: false,
        })
    }

    async fn is_valid(&self, conn: &mut Pooled) -> Result<(), RedisError> {
        redis::cmd("PING").query_async::<()>(&mut conn.conn).await
    }

    fn has_broken(&self, conn: &mut Pooled) -> bool {
        conn.broken
    }
}

/// A pool checkout failure as a Redis error.
#[cfg(feature = "pool")]
pub(crate) fn pool_error(e: bb8::RunError<RedisError>) -> RedisError {
    match e {
        bb8::RunError::User(e) => e,
        bb8::RunError::TimedOut => {
            RedisError::from((ErrorKind::Io, "timed out waiting for a pooled connection"))
        }
    }
}
