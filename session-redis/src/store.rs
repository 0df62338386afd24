//! [`RedisStore`]: the [`SessionStore`] on Redis. Every operation is one Lua
//! script: one round trip, atomic.

use std::time::Duration;

use async_trait::async_trait;
use redis::Value;
use session_core::store::{
    Applied, CreateError, Created, Delta, FORMAT_VERSION, Loaded, NewSession, RotateError,
    Rotation, SessionKey, SessionStore, StoreContext, UpdateError, UserKey, idle_deadline,
    refresh_due,
};
use session_core::{
    EndReason, Page, PageRequest, PublicId, SessionRecord, SessionSummary, StoreFailure, Timestamp,
    UserId, UserLimit,
};

use crate::codec::{self, at, ms};
#[cfg(feature = "cluster")]
use crate::connection::Combine;
use crate::connection::{Connection, Provided, ReplicaWait};
use crate::encryption::EncryptionKeys;
use crate::error::RedisStoreError;
use crate::keys::KeyLayout;
use crate::scripts;
use crate::topology::{self, Topology};

/// Sessions in Redis. Cheap to clone; share one per application.
///
/// ```no_run
/// # async fn demo() -> Result<(), session_redis::RedisStoreError> {
/// use session_redis::RedisStore;
/// use std::time::Duration;
///
/// let store = RedisStore::builder("redis://127.0.0.1:6380")
///     .with_prefix("myapp")
///     .with_command_timeout(Duration::from_millis(500))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisStore {
    conn: Connection,
    keys: KeyLayout,
    encryption: Option<EncryptionKeys>,
    replica_wait: Option<ReplicaWait>,
}

/// Whether invalidations wait for replicas (see
/// [`RedisStoreBuilder::with_replica_acks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplicaAcks {
    /// On for Sentinel (one replica, 500 ms), off otherwise.
    ByTopology,
    Off,
    Wait(ReplicaWait),
}

/// Builds a [`RedisStore`]. Its `Debug` output hides the URL's password
/// and the encryption keys.
#[derive(Clone)]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    encryption: Option<EncryptionKeys>,
    #[cfg(feature = "pool")]
    pool_size: Option<u32>,
    #[cfg(feature = "tls")]
    tls_root: Option<Vec<u8>>,
    replica_acks: ReplicaAcks,
    /// The application's own connection, when the store shares it.
    provided: Option<Provided>,
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
        .field("connect_timeout", &self.connect_timeout)
        .field("command_timeout", &self.command_timeout)
        .field("encryption", &self.encryption);
        #[cfg(feature = "pool")]
        d.field("pool_size", &self.pool_size);
        #[cfg(feature = "tls")]
        d.field("tls_root", &self.tls_root.as_ref().map(|_| "(set)"));
        d.field("replica_acks", &self.replica_acks).finish()
    }
}

impl RedisStore {
    /// A store at `url` with the default settings.
    pub async fn connect(url: &str) -> Result<Self, RedisStoreError> {
        Self::builder(url).build().await
    }

    /// A builder from the environment, or `None` when no Redis is
    /// configured there. Every variable set is used or refused, never
    /// ignored; a refusal is [`RedisStoreError::BadSetting`] naming the
    /// variable (values are trimmed; a blank one counts as unset):
    ///
    /// | variables | the store |
    /// | --- | --- |
    /// | `REDIS_URL` | at that URL: any form of the topology table in the crate docs |
    /// | `REDIS_URL` and `REDIS_PASSWORD` (with `REDIS_USERNAME` for an ACL user) | the credentials are percent-encoded into the URL, which must have none of its own (else refused: give them in one place); for Cluster and Sentinel they are the data nodes', as in the URL |
    /// | `REDIS_URL` and `REDIS_SSL=true` | at the URL's TLS form: `redis://` becomes `rediss://`, `redis+cluster://` `rediss+cluster://`, `redis+sentinel://` `rediss+sentinel://` |
    /// | `REDIS_URL` and `REDIS_SSL=false` | at the URL, which must not be a TLS form (else refused) |
    /// | `REDIS_URL` and any of `REDIS_HOST`, `REDIS_PORT`, `REDIS_DB` | refused: the URL names the server |
    /// | `REDIS_HOST` | at `redis://HOST:PORT/DB`, with `REDIS_PORT` (default 6379), `REDIS_DB` (default 0), `REDIS_USERNAME` and `REDIS_PASSWORD`; `rediss://` with `REDIS_SSL=true` |
    /// | `REDIS_USERNAME` without `REDIS_PASSWORD` | refused: Redis authenticates a user by its password, and the client would connect as the default user |
    /// | neither `REDIS_URL` nor `REDIS_HOST` | `None` (use the in-memory store); any other `REDIS_*` above set is refused, since it would be ignored |
    /// | `SESSION_KEY_PREFIX` | the key prefix ([`RedisStoreBuilder::with_prefix`]; default `session`): give each application sharing a Redis its own. Checked even when the answer is `None` |
    ///
    /// `REDIS_SSL` is `true`/`1`/`yes` or `false`/`0`/`no`. A URL this build
    /// cannot use for want of a feature (`rediss://` without `tls`, …) is
    /// [`RedisStoreError::FeatureNeeded`].
    ///
    /// ```
    /// use session_redis::{RedisStore, RedisStoreError};
    /// let env = |name: &str| match name {
    ///     "REDIS_HOST" => Some("cache.internal".to_owned()),
    ///     "REDIS_PORT" => Some("sixty".to_owned()),
    ///     _ => None,
    /// };
    /// let err = RedisStore::builder_from_lookup(env).unwrap_err();
    /// assert!(matches!(err, RedisStoreError::BadSetting { variable: "REDIS_PORT", .. }));
    /// assert!(RedisStore::builder_from_lookup(|_| None).unwrap().is_none());
    /// ```
    pub fn builder_from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<RedisStoreBuilder>, RedisStoreError> {
        let prefix = crate::env::key_prefix(&lookup)?;
        let Some(url) = crate::env::redis_url(&lookup)? else {
            return Ok(None);
        };
        let builder = Self::builder(url);
        Ok(Some(match prefix {
            Some(prefix) => builder.with_prefix(prefix),
            None => builder,
        }))
    }

