//! Calls that go to every primary (one server, or each primary of a
//! Cluster): the analytics scripts on Cluster, and the settings and version
//! checks made at start.

use super::*;

impl Connection {
    /// On a cluster, runs the script `source` (by EVAL: analytics are
    /// rare) with no keys on every primary, adding up integer replies or
    /// concatenating array replies. `None` on one server: run the script
    /// as any other.
    #[cfg(feature = "cluster")]
    pub(crate) async fn run_on_every_primary(
        &self,
        source: &str,
        args: &[String],
        combine: Combine,
    ) -> Option<Result<Value, StoreFailure>> {
        let Link::Cluster(c) = &self.link else {
            return None;
        };
        Some(cluster::run_on_every_primary(c, source, args, combine, self.deadline).await)
    }

    /// The `maxmemory-policy` of every primary (one for a single server),
    /// or `None` when it cannot be read (CONFIG not allowed: managed Redis
    /// services and ACL users often forbid it).
    pub(crate) async fn maxmemory_policies(&self) -> Option<Vec<String>> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET").arg("maxmemory-policy");
        // Each reply is [name, value] (RESP2) or {name: value} (RESP3).
        let replies = self.on_every_primary(&cmd).await?;
        Some(
            replies
                .into_iter()
                .filter_map(|reply| texts(reply).get(1).cloned())
                .collect(),
        )
    }

    /// `INFO server` of every primary (one text for a single server), or
    /// `None` when it cannot be read (INFO not allowed to this user).
    pub(crate) async fn server_infos(&self) -> Option<Vec<String>> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("server");
        let replies = self.on_every_primary(&cmd).await?;
        Some(replies.into_iter().flat_map(texts).collect())
    }

    /// Sends `cmd` to the server, or to every primary of a Cluster: one
    /// reply per primary; `None` when it fails.
    async fn on_every_primary(&self, cmd: &redis::Cmd) -> Option<Vec<Value>> {
        let reply = match &self.link {
            Link::Direct(d) => {
                let mut conn = d.connection().await.ok()?;
                conn.send_packed_command(cmd).await.ok()?
            }
            #[cfg(feature = "pool")]
            Link::Pool(pool) => pool::send_once(pool, cmd).await?,
            Link::Manager(m) => m.clone().send_packed_command(cmd).await.ok()?,
            #[cfg(feature = "pool")]
            Link::AppPool(pool) => {
                let mut conn = pool.checkout().await.ok()?;
                conn.send_packed_command(cmd).await.ok()?
            }
            #[cfg(feature = "cluster")]
            Link::Cluster(c) => return cluster::on_every_primary(c, cmd).await,
        };
        Some(vec![reply])
    }
}

/// Every text in a reply, in order: the items of an array, the keys and
/// values of a map, or the reply itself.
fn texts(reply: Value) -> Vec<String> {
    match reply {
        Value::Array(items) => items.into_iter().flat_map(texts).collect(),
        Value::Map(pairs) => pairs
            .into_iter()
            .flat_map(|(k, v)| [k, v])
            .flat_map(texts)
            .collect(),
        other => redis::from_redis_value::<String>(other)
            .into_iter()
            .collect(),
    }
}
