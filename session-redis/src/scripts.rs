//! The Lua scripts, each loaded once and called by SHA (reloaded by
//! redis-rs when the server answers NOSCRIPT, after a restart, a failover
//! or `SCRIPT FLUSH`). Each `.lua` file states its KEYS, ARGV, reply and the
//! guarantee it implements; `prelude.lua` is prepended to each.

use std::sync::LazyLock;

use redis::Script;

/// A script and the name its spans carry.
pub(crate) struct NamedScript {
    pub(crate) name: &'static str,
    pub(crate) script: Script,
}

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<NamedScript> = LazyLock::new(|| NamedScript {
            name: $file,
            script: Script::new(concat!(
                include_str!("scripts/prelude.lua"),
                "\n",
                include_str!($file)
            )),
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
