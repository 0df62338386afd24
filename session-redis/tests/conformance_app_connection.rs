//! The whole session contract on a single Redis through a redis-rs
//! `ConnectionManager` the application made (one client for the app and
//! its sessions).

mod support;

session_core::conformance_tests!(support::Standalone::start_with_app_connection(
    support::AppConnection::Manager
));
