//! The steps the operations share: calling the load and revoke scripts,
//! listing and counting a user's sessions, the analytics scripts, and the
//! public id a rotation binds.

use super::replies;
use super::*;

impl RedisStore {
    /// The `@` a save sends for `apply.lua`'s steady state: the times the
    /// request loaded, when the delta changes data only and those times are
    /// live with no refresh due at `cx.now`; else `""` (judge afresh).
    pub(super) fn loaded_times(delta: &Delta, as_loaded: &AsLoaded, cx: &StoreContext) -> String {
        let Some(times) = as_loaded.times else {
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
        let reply = self.run(&scripts::LOAD, &keys, args).await?;
        replies::load(reply, self.encryption.as_ref(), key)
    }

    /// Ends sessions of `user`: in `mode` `one` the one with public id
    /// `public`, in `all` every one but `public` (when given); in scripts
    /// of at most [`REVOKE_CHUNK`] sessions each. Returns the public ids
    /// ended.
    pub(super) async fn revoke_user(
        &self,
        user: &UserKey,
        mode: &str,
        public: Option<&PublicId>,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, StoreFailure> {
        let index = self.keys.user_index(user);
        let ops = operation_id::keys_beside(&index);
        let mut keys = self.with_analytics(vec![index], user.slot);
        keys.extend(ops);
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
                // Each chunk is a step of its own.
                operation_id::next(),
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

    /// Runs the user-index script in `mode` (`list` or `count`): live
    /// members only, pruning the ones past their deadlines.
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

    /// Counts with the analytics script in `mode` (active sessions, or
    /// active users).
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
        {
            let combine = if args.get(1).is_some_and(|m| m == "page") {
                Combine::Concatenate
            } else {
                Combine::Sum
            };
            let on_every_primary =
                self.conn
                    .run_on_every_primary(scripts::ANALYTICS.source, &args, combine);
            if let Some(reply) = on_every_primary.await {
                return reply;
            }
        }
        self.run(&scripts::ANALYTICS, &[] as &[&str], args).await
    }

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
        match self.conn.read(&get).await? {
            Value::Nil => Ok(PublicId::of_key(key)),
            v => {
                let text = codec::text(&v)?;
                PublicId::parse(&text)
                    .map_err(|_| StoreFailure::Corrupt("field @pub is not a public id".into()))
            }
        }
    }

    /// The Redis key of a session (for tests and operators; it holds a
    /// digest of the id, never the id).
    pub fn session_key_name(&self, key: &SessionKey) -> String {
        self.keys.session(key)
    }
}
