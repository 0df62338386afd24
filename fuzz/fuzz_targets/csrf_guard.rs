//! Fuzz target `csrf_guard`: the body is `session_core::fuzzing::csrf_guard`, which
//! says what the input means and which properties are checked (the corpus
//! replay test, tests/tests/cross_crate/fuzz_corpus.rs, runs the same function).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    session_core::fuzzing::csrf_guard(data);
});
