//! Fuzz target `redis_url`: the body is `session_redis::fuzzing::redis_url`, which
//! says what the input means and which properties are checked (the corpus
//! replay test, tests/tests/cross_crate/fuzz_corpus.rs, runs the same function).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    session_redis::fuzzing::redis_url(data);
});
