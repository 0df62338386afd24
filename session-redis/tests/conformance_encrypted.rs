//! The whole session contract with encryption at rest turned on.

mod support;

session_core::conformance_tests!(support::Standalone::start_encrypted());
