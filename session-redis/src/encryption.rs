//! Encryption at rest (optional): data values sealed with
//! XChaCha20-Poly1305 before they reach Redis, so secrets kept in a session
//! (OAuth tokens, say) are not readable in a dump or a `MONITOR` trace.
//!
//! * A key ring: the first key seals, every key opens. A sealed value names
//!   its key by a short digest, so keys can be added in front and retired
//!   later (once no session holds a value sealed with them).
//! * Each value is bound to its session's public id and its field (a data
//!   key, or the metadata) as associated data, so a sealed value moved to
//!   another field or another session does not open.
//! * A value that does not open (unknown key, tampering) makes the session
//!   a corrupt record, never an empty one and never a panic.
//! * Integers stay in the clear, so `increment` stays one atomic `HINCRBY`;
//!   everything else is sealed, and a clear value that is not an integer
//!   (planted by someone with write access to Redis) is refused as corrupt.
//! * The metadata (IP address, user agent, device label) is sealed too,
//!   except when empty (`{}`). The other reserved fields (times, public
//!   id, user id, index key) are not: they are what the scripts work on.
//!
//! Stored form: `enc2:<key id, 8 hex>:<base64url(nonce ‖ ciphertext)>`,
//! which is never valid JSON, so sealed and clear values cannot be confused.
//!
//! Without the `encryption` feature, [`EncryptionKeys`] is a private type
//! with no values: the store never seals, and a sealed value it meets (a
//! session written by a build with encryption) is a corrupt record, as
//! when no keys are configured.

use std::borrow::Cow;
#[cfg(feature = "encryption")]
use std::fmt;

#[cfg(feature = "encryption")]
use base64::Engine as _;
#[cfg(feature = "encryption")]
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
#[cfg(feature = "encryption")]
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
#[cfg(feature = "encryption")]
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use session_core::{PublicId, StoreFailure};
#[cfg(feature = "encryption")]
use sha2::{Digest, Sha256};

const PREFIX: &str = "enc2:";
#[cfg(feature = "encryption")]
const NONCE_BYTES: usize = 24;

/// No keys: this build has no encryption (the `encryption` feature is
/// off), so no value of this type exists.
#[cfg(not(feature = "encryption"))]
#[derive(Debug, Clone)]
pub(crate) enum EncryptionKeys {}

#[cfg(not(feature = "encryption"))]
impl EncryptionKeys {
    pub(crate) fn seal(&self, _session: &PublicId, _field: Field<'_>, _json: &str) -> String {
        match *self {}
    }

    pub(crate) fn open(
        &self,
        _session: &PublicId,
        _field: Field<'_>,
        _stored: &str,
    ) -> Result<String, StoreFailure> {
        match *self {}
    }
}

/// The field a sealed value belongs to: part of its associated data, so a
/// value does not open in another field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field<'a> {
    /// Data key `name` (stored as `d:name`).
    Data(&'a str),
    /// The metadata (`@meta`).
    Metadata,
    /// The binding of a stored public id to the session key it is stored
    /// under (`@bind`: an empty message, sealed).
    Binding(&'a session_core::store::SessionKey),
}

impl std::fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Data(name) => write!(f, "data key {name:?}"),
            Field::Metadata => f.write_str("the metadata"),
            Field::Binding(_) => f.write_str("the public id's binding to its key"),
        }
    }
}

/// Why encryption keys were refused.
#[cfg(feature = "encryption")]
#[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptionKeyError {
    /// No key was given.
    #[error("the encryption key ring is empty")]
    Empty,
    /// A key was not 32 bytes of base64.
    #[error("encryption key {index} must be 32 bytes, base64-encoded")]
    BadKey {
        /// Its position in the ring.
        index: usize,
    },
}

/// The keys that seal and open data values. `Debug` shows no key material.
///
/// ```
/// use session_redis::EncryptionKeys;
/// let keys = EncryptionKeys::from_base64_list(
///     "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",
/// ).unwrap();
/// assert_eq!(keys.len(), 1);
/// ```
#[cfg(feature = "encryption")]
#[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
#[derive(Clone)]
pub struct EncryptionKeys {
    keys: Vec<(String, XChaCha20Poly1305)>,
}

