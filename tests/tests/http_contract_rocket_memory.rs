//! The demo contract over HTTP: the rocket demo on the in-memory store.

use session_tests::http_contract::{RocketDemo, StoreKind};

session_tests::http_contract_tests!(RocketDemo, StoreKind::Memory);
