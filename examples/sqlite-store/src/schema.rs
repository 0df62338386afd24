//! The tables, indexes and triggers, and the connection settings.
//!
//! * `sessions`: one row per session under its key (`slot:digest`, see
//!   [`crate::row_key`]). A live session has `ended_reason` NULL; a
//!   tombstone has the reason, when it ended and when to forget it, and
//!   keeps neither user nor metadata nor data.
//! * `data`: one row per data key of a live session (its JSON text).
//! * `users`: each user with at least one live session, and how many.
//! * `counters`: `active` (the sessions `count_active` counts) and `users`
//!   (the rows of `users`).
//! * `settings`: the slot key's fingerprint.
//!
//! Triggers keep `users` and `counters` in step with `sessions`, in the
//! same transaction as the change that moves them, so the analytics are
//! exact and cost one indexed read (guarantee 11) and no code path can
//! forget to update them.

use rusqlite::Connection;

/// The schema's version, kept in `PRAGMA user_version`.
pub(crate) const VERSION: i64 = 1;

const TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS sessions (
    key               TEXT PRIMARY KEY NOT NULL,
    public_id         TEXT NOT NULL,
    user              TEXT,
    counted           INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    last_seen_at      INTEGER NOT NULL,
    idle_timeout_ns   INTEGER NOT NULL,
    idle_deadline     INTEGER NOT NULL,
    absolute_deadline INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    metadata          TEXT NOT NULL,
    ended_reason      TEXT,
    ended_at          INTEGER,
    forget_at         INTEGER
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user, public_id)
    WHERE ended_reason IS NULL AND user IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at)
    WHERE ended_reason IS NULL;
CREATE INDEX IF NOT EXISTS tombstones_by_forget ON sessions (forget_at)
    WHERE ended_reason IS NOT NULL;

CREATE TABLE IF NOT EXISTS data (
    session_key TEXT NOT NULL,
    name        TEXT NOT NULL,
    json        TEXT NOT NULL,
    PRIMARY KEY (session_key, name)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS users (
    user TEXT PRIMARY KEY NOT NULL,
    live INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO counters (name, value) VALUES ('active', 0), ('users', 0);

CREATE TABLE IF NOT EXISTS settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
"#;

/// A row change counts as removing the old row (if it was live) and adding
/// the new one (if it is live).
const TRIGGERS: &str = r#"
CREATE TRIGGER IF NOT EXISTS sessions_added AFTER INSERT ON sessions
WHEN NEW.ended_reason IS NULL BEGIN
    INSERT INTO users (user, live) SELECT NEW.user, 1 WHERE NEW.user IS NOT NULL
        ON CONFLICT (user) DO UPDATE SET live = live + 1;
    UPDATE counters SET value = value + 1 WHERE name = 'active' AND NEW.counted <> 0;
END;

CREATE TRIGGER IF NOT EXISTS sessions_removed AFTER DELETE ON sessions
WHEN OLD.ended_reason IS NULL BEGIN
    UPDATE users SET live = live - 1 WHERE user = OLD.user;
    DELETE FROM users WHERE user = OLD.user AND live <= 0;
    UPDATE counters SET value = value - 1 WHERE name = 'active' AND OLD.counted <> 0;
END;

CREATE TRIGGER IF NOT EXISTS sessions_changed
AFTER UPDATE OF user, counted, ended_reason ON sessions BEGIN
    UPDATE users SET live = live - 1 WHERE OLD.ended_reason IS NULL AND user = OLD.user;
    DELETE FROM users WHERE user = OLD.user AND live <= 0;
    INSERT INTO users (user, live) SELECT NEW.user, 1
        WHERE NEW.ended_reason IS NULL AND NEW.user IS NOT NULL
        ON CONFLICT (user) DO UPDATE SET live = live + 1;
    UPDATE counters
        SET value = value - (OLD.ended_reason IS NULL AND OLD.counted <> 0)
                          + (NEW.ended_reason IS NULL AND NEW.counted <> 0)
        WHERE name = 'active';
END;

CREATE TRIGGER IF NOT EXISTS users_added AFTER INSERT ON users BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'users';
END;

CREATE TRIGGER IF NOT EXISTS users_removed AFTER DELETE ON users BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'users';
END;
"#;

/// Why a database could not be prepared.
#[derive(Debug)]
pub(crate) enum SchemaError {
    /// SQLite refused a statement.
    Sql(rusqlite::Error),
    /// The file holds another version of this schema.
    Version(i64),
}

/// Sets the connection up (WAL where the database is a file, a busy
/// timeout so that other processes' transactions are waited for) and
/// creates what is missing, in one transaction.
pub(crate) fn prepare(conn: &mut Connection) -> Result<(), SchemaError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(SchemaError::Sql)?;
    // On a file: readers never block the writer, and a commit needs no
    // fsync (a crash may lose the last commits, never corrupt the file).
    // An in-memory database answers "memory" and stays as it is.
    let _mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(SchemaError::Sql)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(SchemaError::Sql)?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(SchemaError::Sql)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(SchemaError::Sql)?;
    if found != 0 && found != VERSION {
        return Err(SchemaError::Version(found));
    }
    tx.execute_batch(TABLES).map_err(SchemaError::Sql)?;
    tx.execute_batch(TRIGGERS).map_err(SchemaError::Sql)?;
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(SchemaError::Sql)?;
    tx.commit().map_err(SchemaError::Sql)
}
