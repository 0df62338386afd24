//! [`SessionStore`] for [`SqliteStore`]: each method moves its arguments
//! into one step (see `session_ops` and `user_ops`) run by
//! [`SqliteStore::run`] as one transaction.

use async_trait::async_trait;
use session_core::store::{
    Applied, AsLoaded, CreateError, Created, Delta, Loaded, NewSession, Page, PageRequest,
    RotateError, Rotation, SessionKey, SessionStore, SlotKeyPin, StoreContext, UpdateError,
    UserKey,
};
use session_core::{EndReason, PublicId, SessionSummary, StoreFailure, UserLimit};

use crate::{SqliteStore, row_key, session_ops, user_ops};

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create(
        &self,
        session: NewSession,
        limit: UserLimit,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, CreateError> {
        let cx = *cx;
        self.run(Some(cx), move |tx| {
            session_ops::create(tx, &session, limit, &cx)
        })
        .await
    }

    async fn load(&self, key: &SessionKey, cx: &StoreContext) -> Result<Loaded, StoreFailure> {
        let (key, cx) = (row_key(key), *cx);
        self.run(Some(cx), move |tx| session_ops::load(tx, &key, &cx))
            .await
    }

    async fn apply(
        &self,
        key: &SessionKey,
        _public_id: &PublicId,
        delta: &Delta,
        _as_loaded: &AsLoaded,
        cx: &StoreContext,
    ) -> Result<Applied, UpdateError> {
        let (key, delta, cx) = (row_key(key), delta.clone(), *cx);
        self.run(Some(cx), move |tx| {
            session_ops::apply(tx, &key, &delta, &cx)
        })
        .await
    }

    async fn increment(
        &self,
        key: &SessionKey,
        field: &str,
        by: i64,
        cx: &StoreContext,
    ) -> Result<i64, UpdateError> {
        let (key, field, cx) = (row_key(key), field.to_owned(), *cx);
        self.run(Some(cx), move |tx| {
            session_ops::increment(tx, &key, &field, by, &cx)
        })
        .await
    }

    async fn take(
        &self,
        key: &SessionKey,
        _public_id: &PublicId,
        field: &str,
        cx: &StoreContext,
    ) -> Result<Option<String>, UpdateError> {
        let (key, field, cx) = (row_key(key), field.to_owned(), *cx);
        self.run(Some(cx), move |tx| session_ops::take(tx, &key, &field, &cx))
            .await
    }

    async fn rotate(&self, rotation: Rotation, cx: &StoreContext) -> Result<Created, RotateError> {
        let cx = *cx;
        self.run(Some(cx), move |tx| session_ops::rotate(tx, &rotation, &cx))
            .await
    }

    async fn invalidate(
        &self,
        key: &SessionKey,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Option<PublicId>, StoreFailure> {
        let (key, cx) = (row_key(key), *cx);
        self.run(Some(cx), move |tx| {
            user_ops::invalidate(tx, &key, &reason, &cx)
        })
        .await
    }

    async fn revoke_by_public_id(
        &self,
        user: &UserKey,
        public_id: &PublicId,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<bool, StoreFailure> {
        let (user, public_id, cx) = (user.user.as_str().to_owned(), *public_id, *cx);
        self.run(Some(cx), move |tx| {
            user_ops::revoke_by_public_id(tx, &user, &public_id, &reason, &cx)
        })
        .await
    }

    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&PublicId>,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, StoreFailure> {
        let (user, except, cx) = (user.user.as_str().to_owned(), except.copied(), *cx);
        self.run(Some(cx), move |tx| {
            user_ops::revoke_all(tx, &user, except.as_ref(), &reason, &cx)
        })
        .await
    }

    async fn list_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<Vec<SessionSummary>, StoreFailure> {
        let user = user.user.as_str().to_owned();
        self.run(Some(*cx), move |tx| user_ops::list_user_sessions(tx, &user))
            .await
    }

    async fn count_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<u64, StoreFailure> {
        let user = user.user.as_str().to_owned();
        self.run(Some(*cx), move |tx| {
            user_ops::count_user_sessions(tx, &user)
        })
        .await
    }

    async fn count_active(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        self.run(Some(*cx), |tx| user_ops::counter(tx, "active"))
            .await
    }

    async fn count_active_users(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        self.run(Some(*cx), |tx| user_ops::counter(tx, "users"))
            .await
    }

    async fn active_users(
        &self,
        page: PageRequest,
        cx: &StoreContext,
    ) -> Result<Page, StoreFailure> {
        self.run(Some(*cx), move |tx| user_ops::active_users(tx, &page))
            .await
    }

    async fn pin_slot_key(&self, fingerprint: &str) -> Result<SlotKeyPin, StoreFailure> {
        let fingerprint = fingerprint.to_owned();
        self.run(None, move |tx| user_ops::pin_slot_key(tx, &fingerprint))
            .await
    }
}
