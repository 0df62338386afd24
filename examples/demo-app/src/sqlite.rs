//! The opt-in SQLite store: with the cargo feature `sqlite` (off by
//! default, so the usual build compiles no SQLite), `SQLITE_PATH` names the
//! database file the demo keeps its sessions in (`sqlite-session-store`,
//! the worked example of `docs/custom-backend.md`).

use session_core::{Environment, SessionSetup};

/// The setup over SQLite when `SQLITE_PATH` is set, `None` when it is not.
/// Refused when a Redis variable is set too (one of the two would be
/// ignored), and, in a build without the `sqlite` feature, whenever
/// `SQLITE_PATH` is set (it would be ignored).
pub(crate) async fn setup(env: &Environment) -> Result<Option<SessionSetup>, String> {
    let Some(path) = env.var("SQLITE_PATH") else {
        return Ok(None);
    };
    if let Some(redis) = env.redis_variable() {
        return Err(format!(
            "SQLITE_PATH and {redis} are both set: set only the one naming the store to use"
        ));
    }
    open(env, path).await.map(Some)
}

#[cfg(feature = "sqlite")]
async fn open(env: &Environment, path: String) -> Result<SessionSetup, String> {
    let config = env.session_config().map_err(|e| e.to_string())?;
    let store = sqlite_session_store::SqliteStore::open(&path)
        .map_err(|e| format!("SQLITE_PATH={path}: {e}"))?;
    SessionSetup::new(config, std::sync::Arc::new(store), format!("SQLite {path}"))
        .check_slot_key()
        .await
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "sqlite"))]
async fn open(_env: &Environment, _path: String) -> Result<SessionSetup, String> {
    Err(
        "SQLITE_PATH is set, but this demo was built without SQLite: \
         build it with `--features demo-app/sqlite`"
            .to_owned(),
    )
}
