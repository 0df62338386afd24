//! The whole conformance kit (session-core's `testkit`, one test per
//! check) against [`SqliteStore`], each check on a fresh database file.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};
use session_core::store::testkit::Harness;
use session_core::store::{SessionKey, SessionStore};
use sqlite_session_store::{SqliteStore, row_key};

/// Makes a fresh store per check, each in its own file of a temporary
/// directory (removed with the harness). It damages and measures a store
/// through a second connection to its file, as an operator's `sqlite3`
/// shell would.
struct SqliteHarness {
    dir: tempfile::TempDir,
    made: Mutex<Vec<PathBuf>>,
}

impl SqliteHarness {
    fn new() -> Self {
        SqliteHarness {
            dir: tempfile::tempdir().expect("a temporary directory"),
            made: Mutex::new(Vec::new()),
        }
    }

    fn made(&self) -> Vec<PathBuf> {
        self.made.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

fn connect(path: &PathBuf) -> Option<Connection> {
    let conn = Connection::open(path).ok()?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).ok()?;
    Some(conn)
}

#[async_trait::async_trait]
impl Harness for SqliteHarness {
    async fn store(&self) -> Arc<dyn SessionStore> {
        let mut made = self.made.lock().expect("the harness's list");
        let path = self.dir.path().join(format!("sessions-{}.db", made.len()));
        let store = SqliteStore::open(&path).expect("a fresh database opens");
        made.push(path);
        Arc::new(store)
    }

    /// Metadata and a data value that are not JSON: what a hand edit or a
    /// broken writer leaves.
    async fn corrupt(&self, key: &SessionKey) -> bool {
        let key = row_key(key);
        for path in self.made() {
            let Some(conn) = connect(&path) else { continue };
            let damaged = conn.execute(
                "UPDATE sessions SET metadata = '{not json' \
                 WHERE key = ?1 AND ended_reason IS NULL",
                [&key],
            );
            if damaged == Ok(1) {
                return conn
                    .execute(
                        "INSERT OR REPLACE INTO data (session_key, name, json) \
                         VALUES (?1, 'damaged', '{not json')",
                        params![key],
                    )
                    .is_ok();
            }
        }
        false
    }

    /// Rows in all: sessions and tombstones, data keys, and users.
    async fn footprint(&self) -> Option<u64> {
        let path = self.made().pop()?;
        let conn = connect(&path)?;
        let rows: i64 = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM data) \
                 + (SELECT COUNT(*) FROM users)",
                [],
                |row| row.get(0),
            )
            .ok()?;
        u64::try_from(rows).ok()
    }
}

// This example keeps no lifecycle stream (the `SessionStore` methods
// `read_events` and the rest keep their `Unsupported` defaults), so the
// stream's checks run and must fail.
session_core::conformance_tests!(SqliteHarness::new();
expected_failures = [
    g14_every_change_is_recorded_once,
    g14_a_group_handles_each_end_once_across_restarts,
    g14_a_crashed_consumer_s_events_are_taken_over,
    g14_anonymous_sessions_stream_only_with_analytics,
]);
