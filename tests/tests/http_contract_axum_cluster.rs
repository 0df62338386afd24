//! The demo contract over HTTP: the axum demo on a 3-primary Redis Cluster.

use session_tests::http_contract::{AxumDemo, StoreKind};

session_tests::http_contract_tests!(AxumDemo, StoreKind::RedisCluster);