    /// [`RedisStore::builder_from_lookup`] over the process environment.
    pub fn builder_from_env() -> Result<Option<RedisStoreBuilder>, RedisStoreError> {
        Self::builder_from_lookup(|name| std::env::var(name).ok())
    }

    /// The store the environment names (`REDIS_URL`, or `REDIS_HOST` and
    /// the rest: see [`RedisStore::builder_from_lookup`]), connected, with
    /// the defaults; `None` when no Redis is configured (use the in-memory
    /// store). Use [`RedisStore::builder_from_env`] to change settings
    /// before connecting.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), session_redis::RedisStoreError> {
    /// use std::sync::Arc;
    /// use session_core::{MemoryStore, store::SessionStore};
    /// let store: Arc<dyn SessionStore> = match session_redis::RedisStore::from_env().await? {
    ///     Some(redis) => Arc::new(redis),
    ///     None => Arc::new(MemoryStore::new()),
    /// };
    /// # Ok(()) }
    /// ```
    pub async fn from_env() -> Result<Option<RedisStore>, RedisStoreError> {
        match Self::builder_from_env()? {
            Some(builder) => builder.build().await.map(Some),
            None => Ok(None),
        }
    }

    /// A builder for a Redis Cluster, from seed `host:port`s (any
    /// reachable nodes); the same as the URL `redis+cluster://h:p,h:p`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), session_redis::RedisStoreError> {
    /// let store = session_redis::RedisStore::cluster(["10.0.0.1:7000", "10.0.0.2:7000"])
    ///     .with_prefix("myapp")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
    pub fn cluster<S: AsRef<str>>(seeds: impl IntoIterator<Item = S>) -> RedisStoreBuilder {
        let seeds: Vec<String> = seeds.into_iter().map(|s| s.as_ref().to_owned()).collect();
        Self::builder(format!("redis+cluster://{}", seeds.join(",")))
    }

    /// A builder for the primary that `sentinels` (`host:port`s) name
    /// `master`; the same as the URL `redis+sentinel://h:p,h:p/MASTER`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), session_redis::RedisStoreError> {
    /// let store = session_redis::RedisStore::sentinel(["10.0.0.1:26379"], "mymaster")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "sentinel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sentinel")))]
    pub fn sentinel<S: AsRef<str>>(
        sentinels: impl IntoIterator<Item = S>,
        master: &str,
    ) -> RedisStoreBuilder {
        let hosts: Vec<String> = sentinels
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .collect();
        Self::builder(format!("redis+sentinel://{}/{master}", hosts.join(",")))
    }