#[cfg(feature = "encryption")]
impl EncryptionKeys {
    /// A ring of raw 32-byte keys; the first seals.
    pub fn new(keys: &[[u8; 32]]) -> Result<Self, EncryptionKeyError> {
        if keys.is_empty() {
            return Err(EncryptionKeyError::Empty);
        }
        Ok(EncryptionKeys {
            keys: keys
                .iter()
                .map(|k| {
                    let id = Sha256::digest(k)[..4]
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    (id, XChaCha20Poly1305::new(k.into()))
                })
                .collect(),
        })
    }

    /// Parses comma-separated base64 keys of 32 bytes each.
    pub fn from_base64_list(text: &str) -> Result<Self, EncryptionKeyError> {
        let mut keys = Vec::new();
        for (index, part) in text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            let bytes = STANDARD
                .decode(part)
                .or_else(|_| URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')))
                .map_err(|_| EncryptionKeyError::BadKey { index })?;
            keys.push(
                <[u8; 32]>::try_from(bytes).map_err(|_| EncryptionKeyError::BadKey { index })?,
            );
        }
        Self::new(&keys)
    }

    /// How many keys the ring holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a ring has at least one key.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Seals the JSON text of `field` of session `session`, unless it is
    /// a data value that is an integer.
    pub(crate) fn seal(&self, session: &PublicId, field: Field<'_>, json: &str) -> String {
        if matches!(field, Field::Data(_)) && json.parse::<i64>().is_ok() {
            return json.to_owned();
        }
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; NONCE_BYTES];
        if let Err(e) = getrandom::fill(&mut nonce) {
            panic!("the operating system's random number generator failed: {e}");
        }
        let aad = associated(session, field);
        let payload = Payload {
            msg: json.as_bytes(),
            aad: &aad,
        };
        // Encryption of an in-memory buffer with a valid key cannot fail.
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{id}:{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a stored value of `field` (a clear integer data value, or
    /// clear empty metadata, passes through).
    pub(crate) fn open(
        &self,
        session: &PublicId,
        field: Field<'_>,
        stored: &str,
    ) -> Result<String, StoreFailure> {
        let fail = |why: &str| StoreFailure::Corrupt(format!("{field} does not decrypt: {why}"));
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            // Only integers are stored in the clear (so `increment` stays
            // one HINCRBY), and empty metadata; anything else clear was not
            // written by this store with encryption on: refuse it rather
            // than trust it.
            let clear_allowed = match field {
                Field::Data(_) => stored.parse::<i64>().is_ok(),
                Field::Metadata => stored == "{}",
                Field::Binding(_) => false,
            };
            if clear_allowed {
                return Ok(stored.to_owned());
            }
            return Err(fail("a clear value where only integers may be clear"));
        };
        let (id, body) = rest.split_once(':').ok_or_else(|| fail("malformed"))?;
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .ok_or_else(|| fail("sealed with a key not in the ring"))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| fail("malformed"))?;
        if bytes.len() < NONCE_BYTES {
            return Err(fail("malformed"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let aad = associated(session, field);
        let payload = Payload {
            msg: sealed,
            aad: &aad,
        };
        let clear = cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| fail("authentication failed"))?;
        String::from_utf8(clear).map_err(|_| fail("not UTF-8"))
    }
}

/// The associated data of a sealed value: the session's public id (stable
/// across rotation) and the field as stored (`d:name` or `@meta`), so a
/// value moved to another field or another session does not open.
#[cfg(feature = "encryption")]
fn associated(session: &PublicId, field: Field<'_>) -> Vec<u8> {
    match field {
        Field::Data(name) => format!("{session}\0d:{name}").into_bytes(),
        Field::Metadata => format!("{session}\0@meta").into_bytes(),
        Field::Binding(key) => format!("{session}\0@bind\0{}", key.digest_hex()).into_bytes(),
    }
}

/// Opens a value of session `session` when a ring is configured (a clear
/// value is borrowed, not copied).
pub(crate) fn open<'a>(
    keys: Option<&EncryptionKeys>,
    session: &PublicId,
    field: Field<'_>,
    stored: &'a str,
) -> Result<Cow<'a, str>, StoreFailure> {
    match keys {
        Some(k) => k.open(session, field, stored).map(Cow::Owned),
        None if stored.starts_with(PREFIX) => Err(StoreFailure::Corrupt(format!(
            "{field} is encrypted but no encryption keys are configured{}",
            if cfg!(feature = "encryption") {
                ""
            } else {
                " (session-redis is built without its encryption feature)"
            }
        ))),
        None => Ok(Cow::Borrowed(stored)),
    }
}

#[cfg(feature = "encryption")]
impl fmt::Debug for EncryptionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "EncryptionKeys({ids:?}, redacted)")
    }
}

