//! The whole session contract against a primary found through Sentinel.

mod support;

session_core::conformance_tests!(support::OnSentinel::start());
