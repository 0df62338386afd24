//! Operation ids (issue 26): one per store call that is not idempotent,
//! made before its first send and kept for every resend of it, so that
//! the script it runs (`scripts/operation.lua`) can tell a resend of a
//! step it already applied and answer that step's reply instead of
//! applying it again.
//!
//! An id is 16 bytes in URL-safe base64 (22 characters): 8 random bytes
//! drawn once per process, then a counter. Ids only need to differ between
//! the steps that reach one session (or one user's index) within a
//! resend's window, and a per-process random prefix with a counter does
//! that without asking the operating system for randomness on every call.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The suffixes of the two operation keys (two generations of ids, see
/// `scripts/operation.lua`): `<session key>:ops` and `<session key>:ops:old`
/// (or the user index's).
const SUFFIXES: [&str; 2] = [":ops", ":ops:old"];

/// What follows a resent id in its argument: `<id>~<milliseconds since the
/// first send>`.
const RESENT: char = '~';

/// This process's prefix: 8 bytes from the OS CSPRNG (zeros if it fails:
/// the counter still keeps this process's ids apart).
static PREFIX: LazyLock<[u8; 8]> = LazyLock::new(|| {
    let mut buf = [0u8; 8];
    let _ = getrandom::fill(&mut buf);
    buf
});

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh operation id.
pub(crate) fn next() -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&*PREFIX);
    bytes[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    base64url(&bytes)
}

/// The two operation keys beside `key` (a session key or a user's index),
/// in its slot: the newer generation of ids, then the older.
pub(crate) fn keys_beside(key: &str) -> [String; 2] {
    SUFFIXES.map(|suffix| {
        let mut out = String::with_capacity(key.len() + suffix.len());
        out.push_str(key);
        out.push_str(suffix);
        out
    })
}

/// The argument of a resend of the step whose id argument is `arg`, `age`
/// after its first send: the id, then how long ago it was first sent, so
/// that the script can tell whether an id it does not find could have been
/// dropped. An empty argument (no id) stays empty.
pub(crate) fn resent(arg: &str, age: std::time::Duration) -> String {
    let id = arg.split(RESENT).next().unwrap_or(arg);
    if id.is_empty() {
        return String::new();
    }
    format!("{id}{RESENT}{}", age.as_millis())
}

/// URL-safe base64 without padding (16 bytes: 22 characters).
fn base64url(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_22_url_safe_characters_and_differ() {
        let a = next();
        let b = next();
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(
            keys_beside("p:{b1}:s:x"),
            ["p:{b1}:s:x:ops", "p:{b1}:s:x:ops:old"]
        );
        let age = std::time::Duration::from_millis(1_234);
        assert_eq!(resent(&a, age), format!("{a}~1234"));
        assert_eq!(resent(&resent(&a, age), age * 2), format!("{a}~2468"));
        assert_eq!(resent("", age), "");
    }

    #[test]
    fn base64url_encodes_as_the_standard_says() {
        // RFC 4648's alphabet, URL-safe, unpadded.
        assert_eq!(base64url(&[0u8; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(base64url(&[0xff; 16]), "_____________________w");
    }
}
