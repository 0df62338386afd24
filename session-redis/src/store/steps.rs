//! The steps the operations share: calling the load and revoke scripts,
//! listing and counting a user's sessions, the analytics scripts, and the
//! sign-in that spans two Cluster slots.

use super::*;

impl RedisStore {
    /// The `@` a save sends for `apply.lua`'s steady state: the times the
    /// request loaded, when the delta changes data only and those times are
    /// live with no refresh due at `cx.now`; else `""` (judge afresh).
    pub(super) fn loaded_times(delta: &Delta, cx: &StoreContext) -> String {
        let Some(times) = delta.loaded else {
            return String::new();
        };
        let live = cx.now < times.idle_deadline.min(times.absolute_deadline);
        let due = refresh_due(
            cx.now,
            times.idle_deadline,
            times.idle_timeout,
            times.absolute_deadline,
            cx.refresh_threshold,
        );
        if delta.metadata.is_some() || delta.idle_timeout.is_some() || !live || due {
            return String::new();
        }
        codec::packed(&times)
    }

    /// The load script: judges and refreshes in one atomic step.
    pub(super) async fn load_refreshing(
        &self,
        key: &SessionKey,
        cx: &StoreContext,
    ) -> Result<Loaded, StoreFailure> {
        let keys = self.with_analytics(vec![self.keys.session(key)], key.slot());
        let args = vec![at(cx.now), ms(cx.ended_retention), ms(cx.refresh_threshold)];
        let (word, rest) = codec::status(self.run(&scripts::LOAD, &keys, args).await?)?;
        match word.as_str() {
            "unknown" => Ok(Loaded::Unknown),
            "ended" => Ok(Loaded::Ended(codec::ending(&rest)?)),
            "active" => Ok(Loaded::Active {
                refreshed: codec::int(nth(&rest, 0)?)? == 1,
                record: codec::record(nth(&rest, 1)?, self.encryption.as_ref(), key)?,
            }),
            other => Err(unexpected(other)),
        }
    }

