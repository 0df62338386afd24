//! The round-trip budget: store calls per request.

use super::support::*;
use std::sync::Arc;

use super::super::Harness;

/// The round-trip budget of `docs/contract.md`, counted as store calls (each
/// store operation must be one round trip): 0 for no cookie or an untouched
/// session, 1 for a read, 2 for a read and a write, 1 for an increment, 1
/// for a login, 1 for a logout, 1 for a rotation, 2 for revoking another
/// device or all of a user's sessions.
pub async fn g00_store_calls_per_request_within_budget(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let calls = |before: u64| k.probe.calls() - before;
    let a = k.browser();

    let before = k.probe.calls();
    let s = a.request();
    s.login(user("alice")).await.expect("login");
    a.finish(&s).await;
    assert_eq!(
        calls(before),
        1,
        "budget: a login without a session is one call"
    );

    let before = k.probe.calls();
    a.finish(&a.request()).await;
    assert_eq!(
        calls(before),
        0,
        "budget: an untouched session costs nothing"
    );

    let before = k.probe.calls();
    let s = a.request();
    s.get::<i64>("x").await.expect("get");
    s.user().await.expect("user");
    a.finish(&s).await;
    assert_eq!(calls(before), 1, "budget: a read-only request is one call");

    let before = k.probe.calls();
    let s = a.request();
    s.get::<i64>("x").await.expect("get");
    s.insert("x", 1).await.expect("insert");
    s.insert("y", 2).await.expect("insert");
    a.finish(&s).await;
    assert_eq!(calls(before), 2, "budget: a read and a write are two calls");

    let before = k.probe.calls();
    let s = a.request();
    s.increment("n", 1).await.expect("increment");
    a.finish(&s).await;
    assert_eq!(calls(before), 1, "budget: an increment alone is one call");

    let before = k.probe.calls();
    let s = a.request();
    s.rotate().await.expect("rotate");
    a.finish(&s).await;
    assert_eq!(calls(before), 1, "budget: a rotation is one call");

    let victim = k.browser().must_login("alice").await;
    let before = k.probe.calls();
    let s = a.request();
    let me = s.user().await.expect("user").expect("signed in");
    assert!(s.public_id().await.expect("loaded").is_some());
    assert_eq!(calls(before), 1, "budget: loading the caller is one call");
    k.manager
        .revoke_device(&me, &victim, "by user")
        .await
        .expect("revoke");
    assert_eq!(
        calls(before),
        2,
        "budget: revoking another device is load + one call"
    );
    s.revoke_all(true).await.expect("revoke all");
    a.finish(&s).await;
    assert_eq!(calls(before), 3, "budget: revoke-all is one call");

    let anonymous = k.browser();
    anonymous.insert("cart", 1.into()).await;
    let before = k.probe.calls();
    let s = anonymous.request();
    s.login(user("bob")).await.expect("login");
    anonymous.finish(&s).await;
    assert_eq!(
        calls(before),
        1,
        "budget: a login from an anonymous session is one call"
    );

    let before = k.probe.calls();
    let s = a.request();
    s.logout().await.expect("logout");
    a.finish(&s).await;
    assert_eq!(calls(before), 1, "budget: a logout is one call");
}

/// The budget on the path that once cost a second write: data changed, then
/// settings (metadata, idle timeout), then an explicit save, then the end of
/// the request. A stored session costs one load and one apply; a new one,
/// one create.
pub async fn g00_changes_then_settings_then_save_cost_one_write(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    for (label, budget) in [("a new session", 1), ("a stored session", 2)] {
        let before = k.probe.calls();
        let s = a.request();
        s.insert("theme", "dark").await.expect("insert");
        s.set_metadata(crate::Metadata {
            device: Some(label.into()),
            ..Default::default()
        })
        .await
        .expect("metadata");
        s.set_idle_timeout(std::time::Duration::from_secs(900))
            .await
            .expect("idle timeout");
        s.save().await.expect("save");
        let update = a.finish(&s).await;
        assert!(
            update.error().is_none(),
            "budget: {label}: {:?}",
            update.error()
        );
        assert_eq!(
            k.probe.calls() - before,
            budget,
            "budget: {label}: changes, settings, save and finish cost {budget} store calls"
        );
        // And what was written is what the next request reads.
        let next = a.request();
        let record = next.record().await.expect("load").expect("a session");
        assert_eq!(
            record.metadata.device.as_deref(),
            Some(label),
            "{label}: the metadata set in the request that wrote it is stored"
        );
        assert_eq!(
            next.get::<String>("theme").await.expect("get").as_deref(),
            Some("dark"),
            "{label}: the data is stored"
        );
        a.finish(&next).await;
    }
}
