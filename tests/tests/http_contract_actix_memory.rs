//! The demo contract over HTTP: the actix-web demo on the in-memory store.

use session_tests::http_contract::{ActixDemo, StoreKind};

session_tests::http_contract_tests!(ActixDemo, StoreKind::Memory);
