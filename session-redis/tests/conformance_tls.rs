//! The whole session contract over TLS (`rediss://`, rustls, a private CA).

mod support;

session_core::conformance_tests!(support::Standalone::start_tls());
