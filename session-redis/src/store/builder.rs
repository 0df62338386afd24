//! [`RedisStoreBuilder`]: the store's settings (URL, prefix, timeouts, TLS,
//! pool, encryption, replica acknowledgements) and [`RedisStoreBuilder::build`],
//! which connects.

use super::*;

/// Whether invalidations wait for replicas (see
/// [`RedisStoreBuilder::with_replica_acks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReplicaAcks {
    /// On for Sentinel (one replica, 500 ms), off otherwise.
    ByTopology,
    Off,
    Wait(ReplicaWait),
}

/// Builds a [`RedisStore`]. Its `Debug` output hides the URL's password
/// and the encryption keys.
#[derive(Clone)]
pub struct RedisStoreBuilder {
    pub(super) url: String,
    pub(super) prefix: String,
    pub(super) timeouts: Timeouts,
    pub(super) encryption: Option<EncryptionKeys>,
    #[cfg(feature = "pool")]
    pub(super) pool_size: Option<u32>,
    #[cfg(feature = "tls")]
    pub(super) tls_root: Option<Vec<u8>>,
    pub(super) replica_acks: ReplicaAcks,
    /// The application's own connection, when the store shares it.
    pub(super) provided: Option<Provided>,
}

impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("RedisStoreBuilder");
        d.field(
            "url",
            &match self.provided {
                Some(_) => "(the application's connection)".to_owned(),
                None => crate::topology::redacted(&self.url),
            },
        )
        .field("prefix", &self.prefix)
        .field("timeouts", &self.timeouts)
        .field("encryption", &self.encryption);
        #[cfg(feature = "pool")]
        d.field("pool_size", &self.pool_size);
        #[cfg(feature = "tls")]
        d.field("tls_root", &self.tls_root.as_ref().map(|_| "(set)"));
        d.field("replica_acks", &self.replica_acks).finish()
    }
}

impl RedisStoreBuilder {
    /// Sets the key prefix (default `session`): give each application
    /// sharing a Redis its own. Letters, digits and `-_.:` only.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets how long connecting may take (default 2 s).
    pub fn with_connect_timeout(mut self, d: Duration) -> Self {
        self.timeouts.connect = d;
        self
    }

    /// Sets the deadline of every command (default 1 s): past it, the
    /// operation fails with [`StoreFailure::TimedOut`] and the request is
    /// answered 503, never left hanging on a dead Redis.
    pub fn with_command_timeout(mut self, d: Duration) -> Self {
        self.timeouts.command = d;
        self
    }

    /// Seals data values at rest with these keys (default: off). See
    /// [`EncryptionKeys`] for what is sealed and what stays clear.
    #[cfg(feature = "encryption")]
    #[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
    pub fn with_encryption(mut self, keys: EncryptionKeys) -> Self {
        self.encryption = Some(keys);
        self
    }

    /// On a single Redis, uses a bb8 pool of `size` connections instead of
    /// the default shared multiplexed connection (see the crate docs for
    /// when each is better). Ignored for Cluster and Sentinel.
    #[cfg(feature = "pool")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pool")))]
    pub fn with_pool(mut self, size: u32) -> Self {
        self.pool_size = Some(size);
        self
    }

