//! The stored layout of a session hash, in one place: the field names, the
//! data prefix, and field `@` (the layout version and the times). The Lua
//! scripts receive these constants (`lua_constants`, put at the top of
//! every script that uses them by `scripts.rs`) instead of repeating them.
//!
//! A live session's hash holds `@`, its data fields (`d:<key>`) and, when
//! they apply, `@pub`, `@meta`, `@user`, `@ukey`, `@bind` and `@size`; a
//! tombstone holds `@end`, `@at`, `@forget` and `@pub`.
//!
//! Field `@` holds the layout version ([`VERSION`]), then four numbers:
//! the creation time, the last-seen time less the creation time, the idle
//! timeout, and the absolute deadline less the creation time
//! (milliseconds; the two differences zigzag-encoded, so that a clock that
//! stepped back still fits). Each number is written in as few digits of 7
//! bits (one byte each, 0 to 127) as it needs, most significant first, and
//! the four digit counts (0 to [`MAX_DIGITS`]) go first, in two bytes. The
//! idle deadline is not stored: it is `min(seen + idle timeout, absolute
//! deadline)`, which is what every step that writes `@` sets it to. The
//! bytes are ASCII, so the field is valid UTF-8 (it travels as a script
//! argument), and equal times give an equal field (`apply.lua`'s steady
//! state compares them). A new session's `@` is 18 bytes, one refreshed
//! within its week 22 to 23, against the 57 of layout 2's hex text: an
//! anonymous session's hash of one small value fits Redis's 48-byte
//! allocation instead of 96.

/// The layout version: the first byte of field `@`. Layout 2 (hex text)
/// is not read: sessions stored by an older development build are
/// reported corrupt, not migrated.
pub(crate) const VERSION: u8 = b'3';

/// The most digits (bytes of 7 bits) a number of field `@` has.
pub(crate) const MAX_DIGITS: u32 = 7;

/// The largest time or duration field `@` holds: 2^49 - 1 ms (about
/// 17,800 years); larger ones are clamped to it.
pub(crate) const TIME_MAX: u64 = (1 << (7 * MAX_DIGITS)) - 1;

/// The largest difference from the creation time field `@` holds, either
/// way: 2^48 - 1 ms (about 8,900 years); larger ones are clamped to it.
pub(crate) const DELTA_MAX: u64 = (1 << (7 * MAX_DIGITS - 1)) - 1;

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

    /// Field `@` for these times (clamped to what it holds: [`TIME_MAX`],
    /// [`DELTA_MAX`]).
    pub(crate) fn encode(&self) -> String {
        let created = self.created.min(TIME_MAX);
        let numbers = [
            created,
            zigzag(self.seen, created),
            self.idle.min(TIME_MAX),
            zigzag(self.absolute, created),
        ];
        let len = numbers.map(digits);
        let mut out = String::with_capacity(3 + len.iter().sum::<u32>() as usize);
        out.push(char::from(VERSION));
        // Digit counts are at most 7: three bits each, two to a byte.
        out.push(char::from((len[0] << 3 | len[1]) as u8));
        out.push(char::from((len[2] << 3 | len[3]) as u8));
        for (n, len) in numbers.into_iter().zip(len) {
            for i in (0..len).rev() {
                // Seven bits: always ASCII.
                out.push(char::from((n >> (7 * i)) as u8 & 0x7f));
            }
        }
        out
    }

    /// The times of field `@`; `None` when it is not in this layout.
    pub(crate) fn decode(field: &[u8]) -> Option<Self> {
        let [version, a, b, digits @ ..] = field else {
            return None;
        };
        if *version != VERSION || *a > 0x3f || *b > 0x3f {
            return None;
        }
        let len = [a >> 3, a & 7, b >> 3, b & 7].map(usize::from);
        if digits.len() != len.iter().sum::<usize>() || digits.iter().any(|&d| d > 0x7f) {
            return None;
        }
        let mut numbers = [0u64; 4];
        let mut rest = digits;
        for (n, len) in numbers.iter_mut().zip(len) {
            let (mine, after) = rest.split_at(len);
            *n = mine.iter().fold(0, |n, &d| (n << 7) | u64::from(d));
            rest = after;
        }
        let [created, seen, idle, absolute] = numbers;
        Some(Header {
            created,
            seen: unzigzag(seen, created),
            idle,
            absolute: unzigzag(absolute, created),
        })
    }
}

