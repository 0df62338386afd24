//! # session-redis
//!
//! The Redis store for `session-core`. Every operation that reads and then
//! writes, or writes more than one key, is one Lua script: atomic, and one
//! round trip. Scripts are loaded once and called by SHA.
//!
//! This version connects to a single Redis (one auto-reconnecting
//! multiplexed connection), to a Redis Cluster, or to the primary a set of
//! sentinels names (following failovers); over TLS (`rediss://`, rustls)
//! and with ACL users; optionally sealing data values at rest
//! ([`EncryptionKeys`]).
//!
//! # Topologies
#![doc = include_str!("topology_table.md")]
//!
//! # Key layout
#![doc = include_str!("keys_table.md")]
//!
//! # Costs
#![doc = include_str!("costs_table.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod codec;
mod connection;
mod encryption;
mod error;
mod keys;
mod scripts;
mod store;
mod topology;

pub use encryption::{EncryptionKeyError, EncryptionKeys};
pub use error::RedisStoreError;
pub use store::{RedisStore, RedisStoreBuilder};