    /// Trusts this CA certificate (PEM) for `rediss://` connections, instead
    /// of the system's roots (for a private CA).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn with_tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root = Some(pem.into());
        self
    }

    /// Makes every invalidation (logout, revoke, revoke-all; and, as a
    /// warning only, rotation and limit eviction) wait until `replicas`
    /// replicas acknowledge it (Redis `WAIT`), at most `within`. When too
    /// few do, the operation fails with
    /// [`StoreFailure::NotReplicated`]: it was applied on the primary (the
    /// user is signed out), but a failover now could bring the session
    /// back. Redis replicates asynchronously; this closes that window.
    ///
    /// Default: on for Sentinel (one replica, 500 ms: a Sentinel group
    /// exists to fail over, so its replicas are expected); off for a single
    /// server and Cluster, where replicas may not exist and WAIT would
    /// report every logout as not replicated. Turn it on for a Cluster or a
    /// managed Redis with replicas.
    pub fn with_replica_acks(mut self, replicas: u32, within: Duration) -> Self {
        self.replica_acks = ReplicaAcks::Wait(ReplicaWait {
            replicas: replicas.max(1),
            within,
        });
        self
    }

    /// Never waits for replicas (see [`Self::with_replica_acks`]).
    pub fn without_replica_acks(mut self) -> Self {
        self.replica_acks = ReplicaAcks::Off;
        self
    }

    /// TLS as asked for: `on` from the URL, the root from
    /// [`Self::with_tls_root_certificate`].
    fn tls(&self, on: bool) -> Tls {
        #[cfg(feature = "tls")]
        if let (true, Some(root)) = (on, &self.tls_root) {
            return Tls::PrivateRoot(root.clone());
        }
        if on { Tls::SystemRoots } else { Tls::Off }
    }

    /// Connects to `topology`: one server through a pool when
    /// [`Self::with_pool`] asked for one, else on one multiplexed
    /// connection; a cluster; or the primary the sentinels name.
    async fn connect(&self, topology: Topology) -> Result<Connection, RedisStoreError> {
        let conn = match topology {
            Topology::Single(url) => {
                let tls = self.tls(url.starts_with("rediss://"));
                let client = crate::connection::client(&url, &tls)
                    .map_err(|e| RedisStoreError::BadUrl(e.to_string()))?;
                #[cfg(feature = "pool")]
                if let Some(size) = self.pool_size {
                    return Connection::pool(&client, size, self.timeouts)
                        .await
                        .map_err(RedisStoreError::Connect);
                }
                Connection::single(client, self.timeouts).await
            }
            #[cfg(feature = "cluster")]
            Topology::Cluster {
                seeds,
                credentials,
                tls,
            } => Connection::cluster(seeds, credentials, self.tls(tls), self.timeouts).await,
            #[cfg(feature = "sentinel")]
            Topology::Sentinel {
                sentinels,
                master,
                credentials,
                tls,
            } => {
                let tls = self.tls(tls);
                Connection::sentinel(sentinels, master, credentials, &tls, self.timeouts).await
            }
        };
        conn.map_err(RedisStoreError::Connect)
    }

    /// Connects. Refused before connecting: a bad prefix
    /// ([`RedisStoreError::BadPrefix`]), a bad URL, or one whose feature is
    /// off ([`RedisStoreError::FeatureNeeded`]). Refused after: a server
    /// older than Redis 7.0 or Valkey 7.2
    /// ([`RedisStoreError::UnsupportedServer`], read from `INFO server`
    /// when the user may run it). A `maxmemory-policy` other than
    /// `noeviction` is warned about.
    pub async fn build(self) -> Result<RedisStore, RedisStoreError> {
        crate::keys::check_prefix(&self.prefix)?;
        if let Some(provided) = self.provided {
            let replica_wait = match self.replica_acks {
                ReplicaAcks::Wait(w) => Some(w),
                ReplicaAcks::ByTopology | ReplicaAcks::Off => None,
            };
            let conn = Connection::provided(provided, self.timeouts.command);
            crate::server_check::check_server(&conn).await?;
            return Ok(RedisStore {
                conn,
                keys: KeyLayout::new(&self.prefix),
                encryption: self.encryption,
                replica_wait,
                groups: Default::default(),
            });
        }
        let topology = topology::parse(&self.url)?;
        let replica_wait = match (self.replica_acks, &topology) {
            (ReplicaAcks::Wait(w), _) => Some(w),
            #[cfg(feature = "sentinel")]
            (ReplicaAcks::ByTopology, Topology::Sentinel { .. }) => Some(ReplicaWait {
                replicas: 1,
                within: Duration::from_millis(500),
            }),
            _ => None,
        };
        let conn = self.connect(topology).await?;
        crate::server_check::check_server(&conn).await?;
        Ok(RedisStore {
            conn,
            keys: KeyLayout::new(&self.prefix),
            encryption: self.encryption,
            replica_wait,
            groups: Default::default(),
        })
    }
}