/// How many digits of 7 bits `n` needs (0 for 0).
fn digits(n: u64) -> u32 {
    (u64::BITS - n.leading_zeros()).div_ceil(7)
}

/// `time - base`, clamped to [`DELTA_MAX`] either way, zigzag-encoded
/// (0, -1, 1, -2, … as 0, 1, 2, 3, …).
fn zigzag(time: u64, base: u64) -> u64 {
    let time = time.min(TIME_MAX);
    if time >= base {
        (time - base).min(DELTA_MAX) * 2
    } else {
        (base - time).min(DELTA_MAX) * 2 - 1
    }
}

/// The time `z` (a zigzag-encoded difference) stands for after `base`.
fn unzigzag(z: u64, base: u64) -> u64 {
    if z.is_multiple_of(2) {
        base.saturating_add(z / 2)
    } else {
        base.saturating_sub(z.div_ceil(2))
    }
}

/// The constants above as Lua definitions, for the scripts.
pub(crate) fn lua_constants() -> String {
    format!(
        "-- layout.rs: the stored layout\n\
         local VERSION = '{}'\n\
         local TIME_MAX = {TIME_MAX}\n\
         local DELTA_MAX = {DELTA_MAX}\n\
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
    fn times_round_trip_in_few_bytes() {
        let created = 1_767_225_600_000;
        let fresh = Header {
            created,
            seen: created,
            idle: 86_400_000,
            absolute: created + 7 * 86_400_000,
        };
        let field = fresh.encode();
        assert_eq!(field.len(), 18, "a new session's @");
        assert!(field.is_ascii());
        assert_eq!(Header::decode(field.as_bytes()), Some(fresh));
        let refreshed = Header {
            seen: created + 6 * 86_400_000,
            ..fresh
        };
        assert!(refreshed.encode().len() <= 23);
        for h in [
            refreshed,
            // a clock that stepped back
            Header {
                seen: created - 5_000,
                absolute: created - 1,
                ..fresh
            },
            Header {
                created: 0,
                seen: 0,
                idle: 0,
                absolute: 0,
            },
            Header {
                created: TIME_MAX,
                seen: TIME_MAX,
                idle: TIME_MAX,
                absolute: TIME_MAX - DELTA_MAX,
            },
        ] {
            assert_eq!(Header::decode(h.encode().as_bytes()), Some(h), "{h:?}");
        }
        let clamped = Header {
            created: u64::MAX,
            seen: 0,
            idle: u64::MAX,
            absolute: u64::MAX,
        };
        assert_eq!(
            Header::decode(clamped.encode().as_bytes()),
            Some(Header {
                created: TIME_MAX,
                seen: TIME_MAX - DELTA_MAX,
                idle: TIME_MAX,
                absolute: TIME_MAX,
            })
        );
    }

    #[test]
    fn other_layouts_and_damage_do_not_decode() {
        let good = Header {
            created: 5_000,
            seen: 6_000,
            idle: 7_000,
            absolute: 8_000,
        }
        .encode();
        assert!(Header::decode(good.as_bytes()).is_some());
        assert!(
            Header::decode(b"2:19ada5b2e00:19ada5b2e00:5265c00:19adf818a00:19afe67b200").is_none()
        );
        assert!(Header::decode(&good.as_bytes()[..good.len() - 1]).is_none());
        assert!(Header::decode(format!("{good}x").as_bytes()).is_none());
        let mut high = good.clone().into_bytes();
        high[4] = 0x80;
        assert!(Header::decode(&high).is_none());
        let mut count = good.clone().into_bytes();
        count[1] = 0x40;
        assert!(Header::decode(&count).is_none());
        let mut version = good.into_bytes();
        version[0] = b'4';
        assert!(Header::decode(&version).is_none());
        assert!(Header::decode(b"").is_none());
        assert!(Header::decode(b"3").is_none());
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
