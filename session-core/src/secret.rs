//! The server secret: a [`KeyRing`] shared by every instance.
//!
//! The first key signs; every key verifies. To rotate the secret, put a new
//! key in front and keep the old ones until the sessions they signed have
//! expired (the absolute lifetime), then drop them.
//!
//! The *slot key* keys the slot tag of signed-in sessions (see
//! [`crate::SlotTag`]): all of a user's sessions land in the slot it
//! picks, where their index lives. It must never change while sessions
//! live, so it is not a signing key: pin it with [`KeyRing::with_slot_key`]
//! (`SESSION_SLOT_KEY`), and signing keys can then come and go freely. A
//! ring without a pinned slot key uses its **last** key, which is fine
//! until that key is retired.
//!
//! # Rotating the secret (the procedure `session-redis/tests/behaviour/key_rotation.rs` runs)
//!
//! 1. Pin the slot key, if not done yet: set `SESSION_SLOT_KEY` to the
//!    ring's current last key. Nothing moves (it is the key already in use).
//! 2. Put the new key in front of `SESSION_SECRET` on every instance. New
//!    ids are signed with it; ids signed with the old keys still verify.
//! 3. After the absolute lifetime, drop the old keys from `SESSION_SECRET`.
//!    Ids they signed are now rejected; users stay in their slot, so
//!    revoke-all, the limit and the device list still see every session.
//!
//! Skipping step 1 is caught at start: a store that outlives processes
//! (Redis) keeps a fingerprint of the slot key it was first used with, and
//! [`crate::SessionSetup::check_slot_key`] (run by the Redis
//! `setup_from_env`) refuses a start whose slot key differs with
//! [`crate::SetupError::SlotKeyChanged`], naming `SESSION_SLOT_KEY`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The smallest key the ring accepts, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Why a key ring could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRingError {
    /// The ring had no key at all.
    #[error("the key ring is empty: give at least one key of {MIN_KEY_BYTES} bytes or more")]
    Empty,
    /// A key was shorter than [`MIN_KEY_BYTES`].
    #[error("key {index} has {len} bytes; each key needs at least {MIN_KEY_BYTES}")]
    TooShort {
        /// Position of the key in the ring (0 = signing key).
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// A key was not valid base64.
    #[error("key {index} is not valid base64 (standard or URL-safe alphabet)")]
    NotBase64 {
        /// Position of the key in the ring.
        index: usize,
    },
}

/// The server secret: keys that sign and verify session ids.
///
/// Its `Debug` output never shows key material.
///
/// ```
/// use session_core::KeyRing;
/// let ring = KeyRing::from_base64_list(
///     "c2lnbmluZy1rZXktdGhhdC1pcy1sb25nLWVub3VnaC0xMjM0NTY3OA==",
/// ).unwrap();
/// assert_eq!(ring.len(), 1);
/// ```
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<Vec<u8>>,
    /// An HMAC keyed by each key, in order: cloning one skips hashing the
    /// key's two pad blocks again (half the work of a short MAC).
    macs: Vec<HmacSha256>,
    slot_key: Option<Vec<u8>>,
    /// The HMAC keyed by `slot_key`.
    slot_mac: Option<HmacSha256>,
}

impl KeyRing {
    /// A ring of raw keys; the first signs, all verify, the last keys slot
    /// tags unless a slot key is pinned ([`KeyRing::with_slot_key`]).
    pub fn new(keys: Vec<Vec<u8>>) -> Result<Self, KeyRingError> {
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        for (index, k) in keys.iter().enumerate() {
            if k.len() < MIN_KEY_BYTES {
                return Err(KeyRingError::TooShort {
                    index,
                    len: k.len(),
                });
            }
        }
        Ok(KeyRing {
            macs: keys.iter().map(|k| keyed(k)).collect(),
            keys,
            slot_key: None,
            slot_mac: None,
        })
    }

