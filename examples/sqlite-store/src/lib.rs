//! A [`SessionStore`](session_core::store::SessionStore) on SQLite: the worked example of
//! `docs/custom-backend.md`, and a store in its own right for a
//! single-server application that wants sessions to outlive the process.
//!
//! ```
//! # async fn demo() -> Result<(), session_core::StoreFailure> {
//! use std::sync::Arc;
//! use session_core::store::SessionStore;
//! use sqlite_session_store::SqliteStore;
//!
//! let store: Arc<dyn SessionStore> = Arc::new(SqliteStore::open("sessions.db")?);
//! # Ok(()) }
//! ```
//!
//! # How it keeps the contract
//!
//! * **One transaction per call.** Every `SessionStore` call runs on a
//!   blocking thread ([`tokio::task::spawn_blocking`]) as one
//!   `BEGIN IMMEDIATE` transaction on the store's connection: the write
//!   lock is taken before the first read, so a judgement (is it active, is
//!   there room under the user's limit, does the data fit its cap) and the
//!   write that follows it cannot be split by another request, in this
//!   process or another one on the same file. Races, the exact per-user
//!   limit, revoke-all as a cut, one winner among rotations, `take` and
//!   increments all follow from it.
//! * **Only the caller's clock.** Expiry is judged against
//!   `StoreContext::now`; the store never reads a clock.
//! * **Sweep as you go.** Each call first ends the sessions whose deadline
//!   has passed (an `expired` tombstone, final) and deletes the tombstones
//!   past their retention, through indexes on those times: storage follows
//!   the live sessions with no cleanup job.
//! * **Exact analytics.** Triggers keep each user's number of live
//!   sessions and the two counters in the same transaction as the change.
//! * **Fail closed.** A row that does not decode is
//!   [`StoreFailure::Corrupt`], never "unknown"; any other SQLite failure
//!   is [`StoreFailure::Unavailable`], and the transaction is rolled back.
//!
//! The tables are described in the `schema` module's source
//! (`src/schema.rs`).
//!
//! One connection serves every call, in turn: SQLite allows one writer at
//! a time, and every call writes (the sweep), so a pool would only queue
//! on the file's lock instead of the mutex.

#![deny(missing_docs)]

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use session_core::StoreFailure;
use session_core::store::{SessionKey, StoreContext};

mod data;
mod lifecycle;
mod rows;
mod schema;
mod session_ops;
mod store;
mod user_ops;

use rows::{Abort, Step};

/// A session store in one SQLite database (a file, or memory).
///
/// Cheap to share: wrap it in an `Arc` (`Arc<dyn SessionStore>`). Several
/// processes may open the same file; their calls take turns on SQLite's
/// write lock (waiting up to 5 seconds for it, then failing as
/// unavailable).
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    location: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it if needed) the database file at `path`, in WAL
    /// mode, and creates the tables that are missing. Fails as unavailable
    /// when the file cannot be opened or holds another version of the
    /// schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreFailure> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(rows::failure)?;
        Self::with_connection(conn, path.display().to_string())
    }

    /// A store in a fresh in-memory database: gone when the store is
    /// dropped, and seen by no other connection.
    pub fn open_in_memory() -> Result<Self, StoreFailure> {
        let conn = Connection::open_in_memory().map_err(rows::failure)?;
        Self::with_connection(conn, ":memory:".to_owned())
    }

    /// A store on a connection the application opened (its own flags or
    /// VFS). The schema is created in it as by [`Self::open`].
    pub fn from_connection(conn: Connection) -> Result<Self, StoreFailure> {
        let location = conn.path().unwrap_or(":memory:").to_owned();
        Self::with_connection(conn, location)
    }

    fn with_connection(mut conn: Connection, location: String) -> Result<Self, StoreFailure> {
        schema::prepare(&mut conn).map_err(|e| match e {
            schema::SchemaError::Sql(e) => rows::failure(e),
            schema::SchemaError::Version(found) => {
                StoreFailure::unavailable(std::io::Error::other(format!(
                    "{location} holds session schema version {found}; this store knows {}",
                    schema::VERSION
                )))
            }
        })?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            location,
        })
    }

    /// Runs `step` as one `BEGIN IMMEDIATE` transaction on a blocking
    /// thread, after the sweep when `cx` is given. The step's answer,
    /// outcome or refusal, is committed (with the sweep before it); an
    /// [`Abort`] rolls everything back.
    async fn run<T, E>(
        &self,
        cx: Option<StoreContext>,
        step: impl FnOnce(&Transaction<'_>) -> Step<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreFailure> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let joined = tokio::task::spawn_blocking(move || {
            // A panic inside a step cannot leave a half-done change: its
            // transaction is rolled back when dropped. Keep serving.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(cx) = &cx {
                lifecycle::sweep(&tx, cx)?;
            }
            let answer = step(&tx)?;
            tx.commit()?;
            Ok::<_, Abort>(answer)
        })
        .await;
        match joined {
            Ok(Ok(answer)) => answer,
            Ok(Err(Abort(failure))) => Err(failure.into()),
            Err(join) => Err(StoreFailure::unavailable(join).into()),
        }
    }
}

/// The `sessions.key` (and `data.session_key`) a session is filed under:
/// its slot tag and digest, `slot:digest_hex`. Never the session id.
pub fn row_key(key: &SessionKey) -> String {
    format!("{}:{}", key.slot(), key.digest_hex())
}

#[cfg(test)]
mod tests;
