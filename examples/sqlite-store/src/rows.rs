//! Rows of `sessions` as Rust values: the conversions (times as Unix
//! milliseconds, durations as nanoseconds), a live session's fields, and
//! the record and summary built from them. Nothing read from the database
//! is trusted: a value that does not decode is `StoreFailure::Corrupt`.

use std::collections::BTreeMap;
use std::time::Duration;

use rusqlite::{OptionalExtension, Row, Transaction, params};
use session_core::store::{FORMAT_VERSION, StoreContext, idle_deadline, refresh_due};
use session_core::{
    EndReason, Ending, Metadata, PublicId, SessionRecord, SessionSummary, StoreFailure, Timestamp,
    UserId,
};

use crate::data;

/// Why a step stopped: the transaction is rolled back and the failure
/// returned. (A refusal such as `Ended` is not an `Abort`: it is the
/// step's answer, and what the step did before it, the sweep, is kept.)
#[derive(Debug)]
pub(crate) struct Abort(pub(crate) StoreFailure);

impl From<rusqlite::Error> for Abort {
    fn from(e: rusqlite::Error) -> Self {
        Abort(failure(e))
    }
}

impl From<StoreFailure> for Abort {
    fn from(f: StoreFailure) -> Self {
        Abort(f)
    }
}

/// What a step returns: its answer (an outcome or a refusal), or an abort.
pub(crate) type Step<T, E> = Result<Result<T, E>, Abort>;

