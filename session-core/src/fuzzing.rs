//! The bodies of the fuzz targets that exercise this crate (`fuzz/` at the
//! workspace root), shared with the test that replays their checked-in
//! corpus (`tests/tests/cross_crate/fuzz_corpus.rs`).
//!
//! **Not API.** This module exists for the fuzz targets only: it is hidden
//! from the docs, outside semver, and changes whenever the targets do.
//!
//! Each function takes the fuzzer's raw bytes, feeds them to the parsers
//! the way a request would, and panics only when a property those parsers
//! promise is broken. A panic on the input itself is the bug the fuzzer is
//! looking for.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::adapter::begin_request_with;
use crate::{
    CookieConfig, CsrfGuard, KeyRing, MemoryStore, PublicId, SessionConfig, SessionConfigBuilder,
    SessionId, SessionManager,
};

/// The secret the fuzz targets sign and verify session ids with. Fixed (not
/// [`KeyRing::generate`]) so that the valid ids in the checked-in corpus
/// verify, and the fuzzer starts from ids that reach the store.
///
/// Exists for the fuzz targets; not API.
pub const FUZZ_KEY: [u8; 32] = *b"fuzzing-key-not-a-secret-0123456";

/// The key ring of [`FUZZ_KEY`].
///
/// Exists for the fuzz targets; not API.
pub fn fuzz_keys() -> KeyRing {
    // FUZZ_KEY is 32 bytes, the minimum, so the ring is always accepted;
    // should that ever change, fall back to a random ring rather than panic.
    KeyRing::new(vec![FUZZ_KEY.to_vec()]).unwrap_or_else(|_| KeyRing::generate())
}

/// A manager over an empty [`MemoryStore`] with `config`, or with the
/// default configuration when `config` does not build.
fn manager(config: SessionConfigBuilder) -> SessionManager {
    let config = config
        .build()
        .or_else(|_| SessionConfig::builder(fuzz_keys()).build());
    match config {
        Ok(config) => SessionManager::new(Arc::new(MemoryStore::new()), config),
        // The default configuration always builds (session-core's own tests
        // say so); reaching this is a bug worth a crash report.
        Err(e) => panic!("the default session configuration does not build: {e}"),
    }
}

/// Fuzz target `cookie_and_id`: the bytes as `Cookie` header values (one
/// per line, as HTTP/2 may split cookies over several headers) through
/// [`SessionManager::session_for_request`], then one load of the session
/// and the end of the request; and, when the bytes are UTF-8, the text (and
/// each cookie value in it) through [`SessionId::parse`] and
/// [`PublicId::parse`].
///
/// Properties: nothing panics; the store is empty, so the load finds no
/// value; an id that parses is its own text and parses again to the same
/// id; likewise a public id.
///
/// Exists for the fuzz targets; not API.
pub fn cookie_and_id(data: &[u8]) {
    let manager = manager(SessionConfig::builder(fuzz_keys()));

    // The id is read here, eagerly; the load below is where a verified id
    // first meets the store.
    let session = manager.session_for_request(data.split(|&b| b == b'\n'));
    let found = block_on(session.get::<String>("k"));
    assert!(
        !matches!(found, Ok(Some(_))),
        "an empty store gave a value: {found:?}"
    );
    // Ending the request writes the cookie answer (none, or a removal).
    let _update = block_on(session.finish());

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let keys = manager.config().keys();
    check_ids(text, keys);
    // Each `name=value` pair's value, as a cookie would carry it.
    for pair in text.split(['\n', ';']) {
        if let Some((_, value)) = pair.split_once('=') {
            check_ids(value.trim(), keys);
        }
    }
}

/// The round-trip properties of [`SessionId::parse`] and
/// [`PublicId::parse`] on `text`.
fn check_ids(text: &str, keys: &KeyRing) {
    if let Ok(id) = SessionId::parse(text, keys) {
        assert_eq!(id.expose_secret(), text, "a parsed id is not its own text");
        // Re-encoded (its text, as the Set-Cookie header carries it), the
        // id parses again to the same id.
        match SessionId::parse(id.expose_secret(), keys) {
            Ok(again) => {
                assert_eq!(again, id, "a re-encoded id parses to another id");
                assert_eq!(again.storage_key(), id.storage_key());
            }
            Err(e) => panic!("a parsed id, re-encoded, no longer parses: {e}"),
        }
    }
    if let Ok(public) = PublicId::parse(text) {
        assert_eq!(public.as_str(), text, "a parsed public id is not its text");
        assert_eq!(PublicId::parse(public.as_str()), Ok(public));
    }
}

