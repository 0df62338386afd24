//! One direct connection, shared: the multiplexed connection to a single
//! Redis or to the primary the sentinels name (reconnecting after a
//! failure), and building a client with or without TLS.

use super::*;

/// Where a direct connection comes from.
pub(super) enum Source {
    /// A server by URL (re-resolved on every connect).
    Server(redis::Client),
    /// The primary the sentinels currently name.
    #[cfg(feature = "sentinel")]
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

/// One multiplexed connection, made on demand and dropped when it fails.
pub(super) struct Direct {
    pub(super) source: Arc<Source>,
    pub(super) current: std::sync::Mutex<Option<MultiplexedConnection>>,
    pub(super) config: AsyncConnectionConfig,
    pub(super) connecting: tokio::sync::Mutex<()>,
}

impl Direct {
    pub(super) fn current(&self) -> Option<MultiplexedConnection> {
        self.current.lock().ok().and_then(|c| c.clone())
    }

    /// The connection, connecting when there is none.
    pub(super) async fn connection(&self) -> Result<MultiplexedConnection, RedisError> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let conn = match &*self.source {
            Source::Server(client) => {
                client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?
            }
            #[cfg(feature = "sentinel")]
            Source::Sentinel(client) => {
                client
                    .lock()
                    .await
                    .get_async_connection_with_config(&self.config)
                    .await?
            }
        };
        if let Ok(mut current) = self.current.lock() {
            *current = Some(conn.clone());
        }
        Ok(conn)
    }

    pub(super) fn forget(&self) {
        if let Ok(mut current) = self.current.lock() {
            *current = None;
        }
    }
}

/// A client for one server: over TLS with `root` as the trusted CA when
/// given (a `rediss://` URL), else with the system's roots.
#[cfg(feature = "tls")]
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

/// A client for one server (without the tls feature, parsing refuses
/// `rediss://` URLs before this).
#[cfg(not(feature = "tls"))]
pub(crate) fn client(url: &str) -> Result<redis::Client, RedisError> {
    redis::Client::open(url)
}
