//! The whole session contract against a real 3-primary Redis Cluster.

mod support;

session_core::conformance_tests!(support::OnCluster::start());
