//! The key layout (see the crate docs for the table).

use session_core::store::{SessionKey, SlotTag, UserKey};

/// How many buckets sessions are spread over. Every instance must agree,
/// so this is fixed: it is part of the key layout.
pub(crate) const BUCKETS: u32 = 64;

/// Checks a key prefix: 1 to 64 letters, digits or `-_.:`.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), crate::RedisStoreError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 64
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(crate::RedisStoreError::BadPrefix(prefix.to_owned()))
    }
}

/// Builds the store's key names from its prefix. The per-bucket parts are
/// formatted once, here: a request copies them instead of formatting.
#[derive(Debug, Clone)]
pub(crate) struct KeyLayout {
    prefix: String,
    /// `P:{bN}:s:` for each bucket N.
    sessions: Vec<String>,
    /// The analytics keys of each bucket.
    analytics: Vec<[String; 3]>,
    /// `P:{bN}:a:events`: each bucket's lifecycle stream.
    events: Vec<String>,
}

impl KeyLayout {
    pub(crate) fn new(prefix: &str) -> Self {
        KeyLayout {
            prefix: prefix.to_owned(),
            sessions: (0..BUCKETS)
                .map(|b| format!("{prefix}:{{b{b}}}:s:"))
                .collect(),
            analytics: (0..BUCKETS)
                .map(|b| ["sessions", "users", "names"].map(|k| format!("{prefix}:{{b{b}}}:a:{k}")))
                .collect(),
            events: (0..BUCKETS)
                .map(|b| format!("{prefix}:{{b{b}}}:a:events"))
                .collect(),
        }
    }

    /// The bucket of a slot tag: FNV-1a of its text, modulo [`BUCKETS`].
    pub(crate) fn bucket(slot: SlotTag) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        for b in slot.as_str().bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        h % BUCKETS
    }

    /// `P:slot-key`: the fingerprint of the key behind users' slot tags.
    pub(crate) fn slot_key_pin(&self) -> String {
        format!("{}:slot-key", self.prefix)
    }

    /// `P:{bN}:s:D`.
    pub(crate) fn session(&self, key: &SessionKey) -> String {
        let start = &self.sessions[Self::bucket(key.slot()) as usize];
        let mut name = String::with_capacity(start.len() + 22);
        name.push_str(start);
        key.push_digest_base64(&mut name);
        name
    }

    /// `P:{bN}:u:U`, `U` the user's keyed digest ([`UserKey::digest`]):
    /// without the server secret, a dictionary of user ids does not
    /// reverse it.
    pub(crate) fn user_index(&self, user: &UserKey) -> String {
        format!(
            "{}:{{b{}}}:u:{}",
            self.prefix,
            Self::bucket(user.slot),
            user.digest_hex()
        )
    }

    /// The three analytics keys of `bucket`, in the order the scripts take them.
    pub(crate) fn analytics(&self, bucket: u32) -> &[String; 3] {
        &self.analytics[(bucket % BUCKETS) as usize]
    }

    /// `P:{bN}:a:events`: the lifecycle stream of `bucket`, in the slot of
    /// its analytics keys (the scripts derive it from the first of them:
    /// prelude.lua's `stream_of`).
    pub(crate) fn events(&self, bucket: u32) -> &str {
        &self.events[(bucket % BUCKETS) as usize]
    }

    /// The key prefix (the analytics script derives bucket keys from it).
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::{KeyRing, SessionId, UserId};

    #[test]
    fn a_users_sessions_and_index_share_a_bucket() {
        let ring = KeyRing::generate();
        let user = UserId::new("alice").unwrap();
        let uk = UserKey::new(&ring, user);
        let layout = KeyLayout::new("p");
        let a = layout.session(&SessionId::generate(&ring, uk.slot).storage_key());
        let b = layout.session(&SessionId::generate(&ring, uk.slot).storage_key());
        let tag = |k: &str| k.split('}').next().unwrap().to_owned();
        assert_eq!(tag(&a), tag(&b));
        assert_eq!(tag(&a), tag(&layout.user_index(&uk)));
        assert_eq!(
            tag(&a),
            tag(&layout.analytics(KeyLayout::bucket(uk.slot))[0])
        );
        assert_ne!(a, b);
    }

    #[test]
    fn key_names_follow_the_layout() {
        let layout = KeyLayout::new("p");
        let key = SessionId::generate(&KeyRing::generate(), SlotTag::random()).storage_key();
        let b = KeyLayout::bucket(key.slot());
        assert_eq!(
            layout.session(&key),
            format!("p:{{b{b}}}:s:{}", {
                let mut d = String::new();
                key.push_digest_base64(&mut d);
                d
            })
        );
        assert_eq!(
            *layout.analytics(b),
            ["sessions", "users", "names"].map(|k| format!("p:{{b{b}}}:a:{k}"))
        );
        assert_eq!(layout.events(b), format!("p:{{b{b}}}:a:events"));
    }

    #[test]
    fn random_slots_spread_over_buckets() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            seen.insert(KeyLayout::bucket(SlotTag::random()));
        }
        assert!(
            seen.len() == BUCKETS as usize,
            "only {} buckets used",
            seen.len()
        );
    }
}