/// A SQLite error as the contract names it: a value of the wrong type or
/// out of range is a damaged row (`Corrupt`); anything else (a busy or
/// unreadable file, a full disk) is `Unavailable`.
pub(crate) fn failure(e: rusqlite::Error) -> StoreFailure {
    use rusqlite::Error as E;
    match e {
        E::FromSqlConversionFailure(..)
        | E::IntegralValueOutOfRange(..)
        | E::InvalidColumnType(..)
        | E::Utf8Error(..) => StoreFailure::Corrupt(format!("a stored value does not decode: {e}")),
        other => StoreFailure::unavailable(other),
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreFailure {
    StoreFailure::Corrupt(what.to_string())
}

/// A time as stored: Unix milliseconds (a time past `i64::MAX`, 292
/// million years away, is stored as `i64::MAX`).
pub(crate) fn millis(t: Timestamp) -> i64 {
    i64::try_from(t.as_unix_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn timestamp(stored: i64) -> Result<Timestamp, StoreFailure> {
    u64::try_from(stored)
        .map(Timestamp::from_unix_millis)
        .map_err(|_| corrupt(format!("a stored time is negative: {stored}")))
}

/// A duration as stored: nanoseconds, so every duration up to
/// `MAX_DURATION` (100 years) round-trips exactly.
pub(crate) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn duration(stored: i64) -> Result<Duration, StoreFailure> {
    u64::try_from(stored)
        .map(Duration::from_nanos)
        .map_err(|_| corrupt(format!("a stored duration is negative: {stored}")))
}

/// A live session's row, without its data.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    /// The public id's text (decoded only when it is handed out).
    pub(crate) public_id: String,
    pub(crate) user: Option<String>,
    pub(crate) counted: bool,
    pub(crate) created_at: Timestamp,
    pub(crate) last_seen_at: Timestamp,
    pub(crate) idle_timeout: Duration,
    pub(crate) idle_deadline: Timestamp,
    pub(crate) absolute_deadline: Timestamp,
    /// The metadata's JSON text.
    pub(crate) metadata: String,
}

/// What `sessions` holds under a key.
pub(crate) enum Found {
    Unknown,
    Ended(Ending),
    Live(Live),
}

const COLUMNS: &str = "public_id, user, counted, created_at, last_seen_at, idle_timeout_ns, \
                       idle_deadline, absolute_deadline, metadata";

impl Live {
    fn from_row(row: &Row<'_>) -> Result<Result<Live, StoreFailure>, rusqlite::Error> {
        let times = (
            row.get::<_, i64>(3)?,
            row.get::<_, i64>(4)?,
            row.get::<_, i64>(5)?,
            row.get::<_, i64>(6)?,
            row.get::<_, i64>(7)?,
        );
        let (public_id, user, counted, metadata) = (
            row.get::<_, String>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, i64>(2)? != 0,
            row.get::<_, String>(8)?,
        );
        Ok((|| {
            Ok(Live {
                public_id,
                user,
                counted,
                created_at: timestamp(times.0)?,
                last_seen_at: timestamp(times.1)?,
                idle_timeout: duration(times.2)?,
                idle_deadline: timestamp(times.3)?,
                absolute_deadline: timestamp(times.4)?,
                metadata,
            })
        })())
    }

    /// When it stops being active: the earlier deadline.
    pub(crate) fn expires_at(&self) -> Timestamp {
        self.idle_deadline.min(self.absolute_deadline)
    }

    /// Whether a call at `cx.now` pushes the idle deadline.
    pub(crate) fn refresh_due(&self, cx: &StoreContext) -> bool {
        refresh_due(
            cx.now,
            self.idle_deadline,
            self.idle_timeout,
            self.absolute_deadline,
            cx.refresh_threshold,
        )
    }

    /// Seen at `now`: the idle deadline moves to `now` plus the timeout.
    pub(crate) fn touch(&mut self, now: Timestamp) {
        self.last_seen_at = now;
        self.idle_deadline = idle_deadline(now, self.idle_timeout, self.absolute_deadline);
    }

    fn public(&self) -> Result<PublicId, StoreFailure> {
        PublicId::parse(&self.public_id).map_err(|_| corrupt("a stored public id does not parse"))
    }

    fn metadata(&self) -> Result<Metadata, StoreFailure> {
        serde_json::from_str(&self.metadata)
            .map_err(|e| corrupt(format!("the stored metadata is not JSON: {e}")))
    }

    /// The device-list view (the data is not read).
    pub(crate) fn summary(&self) -> Result<SessionSummary, StoreFailure> {
        Ok(SessionSummary {
            public_id: self.public()?,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at(),
            absolute_deadline: self.absolute_deadline,
            metadata: self.metadata()?,
        })
    }

    /// The whole record, with the data stored under `key`.
    pub(crate) fn record(
        &self,
        tx: &Transaction<'_>,
        key: &str,
    ) -> Result<Result<SessionRecord, StoreFailure>, Abort> {
        let stored = data::all(tx, key)?;
        Ok((|| {
            let mut values = BTreeMap::new();
            for (name, json) in stored {
                let value = serde_json::from_str(&json)
                    .map_err(|e| corrupt(format!("data key {name:?} does not hold JSON: {e}")))?;
                values.insert(name, value);
            }
            let user = match &self.user {
                Some(u) => Some(UserId::new(u.as_str()).map_err(corrupt)?),
                None => None,
            };
            Ok(SessionRecord {
                format_version: FORMAT_VERSION,
                public_id: self.public()?,
                user,
                created_at: self.created_at,
                last_seen_at: self.last_seen_at,
                idle_timeout: self.idle_timeout,
                idle_deadline: self.idle_deadline,
                absolute_deadline: self.absolute_deadline,
                metadata: self.metadata()?,
                data: values,
            })
        })())
    }
}

/// What `sessions` holds under `key`. A row that does not decode is an
/// abort with `Corrupt`, never `Unknown`.
pub(crate) fn find(tx: &Transaction<'_>, key: &str) -> Result<Found, Abort> {
    let sql = format!("SELECT {COLUMNS}, ended_reason, ended_at FROM sessions WHERE key = ?1");
    let mut stmt = tx.prepare_cached(&sql)?;
    let row = stmt
        .query_row([key], |row| {
            let ended = match row.get::<_, Option<String>>(9)? {
                Some(reason) => Some((reason, row.get::<_, i64>(10)?)),
                None => None,
            };
            Ok(match ended {
                Some(ended) => Err(ended),
                None => Ok(Live::from_row(row)?),
            })
        })
        .optional()?;
    Ok(match row {
        None => Found::Unknown,
        Some(Err((reason, at))) => {
            let reason = EndReason::from_stored(&reason).ok_or_else(|| {
                corrupt(format!("a stored end reason does not parse: {reason:?}"))
            })?;
            Found::Ended(Ending {
                reason,
                at: timestamp(at)?,
            })
        }
        Some(Ok(live)) => Found::Live(live?),
    })
}

/// Every live session of `user` (rows that do not decode are left out,
/// with a warning: one damaged row never blocks the others).
pub(crate) fn of_user(tx: &Transaction<'_>, user: &str) -> Result<Vec<(String, Live)>, Abort> {
    let sql =
        format!("SELECT {COLUMNS}, key FROM sessions WHERE user = ?1 AND ended_reason IS NULL");
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map([user], |row| {
        Ok((row.get::<_, String>(9)?, Live::from_row(row)))
    })?;
    let mut out = Vec::new();
    for row in rows {
        match row? {
            (key, Ok(Ok(live))) => out.push((key, live)),
            (_, Ok(Err(e))) => warn_damaged(&e),
            (_, Err(e)) => warn_damaged(&failure(e)),
        }
    }
    Ok(out)
}

pub(crate) fn warn_damaged(e: &StoreFailure) {
    tracing::warn!(
        target: "sqlite_session_store",
        error = %e,
        "a damaged session row was skipped"
    );
}

/// Files a new live session under `key`.
pub(crate) fn insert(tx: &Transaction<'_>, key: &str, live: &Live) -> Result<(), Abort> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO sessions (key, public_id, user, counted, created_at, last_seen_at, \
         idle_timeout_ns, idle_deadline, absolute_deadline, expires_at, metadata) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    stmt.execute(params![
        key,
        live.public_id,
        live.user,
        i64::from(live.counted),
        millis(live.created_at),
        millis(live.last_seen_at),
        nanos(live.idle_timeout),
        millis(live.idle_deadline),
        millis(live.absolute_deadline),
        millis(live.expires_at()),
        live.metadata,
    ])?;
    Ok(())
}

/// Writes a live session's times (after a refresh or a new idle timeout).
pub(crate) fn save_times(tx: &Transaction<'_>, key: &str, live: &Live) -> Result<(), Abort> {
    let mut stmt = tx.prepare_cached(
        "UPDATE sessions SET last_seen_at = ?2, idle_timeout_ns = ?3, idle_deadline = ?4, \
         expires_at = ?5 WHERE key = ?1",
    )?;
    stmt.execute(params![
        key,
        millis(live.last_seen_at),
        nanos(live.idle_timeout),
        millis(live.idle_deadline),
        millis(live.expires_at()),
    ])?;
    Ok(())
}

/// Whether anything (live or tombstone) is filed under `key`.
pub(crate) fn exists(tx: &Transaction<'_>, key: &str) -> Result<bool, Abort> {
    let mut stmt = tx.prepare_cached("SELECT 1 FROM sessions WHERE key = ?1")?;
    Ok(stmt.exists([key])?)
}

/// The metadata as stored JSON.
pub(crate) fn metadata_json(m: &Metadata) -> Result<String, Abort> {
    serde_json::to_string(m).map_err(|e| Abort(StoreFailure::unavailable(e)))
}
