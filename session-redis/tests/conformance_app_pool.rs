//! The whole session contract on a single Redis through a bb8 pool the
//! application made (bb8-redis), shared with its sessions.

mod support;

session_core::conformance_tests!(support::Standalone::start_with_app_connection(
    support::AppConnection::Bb8Pool
));
