//! The demo contract over HTTP: the axum demo on the in-memory store.

use session_tests::http_contract::{AxumDemo, StoreKind};

session_tests::http_contract_tests!(AxumDemo, StoreKind::Memory);
