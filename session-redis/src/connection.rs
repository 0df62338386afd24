//! The connection to Redis: one auto-reconnecting multiplexed connection
//! (redis-rs's `ConnectionManager`), and the one place where Redis errors
//! become [`StoreFailure`]s and every call gets its deadline.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script, Value};
use session_core::StoreFailure;

/// A cloneable handle on the shared connection.
#[derive(Clone)]
pub(crate) struct Connection {
    manager: ConnectionManager,
    deadline: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Connection {
    pub(crate) async fn open(
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
            manager,
            deadline: command_timeout,
        })
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
        let mut conn = self.manager.clone();
        match tokio::time::timeout(self.deadline, invocation.invoke_async::<Value>(&mut conn)).await
        {
            Err(_) => Err(StoreFailure::TimedOut(self.deadline)),
            Ok(Err(e)) if e.is_timeout() => Err(StoreFailure::TimedOut(self.deadline)),
            Ok(Err(e)) => Err(StoreFailure::unavailable(e)),
            Ok(Ok(v)) => Ok(v),
        }
    }
}
