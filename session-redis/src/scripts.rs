//! The Lua scripts, each loaded once and called by SHA (reloaded by
//! redis-rs when the server answers NOSCRIPT, after a restart, a failover
//! or `SCRIPT FLUSH`). Each `.lua` file states its KEYS, ARGV, reply and the
//! guarantee it implements. Each is sent with the parts of `prelude.lua`
//! it uses (its definitions, found by name, and theirs in turn): Redis runs
//! a script's whole text on every call, so an unused helper still costs
//! the time to create it.
//!
//! Every script starts with `#!lua flags=allow-cross-slot-keys` (Redis 7):
//! on Cluster, that lets a step prune the analytics of another bucket on
//! the same node, and lets one analytics call per primary read all of
//! that node's buckets. It changes nothing on a single Redis.

use std::sync::LazyLock;

use redis::Script;

use crate::connection::Step;

/// A script and the name its spans carry.
pub(crate) struct NamedScript {
    pub(crate) name: &'static str,
    pub(crate) script: Script,
    /// Whether it is a step with an operation id (wrapped in
    /// `operation.lua`).
    pub(crate) step: Step,
    /// The full text, for the rare calls sent by EVAL (Cluster analytics).
    #[cfg_attr(not(any(feature = "cluster", test)), allow(dead_code))]
    pub(crate) source: &'static str,
}

macro_rules! script {
    ($name:ident, $file:literal) => {
        script!($name, $file, Step::Plain, |text: String| text);
    };
    ($name:ident, $file:literal, operation) => {
        script!($name, $file, Step::WithId, |text: String| as_operation(
            include_str!("scripts/operation.lua"),
            &text
        ));
    };
    ($name:ident, $file:literal, $step:expr, $wrap:expr) => {
        pub(crate) static $name: LazyLock<NamedScript> = LazyLock::new(|| {
            let text = assemble(
                &layout(),
                include_str!("scripts/prelude.lua"),
                include_str!($file),
            );
            let source: &'static str = Box::leak(($wrap)(text).into_boxed_str());
            NamedScript {
                name: $file,
                script: Script::new(source),
                step: $step,
                source,
            }
        });
    };
}

/// One top-level definition of the prelude: its name and its text (with
/// the comment lines above it).
struct Definition<'a> {
    name: &'a str,
    text: String,
}

/// Splits the prelude into its top-level `local function NAME` and
/// `local NAME =` definitions, each with the comments before it.
fn definitions(prelude: &str) -> Vec<Definition<'_>> {
    let mut defs = Vec::new();
    let mut pending = String::new();
    for line in prelude.lines() {
        let name = line
            .strip_prefix("local function ")
            .or_else(|| line.strip_prefix("local "))
            .map(|rest| rest.split(|c: char| !is_word(c)).next().unwrap_or(""))
            .filter(|name| !name.is_empty());
        match name {
            Some(name) => defs.push(Definition {
                name,
                text: std::mem::take(&mut pending) + line + "\n",
            }),
            None if line.starts_with("--") || line.trim().is_empty() => {
                pending.push_str(line);
                pending.push('\n');
            }
            None => match defs.last_mut() {
                Some(last) => {
                    last.text.push_str(&pending);
                    pending.clear();
                    last.text.push_str(line);
                    last.text.push('\n');
                }
                None => pending.clear(),
            },
        }
    }
    defs
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The words of `code`, comments left out.
fn words(code: &str) -> impl Iterator<Item = &str> {
    code.lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .flat_map(|line| line.split(|c: char| !is_word(c)))
        .filter(|w| !w.is_empty())
}

/// The layout's constants (`layout.rs`) and `layout.lua`, which reads and
/// writes field `@` with them.
fn layout() -> String {
    crate::layout::lua_constants() + include_str!("scripts/layout.lua")
}

/// The line that ends a script's steady-state part (see [`assemble`]).
const JUDGE: &str = "-- @judge\n";

/// The definitions of `source` that `code` uses, directly or through
/// another, in `source`'s order.
fn used<'a>(source: &'a str, code: &[&str]) -> Vec<Definition<'a>> {
    let defs = definitions(source);
    let mut wanted: Vec<&str> = code.iter().flat_map(|c| words(c)).collect();
    let mut used = vec![false; defs.len()];
    while let Some(word) = wanted.pop() {
        for (i, def) in defs.iter().enumerate() {
            if def.name == word && !used[i] {
                used[i] = true;
                wanted.extend(words(&def.text).filter(|w| *w != def.name));
            }
        }
    }
    defs.into_iter()
        .zip(used)
        .filter_map(|(def, used)| used.then_some(def))
        .collect()
}

