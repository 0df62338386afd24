//! Fuzz target `stored_record`: the body is `session_redis::fuzzing::stored_record`, which
//! says what the input means and which properties are checked (the corpus
//! replay test, tests/tests/cross_crate/fuzz_corpus.rs, runs the same function).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    session_redis::fuzzing::stored_record(data);
});
