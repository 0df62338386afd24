//! The whole contract against the in-memory store.

session_core::conformance_tests!(session_core::store::testkit::MemoryHarness::default());
