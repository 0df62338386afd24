//! Identifiers: the secret [`SessionId`], its storage [`SessionKey`], the
//! co-location [`SlotTag`] and the shareable [`PublicId`].
//!
//! # Session id format
//!
//! ```text
//! <slot tag: 8 chars>.<secret: 22 chars>.<integrity tag: 22 chars>
//! ```
//!
//! Each part is unpadded URL-safe base64 (`A–Z a–z 0–9 - _`), so the id is
//! safe in a cookie, a header and a URL without escaping: 54 characters.
//!
//! * **slot tag** (6 bytes): opaque. Random for an anonymous session; for a
//!   signed-in session a keyed hash (HMAC-SHA256 under the key ring's anchor
//!   key) of the user id, so all of one user's sessions share it and a Redis
//!   Cluster store can keep them, and the user's index, in one hash slot. It
//!   never reveals the user id.
//! * **secret** (16 bytes = 128 bits) from the OS CSPRNG: the unguessable part.
//! * **integrity tag** (16 bytes): HMAC-SHA256 over slot tag and secret under
//!   the key ring's signing key, verified against every key of the ring in
//!   constant time. A malformed, forged or guessed id is rejected before any
//!   store call (guarantee 10).
//!
//! # Storage key
//!
//! Stores never see the id. They get a [`SessionKey`]: the slot tag and the
//! first 16 bytes of SHA-256 over the whole id text. A dump of the store, or
//! a trace of its commands, therefore yields nothing that works as a cookie.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::secret::KeyRing;
use crate::user::UserId;

const SLOT_BYTES: usize = 6;
const SECRET_BYTES: usize = 16;
const TAG_BYTES: usize = 16;
const SLOT_CHARS: usize = 8;
const SECRET_CHARS: usize = 22;
const TAG_CHARS: usize = 22;
/// Length of a session id's text form.
pub const SESSION_ID_LEN: usize = SLOT_CHARS + 1 + SECRET_CHARS + 1 + TAG_CHARS;
const PUBLIC_BYTES: usize = 16;
const PUBLIC_CHARS: usize = 22;

const ID_DOMAIN: &[u8] = b"session-id/v1";
const SLOT_DOMAIN: &[u8] = b"user-slot/v1";
const KEY_DOMAIN: &[u8] = b"session-key/v1";
const PUBLIC_DOMAIN: &[u8] = b"public-id/v1";

/// Why text was not accepted as a session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Not of the id's shape (length, separators, alphabet).
    #[error("not a well-formed session id")]
    Malformed,
    /// Well-formed, but its integrity tag does not verify under any key of
    /// the ring: forged, guessed, or signed by a key since retired.
    #[error("the session id's integrity tag does not verify under the server secret")]
    Forged,
}

/// Text that is not a public id (22 URL-safe base64 characters): it names
/// no session. Over HTTP it is a 404, like a public id that is not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a public session id (22 URL-safe base64 characters)")]
pub struct PublicIdError;

/// The opaque tag that places a session in a storage slot.
///
/// ```
/// use session_core::{KeyRing, UserId};
/// use session_core::store::SlotTag;
/// let ring = KeyRing::generate();
/// let alice = UserId::new("alice").unwrap();
/// assert_eq!(SlotTag::for_user(&ring, &alice), SlotTag::for_user(&ring, &alice));
/// assert!(!SlotTag::for_user(&ring, &alice).as_str().contains("alice"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotTag([u8; SLOT_CHARS]);

impl SlotTag {
    /// A fresh random tag, for an anonymous session.
    pub fn random() -> Self {
        Self::from_bytes(&crate::random::bytes::<SLOT_BYTES>())
    }

    /// The tag of every session of `user`: a keyed hash under the anchor key.
    pub fn for_user(keys: &KeyRing, user: &UserId) -> Self {
        let mac = keys.anchor_mac(SLOT_DOMAIN, &[user.as_str().as_bytes()]);
        Self::from_bytes(&mac[..SLOT_BYTES])
    }

    fn from_bytes(b: &[u8]) -> Self {
        let mut out = [0u8; SLOT_CHARS];
        // 6 bytes always encode to exactly 8 characters.
        let _ = URL_SAFE_NO_PAD.encode_slice(b, &mut out);
        SlotTag(out)
    }