/// The script's text: the Redis 7 flags line, the layout definitions the
/// script uses (constants and `layout.lua`), then the prelude definitions
/// the body uses (directly or through another definition, in the
/// prelude's order), then the body. A body with a `-- @judge` line has a
/// steady state before it, which uses no prelude helper (the layout's it
/// may): the rest, with the helpers, goes into a function called only when
/// the steady state does not return, so the common call does not pay for
/// defining them.
fn assemble(layout: &str, prelude: &str, body: &str) -> String {
    let (fast, body) = match body.find(JUDGE) {
        Some(at) => body.split_at(at),
        None => ("", body),
    };
    let helpers = used(prelude, &[body]);
    let mut code: Vec<&str> = helpers.iter().map(|d| d.text.as_str()).collect();
    code.extend([fast, body]);
    let mut out = String::from("#!lua flags=allow-cross-slot-keys\n");
    for def in used(layout, &code) {
        out.push_str(&def.text);
    }
    out.push_str(fast);
    let judge = !fast.is_empty();
    if judge {
        out.push_str("return (function()\n");
    }
    for def in &helpers {
        out.push_str(&def.text);
    }
    match body.strip_prefix(JUDGE) {
        Some(rest) => {
            out.push_str(rest);
            if !rest.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("end)()\n");
        }
        None => out.push_str(body),
    }
    out
}

/// The line of `operation.lua` where the step it wraps goes.
const STEP: &str = "-- @step\n";

/// `script` (an assembled script's text) as a step that is safe to send
/// again: `operation.lua`'s check of the step's operation id first, the
/// script as a function giving `reply`, then the part that keeps the id
/// with the reply (see `operation.lua`).
fn as_operation(operation: &str, script: &str) -> String {
    let (flags, body) = script.split_once('\n').unwrap_or(("", script));
    let (check, keep) = operation.split_once(STEP).unwrap_or((operation, ""));
    let mut out = String::with_capacity(operation.len() + script.len() + 64);
    for part in [flags, "\n", check, "local reply = (function()\n", body] {
        out.push_str(part);
    }
    if !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("end)()\n");
    out.push_str(keep);
    out
}

// The steps that are not idempotent carry an operation id (operation.lua).
script!(CREATE, "scripts/create.lua", operation);
script!(LOAD, "scripts/load.lua");
script!(APPLY, "scripts/apply.lua", operation);
script!(INCREMENT, "scripts/increment.lua", operation);
script!(TAKE, "scripts/take.lua", operation);
script!(ROTATE, "scripts/rotate.lua", operation);
script!(INVALIDATE, "scripts/invalidate.lua", operation);
script!(REVOKE_USER, "scripts/revoke_user.lua", operation);
script!(USER_SESSIONS, "scripts/user_sessions.lua");
script!(ANALYTICS, "scripts/analytics.lua");
script!(SWEEP, "scripts/sweep.lua");
script!(GROUP, "scripts/group.lua");

