//! The key layout (see the crate docs for the table).

use sha2::{Digest, Sha256};

use session_core::{SessionKey, UserKey};

/// Builds the store's key names from its prefix.
#[derive(Debug, Clone)]
pub(crate) struct KeyLayout {
    prefix: String,
}

impl KeyLayout {
    pub(crate) fn new(prefix: &str) -> Self {
        KeyLayout {
            prefix: prefix.to_owned(),
        }
    }

    /// `P:{T}:s:D`.
    pub(crate) fn session(&self, key: &SessionKey) -> String {
        format!("{}:{{{}}}:s:{}", self.prefix, key.slot(), key.digest_hex())
    }

    /// `P:{T}:u:U`.
    pub(crate) fn user_index(&self, user: &UserKey) -> String {
        let digest = Sha256::digest(user.user.as_str().as_bytes());
        let mut hex = String::with_capacity(32);
        for b in &digest[..16] {
            hex.push_str(&format!("{b:02x}"));
        }
        format!("{}:{{{}}}:u:{hex}", self.prefix, user.slot)
    }

    /// The three analytics keys, in the order the scripts take them.
    pub(crate) fn analytics(&self) -> [String; 3] {
        ["sessions", "users", "names"].map(|k| format!("{}:{{stats}}:{k}", self.prefix))
    }
}
