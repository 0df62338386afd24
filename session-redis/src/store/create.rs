//! The create script's arguments.

use super::*;

impl RedisStore {
    /// The arguments of `create.lua` for `s`: times, public id, user,
    /// metadata and data (sealed under encryption at rest), the limit.
    pub(super) fn create_args(
        &self,
        s: &NewSession,
        limit: UserLimit,
        cx: &StoreContext,
    ) -> Result<Vec<String>, StoreFailure> {
        // With anonymous analytics on, an anonymous session stores its
        // public id too: its lifecycle events carry it (the store cannot
        // derive it from the key).
        let stored_public_id = codec::stored_public_id(
            &s.public_id,
            &s.key,
            s.user.is_some() || cx.anonymous_analytics,
        );
        let binding = if stored_public_id.is_empty() {
            String::new()
        } else {
            codec::binding(self.encryption.as_ref(), &s.public_id, &s.key)?
        };
        let mut args = vec![
            at(cx.now),
            ms(cx.ended_retention),
            stored_public_id,
            s.user
                .as_ref()
                .map(|u| u.user.to_string())
                .unwrap_or_default(),
            ms(s.idle_timeout),
            at(s.absolute_deadline),
            codec::metadata_json(&s.metadata, self.encryption.as_ref(), Some(&s.public_id))?,
            limit.max().unwrap_or(0).to_string(),
            limit.policy().name().to_owned(),
            s.data.len().to_string(),
            if cx.anonymous_analytics { "1" } else { "0" }.to_owned(),
        ];
        for (k, v) in &s.data {
            args.push(k.clone());
            args.push(codec::seal(
                self.encryption.as_ref(),
                Some(&s.public_id),
                Field::Data(k),
                v,
            )?);
        }
        args.push(binding);
        Ok(args)
    }
}
