//! The workspace's other cross-crate tests: the conformance kit catches a
//! broken store for each of its checks (`kit_catches_broken_stores`), the
//! fuzz targets' corpus replays on stable (`fuzz_corpus`), and two
//! applications on one Redis stay apart by key prefix (`prefix_isolation`).

mod fuzz_corpus;
mod kit_catches_broken_stores;
mod lifecycle_stream;
mod prefix_isolation;