    fn parse(text: &str) -> Option<Self> {
        let bytes: [u8; SLOT_CHARS] = text.as_bytes().try_into().ok()?;
        let decoded = URL_SAFE_NO_PAD.decode(bytes).ok()?;
        (decoded.len() == SLOT_BYTES).then_some(SlotTag(bytes))
    }

    /// The tag as text (8 URL-safe base64 characters); use it as a Redis hash tag.
    pub fn as_str(&self) -> &str {
        // Built only from base64 output, which is ASCII.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for SlotTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotTag({})", self.as_str())
    }
}

impl fmt::Display for SlotTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The secret bearer value a browser presents. Redacted in `Debug` and `Display`.
///
/// Only [`SessionId::expose_secret`] gives the text, for writing the cookie.
///
/// ```
/// use session_core::{KeyRing, SessionId};
/// use session_core::store::SlotTag;
/// let ring = KeyRing::generate();
/// let sid = SessionId::generate(&ring, SlotTag::random());
/// assert_eq!(format!("{sid}"), "[redacted session id]");
/// let parsed = SessionId::parse(sid.expose_secret(), &ring).unwrap();
/// assert_eq!(parsed.storage_key(), sid.storage_key());
/// // Under another secret the same text is a forgery.
/// assert!(SessionId::parse(sid.expose_secret(), &KeyRing::generate()).is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId {
    text: String,
    slot: SlotTag,
    /// The storage key, hashed once when the id is made or verified: a
    /// request asks for it on every store call.
    key: SessionKey,
}

impl SessionId {
    /// A fresh id in `slot`, signed with the ring's signing key.
    pub fn generate(keys: &KeyRing, slot: SlotTag) -> Self {
        let secret = crate::random::bytes::<SECRET_BYTES>();
        let tag = keys.sign(ID_DOMAIN, &[slot.as_str().as_bytes(), &secret]);
        let mut text = String::with_capacity(SESSION_ID_LEN);
        text.push_str(slot.as_str());
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(secret, &mut text);
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(&tag[..TAG_BYTES], &mut text);
        let key = key_of(&text, slot, keys);
        SessionId { text, slot, key }
    }

    /// Parses and verifies untrusted text. Never touches a store; never panics.
    pub fn parse(text: &str, keys: &KeyRing) -> Result<Self, IdError> {
        if text.len() != SESSION_ID_LEN {
            return Err(IdError::Malformed);
        }
        let mut parts = text.split('.');
        let (Some(slot), Some(secret), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(IdError::Malformed);
        };
        let slot_tag = SlotTag::parse(slot).ok_or(IdError::Malformed)?;
        let secret = decode_exact::<SECRET_BYTES>(secret, SECRET_CHARS)?;
        let tag = decode_exact::<TAG_BYTES>(tag, TAG_CHARS)?;
        if !keys.verify(ID_DOMAIN, &[slot.as_bytes(), &secret], &tag) {
            return Err(IdError::Forged);
        }
        Ok(SessionId {
            text: text.to_owned(),
            slot: slot_tag,
            key: key_of(text, slot_tag, keys),
        })
    }

    /// The id's text, for the `Set-Cookie` header. Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.text
    }

    /// The slot this session lives in.
    pub fn slot(&self) -> SlotTag {
        self.slot
    }

    /// The key a store files this session under (a hash, never the id).
    pub fn storage_key(&self) -> SessionKey {
        self.key
    }
}

/// The storage key of id text `text` in `slot`: its SHA-256 under the
/// key domain, cut to 16 bytes, with the public id a session filed under
/// it starts with.
fn key_of(text: &str, slot: SlotTag, keys: &KeyRing) -> SessionKey {
    let digest = Sha256::new()
        .chain_update(KEY_DOMAIN)
        .chain_update([0])
        .chain_update(text.as_bytes())
        .finalize();
    let mut d = [0u8; 16];
    d.copy_from_slice(&digest[..16]);
    SessionKey {
        slot,
        digest: d,
        public: PublicId::keyed(keys, &d),
    }
}

fn decode_exact<const N: usize>(text: &str, chars: usize) -> Result<[u8; N], IdError> {
    if text.len() != chars {
        return Err(IdError::Malformed);
    }
    let v = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| IdError::Malformed)?;
    v.try_into().map_err(|_| IdError::Malformed)
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(slot {}, [redacted])", self.slot)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted session id]")
    }
}

