//! [`RedisStore`]: the [`SessionStore`] on Redis. Every operation is one
//! round trip: a plain read, the plain save (`plain_save`), or one Lua
//! script (atomic).

use std::time::Duration;

use async_trait::async_trait;
use redis::Value;
use session_core::store::{
    Applied, AsLoaded, CreateError, Created, Delta, Loaded, NewSession, RotateError, Rotation,
    SessionKey, SessionStore, SlotKeyPin, StoreContext, UpdateError, UserKey, refresh_due,
};
use session_core::{
    EndReason, Page, PageRequest, PublicId, SessionRecord, SessionSummary, StoreFailure, Timestamp,
    UserId, UserLimit,
};

use crate::codec::{self, at, ms};
#[cfg(feature = "cluster")]
use crate::connection::Combine;
use crate::connection::{Connection, Provided, ReplicaWait, Sent, Timeouts, Tls};
use crate::encryption::{EncryptionKeys, Field};
use crate::error::RedisStoreError;
use crate::keys::KeyLayout;
use crate::operation_id;
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
    /// The consumer groups of the lifecycle stream this process has made
    /// sure of (shared by the store's clones).
    groups: std::sync::Arc<events::KnownGroups>,
}

mod builder;
mod create;
mod cross_slot;
mod events;
mod operations;
mod plain_save;
mod replies;
mod steps;
#[cfg(test)]
mod tests;

pub use builder::RedisStoreBuilder;
use builder::ReplicaAcks;

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
            timeouts: Timeouts::default(),
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
        Ok(self.run_telling(script, keys, args).await?.0)
    }

    /// [`Self::run`], also saying whether the script was sent again after
    /// a lost reply.
    async fn run_telling<K: AsRef<str> + Sync>(
        &self,
        script: &scripts::NamedScript,
        keys: &[K],
        args: Vec<String>,
    ) -> Result<(Value, Sent), StoreFailure> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!(
            target: "session_redis",
            "redis_script",
            script = script.name,
            key = keys.first().map(AsRef::as_ref).unwrap_or(""),
            rtt_us = tracing::field::Empty,
            ok = tracing::field::Empty,
            resent = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let result = self
            .conn
            .run_telling(&script.script, keys, &args, script.step)
            .instrument(span.clone())
            .await;
        span.record("rtt_us", started.elapsed().as_micros() as u64);
        span.record("ok", result.is_ok());
        match &result {
            Err(e) => {
                tracing::warn!(target: "session_redis", parent: &span, error = %e, "redis script failed");
            }
            Ok((_, Sent::Again)) => {
                span.record("resent", true);
                tracing::debug!(target: "session_redis", parent: &span, "a lost reply: the script was sent again");
            }
            Ok(_) => {}
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
        let (value, acked) = self.run_invalidating_acked(script, keys, args).await?;
        match (acked, self.replica_wait) {
            (false, Some(wait)) if strict => Err(StoreFailure::NotReplicated {
                within: wait.within,
                ended: Vec::new(),
            }),
            _ => Ok(value),
        }
    }

    /// As [`Self::run_invalidating`], never failing for the replicas: the
    /// reply, and whether enough replicas acknowledged it (true when
    /// acknowledgements are off). The warning event when not.
    async fn run_invalidating_acked<K: AsRef<str> + Sync>(
        &self,
        script: &scripts::NamedScript,
        keys: &[K],
        args: Vec<String>,
    ) -> Result<(Value, bool), StoreFailure> {
        let Some(wait) = self.replica_wait else {
            return Ok((self.run(script, keys, args).await?, true));
        };
        let (value, acked) = self
            .conn
            .run_and_wait(&script.script, keys, &args, script.step, wait)
            .await?;
        if acked {
            return Ok((value, true));
        }
        tracing::warn!(
            target: "session_redis",
            script = script.name,
            replicas = wait.replicas,
            within_ms = wait.within.as_millis() as u64,
            "an invalidation was applied on the primary but not acknowledged by enough replicas: a failover now could undo it"
        );
        Ok((value, false))
    }

    /// The keys of a step on one session: the session key, the analytics
    /// keys of the bucket of `slot`, then the step's two operation keys
    /// `ops`, borrowed (the calls on every request build no key twice).
    fn step_keys<'a>(
        &'a self,
        session: &'a str,
        slot: session_core::store::SlotTag,
        ops: &'a [String; 2],
    ) -> [&'a str; 6] {
        let [sessions, users, names] = self.keys.analytics(KeyLayout::bucket(slot));
        [session, sessions, users, names, &ops[0], &ops[1]]
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

/// One row of the user-sessions script's list, decoded (its metadata
/// opened when sealed).
fn summary(row: Value, keys: Option<&EncryptionKeys>) -> Result<SessionSummary, StoreFailure> {
    let cols = codec::array(row)?;
    let time = |i: usize| -> Result<Timestamp, StoreFailure> {
        Ok(Timestamp::from_unix_millis(
            codec::int(nth(&cols, i)?)?.max(0) as u64,
        ))
    };
    let public = codec::text(nth(&cols, 0)?)?;
    let public_id = PublicId::parse(&public)
        .map_err(|_| StoreFailure::Corrupt(format!("not a public id: {public:?}")))?;
    let idle = time(3)?;
    let absolute = time(4)?;
    Ok(SessionSummary {
        public_id,
        created_at: time(1)?,
        last_seen_at: time(2)?,
        expires_at: idle.min(absolute),
        absolute_deadline: absolute,
        metadata: codec::metadata_from(keys, &public_id, &codec::text(nth(&cols, 5)?)?)?,
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
