//! # session-redis
//!
//! The Redis store for `session-core`. Every operation that reads and then
//! writes, or writes more than one key, is one Lua script: atomic, and one
//! round trip. Scripts are loaded once and called by SHA. A read is one
//! `HGETALL`, and the steady-state save (overwrites no longer than what
//! they replace) is `HSET` and `PEXPIRE … NX` in one round trip, with no
//! script. It keeps the
//! session contract ([`session_core::contract`]) on every topology.
//!
//! This version connects to a single Redis (one auto-reconnecting
//! multiplexed connection), to a Redis Cluster, or to the primary a set of
//! sentinels names (following failovers); over TLS (`rediss://`, rustls)
//! and with ACL users; optionally sealing data values at rest
//! ([`EncryptionKeys`]). Everything beyond a single Redis over plain TCP is
//! a Cargo feature.
//!
//! # Features
//!
//! | feature | adds | pulls in |
//! | --- | --- | --- |
//! | `tls` | `rediss://`, `rediss+cluster://`, `rediss+sentinel://`; [`RedisStoreBuilder::with_tls_root_certificate`] | rustls on the ring provider (needs a C compiler), redis-rs's `tokio-rustls-comp` |
//! | `cluster` | `redis+cluster://`, [`RedisStore::cluster`], [`RedisStore::with_cluster_connection`] | redis-rs's `cluster-async` |
//! | `sentinel` | `redis+sentinel://` (alias `redis-sentinel://`), [`RedisStore::sentinel`] | redis-rs's `sentinel` |
//! | `pool` | the store's own bb8 pool ([`RedisStoreBuilder::with_pool`]) and the application's ([`RedisStore::with_bb8_pool`]); re-exports `bb8` | bb8, bb8-redis |
//! | `encryption` | encryption at rest: [`EncryptionKeys`], [`RedisStoreBuilder::with_encryption`] | chacha20poly1305 |
//! | `full` | all of the above | |
//!
// The items of a feature that is off are not in these docs: their links
// lead back here.
#![cfg_attr(
    feature = "tls",
    doc = "[`RedisStoreBuilder::with_tls_root_certificate`]: RedisStoreBuilder::with_tls_root_certificate"
)]
#![cfg_attr(
    not(feature = "tls"),
    doc = "[`RedisStoreBuilder::with_tls_root_certificate`]: #features"
)]
#![cfg_attr(
    feature = "cluster",
    doc = "[`RedisStore::cluster`]: RedisStore::cluster",
    doc = "[`RedisStore::with_cluster_connection`]: RedisStore::with_cluster_connection"
)]
#![cfg_attr(
    not(feature = "cluster"),
    doc = "[`RedisStore::cluster`]: #features",
    doc = "[`RedisStore::with_cluster_connection`]: #features"
)]
#![cfg_attr(
    feature = "sentinel",
    doc = "[`RedisStore::sentinel`]: RedisStore::sentinel"
)]
#![cfg_attr(not(feature = "sentinel"), doc = "[`RedisStore::sentinel`]: #features")]
#![cfg_attr(
    feature = "pool",
    doc = "[`RedisStoreBuilder::with_pool`]: RedisStoreBuilder::with_pool",
    doc = "[`RedisStore::with_bb8_pool`]: RedisStore::with_bb8_pool"
)]
#![cfg_attr(
    not(feature = "pool"),
    doc = "[`RedisStoreBuilder::with_pool`]: #features",
    doc = "[`RedisStore::with_bb8_pool`]: #features"
)]
#![cfg_attr(
    feature = "encryption",
    doc = "[`EncryptionKeys`]: EncryptionKeys",
    doc = "[`RedisStoreBuilder::with_encryption`]: RedisStoreBuilder::with_encryption"
)]
#![cfg_attr(
    not(feature = "encryption"),
    doc = "[`EncryptionKeys`]: #features",
    doc = "[`RedisStoreBuilder::with_encryption`]: #features"
)]
//!
//! **Default: none of them.** The default build talks to one Redis over
//! plain TCP (`redis://`, ACL users, one shared multiplexed connection, or
//! the application's own redis-rs `ConnectionManager` through
//! [`RedisStore::with_connection_manager`]), with the fewest dependencies.
//! Turn on what the deployment needs:
//!
//! ```toml
//! session-redis = { version = "0.1", features = ["tls", "cluster"] }
//! ```
//!
//! A URL that needs a feature this build lacks (`rediss://` without `tls`,
//! `redis+cluster://` without `cluster`, …) is refused when the store is
//! built, or read from the environment, with
//! [`RedisStoreError::FeatureNeeded`] naming the features to turn on; it
//! never panics and the code that names such a URL still compiles.
//!
//! `redis` is re-exported ([`redis`]), and `bb8` under `pool`, since their
//! types appear in this crate's API: use them to build a connection to
//! share without adding a dependency of your own in a matching version.
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
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod application;
mod codec;
mod connection;
mod encryption;
mod env;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod layout;
mod operation_id;
mod scripts;
mod server_check;
mod setup;
mod store;
mod topology;

#[cfg(feature = "pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "pool")))]
pub use bb8;
#[cfg(feature = "encryption")]
pub use encryption::{EncryptionKeyError, EncryptionKeys};
pub use error::RedisStoreError;
pub use redis;
pub use setup::setup_from_env;
pub use store::{RedisStore, RedisStoreBuilder};

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