/// What a store files a session under: its slot tag and a SHA-256 digest of
/// the session id. Safe to log and to store; useless as a cookie. It also
/// carries the public id a session filed under it starts with
/// ([`PublicId::of_key`]), derived with the server secret, which a store
/// cannot compute from the digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    slot: SlotTag,
    digest: [u8; 16],
    public: PublicId,
}

impl SessionKey {
    /// The slot tag (use it as the Redis hash tag).
    pub fn slot(&self) -> SlotTag {
        self.slot
    }

    /// The digest as 32 lowercase hex characters.
    pub fn digest_hex(&self) -> String {
        let mut s = String::with_capacity(32);
        for b in self.digest {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s
    }

    /// Appends the digest to `out` as 22 URL-safe base64 characters (no
    /// padding): the shortest text form, for key names. A store building a
    /// key name this way saves an allocation per call.
    ///
    /// ```
    /// use session_core::store::SlotTag;
    /// use session_core::{KeyRing, SessionId};
    ///
    /// let key = SessionId::generate(&KeyRing::generate(), SlotTag::random()).storage_key();
    /// let mut name = String::from("sessions:");
    /// key.push_digest_base64(&mut name);
    /// assert_eq!(name.len(), "sessions:".len() + 22);
    /// ```
    pub fn push_digest_base64(&self, out: &mut String) {
        URL_SAFE_NO_PAD.encode_string(self.digest, out);
    }

    /// Rebuilds a key from its parts as [`SessionKey::slot`] and
    /// [`SessionKey::digest_hex`] gave them (for stores that index keys),
    /// under the ring the session's id was made with.
    pub fn from_parts(slot: &str, digest_hex: &str, keys: &KeyRing) -> Option<Self> {
        let slot = SlotTag::parse(slot)?;
        let hex = digest_hex.as_bytes();
        if hex.len() != 32 {
            return None;
        }
        let mut digest = [0u8; 16];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0])?;
            let lo = hex_val(pair[1])?;
            digest[i] = (hi << 4) | lo;
        }
        Some(SessionKey {
            slot,
            digest,
            public: PublicId::keyed(keys, &digest),
        })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKey({}:{})", self.slot, self.digest_hex())
    }
}

/// A session's non-secret, stable identifier: safe to show in a "your
/// devices" list and to pass to "revoke that device". It survives rotation.
/// Knowing it does not let anyone act as the session.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicId([u8; PUBLIC_CHARS]);

impl PublicId {
    /// A fresh random public id (128 bits).
    pub fn generate() -> Self {
        let mut out = [0u8; PUBLIC_CHARS];
        let _ = URL_SAFE_NO_PAD.encode_slice(crate::random::bytes::<PUBLIC_BYTES>(), &mut out);
        PublicId(out)
    }

    /// The public id a new session stored under `key` gets: a MAC of the
    /// key's digest under the server secret's slot key (128 bits, under
    /// its own domain), carried by the key. It is as random as the session
    /// id; without the secret, neither it nor the key can be computed from
    /// the other (a dump of the store plus a log of public ids does not
    /// link them). Because it comes with the key, a store may leave it out
    /// of the record and take it from the key on load (the Redis store
    /// does, for anonymous sessions). After a rotation the session keeps
    /// its public id, which then no longer follows from its new key.
    ///
    /// ```
    /// use session_core::store::SlotTag;
    /// use session_core::{KeyRing, PublicId, SessionId};
    ///
    /// let id = SessionId::generate(&KeyRing::generate(), SlotTag::random());
    /// let key = id.storage_key();
    /// assert_eq!(PublicId::of_key(&key), PublicId::of_key(&key));
    /// assert!(!id.expose_secret().contains(PublicId::of_key(&key).as_str()));
    /// ```
    pub fn of_key(key: &SessionKey) -> Self {
        key.public
    }

    /// The MAC behind [`Self::of_key`], under the slot key: the key that
    /// stays fixed across ring rotations, so the public id does too.
    fn keyed(keys: &KeyRing, digest: &[u8; 16]) -> Self {
        let mac = keys.anchor_mac(PUBLIC_DOMAIN, &[digest]);
        let mut out = [0u8; PUBLIC_CHARS];
        let _ = URL_SAFE_NO_PAD.encode_slice(&mac[..PUBLIC_BYTES], &mut out);
        PublicId(out)
    }

