//! The whole session contract against a single real Redis.

mod support;

session_core::conformance_tests!(support::Standalone::start());
