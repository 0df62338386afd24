//! The demo contract over HTTP: the actix-web demo on a 3-primary Redis Cluster.

use session_tests::http_contract::{ActixDemo, StoreKind};

session_tests::http_contract_tests!(ActixDemo, StoreKind::RedisCluster);
