//! The stored layout of a session hash, in one place: the field names, the
//! data prefix, and field `@` (the layout version and the times). The Lua
//! scripts receive these constants (`lua_constants`, put at the top of
//! every script that uses them by `scripts.rs`) instead of repeating them.
//!
//! A live session's hash holds `@`, its data fields (`d:<key>`) and, when
//! they apply, `@pub`, `@meta`, `@user`, `@ukey`, `@bind` and `@size`; a
//! tombstone holds `@end`, `@at`, `@forget` and `@pub`.
//!
//! Field `@` is [`HEADER_LEN`] bytes: the layout version ([`VERSION`]),
//! then the creation time, the last-seen time, the idle timeout and the
//! absolute deadline (milliseconds), each [`TIME_DIGITS`] digits of 7 bits
//! (one byte each, 0 to 127), most significant first. The idle deadline is
//! not stored: it is `min(seen + idle timeout, absolute deadline)`, which
//! is what every step that writes `@` sets it to. The bytes are ASCII, so
//! the field is valid UTF-8 (it travels as a script argument), and equal
//! times give an equal field (`apply.lua`'s steady state compares them).
//! In 29 bytes against the 57 of layout 2's hex text, an anonymous
//! session's hash fits a smaller allocation.

/// The layout version: the first byte of field `@`. Layout 2 (hex text)
/// is not read: sessions stored by an older development build are
/// reported corrupt, not migrated.
pub(crate) const VERSION: u8 = b'3';

/// Digits (bytes of 7 bits) per time in field `@`.
pub(crate) const TIME_DIGITS: usize = 7;

/// The times field `@` holds, in order.
pub(crate) const TIMES: usize = 4;

/// The length of field `@`.
pub(crate) const HEADER_LEN: usize = 1 + TIMES * TIME_DIGITS;

/// The largest time field `@` holds: 2^49 - 1 ms (about 17,800 years).
pub(crate) const TIME_MAX: u64 = (1 << (7 * TIME_DIGITS)) - 1;

/// The prefix of a data field: `d:<key>`.
pub(crate) const DATA: &str = "d:";

/// Field `@`: the layout version and the times ([`Header`]).
pub(crate) const HEADER: &str = "@";
/// The session's public id, when it is not its key's.
pub(crate) const PUB: &str = "@pub";
/// The metadata JSON (absent when empty; sealed with encryption at rest).
pub(crate) const META: &str = "@meta";
/// The signed-in user's id.
pub(crate) const USER: &str = "@user";
/// The signed-in user's index key (only the scripts read it).
#[cfg(test)]
pub(crate) const UKEY: &str = "@ukey";
/// With encryption at rest: the seal binding `@pub` to this key.
pub(crate) const BIND: &str = "@bind";
/// The data's size in bytes, once a change counted it (guarantee 13;
/// only the scripts read it).
#[cfg(test)]
pub(crate) const SIZE: &str = "@size";
/// A tombstone's reason.
pub(crate) const END: &str = "@end";
/// When the session ended.
pub(crate) const AT: &str = "@at";
/// When the tombstone is forgotten.
pub(crate) const FORGET: &str = "@forget";

/// The reserved fields (each starts with `@`, which no data field does).
#[cfg(test)]
pub(crate) const FIELDS: [&str; 10] = [HEADER, PUB, META, USER, UKEY, BIND, SIZE, END, AT, FORGET];

/// The names scripts give the times of field `@` in their table of a
/// session's fields (never stored).
#[cfg(test)]
pub(crate) const UNPACKED: [&str; 5] = ["@created", "@seen", "@idle", "@idl", "@abs"];

/// The times of field `@`, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) created: u64,
    pub(crate) seen: u64,
    pub(crate) idle: u64,
    pub(crate) absolute: u64,
}

impl Header {
    /// The idle deadline these times imply.
    pub(crate) fn idle_deadline(&self) -> u64 {
        self.seen.saturating_add(self.idle).min(self.absolute)
    }