    /// Parses untrusted text (22 URL-safe base64 characters), for
    /// example the device a "revoke that device" request names.
    ///
    /// ```
    /// use session_core::{PublicId, PublicIdError};
    /// let id = PublicId::generate();
    /// assert_eq!(PublicId::parse(id.as_str()), Ok(id));
    /// assert_eq!(PublicId::parse("not-an-id"), Err(PublicIdError));
    /// ```
    pub fn parse(text: &str) -> Result<Self, PublicIdError> {
        let bytes: [u8; PUBLIC_CHARS] = text.as_bytes().try_into().map_err(|_| PublicIdError)?;
        match URL_SAFE_NO_PAD.decode(bytes) {
            Ok(decoded) if decoded.len() == PUBLIC_BYTES => Ok(PublicId(bytes)),
            _ => Err(PublicIdError),
        }
    }

    /// The public id as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl std::str::FromStr for PublicId {
    type Err = PublicIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PublicId::parse(text)
    }
}

impl fmt::Debug for PublicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicId({})", self.as_str())
    }
}

impl fmt::Display for PublicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for PublicId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(vec![vec![7; 32]]).unwrap()
    }

    #[test]
    fn generated_ids_parse_and_differ() {
        let r = ring();
        let a = SessionId::generate(&r, SlotTag::random());
        let b = SessionId::generate(&r, a.slot());
        assert_eq!(a.expose_secret().len(), SESSION_ID_LEN);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(SessionId::parse(a.expose_secret(), &r).unwrap(), a);
        assert_eq!(a.slot(), b.slot());
        assert_ne!(a.storage_key(), b.storage_key());
    }

    #[test]
    fn tampering_is_detected() {
        let r = ring();
        let a = SessionId::generate(&r, SlotTag::random());
        let text = a.expose_secret();
        for i in 0..text.len() {
            if text.as_bytes()[i] == b'.' {
                continue;
            }
            let mut bytes = text.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(bytes).unwrap();
            assert!(SessionId::parse(&t, &r).is_err(), "flip at {i} accepted");
        }
        assert_eq!(SessionId::parse("", &r), Err(IdError::Malformed));
        assert_eq!(
            SessionId::parse(&"a".repeat(SESSION_ID_LEN), &r),
            Err(IdError::Malformed)
        );
    }

    #[test]
    fn storage_key_never_contains_the_secret() {
        let r = ring();
        let a = SessionId::generate(&r, SlotTag::random());
        let secret = a.expose_secret().split('.').nth(1).unwrap().to_owned();
        let k = a.storage_key();
        assert!(!format!("{k:?}").contains(&secret));
        assert_eq!(
            SessionKey::from_parts(k.slot().as_str(), &k.digest_hex(), &r),
            Some(k)
        );
        assert!(!format!("{a:?}").contains(&secret));
    }

    /// Words section: a dump (the storage digest) plus a log of public ids
    /// must not link them without the secret. The unkeyed hash this
    /// replaced did (seen failing with it).
    #[test]
    fn a_public_id_needs_the_secret_to_follow_from_its_key() {
        let a = SessionId::generate(&ring(), SlotTag::random());
        let key = a.storage_key();
        let unkeyed = Sha256::new()
            .chain_update(PUBLIC_DOMAIN)
            .chain_update([0])
            .chain_update(key.digest)
            .finalize();
        let mut text = [0u8; PUBLIC_CHARS];
        let _ = URL_SAFE_NO_PAD.encode_slice(&unkeyed[..PUBLIC_BYTES], &mut text);
        assert_ne!(PublicId::of_key(&key), PublicId(text));
        // The same digest under another secret has another public id, and
        // under the same secret the same one (so it survives a restart).
        let other = KeyRing::new(vec![vec![8; 32]]).unwrap();
        let digest = key.digest_hex();
        let slot = key.slot();
        let elsewhere = SessionKey::from_parts(slot.as_str(), &digest, &other).unwrap();
        assert_ne!(PublicId::of_key(&elsewhere), PublicId::of_key(&key));
        let again = SessionKey::from_parts(slot.as_str(), &digest, &ring()).unwrap();
        assert_eq!(PublicId::of_key(&again), PublicId::of_key(&key));
    }

    #[test]
    fn public_id_round_trips() {
        let p = PublicId::generate();
        assert_eq!(PublicId::parse(p.as_str()), Ok(p));
        assert_eq!(p.as_str().parse::<PublicId>(), Ok(p));
        assert_eq!(PublicId::parse("short"), Err(PublicIdError));
        assert_eq!(PublicId::parse(&"*".repeat(22)), Err(PublicIdError));
    }
}
