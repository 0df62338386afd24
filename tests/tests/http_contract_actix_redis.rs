//! The demo contract over HTTP: the actix-web demo on a single Redis.

use session_tests::http_contract::{ActixDemo, StoreKind};

session_tests::http_contract_tests!(ActixDemo, StoreKind::RedisStandalone);