    /// Field `@` for these times (each clamped to [`TIME_MAX`]).
    pub(crate) fn encode(&self) -> String {
        let mut out = String::with_capacity(HEADER_LEN);
        out.push(char::from(VERSION));
        for n in [self.created, self.seen, self.idle, self.absolute] {
            let n = n.min(TIME_MAX);
            for i in (0..TIME_DIGITS).rev() {
                // Seven bits: always ASCII.
                out.push(char::from((n >> (7 * i)) as u8 & 0x7f));
            }
        }
        out
    }

    /// The times of field `@`; `None` when it is not in this layout.
    pub(crate) fn decode(field: &[u8]) -> Option<Self> {
        let (&version, digits) = field.split_first()?;
        if version != VERSION || digits.len() != TIMES * TIME_DIGITS {
            return None;
        }
        let mut times = [0u64; TIMES];
        for (time, chunk) in times.iter_mut().zip(digits.chunks_exact(TIME_DIGITS)) {
            for &d in chunk {
                if d > 0x7f {
                    return None;
                }
                *time = (*time << 7) | u64::from(d);
            }
        }
        let [created, seen, idle, absolute] = times;
        Some(Header {
            created,
            seen,
            idle,
            absolute,
        })
    }
}

/// The constants above as Lua definitions, for the scripts.
pub(crate) fn lua_constants() -> String {
    format!(
        "-- layout.rs: the stored layout\n\
         local VERSION = '{}'\n\
         local HEADER_LEN = {HEADER_LEN}\n\
         local TIME_DIGITS = {TIME_DIGITS}\n\
         local TIME_MAX = {TIME_MAX}\n\
         local DATA = '{DATA}'\n\
         local DATA_LEN = {}\n",
        char::from(VERSION),
        DATA.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_keep_their_order_as_text() {
        let samples = [0, 1, 127, 128, 1_767_225_600_000, TIME_MAX - 1, TIME_MAX];
        let mut last: Option<(u64, String)> = None;
        for &n in &samples {
            let h = Header {
                created: n,
                seen: n,
                idle: n,
                absolute: n,
            };
            let field = h.encode();
            assert_eq!(field.len(), HEADER_LEN);
            assert!(field.is_ascii());
            assert_eq!(Header::decode(field.as_bytes()), Some(h));
            if let Some((m, before)) = &last {
                assert!(m < &n && before < &field, "{m} < {n} sorts as text");
            }
            last = Some((n, field));
        }
        let clamped = Header {
            created: u64::MAX,
            seen: 0,
            idle: 0,
            absolute: 0,
        };
        assert_eq!(
            Header::decode(clamped.encode().as_bytes()).map(|h| h.created),
            Some(TIME_MAX)
        );
    }

    #[test]
    fn other_layouts_and_damage_do_not_decode() {
        let good = Header {
            created: 5,
            seen: 6,
            idle: 7,
            absolute: 8,
        }
        .encode();
        assert!(
            Header::decode(b"2:19ada5b2e00:19ada5b2e00:5265c00:19adf818a00:19afe67b200").is_none()
        );
        assert!(Header::decode(&good.as_bytes()[..HEADER_LEN - 1]).is_none());
        let mut high = good.clone().into_bytes();
        high[3] = 0x80;
        assert!(Header::decode(&high).is_none());
        let mut version = good.into_bytes();
        version[0] = b'4';
        assert!(Header::decode(&version).is_none());
        assert!(Header::decode(b"").is_none());
    }

    #[test]
    fn the_idle_deadline_is_derived() {
        let h = Header {
            created: 0,
            seen: 100,
            idle: 50,
            absolute: 120,
        };
        assert_eq!(h.idle_deadline(), 120);
        let h = Header {
            absolute: 1_000,
            ..h
        };
        assert_eq!(h.idle_deadline(), 150);
    }
}