#[cfg(test)]
mod operation_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_carries_the_helpers_it_uses_and_no_other() {
        let prelude = "-- a\nlocal function a(x)\n  return b(x)\nend\n-- b\nlocal function b(x) return x end\nlocal C = { 1 }\nlocal function d() return C end\n";
        let text = assemble("", prelude, "return a(1)");
        assert_eq!(
            text,
            "#!lua flags=allow-cross-slot-keys\n-- a\nlocal function a(x)\n  return b(x)\nend\n-- b\nlocal function b(x) return x end\nreturn a(1)"
        );
        assert!(assemble("", prelude, "return d()").contains("local C = { 1 }"));
        assert!(!assemble("", prelude, "-- a(1)\nreturn 1").contains("local function a"));
    }

    #[test]
    fn every_script_carries_each_helper_it_names() {
        // A prelude name that a script's text mentions is defined in it.
        let prelude = include_str!("scripts/prelude.lua");
        let all = [
            &*CREATE,
            &*LOAD,
            &*APPLY,
            &*INCREMENT,
            &*TAKE,
            &*ROTATE,
            &*INVALIDATE,
            &*REVOKE_USER,
            &*USER_SESSIONS,
            &*ANALYTICS,
            &*SWEEP,
            &*GROUP,
        ];
        for s in all {
            for def in definitions(prelude) {
                let carried = s.source.contains(&format!("local function {}(", def.name))
                    || s.source.contains(&format!("local {} =", def.name));
                if !carried {
                    assert!(
                        !words(s.source).any(|w| w == def.name),
                        "{} uses {} without carrying it",
                        s.name,
                        def.name
                    );
                }
            }
        }
    }

    #[test]
    fn a_step_runs_between_the_check_and_the_keeping_of_its_id() {
        let op = "local OP = ARGV[#ARGV]\nif seen then return old end\n-- @step\nkeep(reply)\nreturn reply\n";
        let text = as_operation(op, "#!lua flags=allow-cross-slot-keys\nreturn 1");
        assert_eq!(
            text,
            "#!lua flags=allow-cross-slot-keys\nlocal OP = ARGV[#ARGV]\nif seen then return old end\n\
             local reply = (function()\nreturn 1\nend)()\nkeep(reply)\nreturn reply\n"
        );
        // The steps that are not idempotent are wrapped; the others not.
        for s in [
            &*CREATE,
            &*APPLY,
            &*INCREMENT,
            &*TAKE,
            &*ROTATE,
            &*INVALIDATE,
            &*REVOKE_USER,
        ] {
            assert!(s.source.contains("local reply = (function()"), "{}", s.name);
            assert!(s.source.starts_with("#!lua flags="), "{}", s.name);
        }
        for s in [&*LOAD, &*USER_SESSIONS, &*ANALYTICS, &*SWEEP, &*GROUP] {
            assert!(!s.source.contains("OPS_WINDOW"), "{}", s.name);
        }
    }

    #[test]
    fn a_steady_state_runs_before_the_helpers_are_defined() {
        let prelude = "local function a() return 1 end\n";
        let text = assemble(
            "",
            prelude,
            "if x then return 0 end\n-- @judge\nreturn a()\n",
        );
        assert_eq!(
            text,
            "#!lua flags=allow-cross-slot-keys\nif x then return 0 end\n\
             return (function()\nlocal function a() return 1 end\nreturn a()\nend)()\n"
        );
        // No prelude helper is defined before the steady state returns
        // (a script's own function, which its steady state calls, may be).
        let helpers = definitions(include_str!("scripts/prelude.lua"));
        for s in [&*APPLY, &*INCREMENT, &*CREATE] {
            let fast = &s.source[..s.source.find("return (function()").unwrap()];
            for h in &helpers {
                let defined = format!("local function {}(", h.name);
                assert!(!fast.contains(&defined), "{}: {}", s.name, h.name);
            }
        }
    }

    /// Every field name a script writes in quotes is one `layout.rs`
    /// names (or a name scripts give the times of `@` in their tables).
    #[test]
    fn the_scripts_name_only_the_fields_of_the_layout() {
        let files = [
            include_str!("scripts/prelude.lua"),
            include_str!("scripts/layout.lua"),
            include_str!("scripts/create.lua"),
            include_str!("scripts/load.lua"),
            include_str!("scripts/apply.lua"),
            include_str!("scripts/increment.lua"),
            include_str!("scripts/take.lua"),
            include_str!("scripts/rotate.lua"),
            include_str!("scripts/invalidate.lua"),
            include_str!("scripts/revoke_user.lua"),
            include_str!("scripts/user_sessions.lua"),
            include_str!("scripts/analytics.lua"),
            include_str!("scripts/sweep.lua"),
            include_str!("scripts/group.lua"),
        ];
        let mut seen = 0;
        for file in files {
            for line in file.lines() {
                let code = line.split("--").next().unwrap_or("");
                for quoted in code.split('\'').skip(1).step_by(2) {
                    if quoted.starts_with('@') {
                        seen += 1;
                        assert!(
                            crate::layout::FIELDS.contains(&quoted)
                                || crate::layout::UNPACKED.contains(&quoted),
                            "a script names field {quoted:?}, which layout.rs does not"
                        );
                    }
                }
            }
        }
        assert!(seen > 50, "only {seen} field names found");
    }

    #[test]
    fn the_streams_caps_are_the_cores() {
        use session_core::events::{DEFAULT_STREAM_AGE, DEFAULT_STREAM_LENGTH};
        let prelude = include_str!("scripts/prelude.lua");
        let length = format!("local STREAM_LENGTH = '{DEFAULT_STREAM_LENGTH}'\n");
        let age = format!("local STREAM_AGE = {}\n", DEFAULT_STREAM_AGE.as_millis());
        assert!(prelude.contains(&length), "prelude.lua must say {length:?}");
        assert!(prelude.contains(&age), "prelude.lua must say {age:?}");
        // Every event a script writes goes through `event`, with the
        // stream's cap.
        for s in [
            &*CREATE,
            &*ROTATE,
            &*INVALIDATE,
            &*REVOKE_USER,
            &*SWEEP,
            &*LOAD,
        ] {
            assert!(s.source.contains("local function event("), "{}", s.name);
        }
    }

    #[test]
    fn the_scripts_agree_with_the_key_layout_on_the_bucket_count() {
        let prelude = include_str!("scripts/prelude.lua");
        let line = format!("local BUCKETS = {}\n", crate::keys::BUCKETS);
        assert!(prelude.contains(&line), "prelude.lua must say {line:?}");
    }
}
