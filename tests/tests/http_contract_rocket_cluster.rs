//! The demo contract over HTTP: the rocket demo on a 3-primary Redis Cluster.

use session_tests::http_contract::{RocketDemo, StoreKind};

session_tests::http_contract_tests!(RocketDemo, StoreKind::RedisCluster);
