//! The Lua scripts, each loaded once and called by SHA (reloaded by
//! redis-rs when the server answers NOSCRIPT, after a restart, a failover
//! or `SCRIPT FLUSH`). Each `.lua` file states its KEYS, ARGV, reply and the
//! guarantee it implements; `prelude.lua` is prepended to each.
//!
//! Every script starts with `#!lua flags=allow-cross-slot-keys` (Redis 7):
//! on Cluster, that lets a step prune the analytics of another bucket on
//! the same node, and lets one analytics call per primary read all of
//! that node's buckets. It changes nothing on a single Redis.

use std::sync::LazyLock;

use redis::Script;

/// A script and the name its spans carry.
pub(crate) struct NamedScript {
    pub(crate) name: &'static str,
    pub(crate) script: Script,
    /// The full text, for the rare calls sent by EVAL.
    pub(crate) source: &'static str,
}

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<NamedScript> = LazyLock::new(|| {
            let source = concat!(
                "#!lua flags=allow-cross-slot-keys\n",
                include_str!("scripts/prelude.lua"),
                "\n",
                include_str!($file)
            );
            NamedScript {
                name: $file,
                script: Script::new(source),
                source,
            }
        });
    };
}

script!(CREATE, "scripts/create.lua");
script!(LOAD, "scripts/load.lua");
script!(APPLY, "scripts/apply.lua");
script!(INCREMENT, "scripts/increment.lua");
script!(ROTATE, "scripts/rotate.lua");
script!(INVALIDATE, "scripts/invalidate.lua");
script!(REVOKE_USER, "scripts/revoke_user.lua");
script!(USER_SESSIONS, "scripts/user_sessions.lua");
script!(ANALYTICS, "scripts/analytics.lua");

#[cfg(test)]
mod tests {
    #[test]
    fn the_scripts_agree_with_the_key_layout_on_the_bucket_count() {
        let prelude = include_str!("scripts/prelude.lua");
        let line = format!("local BUCKETS = {}\n", crate::keys::BUCKETS);
        assert!(prelude.contains(&line), "prelude.lua must say {line:?}");
    }
}
