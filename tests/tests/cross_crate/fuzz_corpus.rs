//! Replays the fuzz targets' checked-in corpus (`fuzz/corpus/<target>/`)
//! on stable Rust, without cargo-fuzz: every file through the same function
//! the fuzz target runs (the hidden `fuzzing` modules of session-core and
//! session-redis). A crash the fuzzer found, once its input is added to the
//! corpus, stays fixed.
//!
//! To fuzz for real: `./scripts/fuzz SECONDS [TARGET...]` (nightly).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use session_core::SessionId;
use session_redis::fuzzing::Judgement;

/// The files of `fuzz/corpus/<target>/`, sorted, with their contents.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus")).join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "the corpus of {target} ({}) is empty",
        dir.display()
    );
    files
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (path, data)
        })
        .collect()
}

/// Runs every corpus file of `target` through `body`, and fails naming
/// each file that panicked (all of them, not just the first).
fn replay(target: &str, body: fn(&[u8])) {
    let files = corpus(target);
    let failed: Vec<String> = files
        .iter()
        .filter(|(_, data)| catch_unwind(AssertUnwindSafe(|| body(data))).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} {target} corpus files panicked (see the panic messages above): {failed:#?}",
        failed.len(),
        files.len()
    );
}

/// The text of corpus file `name` of `target`.
fn seed(target: &str, name: &str) -> Vec<u8> {
    corpus(target)
        .into_iter()
        .find(|(path, _)| path.file_name().is_some_and(|n| n == name))
        .map(|(_, data)| data)
        .unwrap_or_else(|| panic!("the {target} corpus has no seed {name:?}"))
}

#[test]
fn cookie_and_id_corpus() {
    replay("cookie_and_id", session_core::fuzzing::cookie_and_id);
}

#[test]
fn stored_record_corpus() {
    replay("stored_record", session_redis::fuzzing::stored_record);
}

#[test]
fn redis_url_corpus() {
    replay("redis_url", session_redis::fuzzing::redis_url);
}

#[test]
fn csrf_guard_corpus() {
    replay("csrf_guard", session_core::fuzzing::csrf_guard);
}

// The seeds are meant to take the fuzzer past the checks a random input
// fails (an id's integrity tag, a sealed value's authentication): these
// tests keep them valid when the fixed fuzzing keys or formats change.

#[test]
fn the_cookie_seed_holds_an_id_that_verifies() {
    let data = seed("cookie_and_id", "valid-cookie");
    let text = String::from_utf8(data).expect("the seed is text");
    let value = text.split_once('=').expect("name=value").1;
    SessionId::parse(value, &session_core::fuzzing::fuzz_keys())
        .expect("the seed's id verifies under the fuzzing key");
}

#[test]
fn the_sealed_record_seed_opens() {
    let data = seed("stored_record", "live-sealed");
    let mut lines = data.split(|&b| b == b'\n');
    let now: u64 = std::str::from_utf8(lines.next().expect("a context line"))
        .expect("text")
        .parse()
        .expect("a time");
    let reply = session_redis::redis::Value::Array(
        lines
            .filter(|l| !l.is_empty())
            .map(|l| session_redis::redis::Value::BulkString(l.to_vec()))
            .collect(),
    );
    let cx = session_core::store::StoreContext {
        now: session_core::Timestamp::from_unix_millis(now),
        ended_retention: std::time::Duration::from_secs(3600),
        refresh_threshold: std::time::Duration::from_secs(60),
        max_data_bytes: usize::MAX,
        anonymous_analytics: true,
    };
    let key = session_redis::fuzzing::fuzz_session_key().expect("the fuzzing session key");
    match session_redis::fuzzing::judge_hash(reply, &cx, true, &key) {
        Ok(Judgement::Live(record)) => assert_eq!(record.data["token"], "s3cret"),
        other => panic!("the sealed seed is not a live record that opens: {other:?}"),
    }
}