    /// Starts a builder for a store at `url`: any form in the crate docs'
    /// topology table (`redis://`, `rediss://`, `redis+cluster://`,
    /// `rediss+cluster://`, `redis+sentinel://` or `redis-sentinel://`,
    /// `rediss+sentinel://`). A form whose feature is off is refused by
    /// [`RedisStoreBuilder::build`] with [`RedisStoreError::FeatureNeeded`].
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            prefix: "session".into(),
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(1),
            encryption: None,
            #[cfg(feature = "pool")]
            pool_size: None,
            #[cfg(feature = "tls")]
            tls_root: None,
            replica_acks: ReplicaAcks::ByTopology,
            provided: None,
        }
    }

    /// A builder around the application's own redis-rs `ConnectionManager`
    /// to one server, so one client serves the application and its
    /// sessions. The store sends its commands on it and never retries one
    /// whose reply was lost (the manager reconnects by itself). The
    /// builder's connection settings (pool, TLS root, connect timeout) do
    /// not apply; the command timeout still bounds each call.
    ///
    /// Replica acknowledgements are off unless turned on with
    /// [`RedisStoreBuilder::with_replica_acks`]; then each invalidation's
    /// `WAIT` runs on this shared connection and holds up the
    /// application's commands on it until the replicas answer.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_redis::redis; // the redis-rs this crate is built with
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let shared = client.get_connection_manager().await?;
    /// let store = session_redis::RedisStore::with_connection_manager(shared.clone())
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn with_connection_manager(conn: redis::aio::ConnectionManager) -> RedisStoreBuilder {
        RedisStoreBuilder {
            provided: Some(Provided::Manager(conn)),
            ..Self::builder(String::new())
        }
    }

    /// A builder around the application's own bb8 pool of redis-rs
    /// multiplexed connections to one server
    /// (`bb8::Pool<bb8_redis::RedisConnectionManager>`, bb8-redis 0.26 or
    /// any manager of the same connections): the store borrows a
    /// connection per call and never retries a command whose reply was
    /// lost. Keep the pool's `test_on_check_out` on (bb8's default) so a
    /// connection that died with a restart is replaced. The builder's
    /// connection settings do not apply; replica acknowledgements are off
    /// unless turned on.
    #[cfg(feature = "pool")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pool")))]
    pub fn with_bb8_pool<M>(pool: bb8::Pool<M>) -> RedisStoreBuilder
    where
        M: bb8::ManageConnection<
                Connection = redis::aio::MultiplexedConnection,
                Error = redis::RedisError,
            >,
    {
        RedisStoreBuilder {
            provided: Some(Provided::Pool(std::sync::Arc::new(pool))),
            ..Self::builder(String::new())
        }
    }

    /// A builder around the application's own redis-rs cluster connection.
    /// Build that connection's client with `.retries(0)`: a cluster client
    /// that retries resends a command whose reply was lost, which could
    /// apply a session change twice; the store retries on its own only what
    /// provably did not run (`MOVED`, `ASK`, `TRYAGAIN`, …).
    #[cfg(feature = "cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
    pub fn with_cluster_connection(
        conn: redis::cluster_async::ClusterConnection,
    ) -> RedisStoreBuilder {
        RedisStoreBuilder {
            provided: Some(Provided::Cluster(conn)),
            ..Self::builder(String::new())
        }
    }

    /// Runs one script in a `redis_script` span carrying the script's
    /// name, its first key (a digest, never an id), the round-trip time and
    /// the outcome.
    async fn run<K: AsRef<str> + Sync>(
        &self,
        script: &scripts::NamedScript,
        keys: &[K],
        args: Vec<String>,
    ) -> Result<Value, StoreFailure> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!(
            target: "session_redis",
            "redis_script",
            script = script.name,
            key = keys.first().map(AsRef::as_ref).unwrap_or(""),
            rtt_us = tracing::field::Empty,
            ok = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let result = self
            .conn
            .run(&script.script, keys, &args)
            .instrument(span.clone())
            .await;
        span.record("rtt_us", started.elapsed().as_micros() as u64);
        span.record("ok", result.is_ok());
        if let Err(e) = &result {
            tracing::warn!(target: "session_redis", parent: &span, error = %e, "redis script failed");
        }
        result
    }

    /// Runs a script that invalidates sessions: like [`Self::run`], then,
    /// when replica acknowledgements are on, waits for them. `Err` with
    /// [`StoreFailure::NotReplicated`] when too few came (the script ran)
    /// and `strict`; a warning event either way.
    async fn run_invalidating<K: AsRef<str> + Sync>(
        &self,
        script: &scripts::NamedScript,
        keys: &[K],
        args: Vec<String>,
        strict: bool,
    ) -> Result<Value, StoreFailure> {
        let Some(wait) = self.replica_wait else {
            return self.run(script, keys, args).await;
        };
        let (value, acked) = self
            .conn
            .run_and_wait(&script.script, keys, &args, wait)
            .await?;
        if acked {
            return Ok(value);
        }
        tracing::warn!(
            target: "session_redis",
            script = script.name,
            replicas = wait.replicas,
            within_ms = wait.within.as_millis() as u64,
            "an invalidation was applied on the primary but not acknowledged by enough replicas: a failover now could undo it"
        );
        if strict {
            Err(StoreFailure::NotReplicated(wait.within))
        } else {
            Ok(value)
        }
    }

    /// One session key, then the analytics keys of the bucket of `slot`,
    /// borrowed (the calls on every request build no key twice).
    fn keys_with_analytics<'a>(
        &'a self,
        session: &'a str,
        slot: session_core::store::SlotTag,
    ) -> [&'a str; 4] {
        let [sessions, users, names] = self.keys.analytics(KeyLayout::bucket(slot));
        [session, sessions, users, names]
    }

    /// `keys`, then the analytics keys of the bucket of `slot`.
    fn with_analytics(
        &self,
        mut keys: Vec<String>,
        slot: session_core::store::SlotTag,
    ) -> Vec<String> {
        keys.extend(self.keys.analytics(KeyLayout::bucket(slot)).iter().cloned());
        keys
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
        self.connect_timeout = d;
        self
    }

    /// Sets the deadline of every command (default 1 s): past it, the
    /// operation fails with [`StoreFailure::TimedOut`] and the request is
    /// answered 503, never left hanging on a dead Redis.
    pub fn with_command_timeout(mut self, d: Duration) -> Self {
        self.command_timeout = d;
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

    /// One server: through a pool when [`Self::with_pool`] asked for one,
    /// else on one multiplexed connection.
    #[cfg(feature = "pool")]
    async fn connect_single(&self, client: redis::Client) -> Result<Connection, redis::RedisError> {
        match self.pool_size {
            Some(size) => {
                Connection::pool(client, size, self.connect_timeout, self.command_timeout).await
            }
            None => Connection::single(client, self.connect_timeout, self.command_timeout).await,
        }
    }

    /// One server, on one multiplexed connection.
    #[cfg(not(feature = "pool"))]
    async fn connect_single(&self, client: redis::Client) -> Result<Connection, redis::RedisError> {
        Connection::single(client, self.connect_timeout, self.command_timeout).await
    }

    /// The TLS root asked for ([`Self::with_tls_root_certificate`]).
    #[cfg(all(feature = "cluster", feature = "tls"))]
    fn tls_root(&self) -> Option<Vec<u8>> {
        self.tls_root.clone()
    }

    /// None: this build has no TLS (the `tls` feature is off).
    #[cfg(all(feature = "cluster", not(feature = "tls")))]
    fn tls_root(&self) -> Option<Vec<u8>> {
        None
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
            let conn = Connection::provided(provided, self.command_timeout);
            crate::server_check::check_server(&conn).await?;
            return Ok(RedisStore {
                conn,
                keys: KeyLayout::new(&self.prefix),
                encryption: self.encryption,
                replica_wait,
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
        let conn = match topology {
            Topology::Single(url) => {
                #[cfg(feature = "tls")]
                let client = crate::connection::client(&url, self.tls_root.as_deref());
                #[cfg(not(feature = "tls"))]
                let client = crate::connection::client(&url);
                let client = client.map_err(|e| RedisStoreError::BadUrl(e.to_string()))?;
                self.connect_single(client).await
            }
            #[cfg(feature = "cluster")]
            Topology::Cluster {
                seeds,
                credentials,
                tls,
            } => {
                Connection::cluster(
                    seeds,
                    credentials,
                    tls.then(|| self.tls_root()),
                    self.connect_timeout,
                    self.command_timeout,
                )
                .await
            }
            #[cfg(feature = "sentinel")]
            Topology::Sentinel {
                sentinels,
                master,
                credentials,
                tls,
            } => {
                Connection::sentinel(
                    sentinels,
                    master,
                    credentials,
                    tls,
                    self.connect_timeout,
                    self.command_timeout,
                )
                .await
            }
        }
        .map_err(RedisStoreError::Connect)?;
        crate::server_check::check_server(&conn).await?;
        Ok(RedisStore {
            conn,
            keys: KeyLayout::new(&self.prefix),
            encryption: self.encryption,
            replica_wait,
        })
    }
}

/// One row of the user-sessions script's list, decoded.
fn summary(row: Value) -> Result<SessionSummary, StoreFailure> {
    let cols = codec::array(row)?;
    let time = |i: usize| -> Result<Timestamp, StoreFailure> {
        Ok(Timestamp::from_unix_millis(
            codec::int(nth(&cols, i)?)?.max(0) as u64,
        ))
    };
    let public = codec::text(nth(&cols, 0)?)?;
    let idle = time(3)?;
    let absolute = time(4)?;
    Ok(SessionSummary {
        public_id: PublicId::parse(&public)
            .map_err(|_| StoreFailure::Corrupt(format!("not a public id: {public:?}")))?,
        created_at: time(1)?,
        last_seen_at: time(2)?,
        expires_at: idle.min(absolute),
        absolute_deadline: absolute,
        metadata: serde_json::from_str(&codec::text(nth(&cols, 5)?)?)
            .map_err(|e| StoreFailure::Corrupt(format!("metadata is not JSON: {e}")))?,
    })
}

/// How many of a user's index members one revoke script examines: about
/// 25 ms of Redis time at 25 us a session, within guarantee 5's 50 ms.
const REVOKE_CHUNK: usize = 1000;

fn unexpected(word: &str) -> StoreFailure {
    StoreFailure::Corrupt(format!("unexpected script reply {word:?}"))
}

fn nth(rest: &[Value], i: usize) -> Result<&Value, StoreFailure> {
    rest.get(i)
        .ok_or_else(|| StoreFailure::Corrupt("a script reply is too short".into()))
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(
        &self,
        s: NewSession,
        limit: UserLimit,
        cx: &StoreContext,
    ) -> Result<Created, CreateError> {
        let key = self.keys.session(&s.key);
        let index = s
            .user
            .as_ref()
            .map_or_else(|| key.clone(), |u| self.keys.user_index(u));
        let mut args = vec![
            at(cx.now),
            ms(cx.ended_retention),
            codec::stored_public_id(&s.public_id, &s.key, s.user.is_some()),
            s.user
                .as_ref()
                .map(|u| u.user.to_string())
                .unwrap_or_default(),
            ms(s.idle_timeout),
            at(s.absolute_deadline),
            codec::metadata_json(&s.metadata)?,
            limit.max().unwrap_or(0).to_string(),
            limit.policy().name().to_owned(),
            s.data.len().to_string(),
        ];
        for (k, v) in &s.data {
            args.push(k.clone());
            args.push(codec::seal(
                self.encryption.as_ref(),
                Some(&s.public_id),
                k,
                v,
            )?);
        }
        // Only a signed-in create under a limit can end (evict) sessions.
        let may_evict = s.user.is_some() && limit.max().is_some();
        let keys = self.with_analytics(vec![key, index], s.key.slot());
        let reply = if may_evict {
            self.run_invalidating(&scripts::CREATE, &keys, args, false)
                .await?
        } else {
            self.run(&scripts::CREATE, &keys, args).await?
        };
        // Integer 1: the steady-state anonymous create (nothing evicted).
        let evicted = if reply == Value::Int(1) {
            Vec::new()
        } else {
            let (word, rest) = codec::status(reply)?;
            match word.as_str() {
                "dup" => return Err(CreateError::DuplicateId),
                "limit" => {
                    return Err(CreateError::LimitReached {
                        limit: u32::try_from(codec::int(nth(&rest, 0)?)?).unwrap_or(u32::MAX),
                    });
                }
                "ok" => codec::public_ids(nth(&rest, 0)?)?,
                other => return Err(unexpected(other).into()),
            }
        };
        let mut data = std::collections::BTreeMap::new();
        for (k, v) in s.data {
            let value = serde_json::from_str(&v)
                .map_err(|e| StoreFailure::Corrupt(format!("data key {k:?} is not JSON: {e}")))?;
            data.insert(k, value);
        }
        let record = SessionRecord {
            format_version: FORMAT_VERSION,
            public_id: s.public_id,
            user: s.user.map(|u| u.user),
            created_at: cx.now,
            last_seen_at: cx.now,
            idle_timeout: s.idle_timeout,
            idle_deadline: idle_deadline(cx.now, s.idle_timeout, s.absolute_deadline),
            absolute_deadline: s.absolute_deadline,
            metadata: s.metadata,
            data,
        };
        Ok(Created { record, evicted })
    }

    /// One plain `HGETALL`, judged here; a script runs only when the idle
    /// deadline is due to move (then it refreshes atomically).
    async fn load(&self, key: &SessionKey, cx: &StoreContext) -> Result<Loaded, StoreFailure> {
        let mut read = redis::cmd("HGETALL");
        read.arg(self.keys.session(key));
        let reply = self.conn.query(&read).await?;
        match codec::judge(reply, cx, self.encryption.as_ref(), key)? {
            codec::Judged::Unknown => Ok(Loaded::Unknown),
            codec::Judged::Ended(e) => Ok(Loaded::Ended(e)),
            codec::Judged::Live(record)
                if !refresh_due(
                    cx.now,
                    record.idle_deadline,
                    record.idle_timeout,
                    record.absolute_deadline,
                    cx.refresh_threshold,
                ) =>
            {
                Ok(Loaded::Active {
                    refreshed: false,
                    record,
                })
            }
            // A refresh, and ending a session found expired (so that the
            // decision is final), run the load script. Boxed: both are
            // rare, and the script call would make every load's future
            // twice as large.
            codec::Judged::Live(_) | codec::Judged::ExpiredUnrecorded => {
                Box::pin(self.load_refreshing(key, cx)).await
            }
        }
    }

    async fn apply(
        &self,
        key: &SessionKey,
        public_id: &PublicId,
        delta: &Delta,
        cx: &StoreContext,
    ) -> Result<Applied, UpdateError> {
        let session = self.keys.session(key);
        let keys = self.keys_with_analytics(&session, key.slot());
        let mut args = vec![
            at(cx.now),
            ms(cx.ended_retention),
            ms(cx.refresh_threshold),
            Self::loaded_times(delta, cx),
        ];
        codec::delta_args(delta, self.encryption.as_ref(), Some(public_id), &mut args)?;
        let reply = self.run(&scripts::APPLY, &keys, args).await?;
        // The steady state (integer 1): the loaded times stand (loaded_times).
        if reply == Value::Int(1) {
            return match delta.loaded {
                Some(times) => Ok(Applied {
                    idle_deadline: times.idle_deadline,
                    absolute_deadline: times.absolute_deadline,
                }),
                None => Err(unexpected("kept").into()),
            };
        }
        let (word, rest) = codec::status(reply)?;
        match word.as_str() {
            "unknown" => Err(UpdateError::UnknownId),
            "ended" => Err(UpdateError::Ended(codec::ending(&rest)?)),
            "ok" => Ok(Applied {
                idle_deadline: Timestamp::from_unix_millis(
                    codec::int(nth(&rest, 0)?)?.max(0) as u64
                ),
                absolute_deadline: Timestamp::from_unix_millis(
                    codec::int(nth(&rest, 1)?)?.max(0) as u64
                ),
            }),
            other => Err(unexpected(other).into()),
        }
    }

    async fn increment(
        &self,
        key: &SessionKey,
        field: &str,
        by: i64,
        cx: &StoreContext,
    ) -> Result<i64, UpdateError> {
        let session = self.keys.session(key);
        let keys = self.keys_with_analytics(&session, key.slot());
        let args = vec![
            at(cx.now),
            ms(cx.ended_retention),
            ms(cx.refresh_threshold),
            field.to_owned(),
            by.to_string(),
        ];
        let reply = self.run(&scripts::INCREMENT, &keys, args).await?;
        // The new value (an integer); anything else is a status table.
        if let Value::Int(value) = reply {
            return Ok(value);
        }
        let (word, rest) = codec::status(reply)?;
        match word.as_str() {
            "unknown" => Err(UpdateError::UnknownId),
            "ended" => Err(UpdateError::Ended(codec::ending(&rest)?)),
            "nan" => Err(UpdateError::NotAnInteger {
                key: field.to_owned(),
            }),
            other => Err(unexpected(other).into()),
        }
    }

    async fn rotate(&self, r: Rotation, cx: &StoreContext) -> Result<Created, RotateError> {
        if self.conn.is_cluster()
            && KeyLayout::bucket(r.old.slot()) != KeyLayout::bucket(r.new.slot())
        {
            return self.rotate_across_slots(r, cx).await;
        }
        let new = self.keys.session(&r.new);
        let index = r
            .sign_in
            .as_ref()
            .map_or_else(|| new.clone(), |s| self.keys.user_index(&s.user));
        let mut keys =
            self.with_analytics(vec![self.keys.session(&r.old), new, index], r.old.slot());
        keys.extend(
            self.keys
                .analytics(KeyLayout::bucket(r.new.slot()))
                .iter()
                .cloned(),
        );
        let mut args = vec![at(cx.now), ms(cx.ended_retention)];
        match &r.sign_in {
            Some(s) => args.extend([
                "1".to_owned(),
                s.user.user.to_string(),
                s.limit.max().unwrap_or(0).to_string(),
                s.limit.policy().name().to_owned(),
                at(s.absolute_deadline),
            ]),
            None => args.extend(["0", "", "0", "", "0"].map(str::to_owned)),
        }
        // The old record's public id when it has no `@pub` (the new one
        // stores it: it no longer follows from the key).
        args.push(PublicId::of_key(&r.old).to_string());
        codec::delta_args(
            &r.delta,
            self.encryption.as_ref(),
            r.public_id.as_ref(),
            &mut args,
        )?;
        let (word, rest) = codec::status(
            self.run_invalidating(&scripts::ROTATE, &keys, args, false)
                .await?,
        )?;
        match word.as_str() {
            "unknown" => Err(RotateError::UnknownId),
            "ended" => Err(RotateError::Ended(codec::ending(&rest)?)),
            "dup" => Err(RotateError::DuplicateId),
            "other" => Err(RotateError::OtherUser),
            "limit" => Err(RotateError::LimitReached {
                limit: u32::try_from(codec::int(nth(&rest, 0)?)?).unwrap_or(u32::MAX),
            }),
            "ok" => Ok(Created {
                record: codec::record(nth(&rest, 0)?, self.encryption.as_ref(), &r.new)?,
                evicted: codec::public_ids(nth(&rest, 1)?)?,
            }),
            other => Err(unexpected(other).into()),
        }
    }

    async fn invalidate(
        &self,
        key: &SessionKey,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Option<PublicId>, StoreFailure> {
        let keys = self.with_analytics(vec![self.keys.session(key)], key.slot());
        let args = vec![at(cx.now), ms(cx.ended_retention), reason.to_stored()];
        let (word, rest) = codec::status(
            self.run_invalidating(&scripts::INVALIDATE, &keys, args, true)
                .await?,
        )?;
        match word.as_str() {
            "none" => Ok(None),
            "ok" => {
                // Empty: the record had no `@pub`, so its key's is its own.
                let p = codec::text(nth(&rest, 0)?)?;
                if p.is_empty() {
                    return Ok(Some(PublicId::of_key(key)));
                }
                Ok(Some(PublicId::parse(&p).map_err(|_| {
                    StoreFailure::Corrupt(format!("not a public id: {p:?}"))
                })?))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn revoke_by_public_id(
        &self,
        user: &UserKey,
        public_id: &PublicId,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<bool, StoreFailure> {
        let ended = self
            .revoke_user(user, "one", Some(public_id), reason, cx)
            .await?;
        Ok(!ended.is_empty())
    }

    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&PublicId>,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, StoreFailure> {
        self.revoke_user(user, "all", except, reason, cx).await
    }

    async fn list_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<Vec<SessionSummary>, StoreFailure> {
        let rows = codec::array(self.user_sessions(user, "list", cx).await?)?;
        let mut list = Vec::with_capacity(rows.len());
        for row in rows {
            // One damaged session leaves the list, reported, not the list.
            match summary(row) {
                Ok(s) => list.push(s),
                Err(e) => tracing::warn!(
                    target: "session_redis",
                    error = %e,
                    "a damaged session record was left out of its user's list"
                ),
            }
        }
        list.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.public_id)));
        Ok(list)
    }

    async fn count_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<u64, StoreFailure> {
        let n = codec::int(&self.user_sessions(user, "count", cx).await?)?;
        Ok(n.max(0) as u64)
    }

    async fn count_active(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        self.count(cx, "sessions").await
    }

    async fn count_active_users(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        self.count(cx, "users").await
    }

    async fn active_users(
        &self,
        page: PageRequest,
        cx: &StoreContext,
    ) -> Result<Page, StoreFailure> {
        let size = page.limit.clamp(1, 1000);
        let args = vec![
            at(cx.now),
            "page".to_owned(),
            self.keys.prefix().to_owned(),
            page.after.map(|u| u.to_string()).unwrap_or_default(),
            size.to_string(),
        ];
        // Each node answers with its first `size + 1` users after `after`;
        // the page is the smallest `size` of them all.
        let mut users = Vec::new();
        for v in codec::array(self.analytics(args).await?)? {
            let t = codec::text(&v)?;
            users.push(
                UserId::new(t)
                    .map_err(|e| StoreFailure::Corrupt(format!("a stored user id: {e}")))?,
            );
        }
        users.sort();
        users.dedup();
        let size = size as usize;
        let more = users.len() > size;
        users.truncate(size);
        let next = if more { users.last().cloned() } else { None };
        Ok(Page { users, next })
    }
}

impl RedisStore {
    /// The load script: judges and refreshes in one atomic step.
    /// The `@` a save sends for `apply.lua`'s steady state: the times the
    /// request loaded, when the delta changes data only and those times are
    /// live with no refresh due at `cx.now`; else `""` (judge afresh).
    fn loaded_times(delta: &Delta, cx: &StoreContext) -> String {
        let Some(times) = delta.loaded else {
            return String::new();
        };
        let live = cx.now < times.idle_deadline.min(times.absolute_deadline);
        let due = refresh_due(
            cx.now,
            times.idle_deadline,
            times.idle_timeout,
            times.absolute_deadline,
            cx.refresh_threshold,
        );
        if delta.metadata.is_some() || delta.idle_timeout.is_some() || !live || due {
            return String::new();
        }
        codec::packed(&times)
    }

    async fn load_refreshing(
        &self,
        key: &SessionKey,
        cx: &StoreContext,
    ) -> Result<Loaded, StoreFailure> {
        let keys = self.with_analytics(vec![self.keys.session(key)], key.slot());
        let args = vec![at(cx.now), ms(cx.ended_retention), ms(cx.refresh_threshold)];
        let (word, rest) = codec::status(self.run(&scripts::LOAD, &keys, args).await?)?;
        match word.as_str() {
            "unknown" => Ok(Loaded::Unknown),
            "ended" => Ok(Loaded::Ended(codec::ending(&rest)?)),
            "active" => Ok(Loaded::Active {
                refreshed: codec::int(nth(&rest, 0)?)? == 1,
                record: codec::record(nth(&rest, 1)?, self.encryption.as_ref(), key)?,
            }),
            other => Err(unexpected(other)),
        }
    }

    async fn revoke_user(
        &self,
        user: &UserKey,
        mode: &str,
        public: Option<&PublicId>,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, StoreFailure> {
        let keys = self.with_analytics(vec![self.keys.user_index(user)], user.slot);
        let mut ended = Vec::new();
        let mut damaged = 0;
        let mut offset = 0;
        // One short script per chunk of the user's index (guarantee 5: no
        // store step runs long); usually one, as a user has at most
        // DEFAULT_MAX_SESSIONS_PER_USER sessions unless configured.
        loop {
            let args = vec![
                at(cx.now),
                ms(cx.ended_retention),
                reason.to_stored(),
                mode.to_owned(),
                public.map(PublicId::to_string).unwrap_or_default(),
                user.user.to_string(),
                REVOKE_CHUNK.to_string(),
                offset.to_string(),
            ];
            let reply = codec::array(
                self.run_invalidating(&scripts::REVOKE_USER, &keys, args, true)
                    .await?,
            )?;
            let [chunk_damaged, more, next, ids @ ..] = reply.as_slice() else {
                return Err(StoreFailure::Corrupt("a short revoke reply".into()));
            };
            damaged += codec::int(chunk_damaged)?;
            ended.extend(codec::public_ids(&Value::Array(ids.to_vec()))?);
            if codec::int(more)? == 0 {
                break;
            }
            offset = codec::int(next)?;
        }
        if damaged > 0 {
            tracing::warn!(
                target: "session_redis",
                damaged,
                "damaged session records (times that do not decode) were ended where they lay; the others were revoked"
            );
        }
        Ok(ended)
    }

    async fn user_sessions(
        &self,
        user: &UserKey,
        mode: &str,
        cx: &StoreContext,
    ) -> Result<Value, StoreFailure> {
        let keys = vec![self.keys.user_index(user)];
        let args = vec![at(cx.now), mode.to_owned()];
        self.run(&scripts::USER_SESSIONS, &keys, args).await
    }

    async fn count(&self, cx: &StoreContext, mode: &str) -> Result<u64, StoreFailure> {
        let args = vec![
            at(cx.now),
            mode.to_owned(),
            self.keys.prefix().to_owned(),
            String::new(),
            "0".to_owned(),
        ];
        Ok(codec::int(&self.analytics(args).await?)?.max(0) as u64)
    }

    /// Runs the analytics script: once on a single Redis, once per primary
    /// on Cluster (each node reads the buckets it holds; counts are added
    /// up, pages concatenated).
    async fn analytics(&self, args: Vec<String>) -> Result<Value, StoreFailure> {
        #[cfg(feature = "cluster")]
        if self.conn.is_cluster() {
            let combine = if args.get(1).is_some_and(|m| m == "page") {
                Combine::Concatenate
            } else {
                Combine::Sum
            };
            return self
                .conn
                .run_on_every_primary(scripts::ANALYTICS.source, &args, combine)
                .await;
        }
        self.run(&scripts::ANALYTICS, &[] as &[&str], args).await
    }

    /// Signing in from an anonymous session on Cluster: the old id lives in
    /// another slot than the user's, so this takes three steps, ordered so
    /// that any failure leaves the old id without the sign-in. Read the old
    /// session; create the new one (with the limit); end the old one. If the
    /// old one was no longer active (a racing rotation or a logout won),
    /// this rotation lost: its new session is ended too, so exactly one
    /// rotation of an id succeeds. Writes to the old session between the
    /// read and its end are not carried over.
    async fn rotate_across_slots(
        &self,
        r: Rotation,
        cx: &StoreContext,
    ) -> Result<Created, RotateError> {
        let read_only = StoreContext {
            refresh_threshold: Duration::ZERO,
            ..*cx
        };
        let record = match self.load(&r.old, &read_only).await? {
            Loaded::Active { record, .. } => record,
            Loaded::Ended(e) => return Err(RotateError::Ended(e)),
            Loaded::Unknown => return Err(RotateError::UnknownId),
        };
        let Some(sign_in) = r.sign_in else {
            // A plain rotation keeps the slot; only a sign-in moves it.
            return Err(RotateError::Store(StoreFailure::Corrupt(
                "a rotation without sign-in changed slots".into(),
            )));
        };
        if record
            .user
            .as_ref()
            .is_some_and(|u| *u != sign_in.user.user)
        {
            return Err(RotateError::OtherUser);
        }
        let mut data: std::collections::BTreeMap<String, String> = record
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        for (k, v) in &r.delta.data {
            match v {
                Some(json) => data.insert(k.clone(), json.clone()),
                None => data.remove(k),
            };
        }
        let new = NewSession {
            key: r.new,
            public_id: record.public_id,
            user: Some(sign_in.user),
            idle_timeout: r.delta.idle_timeout.unwrap_or(record.idle_timeout),
            absolute_deadline: sign_in.absolute_deadline,
            metadata: r.delta.metadata.clone().unwrap_or(record.metadata),
            data,
        };
        let created = self
            .create(new, sign_in.limit, cx)
            .await
            .map_err(|e| match e {
                CreateError::DuplicateId => RotateError::DuplicateId,
                CreateError::LimitReached { limit } => RotateError::LimitReached { limit },
                CreateError::Store(f) => RotateError::Store(f),
                other => RotateError::Store(StoreFailure::Corrupt(other.to_string())),
            })?;
        match self.invalidate(&r.old, EndReason::Rotated, cx).await {
            // Ended (NotReplicated: ended on the primary, already warned).
            Ok(Some(_)) | Err(StoreFailure::NotReplicated(_)) => Ok(created),
            outcome => {
                // The sign-in lost, or its last step failed: end the new
                // session so the old id stays the only one. If even that
                // fails, say which session is left over, and which sessions
                // its create evicted (they stay ended).
                if self
                    .invalidate(&r.new, EndReason::Rotated, cx)
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        target: "session_redis",
                        public_id = %created.record.public_id,
                        evicted = ?created.evicted,
                        "a cross-slot sign-in failed after creating its new session, which could not be ended: it stays active (no client holds its id) until it expires or is revoked"
                    );
                } else if !created.evicted.is_empty() {
                    tracing::warn!(
                        target: "session_redis",
                        evicted = ?created.evicted,
                        "a cross-slot sign-in failed after its create had evicted sessions: they stay ended"
                    );
                }
                match outcome {
                    Err(f) => Err(RotateError::Store(f)),
                    _ => match self.load(&r.old, &read_only).await? {
                        Loaded::Ended(e) => Err(RotateError::Ended(e)),
                        _ => Err(RotateError::UnknownId),
                    },
                }
            }
        }
    }

    /// The Redis key of a session (for tests and operators; it holds a
    /// digest of the id, never the id).
    pub fn session_key_name(&self, key: &SessionKey) -> String {
        self.keys.session(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    /// The URL the variables give (the merging rules, which hold in every
    /// feature set; whether this build can use it is tested below).
    fn url_of(pairs: &'static [(&'static str, &'static str)]) -> String {
        crate::env::unchecked_url(env(pairs)).unwrap().unwrap().0
    }

    #[test]
    fn the_environment_gives_only_urls_this_build_can_use() {
        let tls =
            RedisStore::builder_from_lookup(env(&[("REDIS_HOST", "cache"), ("REDIS_SSL", "true")]));
        if cfg!(feature = "tls") {
            assert_eq!(tls.unwrap().unwrap().url, "rediss://cache:6379/0");
        } else {
            assert!(matches!(
                tls,
                Err(RedisStoreError::FeatureNeeded { ref features, .. }) if features == &["tls"]
            ));
        }
        let cluster =
            RedisStore::builder_from_lookup(env(&[("REDIS_URL", "redis+cluster://a:1,b:2")]));
        assert_eq!(cluster.is_ok(), cfg!(feature = "cluster"), "{cluster:?}");
        let sentinel =
            RedisStore::builder_from_lookup(env(&[("REDIS_URL", "redis-sentinel://s:1/mymaster")]));
        assert_eq!(sentinel.is_ok(), cfg!(feature = "sentinel"), "{sentinel:?}");
        // A URL that is wrong whatever the features names the variable.
        assert!(matches!(
            RedisStore::builder_from_lookup(env(&[("REDIS_URL", "redis+cluster://")])),
            Err(RedisStoreError::BadSetting {
                variable: "REDIS_URL",
                ..
            }) | Err(RedisStoreError::FeatureNeeded { .. })
        ));
    }

    #[test]
    fn settings_from_the_environment() {
        assert_eq!(url_of(&[("REDIS_HOST", "cache")]), "redis://cache:6379/0");
        assert_eq!(
            url_of(&[
                ("REDIS_HOST", "cache"),
                ("REDIS_PORT", "6380"),
                ("REDIS_DB", "2"),
                ("REDIS_USERNAME", "app"),
                ("REDIS_PASSWORD", "p@ss:w/rd"),
                ("REDIS_SSL", "true"),
            ]),
            "rediss://app:p%40ss%3Aw%2Frd@cache:6380/2"
        );
        for (pairs, variable) in [
            (&[("REDIS_URL", "memcached://x")][..], "REDIS_URL"),
            (
                &[("REDIS_HOST", "h"), ("REDIS_SSL", "maybe")][..],
                "REDIS_SSL",
            ),
            (&[("REDIS_HOST", "h"), ("REDIS_DB", "-1")][..], "REDIS_DB"),
            (&[("REDIS_HOST", "a/b")][..], "REDIS_HOST"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] = pairs;
            match RedisStore::builder_from_lookup(env(pairs)) {
                Err(RedisStoreError::BadSetting { variable: v, .. }) => assert_eq!(v, variable),
                other => panic!("{pairs:?}: expected an error naming {variable}, got {other:?}"),
            }
        }
        assert!(RedisStore::builder_from_lookup(env(&[])).unwrap().is_none());
        let builder = RedisStore::builder_from_lookup(env(&[
            ("REDIS_HOST", "cache"),
            ("REDIS_PASSWORD", "s3cret"),
        ]))
        .unwrap()
        .unwrap();
        assert!(!format!("{builder:?}").contains("s3cret"));
    }

    fn refused(pairs: &'static [(&'static str, &'static str)]) -> &'static str {
        match RedisStore::builder_from_lookup(env(pairs)) {
            Err(RedisStoreError::BadSetting { variable, .. }) => variable,
            other => panic!("{pairs:?}: expected a BadSetting, got {other:?}"),
        }
    }

    fn prefix_of(pairs: &'static [(&'static str, &'static str)]) -> String {
        RedisStore::builder_from_lookup(env(pairs))
            .unwrap()
            .unwrap()
            .prefix
    }

    #[test]
    fn the_key_prefix_comes_from_the_environment() {
        assert_eq!(prefix_of(&[("REDIS_HOST", "cache")]), "session");
        assert_eq!(
            prefix_of(&[("REDIS_HOST", "cache"), ("SESSION_KEY_PREFIX", " shop ")]),
            "shop"
        );
        assert_eq!(
            prefix_of(&[
                ("REDIS_URL", "redis://cache:6379"),
                ("SESSION_KEY_PREFIX", "billing-v2:eu")
            ]),
            "billing-v2:eu"
        );
        assert_eq!(
            prefix_of(&[("REDIS_HOST", "cache"), ("SESSION_KEY_PREFIX", "  ")]),
            "session"
        );
        for bad in ["my app", "a/b", "é", &*"x".repeat(65)] {
            let bad: &'static str = Box::leak(bad.to_owned().into_boxed_str());
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
                ("REDIS_HOST", "cache"),
                ("SESSION_KEY_PREFIX", bad),
            ]));
            assert_eq!(refused(pairs), "SESSION_KEY_PREFIX", "{bad:?}");
        }
    }

    #[test]
    fn url_and_credentials_are_merged_or_refused() {
        // Credentials only in the variables: merged into the URL, encoded.
        assert_eq!(
            url_of(&[
                ("REDIS_URL", "redis://cache:6379/2"),
                ("REDIS_USERNAME", "app"),
                ("REDIS_PASSWORD", "p@ss:w/rd"),
            ]),
            "redis://app:p%40ss%3Aw%2Frd@cache:6379/2"
        );
        assert_eq!(
            url_of(&[
                ("REDIS_URL", "redis+cluster://a:1,b:2"),
                ("REDIS_PASSWORD", "s3cret"),
            ]),
            "redis+cluster://:s3cret@a:1,b:2"
        );
        assert_eq!(
            url_of(&[
                ("REDIS_URL", "redis+sentinel://s1:26379,s2:26379/mymaster"),
                ("REDIS_USERNAME", "app"),
                ("REDIS_PASSWORD", "pw"),
            ]),
            "redis+sentinel://app:pw@s1:26379,s2:26379/mymaster"
        );
        // Credentials in both places: refused, naming the variable.
        assert_eq!(
            refused(&[
                ("REDIS_URL", "redis://app:one@cache:6379"),
                ("REDIS_PASSWORD", "two"),
            ]),
            "REDIS_PASSWORD"
        );
        assert_eq!(
            refused(&[
                ("REDIS_URL", "redis://:one@cache:6379"),
                ("REDIS_USERNAME", "app"),
            ]),
            "REDIS_USERNAME"
        );
        // A user name alone would be ignored by the client: refused.
        assert_eq!(
            refused(&[
                ("REDIS_URL", "redis://cache:6379"),
                ("REDIS_USERNAME", "app")
            ]),
            "REDIS_USERNAME"
        );
        assert_eq!(
            refused(&[("REDIS_HOST", "cache"), ("REDIS_USERNAME", "app")]),
            "REDIS_USERNAME"
        );
    }

    #[test]
    fn url_and_tls_setting_are_merged_or_refused() {
        for (url, upgraded) in [
            ("redis://cache:6379/1", "rediss://cache:6379/1"),
            ("rediss://cache:6379", "rediss://cache:6379"),
            ("redis+cluster://a:1,b:2", "rediss+cluster://a:1,b:2"),
            ("redis+sentinel://s:1/m", "rediss+sentinel://s:1/m"),
            ("redis-sentinel://s:1/m", "rediss-sentinel://s:1/m"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(Box::new([("REDIS_URL", url), ("REDIS_SSL", "true")]));
            assert_eq!(url_of(pairs), upgraded);
        }
        assert_eq!(
            url_of(&[("REDIS_URL", "redis://cache:6379"), ("REDIS_SSL", "false")]),
            "redis://cache:6379"
        );
        for url in [
            "rediss://cache:6379",
            "rediss+cluster://a:1",
            "rediss+sentinel://s:1/m",
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(Box::new([("REDIS_URL", url), ("REDIS_SSL", "false")]));
            assert_eq!(refused(pairs), "REDIS_SSL", "{url}");
        }
        assert_eq!(
            refused(&[("REDIS_URL", "redis://cache:6379"), ("REDIS_SSL", "maybe")]),
            "REDIS_SSL"
        );
    }

    #[test]
    fn url_and_address_parts_are_refused_together() {
        for (part, value) in [
            ("REDIS_HOST", "x"),
            ("REDIS_PORT", "6380"),
            ("REDIS_DB", "2"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
                ("REDIS_URL", "redis+cluster://a:1,b:2"),
                (part, value),
            ]));
            assert_eq!(refused(pairs), part);
        }
    }

    #[test]
    fn parts_without_a_host_are_refused() {
        for part in [
            "REDIS_PORT",
            "REDIS_DB",
            "REDIS_USERNAME",
            "REDIS_PASSWORD",
            "REDIS_SSL",
        ] {
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([(part, "1")]));
            assert_eq!(refused(pairs), part);
        }
    }
}
