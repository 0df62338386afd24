//! A Redis Cluster: redis-rs's async cluster connection, which routes each
//! call by its keys' slot. Built with no retries of its own (it would
//! resend a command whose reply was lost); [`Connection::run_on`] retries
//! what provably did not run.

use redis::cluster_routing::{
    AggregateOp, MultipleNodeRoutingInfo, ResponsePolicy, Route, RoutingInfo,
    SingleNodeRoutingInfo, SlotAddr,
};

use super::call::{after_wait, send_and_wait, verdict, wait_command};
use super::*;

impl Connection {
    /// A cluster, from any reachable seed nodes, over TLS unless `tls` is
    /// [`Tls::Off`].
    pub(crate) async fn cluster(
        seeds: Vec<String>,
        credentials: Option<(String, String)>,
        tls: Tls,
        timeouts: Timeouts,
    ) -> Result<Self, RedisError> {
        // No retries by the client: it would resend a command whose reply
        // was lost. `run_on` retries what provably did not run.
        let mut builder = redis::cluster::ClusterClient::builder(seeds)
            .connection_timeout(timeouts.connect)
            .response_timeout(timeouts.command)
            .retries(0);
        // (Without the tls feature, parsing refuses rediss+cluster URLs.)
        #[cfg(feature = "tls")]
        if tls != Tls::Off {
            builder = builder.tls(redis::TlsMode::Secure);
            if let Tls::PrivateRoot(root) = tls {
                builder = builder.certs(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root),
                });
            }
        }
        #[cfg(not(feature = "tls"))]
        let _ = tls;
        if let Some((user, password)) = credentials {
            if !user.is_empty() {
                builder = builder.username(user);
            }
            builder = builder.password(password);
        }
        let conn = builder.build()?.get_async_connection().await?;
        Ok(Connection {
            link: Link::Cluster(conn),
            waiting: None,
            deadline: timeouts.command,
        })
    }
}

/// One attempt on the cluster. A WAIT goes to the primary of the first
/// key's slot: the one that wrote.
pub(super) async fn attempt<K: AsRef<str>>(
    c: &ClusterConnection,
    call: &Call<'_>,
    keys: &[K],
    wait: Option<ReplicaWait>,
) -> Attempt {
    let mut c = c.clone();
    let (Some(wait), Some(key)) = (wait, keys.first()) else {
        return send_and_wait(call, &mut c, None).await;
    };
    match call.send(&mut c).await {
        Ok(v) => {
            let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                Route::with_key(key.as_ref(), SlotAddr::Master),
            ));
            let reply = Box::pin(c.route_command(wait_command(wait), route)).await;
            match after_wait(reply) {
                Ok(acked) => Ok((v, acked)),
                Err(e) => Err((e, Verdict::Unknown)),
            }
        }
        Err(e) => {
            let v = verdict(&e);
            Err((e, v))
        }
    }
}

/// Runs the script `source` (by EVAL: analytics are rare) with no keys on
/// every primary, adding up integer replies or concatenating array
/// replies, within `deadline`.
pub(super) async fn run_on_every_primary(
    c: &ClusterConnection,
    source: &str,
    args: &[String],
    combine: Combine,
    deadline: Duration,
) -> Result<Value, StoreFailure> {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(source).arg(0).arg(args);
    let policy = match combine {
        Combine::Sum => ResponsePolicy::Aggregate(AggregateOp::Sum),
        Combine::Concatenate => ResponsePolicy::CombineArrays,
    };
    let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, Some(policy)));
    let call = async { c.clone().route_command(cmd, routing).await };
    match tokio::time::timeout(deadline, call).await {
        Err(_) => Err(StoreFailure::TimedOut(deadline)),
        Ok(Err(e)) => Err(StoreFailure::unavailable(e)),
        Ok(Ok(v)) => Ok(v),
    }
}

/// `cmd` on every primary: one reply per primary; `None` when it fails.
pub(super) async fn on_every_primary(
    c: &ClusterConnection,
    cmd: &redis::Cmd,
) -> Option<Vec<Value>> {
    // No response policy: one reply per primary, keyed by address.
    let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
    match c.clone().route_command(cmd.clone(), routing).await.ok()? {
        Value::Map(per_primary) => Some(per_primary.into_iter().map(|(_, v)| v).collect()),
        other => Some(vec![other]),
    }
}
