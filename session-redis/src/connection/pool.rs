//! The store's own bb8 pool ([`crate::RedisStoreBuilder::with_pool`]):
//! bb8-redis's connection manager, plus a mark on each connection that
//! failed so bb8 discards it instead of lending a dead socket again after
//! a restart (bb8-redis alone only finds out by a PING on checkout, a
//! round trip per request).

use bb8::ManageConnection;
use bb8_redis::RedisConnectionManager;
use redis::ErrorKind;

use super::call::{forgets, send_and_wait};
use super::*;

impl Connection {
    /// One server, through a pool of `size` connections (one connected
    /// now, so an unreachable server fails the build).
    pub(crate) async fn pool(
        client: &redis::Client,
        size: u32,
        timeouts: Timeouts,
    ) -> Result<Self, RedisError> {
        let manager = RedisConnectionManager::new(client.get_connection_info().clone())?;
        let pool = bb8::Pool::builder()
            .max_size(size.max(1))
            .connection_timeout(timeouts.connect)
            .test_on_check_out(false)
            .build(PoolManager(manager))
            .await?;
        drop(pool.get().await.map_err(pool_error)?);
        Ok(Connection {
            link: Link::Pool(pool),
            waiting: None,
            deadline: timeouts.command,
        })
    }
}

/// bb8-redis's manager, with connections that remember when they failed.
pub(super) struct PoolManager(RedisConnectionManager);

/// A pooled connection and whether it failed.
pub(super) struct Pooled {
    conn: MultiplexedConnection,
    broken: bool,
}

impl ManageConnection for PoolManager {
    type Connection = Pooled;
    type Error = RedisError;

    async fn connect(&self) -> Result<Pooled, RedisError> {
        Ok(Pooled {
            conn: self.0.connect().await?,
            broken: false,
        })
    }

    async fn is_valid(&self, conn: &mut Pooled) -> Result<(), RedisError> {
        self.0.is_valid(&mut conn.conn).await
    }

    fn has_broken(&self, conn: &mut Pooled) -> bool {
        conn.broken
    }
}

/// One attempt on a connection of the pool, marked broken when the call
/// may have run on it or the server behind it changed.
pub(super) async fn attempt(
    pool: &bb8::Pool<PoolManager>,
    call: &Call<'_>,
    wait: Option<ReplicaWait>,
) -> Attempt {
    match pool.get().await {
        // Nothing was sent: try again.
        Err(e) => Err((pool_error(e), Verdict::NotApplied { reconnect: true })),
        Ok(mut pooled) => {
            let attempt = send_and_wait(call, &mut pooled.conn, wait).await;
            if let Err((_, v)) = &attempt {
                pooled.broken = forgets(*v);
            }
            attempt
        }
    }
}

/// `cmd` on a pooled connection; `None` when it fails.
pub(super) async fn send_once(pool: &bb8::Pool<PoolManager>, cmd: &redis::Cmd) -> Option<Value> {
    let mut pooled = pool.get().await.ok()?;
    pooled.conn.send_packed_command(cmd).await.ok()
}

/// A pool checkout failure as a Redis error.
pub(super) fn pool_error(e: bb8::RunError<RedisError>) -> RedisError {
    match e {
        bb8::RunError::User(e) => e,
        bb8::RunError::TimedOut => {
            RedisError::from((ErrorKind::Io, "timed out waiting for a pooled connection"))
        }
    }
}
