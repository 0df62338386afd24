//! The sign-in that spans two Cluster slots: an anonymous session's id
//! lives in another slot than the user's index, so no one script can see
//! both.

use super::*;

impl RedisStore {
    /// Signing in from an anonymous session on Cluster takes three steps,
    /// ordered so that any failure leaves the old id without the sign-in.
    /// Read the old session; create the new one (with the limit); end the
    /// old one. If the old one was no longer active (a racing rotation or a
    /// logout won), this rotation lost: its new session is ended too, so
    /// exactly one rotation of an id succeeds. Writes to the old session
    /// between the read and its end are not carried over.
    pub(super) async fn rotate_across_slots(
        &self,
        mut r: Rotation,
        cx: &StoreContext,
    ) -> Result<Created, RotateError> {
        let read_only = StoreContext {
            refresh_threshold: Duration::ZERO,
            ..*cx
        };
        let record = match self.load(&r.old, &read_only).await? {
            Loaded::Active { record, .. } => record,
            Loaded::Ended(e) => return Err(RotateError::Ended(e)),
            Loaded::Unknown => return Err(RotateError::UnknownId),
        };
        let Some(sign_in) = r.sign_in.take() else {
            // A plain rotation keeps the slot; only a sign-in moves it.
            return Err(RotateError::Store(StoreFailure::Corrupt(
                "a rotation without sign-in changed slots".into(),
            )));
        };
        if record
            .user
            .as_ref()
            .is_some_and(|u| *u != sign_in.user.user)
        {
            return Err(RotateError::OtherUser);
        }
        let new = signed_in_copy(record, &r, sign_in.user, sign_in.absolute_deadline, cx)?;
        let record = new.record(cx.now)?;
        let evicted = self
            .create(new, sign_in.limit, cx)
            .await
            .map_err(|e| match e {
                CreateError::DuplicateId => RotateError::DuplicateId,
                CreateError::LimitReached { limit } => RotateError::LimitReached { limit },
                CreateError::Store(f) => RotateError::Store(f),
                other => RotateError::Store(StoreFailure::Corrupt(other.to_string())),
            })?;
        let created = Created { record, evicted };
        match self.invalidate(&r.old, EndReason::Rotated, cx).await {
            // Ended (NotReplicated: ended on the primary, already warned).
            Ok(Some(_)) | Err(StoreFailure::NotReplicated { .. }) => Ok(created),
            outcome => {
                self.end_lost_sign_in(&r.new, &created, cx).await;
                match outcome {
                    Err(f) => Err(RotateError::Store(f)),
                    _ => match self.load(&r.old, &read_only).await? {
                        Loaded::Ended(e) => Err(RotateError::Ended(e)),
                        _ => Err(RotateError::UnknownId),
                    },
                }
            }
        }
    }

    /// The sign-in lost, or its last step failed: ends the new session so
    /// the old id stays the only one. If even that fails, says which
    /// session is left over, and which sessions its create evicted (they
    /// stay ended).
    async fn end_lost_sign_in(&self, new: &SessionKey, created: &Created, cx: &StoreContext) {
        if self.invalidate(new, EndReason::Rotated, cx).await.is_err() {
            tracing::warn!(
                target: "session_redis",
                public_id = %created.record.public_id,
                evicted = ?created.evicted,
                "a cross-slot sign-in failed after creating its new session, which could not be ended: it stays active (no client holds its id) until it expires or is revoked"
            );
        } else if !created.evicted.is_empty() {
            tracing::warn!(
                target: "session_redis",
                evicted = ?created.evicted,
                "a cross-slot sign-in failed after its create had evicted sessions: they stay ended"
            );
        }
    }
}

/// The new session of a cross-slot sign-in: the old `record` with the
/// rotation's delta applied, under the data cap as `rotate.lua` judges it
/// (the clear JSON here: growth past the cap is refused).
fn signed_in_copy(
    record: SessionRecord,
    r: &Rotation,
    user: UserKey,
    absolute_deadline: Timestamp,
    cx: &StoreContext,
) -> Result<NewSession, RotateError> {
    let mut data: std::collections::BTreeMap<String, String> = record
        .data
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    let size = |data: &std::collections::BTreeMap<String, String>| -> usize {
        data.iter().map(|(k, v)| k.len() + v.len()).sum()
    };
    let before = size(&data);
    for (k, v) in &r.delta.data {
        match v {
            Some(json) => data.insert(k.clone(), json.clone()),
            None => data.remove(k),
        };
    }
    let after = size(&data);
    if after > before && after > cx.max_data_bytes {
        return Err(RotateError::TooLarge {
            size: after,
            limit: cx.max_data_bytes,
        });
    }
    Ok(NewSession {
        key: r.new,
        public_id: record.public_id,
        user: Some(user),
        idle_timeout: r.delta.idle_timeout.unwrap_or(record.idle_timeout),
        absolute_deadline,
        metadata: r.delta.metadata.clone().unwrap_or(record.metadata),
        data,
    })
}
