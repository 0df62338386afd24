//! The whole session contract on a single Redis through a bb8 pool.

mod support;

session_core::conformance_tests!(support::Standalone::start_pooled());
