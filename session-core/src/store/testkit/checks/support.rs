//! What every check shares: a fresh store behind a fault switch, a manual
//! clock and a manager (the [`Kit`]), and simulated browsers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::super::{FaultyStore, Harness};
use crate::adapter::ResponseUpdate;
use crate::store::{Loaded, SessionStore, StoreContext};
use crate::{
    Clock, EndReason, Ending, ExpiryPolicy, KeyRing, LoginOutcome, ManualClock, PublicId, Session,
    SessionConfig, SessionConfigBuilder, SessionError, SessionId, SessionManager, Timestamp,
    UserId,
};

/// 2026-01-01T00:00:00Z: every check starts its clock here.
pub(super) const START: Timestamp = Timestamp::from_unix_millis(1_767_225_600_000);
pub(super) const SECOND: Duration = Duration::from_secs(1);
pub(super) const MILLI: Duration = Duration::from_millis(1);

/// One check's world: a fresh store behind a fault switch, a manual clock,
/// and a manager.
pub(super) struct Kit {
    pub(super) harness: Arc<dyn Harness>,
    pub(super) probe: Arc<FaultyStore>,
    pub(super) clock: ManualClock,
    pub(super) manager: SessionManager,
}

pub(super) async fn kit(
    harness: &Arc<dyn Harness>,
    configure: impl FnOnce(SessionConfigBuilder) -> SessionConfigBuilder,
) -> Kit {
    let keys = KeyRing::generate();
    let config = configure(SessionConfig::builder(keys))
        .build()
        .expect("the kit's configuration is valid");
    let probe = Arc::new(FaultyStore::new(harness.store().await));
    let clock = ManualClock::new(START);
    let manager = SessionManager::with_clock(probe.clone(), config, Arc::new(clock.clone()));
    Kit {
        harness: harness.clone(),
        probe,
        clock,
        manager,
    }
}

pub(super) fn expiry(idle: u64, threshold: u64, absolute: u64) -> ExpiryPolicy {
    ExpiryPolicy::default()
        .with_idle_timeout(Duration::from_secs(idle))
        .with_refresh_threshold(Duration::from_secs(threshold))
        .with_absolute_lifetime(Duration::from_secs(absolute))
}

pub(super) fn user(name: &str) -> UserId {
    UserId::new(name).expect("a valid user id")
}

impl Kit {
    pub(super) fn browser(&self) -> Browser {
        Browser {
            manager: self.manager.clone(),
            jar: Arc::new(Mutex::new(None)),
        }
    }

    pub(super) fn store(&self) -> &dyn SessionStore {
        &*self.probe
    }

    /// The context the manager's store calls run under now.
    pub(super) fn cx(&self) -> StoreContext {
        let expiry = self.manager.config().expiry();
        StoreContext {
            now: self.clock.now(),
            ended_retention: expiry.ended_retention(),
            refresh_threshold: expiry.effective_threshold(),
            max_data_bytes: self.manager.config().max_data_bytes(),
            anonymous_analytics: self.manager.config().anonymous_analytics(),
        }
    }

    /// The `Cookie` header a browser holding `sid` sends.
    pub(super) fn cookie_for(&self, sid: &SessionId) -> String {
        let name = self.manager.config().cookie().cookie_name();
        format!("{name}={}", sid.expose_secret())
    }

    pub(super) async fn load(&self, id: &SessionId) -> Loaded {
        let cx = self.cx();
        self.store()
            .load(&id.storage_key(), &cx)
            .await
            .expect("load succeeds on a healthy store")
    }

    pub(super) async fn is_active(&self, id: &SessionId) -> bool {
        matches!(self.load(id).await, Loaded::Active { .. })
    }

    pub(super) async fn ending(&self, id: &SessionId) -> Option<Ending> {
        match self.load(id).await {
            Loaded::Ended(e) => Some(e),
            _ => None,
        }
    }

    pub(super) async fn count_user(&self, name: &str) -> u64 {
        self.manager
            .count_user_sessions(&user(name))
            .await
            .expect("count succeeds")
    }
}

/// A simulated browser: a cookie jar holding the session cookie.
#[derive(Clone)]
pub(super) struct Browser {
    pub(super) manager: SessionManager,
    pub(super) jar: Arc<Mutex<Option<String>>>,
}

impl Browser {
    /// Another tab of the same browser would share the jar; this is a copy
    /// (a second client that stole or shares the cookie).
    pub(super) fn copy(&self) -> Browser {
        Browser {
            manager: self.manager.clone(),
            jar: Arc::new(Mutex::new(self.cookie())),
        }
    }

    pub(super) fn cookie(&self) -> Option<String> {
        self.jar.lock().map(|j| j.clone()).unwrap_or(None)
    }

    pub(super) fn set_cookie_header(&self, header: &str) {
        let pair = header.split(';').next().unwrap_or_default();
        let removed = header.contains("Max-Age=0") || pair.ends_with('=');
        if let Ok(mut jar) = self.jar.lock() {
            *jar = if removed { None } else { Some(pair.to_owned()) };
        }
    }

    pub(super) fn request(&self) -> Session {
        let cookie = self.cookie();
        self.manager
            .session_for_request(cookie.as_deref().map(str::as_bytes))
    }

    pub(super) async fn finish(&self, session: &Session) -> ResponseUpdate {
        let update = session.finish().await;
        if let Some(h) = update.set_cookie() {
            self.set_cookie_header(h);
        }
        update
    }

    pub(super) fn sid(&self) -> SessionId {
        let cookie = self.cookie().expect("the browser holds a session cookie");
        let value = cookie.split_once('=').map(|(_, v)| v).unwrap_or_default();
        self.manager
            .parse_id(value)
            .expect("the cookie holds a valid id")
    }

    pub(super) async fn login(&self, name: &str) -> Result<LoginOutcome, SessionError> {
        let s = self.request();
        let r = s.login(user(name)).await;
        self.finish(&s).await;
        r
    }

    pub(super) async fn must_login(&self, name: &str) -> PublicId {
        self.login(name)
            .await
            .expect("login succeeds")
            .record
            .public_id
    }

    pub(super) async fn insert(&self, key: &str, value: serde_json::Value) {
        let s = self.request();
        s.insert(key, value).await.expect("insert succeeds");
        let u = self.finish(&s).await;
        assert!(
            u.error().is_none(),
            "saving an active session failed: {:?}",
            u.error()
        );
    }

    pub(super) async fn get(&self, key: &str) -> Option<serde_json::Value> {
        let s = self.request();
        let v = s.get(key).await.expect("get succeeds");
        self.finish(&s).await;
        v
    }
}

pub(super) fn assert_reason(ending: Option<Ending>, want: &EndReason, guarantee: &str) {
    match ending {
        Some(e) => assert_eq!(&e.reason, want, "{guarantee}: wrong end reason"),
        None => panic!("{guarantee}: expected the session to have ended with {want:?}"),
    }
}

pub(super) fn is_removal(update: &ResponseUpdate) -> bool {
    update.set_cookie().is_some_and(|c| c.contains("Max-Age=0"))
}
