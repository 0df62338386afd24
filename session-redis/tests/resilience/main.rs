//! The store under faults: lost replies, restarts and a demoted endpoint
//! through a proxy the test controls (`faults`), a randomized history of
//! operations under injected faults on one Redis, the pool, Cluster and
//! Sentinel (`randomized`), and Sentinel failovers
//! (`sentinel_failover`, with the `sentinel` feature). A module or test
//! that needs a cargo feature is compiled only with it (the project's test
//! command runs with `--all-features`).

#[cfg(feature = "sentinel")]
#[path = "../support/mod.rs"]
mod support;

mod faults;
mod randomized;
#[cfg(feature = "sentinel")]
mod sentinel_failover;
