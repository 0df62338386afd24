//! The demo contract over HTTP (`session_tests::http_contract`): every
//! scenario against each framework's demo on each store, one module per
//! demo and store (`axum_memory`, `actix_redis`, `rocket_valkey`,
//! `rocket_cluster`, `actix_sentinel`, ...), and on a store an application
//! supplies: the SQLite example store (`axum_sqlite`, ...); and each demo
//! losing script replies on a single Redis (`lost_replies`, issue 26).

use std::sync::Arc;

use session_core::store::SessionStore;
use session_tests::http_contract::{
    ActixDemo, AxumDemo, RocketDemo, StoreFuture, StoreKind, SuppliedStore,
};

/// A fresh in-memory SQLite database per scenario, through the example
/// store of `examples/sqlite-store`.
fn sqlite() -> StoreFuture {
    Box::pin(async {
        let store = sqlite_session_store::SqliteStore::open_in_memory()
            .expect("an in-memory SQLite database opens");
        Arc::new(store) as Arc<dyn SessionStore>
    })
}

/// The SQLite example store, supplied as an application supplies its own.
const SQLITE: StoreKind = StoreKind::Supplied(SuppliedStore {
    name: "sqlite",
    make: sqlite,
});

/// The axum demo on the SQLite example store.
mod axum_sqlite {
    session_tests::http_contract_tests!(super::AxumDemo, super::SQLITE);
}

/// The actix-web demo on the SQLite example store.
mod actix_sqlite {
    session_tests::http_contract_tests!(super::ActixDemo, super::SQLITE);
}

/// The rocket demo on the SQLite example store.
mod rocket_sqlite {
    session_tests::http_contract_tests!(super::RocketDemo, super::SQLITE);
}

/// The axum demo on the in-memory store.
mod axum_memory {
    session_tests::http_contract_tests!(super::AxumDemo, super::StoreKind::Memory);
}

/// The axum demo on a single Redis.
mod axum_redis {
    session_tests::http_contract_tests!(super::AxumDemo, super::StoreKind::RedisStandalone);
}

/// The axum demo on a single Valkey.
mod axum_valkey {
    session_tests::http_contract_tests!(super::AxumDemo, super::StoreKind::ValkeyStandalone);
}

/// The axum demo on a 3-primary Redis Cluster.
mod axum_cluster {
    session_tests::http_contract_tests!(super::AxumDemo, super::StoreKind::RedisCluster);
}

/// The actix-web demo on the in-memory store.
mod actix_memory {
    session_tests::http_contract_tests!(super::ActixDemo, super::StoreKind::Memory);
}

/// The actix-web demo on a single Redis.
mod actix_redis {
    session_tests::http_contract_tests!(super::ActixDemo, super::StoreKind::RedisStandalone);
}

/// The actix-web demo on a single Valkey.
mod actix_valkey {
    session_tests::http_contract_tests!(super::ActixDemo, super::StoreKind::ValkeyStandalone);
}

/// The actix-web demo on a 3-primary Redis Cluster.
mod actix_cluster {
    session_tests::http_contract_tests!(super::ActixDemo, super::StoreKind::RedisCluster);
}

/// The rocket demo on the in-memory store.
mod rocket_memory {
    session_tests::http_contract_tests!(super::RocketDemo, super::StoreKind::Memory);
}

/// The rocket demo on a single Redis.
mod rocket_redis {
    session_tests::http_contract_tests!(super::RocketDemo, super::StoreKind::RedisStandalone);
}

/// The rocket demo on a single Valkey.
mod rocket_valkey {
    session_tests::http_contract_tests!(super::RocketDemo, super::StoreKind::ValkeyStandalone);
}

/// The rocket demo on a 3-primary Redis Cluster.
mod rocket_cluster {
    session_tests::http_contract_tests!(super::RocketDemo, super::StoreKind::RedisCluster);
}

/// The axum demo on a Sentinel set (primary, replica, three sentinels).
mod axum_sentinel {
    session_tests::http_contract_tests!(super::AxumDemo, super::StoreKind::RedisSentinel);
}

/// The actix-web demo on a Sentinel set (primary, replica, three sentinels).
mod actix_sentinel {
    session_tests::http_contract_tests!(super::ActixDemo, super::StoreKind::RedisSentinel);
}

/// The rocket demo on a Sentinel set (primary, replica, three sentinels).
mod rocket_sentinel {
    session_tests::http_contract_tests!(super::RocketDemo, super::StoreKind::RedisSentinel);
}

/// Issue 26, exactly once after a lost reply: each demo's counter on a
/// single Redis behind a proxy that drops 15% of the script replies after
/// Redis ran them (`session_tests::http_contract::lost_replies`).
mod lost_replies {
    use session_tests::http_contract::increments_exactly_once_when_script_replies_are_lost as scenario;

    /// The axum demo: 150 increments answer 1, 2, ..., 150.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn axum_increments_exactly_once() {
        scenario(&super::AxumDemo).await;
    }

    /// The actix-web demo: 150 increments answer 1, 2, ..., 150.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn actix_increments_exactly_once() {
        scenario(&super::ActixDemo).await;
    }

    /// The rocket demo: 150 increments answer 1, 2, ..., 150.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rocket_increments_exactly_once() {
        scenario(&super::RocketDemo).await;
    }
}
