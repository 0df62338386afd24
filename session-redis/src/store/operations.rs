//! The contract's operations on Redis: [`SessionStore`] for [`RedisStore`],
//! each one plain read or one script call (see the crate docs' costs).

use session_core::events::{ConsumerName, EventKey, ReadFrom, SessionEvent, StreamCursor};
use session_core::store::SlotTag;

use super::plain_save::{PlainOutcome, PlainSave};
use super::replies;
use super::*;

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(
        &self,
        s: NewSession,
        limit: UserLimit,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, CreateError> {
        let key = self.keys.session(&s.key);
        let index = s
            .user
            .as_ref()
            .map_or_else(|| key.clone(), |u| self.keys.user_index(u));
        let mut args = self.create_args(&s, limit, cx)?;
        let ops = operation_id::keys_beside(&key);
        // Only a signed-in create under a limit can end (evict) sessions.
        let may_evict = s.user.is_some() && limit.max().is_some();
        let mut keys = self.with_analytics(vec![key, index], s.key.slot());
        keys.extend(ops);
        if s.user.is_some() {
            // A signed-in create indexes, may evict and reports what it
            // evicted: its resend must answer its first reply.
            args.push(operation_id::next());
            let reply = if may_evict {
                self.run_invalidating(&scripts::CREATE, &keys, args, false)
                    .await?
            } else {
                self.run(&scripts::CREATE, &keys, args).await?
            };
            return replies::create(reply);
        }
        // An anonymous create needs no id: its key is its own (128 random
        // bits), so a resend that finds the key made it on its first send.
        args.push(String::new());
        match self.run_telling(&scripts::CREATE, &keys, args).await? {
            (reply, Sent::Again) if replies::is_duplicate(&reply) => Ok(Vec::new()),
            (reply, _) => replies::create(reply),
        }
    }

    /// One plain `HGETALL`, judged here; a script runs only when the idle
    /// deadline is due to move (then it refreshes atomically).
    async fn load(&self, key: &SessionKey, cx: &StoreContext) -> Result<Loaded, StoreFailure> {
        let mut read = redis::cmd("HGETALL");
        read.arg(self.keys.session(key));
        let reply = self.conn.read(&read).await?;
        match codec::judge(reply, cx, self.encryption.as_ref(), key)? {
            codec::Judged::Unknown => Ok(Loaded::Unknown),
            codec::Judged::Ended(e) => Ok(Loaded::Ended(e)),
            codec::Judged::Live(record)
                if !refresh_due(
                    cx.now,
                    record.idle_deadline,
                    record.idle_timeout,
                    record.absolute_deadline,
                    cx.refresh_threshold,
                ) =>
            {
                Ok(Loaded::Active {
                    refreshed: false,
                    record,
                })
            }
            // A refresh, and ending a session found expired (so that the
            // decision is final), run the load script. Boxed: both are
            // rare, and the script call would make every load's future
            // twice as large.
            codec::Judged::Live(_) | codec::Judged::ExpiredUnrecorded => {
                Box::pin(self.load_refreshing(key, cx)).await
            }
        }
    }

    async fn apply(
        &self,
        key: &SessionKey,
        public_id: &PublicId,
        delta: &Delta,
        as_loaded: &AsLoaded,
        cx: &StoreContext,
    ) -> Result<Applied, UpdateError> {
        let session = self.keys.session(key);
        // The steady state: plain commands (store/plain_save.rs).
        let mut loaded = Self::loaded_times(delta, as_loaded, cx);
        let keys = self.encryption.as_ref();
        if let Some(plain) = PlainSave::of(delta, as_loaded, cx, keys, public_id)? {
            match self
                .conn
                .pipeline(&plain.pipeline(&session), &session)
                .await
            {
                Ok(reply) => match plain.outcome(reply)? {
                    PlainOutcome::Landed(applied) => return Ok(applied),
                    PlainOutcome::Settle => loaded = "!".to_owned(),
                },
                // Its reply was lost: it may have landed, in the session
                // or in a tombstone. Not sent again (its answer could not
                // tell which); settled by script like a plain save that
                // added a field, which also writes the delta if the
                // session is live (an overwrite with the same values).
                Err(StoreFailure::OutcomeUnknown(_)) => loaded = "!".to_owned(),
                Err(e) => return Err(e.into()),
            }
        }
        let ops = operation_id::keys_beside(&session);
        let keys = self.step_keys(&session, key.slot(), &ops);
        let mut args = judged_args(cx, [loaded, codec::cap(cx)]);
        codec::delta_args(delta, self.encryption.as_ref(), Some(public_id), &mut args)?;
        args.push(operation_id::next());
        let reply = self.run(&scripts::APPLY, &keys, args).await?;
        replies::apply(reply, as_loaded.times, cx)
    }

    async fn increment(
        &self,
        key: &SessionKey,
        field: &str,
        by: i64,
        cx: &StoreContext,
    ) -> Result<i64, UpdateError> {
        let session = self.keys.session(key);
        let ops = operation_id::keys_beside(&session);
        let keys = self.step_keys(&session, key.slot(), &ops);
        let mut args = judged_args(cx, [field.to_owned(), by.to_string(), codec::cap(cx)]);
        args.push(operation_id::next());
        let reply = self.run(&scripts::INCREMENT, &keys, args).await?;
        replies::increment(reply, field, cx)
    }

    async fn take(
        &self,
        key: &SessionKey,
        public_id: &PublicId,
        field: &str,
        cx: &StoreContext,
    ) -> Result<Option<String>, UpdateError> {
        let session = self.keys.session(key);
        let ops = operation_id::keys_beside(&session);
        let keys = self.step_keys(&session, key.slot(), &ops);
        let mut args = judged_args(cx, [field.to_owned()]);
        args.push(operation_id::next());
        let reply = self.run(&scripts::TAKE, &keys, args).await?;
        replies::take(reply, self.encryption.as_ref(), public_id, field)
    }

    async fn rotate(&self, r: Rotation, cx: &StoreContext) -> Result<Created, RotateError> {
        if self.conn.is_cluster()
            && KeyLayout::bucket(r.old.slot()) != KeyLayout::bucket(r.new.slot())
        {
            return self.rotate_across_slots(r, cx).await;
        }
        let new = self.keys.session(&r.new);
        let index = r
            .sign_in
            .as_ref()
            .map_or_else(|| new.clone(), |s| self.keys.user_index(&s.user));
        let old = self.keys.session(&r.old);
        let ops = operation_id::keys_beside(&old);
        let mut keys = self.with_analytics(vec![old, new, index], r.old.slot());
        keys.extend(
            self.keys
                .analytics(KeyLayout::bucket(r.new.slot()))
                .iter()
                .cloned(),
        );
        keys.extend(ops);
        let mut args = vec![at(cx.now), ms(cx.ended_retention)];
        match &r.sign_in {
            Some(s) => args.extend([
                "1".to_owned(),
                s.user.user.to_string(),
                s.limit.max().unwrap_or(0).to_string(),
                s.limit.policy().name().to_owned(),
                at(s.absolute_deadline),
            ]),
            None => args.extend(["0", "", "0", "", "0"].map(str::to_owned)),
        }
        // The old record's public id when it has no `@pub` (the new one
        // stores it: it no longer follows from the key), and its binding
        // to the new key under encryption at rest.
        args.push(PublicId::of_key(&r.old).to_string());
        args.push(match &self.encryption {
            Some(keys) => {
                let public_id = match r.public_id {
                    Some(p) => p,
                    None => self.stored_public_id(&r.old).await?,
                };
                codec::binding(Some(keys), &public_id, &r.new)?
            }
            None => String::new(),
        });
        args.push(codec::cap(cx));
        codec::delta_args(
            &r.delta,
            self.encryption.as_ref(),
            r.public_id.as_ref(),
            &mut args,
        )?;
        args.push(operation_id::next());
        let reply = self
            .run_invalidating(&scripts::ROTATE, &keys, args, false)
            .await?;
        replies::rotate(reply, self.encryption.as_ref(), &r.new, cx)
    }

    async fn invalidate(
        &self,
        key: &SessionKey,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Option<PublicId>, StoreFailure> {
        let session = self.keys.session(key);
        let ops = operation_id::keys_beside(&session);
        let mut keys = self.with_analytics(vec![session], key.slot());
        keys.extend(ops);
        let args = vec![
            at(cx.now),
            ms(cx.ended_retention),
            reason.to_stored(),
            operation_id::next(),
        ];
        let reply = self
            .run_invalidating(&scripts::INVALIDATE, &keys, args, true)
            .await?;
        replies::invalidate(reply, key)
    }

    async fn revoke_by_public_id(
        &self,
        user: &UserKey,
        public_id: &PublicId,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<bool, StoreFailure> {
        let ended = self
            .revoke_user(user, "one", Some(public_id), reason, cx)
            .await?;
        Ok(!ended.is_empty())
    }

    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&PublicId>,
        reason: EndReason,
        cx: &StoreContext,
    ) -> Result<Vec<PublicId>, StoreFailure> {
        self.revoke_user(user, "all", except, reason, cx).await
    }

    async fn list_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<Vec<SessionSummary>, StoreFailure> {
        let rows = codec::array(self.user_sessions(user, "list", cx).await?)?;
        let mut list = Vec::with_capacity(rows.len());
        for row in rows {
            // One damaged session leaves the list, reported, not the list.
            match summary(row, self.encryption.as_ref()) {
                Ok(s) => list.push(s),
                Err(e) => tracing::warn!(
                    target: "session_redis",
                    error = %e,
                    "a damaged session record was left out of its user's list"
                ),
            }
        }
        list.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.public_id)));
        Ok(list)
    }

    async fn count_user_sessions(
        &self,
        user: &UserKey,
        cx: &StoreContext,
    ) -> Result<u64, StoreFailure> {
        let n = codec::int(&self.user_sessions(user, "count", cx).await?)?;
        Ok(n.max(0) as u64)
    }

    async fn count_active(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        self.count(cx, "sessions").await
    }

    async fn count_active_users(&self, cx: &StoreContext) -> Result<u64, StoreFailure> {
        self.count(cx, "users").await
    }

    async fn active_users(
        &self,
        page: PageRequest,
        cx: &StoreContext,
    ) -> Result<Page, StoreFailure> {
        let size = page.limit.clamp(1, 1000);
        let args = vec![
            at(cx.now),
            "page".to_owned(),
            self.keys.prefix().to_owned(),
            page.after.map(|u| u.to_string()).unwrap_or_default(),
            size.to_string(),
        ];
        // Each node answers with its first `size + 1` users after `after`;
        // the page is the smallest `size` of them all.
        let mut users = Vec::new();
        for v in codec::array(self.analytics(args).await?)? {
            let t = codec::text(&v)?;
            users.push(
                UserId::new(t)
                    .map_err(|e| StoreFailure::Corrupt(format!("a stored user id: {e}")))?,
            );
        }
        users.sort();
        users.dedup();
        let size = size as usize;
        let more = users.len() > size;
        users.truncate(size);
        let next = if more { users.last().cloned() } else { None };
        Ok(Page { users, next })
    }

    /// Every bucket's stream, concurrently (store/events.rs).
    async fn read_events(
        &self,
        name: &ConsumerName,
        from: ReadFrom,
        max: usize,
        _cx: &StoreContext,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        self.stream_read(name, from, max).await
    }

    async fn ack_events(&self, name: &ConsumerName, keys: &[EventKey]) -> Result<(), StoreFailure> {
        self.stream_ack(name, keys).await
    }

    /// `sweep.lua` on every bucket: up to `max` expiries each.
    async fn sweep_expired(&self, max: usize, cx: &StoreContext) -> Result<u64, StoreFailure> {
        self.stream_sweep(max, cx).await
    }

    async fn tail_events(
        &self,
        slot: SlotTag,
        after: Option<&StreamCursor>,
        max: usize,
    ) -> Result<(Vec<SessionEvent>, StreamCursor), StoreFailure> {
        self.stream_tail(slot, after, max).await
    }

    /// The newest 2,000 entries of the user's bucket's stream, filtered.
    async fn user_events(
        &self,
        user: &UserKey,
        max: usize,
        _cx: &StoreContext,
    ) -> Result<Vec<SessionEvent>, StoreFailure> {
        self.stream_user_events(user, max).await
    }

    /// `P:slot-key` keeps the fingerprint (`SET NX GET`: one command),
    /// renewed for 400 days at each check, as every key the store writes
    /// has a TTL.
    async fn pin_slot_key(&self, fingerprint: &str) -> Result<SlotKeyPin, StoreFailure> {
        let key = self.keys.slot_key_pin();
        let ttl = SLOT_KEY_PIN_TTL.as_millis() as u64;
        let mut set = redis::cmd("SET");
        set.arg(&key)
            .arg(fingerprint)
            .arg("NX")
            .arg("GET")
            .arg("PX")
            .arg(ttl);
        let kept = match self.conn.query(&set).await? {
            Value::Nil => return Ok(SlotKeyPin::Same),
            other => codec::text(&other)?,
        };
        if kept != fingerprint {
            return Ok(SlotKeyPin::Changed);
        }
        let mut renew = redis::cmd("PEXPIRE");
        renew.arg(&key).arg(ttl);
        self.conn.query(&renew).await?;
        Ok(SlotKeyPin::Same)
    }
}

/// How long the slot key's fingerprint is kept after the last start that
/// checked it: longer than any session lives, so a retired key is noticed
/// while sessions signed under it can still exist.
const SLOT_KEY_PIN_TTL: Duration = Duration::from_secs(400 * 86_400);

/// The arguments every script that judges one session starts with (now,
/// the tombstone retention, the refresh threshold: see `apply.lua`,
/// `increment.lua`, `take.lua`), then `rest` (room left for the operation
/// id that follows).
fn judged_args<const N: usize>(cx: &StoreContext, rest: [String; N]) -> Vec<String> {
    let mut args = Vec::with_capacity(4 + N);
    args.extend([at(cx.now), ms(cx.ended_retention), ms(cx.refresh_threshold)]);
    args.extend(rest);
    args
}
