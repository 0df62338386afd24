//! Unit checks of what the conformance kit does not see: the schema opens
//! twice, and the counters the triggers keep follow the rows.

use session_core::store::SessionStore;

use super::SqliteStore;

#[test]
fn reopening_a_file_keeps_its_schema() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("twice.db");
    drop(SqliteStore::open(&path).expect("first open"));
    assert!(SqliteStore::open(&path).is_ok(), "a second open failed");
}

#[test]
fn another_schema_version_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.pragma_update(None, "user_version", 7)
        .expect("set version");
    drop(conn);
    let opened = SqliteStore::open(&path);
    assert!(
        matches!(opened, Err(session_core::StoreFailure::Unavailable(_))),
        "a database of schema version 7 was accepted: {opened:?}"
    );
}

#[tokio::test]
async fn the_slot_key_is_pinned() {
    use session_core::store::SlotKeyPin;
    let store = SqliteStore::open_in_memory().expect("open");
    assert_eq!(store.pin_slot_key("a").await.ok(), Some(SlotKeyPin::Same));
    assert_eq!(store.pin_slot_key("a").await.ok(), Some(SlotKeyPin::Same));
    assert_eq!(
        store.pin_slot_key("b").await.ok(),
        Some(SlotKeyPin::Changed)
    );
}
