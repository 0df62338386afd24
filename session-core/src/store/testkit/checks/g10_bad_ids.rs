//! Guarantee 10: bad ids cost nothing.

use super::support::*;
use std::sync::Arc;

use super::super::Harness;
use crate::store::SlotTag;
use crate::{KeyRing, SessionId};

/// Guarantee 10: malformed, forged, oversized, non-UTF-8 and duplicated
/// session cookies give no session, cost no store call, and are removed.
pub async fn g10_bad_ids_cost_nothing(h: Arc<dyn Harness>) {
    let k = kit(&h, |b| b).await;
    let a = k.browser();
    a.must_login("alice").await;
    let good = a.cookie().expect("cookie");
    let forged = SessionId::generate(&KeyRing::generate(), SlotTag::random());
    let mut tampered = good.clone().into_bytes();
    if let Some(last) = tampered.last_mut() {
        *last = if *last == b'A' { b'B' } else { b'A' };
    }
    let name = k.manager.config().cookie().cookie_name().into_owned();
    let mut non_utf8 = format!("{name}=").into_bytes();
    non_utf8.extend_from_slice(b"\xff\xfe\xfd");
    let bad: Vec<Vec<u8>> = vec![
        format!("{name}=").into_bytes(),
        format!("{name}=hello").into_bytes(),
        k.cookie_for(&forged).into_bytes(),
        tampered,
        format!("{name}={}", "A".repeat(5000)).into_bytes(),
        non_utf8,
    ];
    let before = k.probe.calls();
    for header in &bad {
        let s = k.manager.session_for_request([header.as_slice()]);
        assert_eq!(
            s.user().await.expect("no store call, no error"),
            None,
            "G10"
        );
        assert_eq!(s.get::<i64>("x").await.expect("no error"), None, "G10");
        let u = s.finish().await;
        assert!(is_removal(&u), "G10: a refused cookie must be removed");
    }
    // Cookie tossing: no session, and no removal (a host-only removal
    // would leave the browser holding only the planted cookie).
    let tossed = format!("{good}; {good}");
    let s = k.manager.session_for_request([tossed.as_bytes()]);
    assert_eq!(s.user().await.expect("no error"), None, "G10: tossing");
    assert!(
        s.finish().await.set_cookie().is_none(),
        "G10: duplicated cookies get no cookie change"
    );
    let untouched = a.request();
    let u = untouched.finish().await;
    assert!(
        u.set_cookie().is_none(),
        "G10: an untouched session sends no cookie"
    );
    assert_eq!(
        k.probe.calls(),
        before,
        "G10: bad or untouched ids reached the store"
    );
    assert!(
        k.is_active(&a.sid()).await,
        "G10: the real session is untouched"
    );
}