/// Fuzz target `csrf_guard`: a request's method and headers through
/// [`begin_request_with`], which applies the CSRF guard.
///
/// The input is text-like lines: the first is the method, each other is a
/// header `name: value` (names without case, repeats allowed). A line
/// `@config: FLAGS` picks the configuration instead: `http` (a site not
/// served over https), `json` (JSON bodies only), `allow` (the allowed
/// origin `https://admin.example`), `off` ([`CsrfGuard::disabled`], which
/// overrides `json` and `allow`), `idheader` (id header `x-session-id`). For example:
///
/// ```text
/// POST
/// host: app.example
/// origin: https://evil.example
/// content-type: application/x-www-form-urlencoded
/// ```
///
/// Properties: nothing panics; a refusal is a 403 or a 415; a safe method
/// (`GET`, `HEAD`, `OPTIONS`, `TRACE`) is never refused, nor is any request
/// when the guard is off, nor one without `Origin` and `Sec-Fetch-Site`
/// when only the origin check is on.
///
/// Exists for the fuzz targets; not API.
pub fn csrf_guard(data: &[u8]) {
    let mut lines = data.split(|&b| b == b'\n');
    let method = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let mut headers: Vec<(&[u8], &[u8])> = Vec::new();
    let mut flags: &[u8] = &[];
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().skip(1).position(|&b| b == b':') else {
            continue;
        };
        // `skip(1)`: a pseudo-header's name (`:authority`) starts with the colon.
        let (name, value) = line.split_at(colon + 1);
        let value = value[1..].trim_ascii_start();
        if name == b"@config" {
            flags = value;
        } else {
            headers.push((name, value));
        }
    }

    let has = |flag: &[u8]| flags.windows(flag.len()).any(|w| w == flag);
    // `off` is the guard as `CsrfGuard::disabled()` gives it: the other
    // flags would turn rules back on, so they count only without it.
    let off = has(b"off");
    let json_only = !off && has(b"json");
    let guard = if off {
        CsrfGuard::disabled()
    } else if has(b"allow") {
        CsrfGuard::default().with_allowed_origin("https://admin.example")
    } else {
        CsrfGuard::default()
    };
    let guard = guard.with_json_bodies_only(json_only);
    let mut config = SessionConfig::builder(fuzz_keys())
        .with_cookie(CookieConfig::default().with_secure(!has(b"http")))
        .with_csrf(guard);
    if has(b"idheader") {
        config = config.with_id_header("x-session-id");
    }
    let manager = manager(config);

    let lookup = |name: &str| -> Vec<&[u8]> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|&(_, v)| v)
            .collect()
    };
    let present = |name: &str| !lookup(name).is_empty();
    let origin_signals = present("origin") || present("sec-fetch-site");
    let authority = lookup(":authority").first().copied();
    let result = begin_request_with(&manager, &method, authority, lookup);

    let Err(refused) = result else {
        return;
    };
    assert!(
        matches!(refused.status, 403 | 415),
        "the guard answered {}",
        refused.status
    );
    assert!(
        !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS" | "TRACE"),
        "a safe method ({method}) was refused: {refused:?}"
    );
    assert!(!off, "the disabled guard refused: {refused:?}");
    assert!(
        origin_signals || json_only,
        "a request without Origin and Sec-Fetch-Site was refused: {refused:?}"
    );
}

/// Runs `future` to completion on this thread. The futures of a
/// [`SessionManager`] over a [`MemoryStore`] wait for nothing outside the
/// process, so no async runtime is needed (and this crate has none).
fn block_on<F: Future>(future: F) -> F::Output {
    /// Wakes the blocked thread.
    struct Unpark(std::thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