    pub(super) async fn revoke_user(
        &self,
        user: &UserKey,
        mode: &str,
        public: Option<&PublicId>,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, StoreFailure> {
        let keys = self.with_analytics(vec![self.keys.user_index(user)], user.slot);
        let mut ended = Vec::new();
        let mut damaged = 0;
        let mut offset = 0;
        let mut durable = true;
        // One short script per chunk of the user's index (guarantee 5: no
        // store step runs long); usually one, as a user has at most
        // DEFAULT_MAX_SESSIONS_PER_USER sessions unless configured. A chunk
        // no replica acknowledged does not stop the rest: the call reports
        // it once all ran.
        loop {
            let args = vec![
                at(cx.now),
                ms(cx.ended_retention),
                reason.to_stored(),
                mode.to_owned(),
                public.map(PublicId::to_string).unwrap_or_default(),
                user.user.to_string(),
                REVOKE_CHUNK.to_string(),
                offset.to_string(),
            ];
            let (reply, acked) = self
                .run_invalidating_acked(&scripts::REVOKE_USER, &keys, args)
                .await?;
            durable &= acked;
            let reply = codec::array(reply)?;
            let [chunk_damaged, more, next, ids @ ..] = reply.as_slice() else {
                return Err(StoreFailure::Corrupt("a short revoke reply".into()));
            };
            damaged += codec::int(chunk_damaged)?;
            ended.extend(codec::public_ids(&Value::Array(ids.to_vec()))?);
            if codec::int(more)? == 0 {
                break;
            }
            offset = codec::int(next)?;
        }
        if damaged > 0 {
            tracing::warn!(
                target: "session_redis",
                damaged,
                "damaged session records (times that do not decode) were ended where they lay; the others were revoked"
            );
        }
        match (durable, self.replica_wait) {
            (false, Some(wait)) => Err(StoreFailure::NotReplicated {
                within: wait.within,
                ended,
            }),
            _ => Ok(ended),
        }
    }

    pub(super) async fn user_sessions(
        &self,
        user: &UserKey,
        mode: &str,
        cx: &StoreContext,
    ) -> Result<Value, StoreFailure> {
        let keys = vec![self.keys.user_index(user)];
        let args = vec![at(cx.now), mode.to_owned()];
        self.run(&scripts::USER_SESSIONS, &keys, args).await
    }

    pub(super) async fn count(&self, cx: &StoreContext, mode: &str) -> Result<u64, StoreFailure> {
        let args = vec![
            at(cx.now),
            mode.to_owned(),
            self.keys.prefix().to_owned(),
            String::new(),
            "0".to_owned(),
        ];
        Ok(codec::int(&self.analytics(args).await?)?.max(0) as u64)
    }

    /// Runs the analytics script: once on a single Redis, once per primary
    /// on Cluster (each node reads the buckets it holds; counts are added
    /// up, pages concatenated).
    pub(super) async fn analytics(&self, args: Vec<String>) -> Result<Value, StoreFailure> {
        #[cfg(feature = "cluster")]
        if self.conn.is_cluster() {
            let combine = if args.get(1).is_some_and(|m| m == "page") {
                Combine::Concatenate
            } else {
                Combine::Sum
            };
            return self
                .conn
                .run_on_every_primary(scripts::ANALYTICS.source, &args, combine)
                .await;
        }
        self.run(&scripts::ANALYTICS, &[] as &[&str], args).await
    }

    /// Signing in from an anonymous session on Cluster: the old id lives in
    /// another slot than the user's, so this takes three steps, ordered so
    /// that any failure leaves the old id without the sign-in. Read the old
    /// session; create the new one (with the limit); end the old one. If the
    /// old one was no longer active (a racing rotation or a logout won),
    /// this rotation lost: its new session is ended too, so exactly one
    /// rotation of an id succeeds. Writes to the old session between the
    /// read and its end are not carried over.
    /// The public id of the session at `key` (with encryption at rest, a
    /// rotation the caller did not load binds it to the new key): its
    /// `@pub`, else its key's. One `HGET`; a missing session is left for
    /// the rotation script to report.
    pub(super) async fn stored_public_id(
        &self,
        key: &SessionKey,
    ) -> Result<PublicId, StoreFailure> {
        let mut get = redis::cmd("HGET");
        get.arg(self.keys.session(key)).arg(crate::layout::PUB);
        match self.conn.query(&get).await? {
            Value::Nil => Ok(PublicId::of_key(key)),
            v => {
                let text = codec::text(&v)?;
                PublicId::parse(&text)
                    .map_err(|_| StoreFailure::Corrupt("field @pub is not a public id".into()))
            }
        }
    }

    pub(super) async fn rotate_across_slots(
        &self,
        r: Rotation,
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
        let Some(sign_in) = r.sign_in else {
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
        // The data cap, as rotate.lua judges it (the clear JSON here).
        let after = size(&data);
        if after > before && after > cx.max_data_bytes {
            return Err(RotateError::TooLarge {
                size: after,
                limit: cx.max_data_bytes,
            });
        }
        let new = NewSession {
            key: r.new,
            public_id: record.public_id,
            user: Some(sign_in.user),
            idle_timeout: r.delta.idle_timeout.unwrap_or(record.idle_timeout),
            absolute_deadline: sign_in.absolute_deadline,
            metadata: r.delta.metadata.clone().unwrap_or(record.metadata),
            data,
        };
        let created = self
            .create(new, sign_in.limit, cx)
            .await
            .map_err(|e| match e {
                CreateError::DuplicateId => RotateError::DuplicateId,
                CreateError::LimitReached { limit } => RotateError::LimitReached { limit },
                CreateError::Store(f) => RotateError::Store(f),
                other => RotateError::Store(StoreFailure::Corrupt(other.to_string())),
            })?;
        match self.invalidate(&r.old, EndReason::Rotated, cx).await {
            // Ended (NotReplicated: ended on the primary, already warned).
            Ok(Some(_)) | Err(StoreFailure::NotReplicated { .. }) => Ok(created),
            outcome => {
                // The sign-in lost, or its last step failed: end the new
                // session so the old id stays the only one. If even that
                // fails, say which session is left over, and which sessions
                // its create evicted (they stay ended).
                if self
                    .invalidate(&r.new, EndReason::Rotated, cx)
                    .await
                    .is_err()
                {
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

    /// The Redis key of a session (for tests and operators; it holds a
    /// digest of the id, never the id).
    pub fn session_key_name(&self, key: &SessionKey) -> String {
        self.keys.session(key)
    }
}
