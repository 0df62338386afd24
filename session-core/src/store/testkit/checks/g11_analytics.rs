//! Guarantee 11: analytics are exact and cheap.

use super::support::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::super::Harness;
use crate::PublicId;
use crate::store::PageRequest;

/// Guarantee 11: the counts, the per-user lists and the paginated active
/// users are exact after logins, anonymous sessions, revocations,
/// rotations, logouts and expiry.
pub async fn g11_analytics_are_exact(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| {
        b.with_expiry(expiry(600, 60, 86_400))
            .with_anonymous_analytics(true)
    })
    .await;
    let mut by_user: BTreeMap<String, Vec<(Browser, PublicId)>> = BTreeMap::new();
    for i in 0..5 {
        let name = format!("user-{i}");
        for _ in 0..=i {
            let b = k.browser();
            let p = b.must_login(&name).await;
            by_user.entry(name.clone()).or_default().push((b, p));
            k.clock.advance(SECOND);
        }
    }
    let mut anonymous = Vec::new();
    for _ in 0..3 {
        let b = k.browser();
        b.insert("cart", 1.into()).await;
        anonymous.push(b);
    }
    let m = &k.manager;
    let check = |active: u64, users: &[&str]| {
        let users: Vec<String> = users.iter().map(|u| u.to_string()).collect();
        async move {
            assert_eq!(
                m.count_active().await.expect("count"),
                active,
                "G11: active sessions"
            );
            assert_eq!(
                m.count_active_users().await.expect("count"),
                users.len() as u64,
                "G11: active users"
            );
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = m
                    .active_users(PageRequest { after, limit: 2 })
                    .await
                    .expect("page");
                assert!(page.users.len() <= 2, "G11: page larger than asked");
                seen.extend(page.users.iter().map(|u| u.as_str().to_owned()));
                match page.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            assert_eq!(seen, users, "G11: paginated active users");
        }
    };
    check(18, &["user-0", "user-1", "user-2", "user-3", "user-4"]).await;
    let list = m.list_user_sessions(&user("user-4")).await.expect("list");
    let want: Vec<PublicId> = by_user["user-4"].iter().rev().map(|(_, p)| *p).collect();
    let got: Vec<PublicId> = list.iter().map(|s| s.public_id).collect();
    assert_eq!(got, want, "G11: a user's sessions, newest first");
    for i in 0..5 {
        assert_eq!(
            k.count_user(&format!("user-{i}")).await,
            i + 1,
            "G11: user-{i}'s count"
        );
    }

    // Revoke one device of user-4, all of user-3, rotate one of user-2,
    // log out one anonymous session, let user-0's session expire.
    let victim = by_user["user-4"][0].1;
    assert!(
        m.revoke_device(&user("user-4"), &victim, "lost phone")
            .await
            .expect("revoke")
    );
    assert!(
        !m.revoke_device(&user("user-1"), &by_user["user-2"][0].1, "not theirs")
            .await
            .expect("revoke"),
        "G11: revoked another user's session"
    );
    m.revoke_all(&user("user-3"), None)
        .await
        .expect("revoke all");
    let r = by_user["user-2"][0].0.request();
    r.rotate().await.expect("rotate");
    by_user["user-2"][0].0.finish(&r).await;
    let out = anonymous[0].request();
    out.logout().await.expect("logout");
    anonymous[0].finish(&out).await;
    let short = by_user["user-0"][0].0.request();
    short
        .set_idle_timeout(Duration::from_secs(5))
        .await
        .expect("ttl");
    short.save().await.expect("save");
    k.clock.advance(Duration::from_secs(5));
    check(18 - 1 - 4 - 1 - 1, &["user-1", "user-2", "user-4"]).await;
    assert_eq!(k.count_user("user-4").await, 4, "G11");
    assert_eq!(
        k.count_user("user-2").await,
        3,
        "G11: rotation changed the count"
    );
    let listed: BTreeSet<PublicId> = m
        .list_user_sessions(&user("user-4"))
        .await
        .expect("list")
        .iter()
        .map(|s| s.public_id)
        .collect();
    assert!(
        !listed.contains(&victim),
        "G11: a revoked session is still listed"
    );
}

/// Guarantee 11: anonymous sessions are counted only where the application
/// turns anonymous analytics on. Off (the default), `count_active` counts
/// the signed-in sessions, and an anonymous session that signs in is
/// counted from then on; on, every anonymous session is counted, also
/// after a rotation. Seen failing with anonymous sessions always counted.
pub async fn g11_anonymous_sessions_are_counted_only_when_asked(h: Arc<dyn Harness>) {
    for on in [false, true] {
        let k = kit(&h, |b| b.with_anonymous_analytics(on)).await;
        let anonymous: Vec<_> = (0..3).map(|_| k.browser()).collect();
        for b in &anonymous {
            b.insert("cart", 1.into()).await;
        }
        k.browser().must_login("alice").await;
        let want = if on { 4 } else { 1 };
        assert_eq!(
            k.manager.count_active().await.expect("count"),
            want,
            "G11: active sessions with anonymous analytics {on}"
        );
        // A rotation keeps an anonymous session counted (or not); a
        // sign-in counts it.
        let s = anonymous[0].request();
        s.rotate().await.expect("rotate");
        anonymous[0].finish(&s).await;
        anonymous[1].must_login("bob").await;
        let want = if on { 4 } else { 2 };
        assert_eq!(
            k.manager.count_active().await.expect("count"),
            want,
            "G11: active sessions after a rotation and a sign-in, anonymous analytics {on}"
        );
    }
}
