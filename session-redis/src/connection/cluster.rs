//! A Redis Cluster: redis-rs's async cluster connection, which routes each
//! call by its keys' slot. Built with no retries of its own (it would
//! resend a command whose reply was lost); [`Connection::run_on`] retries
//! what provably did not run.
//!
//! The store's own cluster connection is replaced by a new one after an
//! attempt got no reply at all within its time: redis-rs's cluster client,
//! after a reply lost while it was reconnecting under load, was seen to
//! answer nothing, ever again (the lifecycle stream's test on a Cluster
//! losing replies: 0 of 2,000 ends in 240 s). An application's own
//! cluster connection is the application's to replace.

use redis::cluster_routing::{
    AggregateOp, MultipleNodeRoutingInfo, ResponsePolicy, Route, RoutingInfo,
    SingleNodeRoutingInfo, SlotAddr,
};

use std::sync::atomic::{AtomicBool, Ordering};

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
        let client = builder.build()?;
        let conn = client.get_async_connection().await?;
        Ok(Connection {
            link: Link::Cluster(Arc::new(Clustered {
                current: std::sync::Mutex::new(conn),
                renewal: Some(Renewal {
                    client,
                    stale: AtomicBool::new(false),
                    renewing: tokio::sync::Mutex::new(()),
                }),
            })),
            waiting: None,
            deadline: timeouts.command,
        })
    }
}

/// A cluster connection, and how the store's own is replaced.
pub(super) struct Clustered {
    current: std::sync::Mutex<ClusterConnection>,
    /// `None` for the application's own connection.
    renewal: Option<Renewal>,
}

/// How the store's own cluster connection is replaced.
struct Renewal {
    client: redis::cluster::ClusterClient,
    /// An attempt got no reply within its time: the next one connects
    /// anew first.
    stale: AtomicBool,
    renewing: tokio::sync::Mutex<()>,
}

impl Clustered {
    /// The application's own cluster connection (never replaced).
    pub(super) fn provided(conn: ClusterConnection) -> Self {
        Clustered {
            current: std::sync::Mutex::new(conn),
            renewal: None,
        }
    }

    /// The connection in use (a handle).
    pub(super) fn current(&self) -> Option<ClusterConnection> {
        self.current.lock().ok().map(|c| c.clone())
    }

    /// Marks the store's own connection to be replaced before the next
    /// attempt: one got no reply within its time.
    pub(super) fn answered_nothing(&self) {
        if let Some(r) = &self.renewal {
            r.stale.store(true, Ordering::SeqCst);
        }
    }

    /// The connection to send on: a new one first when the last answered
    /// nothing (one task connects; the others wait for it).
    async fn connection(&self) -> Result<ClusterConnection, RedisError> {
        if let Some(r) = &self.renewal
            && r.stale.load(Ordering::SeqCst)
        {
            let _one_at_a_time = r.renewing.lock().await;
            if r.stale.load(Ordering::SeqCst) {
                let fresh = r.client.get_async_connection().await?;
                if let Ok(mut current) = self.current.lock() {
                    *current = fresh;
                }
                r.stale.store(false, Ordering::SeqCst);
            }
        }
        self.current().ok_or_else(|| {
            RedisError::from((
                redis::ErrorKind::Client,
                "the cluster connection's lock is poisoned",
            ))
        })
    }
}

/// One attempt on the cluster. A WAIT goes to the primary of the first
/// key's slot: the one that wrote.
pub(super) async fn attempt<K: AsRef<str>>(
    c: &Clustered,
    call: &Call<'_>,
    keys: &[K],
    wait: Option<ReplicaWait>,
) -> Attempt {
    // A failed connect sent nothing: try again within the deadline.
    let mut c = match c.connection().await {
        Ok(c) => c,
        Err(e) => return Err((e, Verdict::NotApplied { reconnect: false })),
    };
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
    c: &Clustered,
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
    let call = async { c.connection().await?.route_command(cmd, routing).await };
    match tokio::time::timeout(deadline, call).await {
        Err(_) => {
            c.answered_nothing();
            Err(StoreFailure::TimedOut(deadline))
        }
        Ok(Err(e)) => Err(StoreFailure::unavailable(e)),
        Ok(Ok(v)) => Ok(v),
    }
}

/// `cmd` on every primary: one reply per primary; `None` when it fails.
pub(super) async fn on_every_primary(c: &Clustered, cmd: &redis::Cmd) -> Option<Vec<Value>> {
    // No response policy: one reply per primary, keyed by address.
    let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
    let mut conn = c.connection().await.ok()?;
    match conn.route_command(cmd.clone(), routing).await.ok()? {
        Value::Map(per_primary) => Some(per_primary.into_iter().map(|(_, v)| v).collect()),
        other => Some(vec![other]),
    }
}
