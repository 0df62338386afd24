//! What only the Redis store can get wrong, on real Redis servers started
//! for each test: the keys it leaves and the commands it sends, a Redis
//! that stops and comes back, what a session costs to store and to serve,
//! the guarantees at scale, rotating the secret, ACL users, encryption at
//! rest and TLS trust. A module that needs a cargo feature is compiled only
//! with it (the project's test command runs with `--all-features`).

#[path = "../support/mod.rs"]
mod support;

mod common;

mod acl_auth;
mod costs;
#[cfg(feature = "encryption")]
mod encryption_at_rest;
mod events;
mod key_rotation;
mod keys;
mod scale;
mod server;
mod storage;
#[cfg(feature = "tls")]
mod tls_trust;
