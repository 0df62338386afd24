//! The demo contract over HTTP: the axum demo on a single Redis.

use session_tests::http_contract::{AxumDemo, StoreKind};

session_tests::http_contract_tests!(AxumDemo, StoreKind::RedisStandalone);