    /// Pins the key of slot tags (at least [`MIN_KEY_BYTES`]), so retiring
    /// signing keys never moves a user's sessions to another slot. See the
    /// rotation procedure in this module's docs.
    ///
    /// ```
    /// use session_core::{KeyRing, UserId};
    /// use session_core::store::SlotTag;
    /// let old = vec![1u8; 32];
    /// let alice = UserId::new("alice").unwrap();
    /// let before = KeyRing::new(vec![old.clone()]).unwrap();
    /// // A new signing key in front, the old one retired: pinned, alice stays.
    /// let after = KeyRing::new(vec![vec![2u8; 32]])
    ///     .unwrap()
    ///     .with_slot_key(old)
    ///     .unwrap();
    /// assert_eq!(SlotTag::for_user(&before, &alice), SlotTag::for_user(&after, &alice));
    /// ```
    pub fn with_slot_key(mut self, key: Vec<u8>) -> Result<Self, KeyRingError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyRingError::TooShort {
                index: 0,
                len: key.len(),
            });
        }
        self.slot_mac = Some(keyed(&key));
        self.slot_key = Some(key);
        Ok(self)
    }

    /// [`KeyRing::with_slot_key`] from base64 (standard or URL-safe).
    pub fn with_slot_key_base64(self, text: &str) -> Result<Self, KeyRingError> {
        let text = text.trim();
        let key = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .or_else(|_| STANDARD.decode(text))
            .map_err(|_| KeyRingError::NotBase64 { index: 0 })?;
        self.with_slot_key(key)
    }

    /// Parses comma-separated base64 keys (standard or URL-safe, padded or not).
    pub fn from_base64_list(text: &str) -> Result<Self, KeyRingError> {
        let mut keys = Vec::new();
        for (index, part) in text.split(',').map(str::trim).enumerate() {
            if part.is_empty() {
                continue;
            }
            let unpadded = part.trim_end_matches('=');
            let key = URL_SAFE_NO_PAD
                .decode(unpadded)
                .or_else(|_| STANDARD.decode(part))
                .map_err(|_| KeyRingError::NotBase64 { index })?;
            keys.push(key);
        }
        Self::new(keys)
    }

    /// A ring with one fresh random 32-byte key (for development: sessions do
    /// not survive a restart and are not shared between instances).
    pub fn generate() -> Self {
        let key = crate::random::bytes::<32>().to_vec();
        KeyRing {
            macs: vec![keyed(&key)],
            keys: vec![key],
            slot_key: None,
            slot_mac: None,
        }
    }

    /// How many keys the ring holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a ring has at least one key.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The signing key as base64, to hand to other instances.
    pub fn signing_key_base64(&self) -> String {
        STANDARD.encode(&self.keys[0])
    }

    /// HMAC-SHA256 of `parts` under the signing key.
    pub(crate) fn sign(&self, domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        mac(&self.macs[0], domain, parts)
    }

    /// Whether `tag` is a (left-truncated) HMAC of `parts` under any key,
    /// compared in constant time.
    pub(crate) fn verify(&self, domain: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
        let mut ok = false;
        for keyed in &self.macs {
            let mut m = new_mac(keyed, domain);
            for p in parts {
                m.update(p);
            }
            // Every key is tried, so timing does not reveal which one matched.
            ok |= m.verify_truncated_left(tag).is_ok();
        }
        ok
    }

    /// A fingerprint of the slot key (pinned, else the last key): 16 bytes
    /// of a MAC under it, in hex. It reveals nothing of the key; a store
    /// keeps it to notice the key changing.
    pub(crate) fn slot_key_fingerprint(&self) -> String {
        self.anchor_mac(b"slot-key-fingerprint", &[])[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The digest a store names a user's keys by: 16 bytes of a MAC of the
    /// user id under the slot key, so it stays across ring rotations.
    pub(crate) fn user_digest(&self, user: &crate::UserId) -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(&self.anchor_mac(b"user-key/v1", &[user.as_str().as_bytes()])[..16]);
        out
    }

    /// HMAC-SHA256 of `parts` under the slot key (pinned, else the last key).
    pub(crate) fn anchor_mac(&self, domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let anchor = self
            .slot_mac
            .as_ref()
            .or(self.macs.last())
            .unwrap_or(&self.macs[0]);
        mac(anchor, domain, parts)
    }
}

/// An HMAC keyed by `key`, before any input.
fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

/// A copy of `keyed` that has taken in `domain` and its separator.
fn new_mac(keyed: &HmacSha256, domain: &[u8]) -> HmacSha256 {
    let mut m = keyed.clone();
    m.update(domain);
    m.update(&[0]);
    m
}

fn mac(keyed: &HmacSha256, domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = new_mac(keyed, domain);
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRing({} keys, redacted)", self.keys.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_empty_and_bad_base64() {
        assert_eq!(KeyRing::new(vec![]).unwrap_err(), KeyRingError::Empty);
        assert_eq!(
            KeyRing::new(vec![vec![1; 31]]).unwrap_err(),
            KeyRingError::TooShort { index: 0, len: 31 }
        );
        assert_eq!(
            KeyRing::from_base64_list("!!!").unwrap_err(),
            KeyRingError::NotBase64 { index: 0 }
        );
        assert_eq!(
            KeyRing::from_base64_list(" , ").unwrap_err(),
            KeyRingError::Empty
        );
    }

    #[test]
    fn old_keys_verify_new_key_signs() {
        let old = KeyRing::new(vec![vec![1; 32]]).unwrap();
        let both = KeyRing::new(vec![vec![2; 32], vec![1; 32]]).unwrap();
        let tag = old.sign(b"d", &[b"x"]);
        assert!(both.verify(b"d", &[b"x"], &tag[..16]));
        assert!(!both.verify(b"d", &[b"y"], &tag[..16]));
        let new_tag = both.sign(b"d", &[b"x"]);
        assert!(!old.verify(b"d", &[b"x"], &new_tag[..16]));
    }

    #[test]
    fn debug_hides_keys() {
        let ring = KeyRing::new(vec![vec![b'k'; 32]]).unwrap();
        assert!(!format!("{ring:?}").contains("kkkk"));
    }
}