#[cfg(all(test, feature = "encryption"))]
mod tests {
    use super::*;

    fn s1() -> PublicId {
        PublicId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap()
    }

    #[test]
    fn values_round_trip_and_integers_stay_clear() {
        let k = EncryptionKeys::new(&[[1; 32]]).unwrap();
        let sealed = k.seal(&s1(), Field::Data("token"), "\"secret-oauth-token\"");
        assert!(sealed.starts_with("enc2:") && !sealed.contains("secret"));
        assert_eq!(
            k.open(&s1(), Field::Data("token"), &sealed).unwrap(),
            "\"secret-oauth-token\""
        );
        assert_eq!(k.seal(&s1(), Field::Data("n"), "42"), "42");
        assert_ne!(
            k.seal(&s1(), Field::Data("token"), "\"x\""),
            k.seal(&s1(), Field::Data("token"), "\"x\""),
            "nonces repeat"
        );
    }

    #[test]
    fn old_keys_open_new_keys_seal() {
        let old = EncryptionKeys::new(&[[1; 32]]).unwrap();
        let both = EncryptionKeys::new(&[[2; 32], [1; 32]]).unwrap();
        let by_old = old.seal(&s1(), Field::Data("k"), "\"v\"");
        assert_eq!(
            both.open(&s1(), Field::Data("k"), &by_old).unwrap(),
            "\"v\""
        );
        let by_new = both.seal(&s1(), Field::Data("k"), "\"v\"");
        assert!(matches!(
            old.open(&s1(), Field::Data("k"), &by_new),
            Err(StoreFailure::Corrupt(_))
        ));
    }

    #[test]
    fn tampering_and_swapping_are_corrupt() {
        let k = EncryptionKeys::new(&[[1; 32]]).unwrap();
        let sealed = k.seal(&s1(), Field::Data("a"), "\"v\"");
        assert!(
            k.open(&s1(), Field::Data("b"), &sealed).is_err(),
            "a value moved to another key opened"
        );
        let other = PublicId::generate();
        assert!(
            k.open(&other, Field::Data("a"), &sealed).is_err(),
            "a value moved to another session opened"
        );
        let mut bytes = sealed.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(
            k.open(&s1(), Field::Data("a"), &String::from_utf8(bytes).unwrap())
                .is_err()
        );
        for bad in ["enc2:", "enc2:zz", "enc2:00000000:!!", "enc2:00000000:AAAA"] {
            assert!(k.open(&s1(), Field::Data("a"), bad).is_err(), "{bad}");
        }
        assert!(open(None, &s1(), Field::Data("a"), &sealed).is_err());
        // Planted clear values: only integers may be clear.
        for planted in ["\"admin\"", "true", "{\"role\":\"admin\"}", "1.5"] {
            assert!(
                k.open(&s1(), Field::Data("a"), planted).is_err(),
                "{planted} was accepted"
            );
        }
        assert_eq!(k.open(&s1(), Field::Data("a"), "-42").unwrap(), "-42");
        // Metadata: sealed even when it looks like an integer, bound to its
        // field (a data key does not open it), clear only when empty.
        let meta = k.seal(&s1(), Field::Metadata, "{\"device\":\"phone\"}");
        assert!(meta.starts_with("enc2:") && !meta.contains("phone"));
        assert!(k.open(&s1(), Field::Data("@meta"), &meta).is_err());
        assert!(
            k.open(&s1(), Field::Metadata, "{\"ip\":\"10.0.0.1\"}")
                .is_err()
        );
        assert_eq!(k.open(&s1(), Field::Metadata, "{}").unwrap(), "{}");
        assert!(EncryptionKeys::from_base64_list("c2hvcnQ=").is_err());
        assert!(EncryptionKeys::from_base64_list("").is_err());
    }
}

#[cfg(all(test, not(feature = "encryption")))]
mod tests_without_the_feature {
    use super::Field;

    #[test]
    fn a_sealed_value_is_corrupt_and_names_the_feature() {
        let id = session_core::PublicId::generate();
        let Err(session_core::StoreFailure::Corrupt(why)) =
            super::open(None, &id, Field::Data("token"), "enc2:00000000:AAAA")
        else {
            panic!("a sealed value opened without keys")
        };
        assert!(why.contains("encryption feature"), "{why}");
        assert_eq!(
            super::open(None, &id, Field::Data("n"), "42")
                .ok()
                .as_deref(),
            Some("42")
        );
    }
}
