//! One direct connection, shared: the multiplexed connection to a single
//! Redis or to the primary the sentinels name (reconnecting after a
//! failure), and building a client with or without TLS.

use redis::AsyncConnectionConfig;
#[cfg(feature = "sentinel")]
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};

use super::call::send_and_wait;
use super::*;

impl Connection {
    /// One server, on one shared multiplexed connection (connected now, so
    /// an unreachable server fails the build).
    pub(crate) async fn single(
        client: redis::Client,
        timeouts: Timeouts,
    ) -> Result<Self, RedisError> {
        Self::direct(Source::Server(client), timeouts).await
    }

    /// The primary the sentinels name, on one shared multiplexed
    /// connection, asked of them again on every reconnect. `tls` turns TLS
    /// on for the primary, trusting the system's roots or the private root
    /// (which then also vouches for `rediss://` sentinels).
    #[cfg(feature = "sentinel")]
    pub(crate) async fn sentinel(
        sentinels: Vec<String>,
        master: String,
        credentials: Option<(String, String)>,
        tls: &Tls,
        timeouts: Timeouts,
    ) -> Result<Self, RedisError> {
        #[cfg(feature = "tls")]
        if let Tls::PrivateRoot(root) = tls {
            let client = private_root_sentinel(sentinels, master, credentials, root)?;
            return Self::direct(Source::Sentinel(tokio::sync::Mutex::new(client)), timeouts).await;
        }
        let mut node = SentinelNodeConnectionInfo::default();
        if *tls != Tls::Off {
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
        Self::direct(Source::Sentinel(tokio::sync::Mutex::new(client)), timeouts).await
    }

    /// Two direct links to `source` (the shared one, and the one that
    /// waits for replicas), the shared one connected now.
    async fn direct(source: Source, timeouts: Timeouts) -> Result<Self, RedisError> {
        let source = Arc::new(source);
        let link = || {
            Arc::new(Direct {
                source: source.clone(),
                current: std::sync::Mutex::new(None),
                config: AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeouts.connect))
                    .set_response_timeout(Some(timeouts.command)),
                connecting: tokio::sync::Mutex::new(()),
            })
        };
        let shared = link();
        shared.connection().await?;
        Ok(Connection {
            link: Link::Direct(shared),
            waiting: Some(Link::Direct(link())),
            deadline: timeouts.command,
        })
    }
}

/// Where a direct connection comes from.
enum Source {
    /// A server by URL (re-resolved on every connect).
    Server(redis::Client),
    /// The primary the sentinels currently name.
    #[cfg(feature = "sentinel")]
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

/// One multiplexed connection, made on demand and dropped when it fails.
pub(super) struct Direct {
    source: Arc<Source>,
    current: std::sync::Mutex<Option<MultiplexedConnection>>,
    config: AsyncConnectionConfig,
    connecting: tokio::sync::Mutex<()>,
}

impl Direct {
    /// The connection made last, unless it failed since.
    fn current(&self) -> Option<MultiplexedConnection> {
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

    /// One attempt: connecting (boxed: rare, and its future would make
    /// every call's future kilobytes) when there is no connection, then
    /// the call. A failure is forgotten by the caller
    /// ([`Connection::forget_direct`]).
    pub(super) async fn attempt(&self, call: &Call<'_>, wait: Option<ReplicaWait>) -> Attempt {
        let mut conn = match self.current() {
            Some(conn) => conn,
            None => match Box::pin(self.connection()).await {
                Ok(conn) => conn,
                // Nothing was sent: try again.
                Err(e) => return Err((e, Verdict::NotApplied { reconnect: true })),
            },
        };
        send_and_wait(call, &mut conn, wait).await
    }

    /// Drops the connection: the next call connects afresh.
    pub(super) fn forget(&self) {
        if let Ok(mut current) = self.current.lock() {
            *current = None;
        }
    }
}

/// A Sentinel client trusting `root` (PEM) for the primary it names and
/// for the sentinels given as `rediss://`: `SentinelClient::build` takes
/// no certificates, its builder does.
#[cfg(all(feature = "sentinel", feature = "tls"))]
fn private_root_sentinel(
    sentinels: Vec<String>,
    master: String,
    credentials: Option<(String, String)>,
    root: &[u8],
) -> Result<SentinelClient, RedisError> {
    use redis::IntoConnectionInfo;
    use redis::sentinel::SentinelClientBuilder;
    let certificates = || redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(root.to_vec()),
    };
    let mut addrs = Vec::with_capacity(sentinels.len());
    let mut sentinels_tls = false;
    for url in sentinels {
        let addr = url.as_str().into_connection_info()?.addr().clone();
        sentinels_tls |= matches!(addr, redis::ConnectionAddr::TcpTls { .. });
        addrs.push(addr);
    }
    let mut builder = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)?
        .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
        .set_client_to_redis_certificates(certificates());
    if sentinels_tls {
        builder = builder.set_client_to_sentinel_certificates(certificates());
    }
    if let Some((user, password)) = credentials {
        builder = builder.set_client_to_redis_password(password);
        if !user.is_empty() {
            builder = builder.set_client_to_redis_username(user);
        }
    }
    builder.build()
}

/// A client for one server: over TLS when the URL is `rediss://`, with
/// `tls`'s private root when it has one, else the system's roots. (Without
/// the tls feature, parsing refuses `rediss://` URLs before this.)
pub(crate) fn client(url: &str, tls: &Tls) -> Result<redis::Client, RedisError> {
    match tls {
        #[cfg(feature = "tls")]
        Tls::PrivateRoot(root) if url.starts_with("rediss://") => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.clone()),
            },
        ),
        _ => redis::Client::open(url),
    }
}
