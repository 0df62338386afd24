//! The session contract: what every store and adapter guarantees.
//!
//! This module holds no code. It is the contract itself, the same text as
//! `docs/contract.md` in the repository, so that it is one click away on
//! docs.rs. Code and tests cite its guarantees by number.
//!
#![doc = include_str!("../CONTRACT.md")]
