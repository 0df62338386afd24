//! The whole session contract on a 3-primary Cluster through a redis-rs
//! cluster connection the application made (built with `.retries(0)`, as
//! `RedisStore::with_cluster_connection` asks).

mod support;

session_core::conformance_tests!(support::OnCluster::start_with_app_connection());
