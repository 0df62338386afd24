//! Guarantee 2: no lost updates across keys.

use super::support::*;
use std::sync::Arc;

use tokio::sync::Barrier;

use super::super::Harness;

/// Guarantee 2, forced: two overlapping requests change different keys;
/// both changes survive.
pub async fn g02_overlapping_saves_keep_both_keys(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    a.insert("keep", "me".into()).await;
    let (first, second) = (a.request(), a.request());
    first.get::<String>("keep").await.expect("load");
    second.get::<String>("keep").await.expect("load");
    first.insert("a", 1).await.expect("insert");
    second.insert("b", 2).await.expect("insert");
    second.remove("keep").await.expect("remove");
    assert!(a.finish(&first).await.error().is_none());
    assert!(a.finish(&second).await.error().is_none());
    assert_eq!(
        a.get("a").await,
        Some(1.into()),
        "G2: the first request's key was lost"
    );
    assert_eq!(
        a.get("b").await,
        Some(2.into()),
        "G2: the second request's key was lost"
    );
    assert_eq!(a.get("keep").await, None, "G2: a removal was lost");
}

/// Guarantee 2: on the same key, the later save wins.
pub async fn g02_same_key_later_save_wins(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    let (first, second) = (a.request(), a.request());
    first.get::<String>("k").await.expect("load");
    second.get::<String>("k").await.expect("load");
    first.insert("k", "first").await.expect("insert");
    second.insert("k", "second").await.expect("insert");
    a.finish(&first).await;
    a.finish(&second).await;
    assert_eq!(
        a.get("k").await,
        Some("second".into()),
        "G2: the later save must win"
    );
}

/// Guarantee 2, stressed: many concurrent requests each set their own key.
pub async fn g02_stress_many_keys_in_parallel(h: Arc<dyn Harness>) {
    const TASKS: usize = 32;
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (b, barrier) = (a.copy(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let s = b.request();
            s.get::<i64>("any").await.expect("load");
            barrier.wait().await;
            s.insert(&format!("k{t}"), t).await.expect("insert");
            s.save().await.expect("save");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let record = a.request().record().await.expect("load").expect("active");
    for t in 0..TASKS {
        assert_eq!(
            record.data.get(&format!("k{t}")),
            Some(&t.into()),
            "G2: key k{t} was lost"
        );
    }
}

/// `clear` empties the data in one save and keeps the session: the same
/// id, its user and its metadata; the cookie is not touched.
pub async fn g02_clear_empties_the_data_and_keeps_the_session(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    a.insert("cart", serde_json::json!(["apple"])).await;
    a.insert("step", 3.into()).await;
    let sid = a.sid();
    let s = a.request();
    s.insert("draft", "x").await.expect("insert");
    s.clear().await.expect("clear");
    let u = a.finish(&s).await;
    assert!(
        u.error().is_none() && u.set_cookie().is_none(),
        "clear: {u:?}"
    );
    let crate::store::Loaded::Active { record, .. } = k.load(&sid).await else {
        panic!("G2: clear ended the session");
    };
    assert!(
        record.data.is_empty(),
        "G2: clear left data behind: {:?}",
        record.data.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        record.user,
        Some(user("alice")),
        "G2: clear signed the user out"
    );
    assert_eq!(k.count_user("alice").await, 1, "G2");
}
