//! One call to Redis and what its error means: the command (a script by
//! SHA, or a plain command), the verdict on a failure (did it run?), the
//! pause before a retry, and WAIT for replicas.

use redis::{ErrorKind, ServerErrorKind};

use super::*;
use crate::operation_id;

/// What one attempt gives: the reply and, when asked to wait, how many
/// replicas acknowledged; or the error with what it says about the call.
pub(super) type Attempt = Result<(Value, Option<i64>), (RedisError, Verdict)>;

/// What is sent: a script by SHA (loaded on NOSCRIPT), or a plain command.
/// Both borrow their command, so the future of every call stays small.
#[derive(Clone, Copy)]
pub(super) enum Call<'a> {
    /// The script and its `EVALSHA` command (see [`evalsha`]).
    Script(&'a Script, &'a redis::Cmd),
    /// A plain command that is not sent again after a lost reply.
    Command(&'a redis::Cmd),
    /// A plain command whose resend is a no-op (a read): sent again after
    /// a lost reply, within the deadline.
    Read(&'a redis::Cmd),
    /// Plain commands sent together, in one round trip (not a
    /// transaction: each runs on its own).
    Pipeline(&'a redis::Pipeline),
}

/// The `EVALSHA` command of `script`, built once into one buffer
/// (redis-rs's `ScriptInvocation` copies every key and argument into its
/// own allocation, then again into the command).
pub(super) fn evalsha<K: AsRef<str>>(script: &Script, keys: &[K], args: &[String]) -> redis::Cmd {
    let hash = script.get_hash();
    let bytes = keys.iter().map(|k| k.as_ref().len()).sum::<usize>()
        + args.iter().map(String::len).sum::<usize>();
    let mut cmd = redis::Cmd::with_capacity(3 + keys.len() + args.len(), bytes + hash.len() + 16);
    cmd.arg("EVALSHA").arg(hash).arg(keys.len());
    for k in keys {
        cmd.arg(k.as_ref());
    }
    cmd.arg(args);
    cmd
}

/// A step with an operation id (`scripts/operation.lua`), to send again
/// after a lost reply: the same script, keys and arguments, its id marked
/// with how long ago it was first sent ([`operation_id::resent`]).
pub(super) struct Resend<'a, K> {
    pub(super) script: &'a Script,
    pub(super) keys: &'a [K],
    pub(super) args: &'a [String],
}

impl<K: AsRef<str>> Resend<'_, K> {
    /// The resend's command, `age` after the first send (the id is the
    /// last argument).
    pub(super) fn command(&self, age: Duration) -> redis::Cmd {
        let mut args = self.args.to_vec();
        if let Some(id) = args.last_mut() {
            *id = operation_id::resent(id, age);
        }
        evalsha(self.script, self.keys, &args)
    }
}

impl Call<'_> {
    pub(super) async fn send(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
    ) -> redis::RedisResult<Value> {
        match self {
            Call::Script(script, cmd) => match cmd.query_async(conn).await {
                // The script was not run: load it, then send the call again.
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    Box::pin(script.load_async(conn)).await?;
                    cmd.query_async(conn).await
                }
                reply => reply,
            },
            Call::Command(cmd) | Call::Read(cmd) => cmd.query_async(conn).await,
            Call::Pipeline(pipe) => pipe.query_async(conn).await,
        }
    }
}

impl Call<'_> {
    /// Whether the call may be sent again after a lost reply: a script
    /// (each either makes its own resend a no-op, or carries an operation
    /// id that does: `scripts/operation.lua`) or a read. A plain command
    /// that changes something, and a pipeline (the plain save, which
    /// settles by script instead), may not.
    pub(super) fn resendable(&self) -> bool {
        matches!(self, Call::Script(..) | Call::Read(_))
    }
}

/// What an error says about the command that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// It did not run (a redirect, a busy or demoted server, or no
    /// connection to send it on): try again within the deadline.
    NotApplied { reconnect: bool },
    /// It was sent and the connection failed: it may have run.
    Unknown,
    /// The server ran it and answered with an error.
    Refused,
}

pub(super) fn verdict(e: &RedisError) -> Verdict {
    match e.kind() {
        ErrorKind::Server(ServerErrorKind::ReadOnly) => Verdict::NotApplied { reconnect: true },
        ErrorKind::Server(
            ServerErrorKind::Moved
            | ServerErrorKind::Ask
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::BusyLoading,
        ) => Verdict::NotApplied { reconnect: false },
        ErrorKind::ClusterConnectionNotFound => Verdict::NotApplied { reconnect: false },
        _ if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => Verdict::Unknown,
        _ => Verdict::Refused,
    }
}

/// What an error the server answered means: a script that met a session
/// record it cannot decode says so (`corrupt session record`), and that is
/// a corrupt record, not a store that is unavailable; a resent step that
/// cannot tell whether its first send was applied says so
/// (`OPERATION_UNKNOWN`, `scripts/operation.lua`), and its outcome is
/// unknown.
pub(super) fn refused(e: RedisError) -> StoreFailure {
    let text = e.to_string();
    if text.contains(OPERATION_UNKNOWN) {
        return StoreFailure::OutcomeUnknown(Arc::new(e));
    }
    match text.find("corrupt session record") {
        Some(at) => StoreFailure::Corrupt(text[at..].to_owned()),
        None => StoreFailure::unavailable(e),
    }
}

/// The error code of a resent step that can no longer tell whether its
/// first send was applied (`scripts/operation.lua`).
const OPERATION_UNKNOWN: &str = "OPERATION_UNKNOWN";

/// Whether an error means the connection must be dropped: the command may
/// have run on it (its reply is lost), or the server behind it changed.
pub(super) fn forgets(v: Verdict) -> bool {
    matches!(
        v,
        Verdict::Unknown | Verdict::NotApplied { reconnect: true }
    )
}

/// How long to wait before trying again a command that did not run, or
/// before sending a call again whose reply was lost more than once in a
/// row (the first resend goes at once).
pub(super) const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// `WAIT` for `w.replicas` replicas, at most `w.within`.
pub(super) fn wait_command(w: ReplicaWait) -> redis::Cmd {
    let mut cmd = redis::cmd("WAIT");
    cmd.arg(w.replicas).arg(
        u64::try_from(w.within.as_millis())
            .unwrap_or(u64::MAX)
            .max(1),
    );
    cmd
}

/// Runs WAIT for `w` on `conn`, the connection that just wrote: how many
/// replicas acknowledged (`None` when the server refused WAIT), or the
/// error of a connection that failed before WAIT answered.
pub(super) async fn acks(
    conn: &mut impl ConnectionLike,
    w: ReplicaWait,
) -> Result<Option<i64>, RedisError> {
    let reply = conn.req_packed_command(&wait_command(w)).await;
    after_wait(reply)
}

/// What WAIT's reply says: the replicas that acknowledged; `None` when
/// the server refused it; the error when the connection failed first.
/// Then the call ran but its replication is unknown: the caller sends it
/// again (a no-op: every call that waits is a script that carries an
/// operation id, whose resend writes the operation key, so the WAIT after
/// it covers the first send) and waits on the fresh connection.
pub(super) fn after_wait(reply: redis::RedisResult<Value>) -> Result<Option<i64>, RedisError> {
    match reply {
        Ok(v) => Ok(redis::from_redis_value(v).ok()),
        Err(e) if verdict(&e) == Verdict::Unknown => Err(e),
        Err(_) => Ok(None),
    }
}

/// Sends `call` on `conn`, then (when asked) WAITs on the same connection.
/// The WAIT is boxed: it is rare, and its future would otherwise make
/// every call's future larger. A connection that fails during the WAIT
/// gives [`Verdict::Unknown`]: the call is sent again.
pub(super) async fn send_and_wait(
    call: &Call<'_>,
    conn: &mut impl ConnectionLike,
    wait: Option<ReplicaWait>,
) -> Attempt {
    match call.send(conn).await {
        Ok(v) => {
            let acked = match wait {
                None => None,
                Some(w) => match Box::pin(acks(conn, w)).await {
                    Ok(acked) => acked,
                    Err(e) => return Err((e, Verdict::Unknown)),
                },
            };
            Ok((v, acked))
        }
        Err(e) => {
            let v = verdict(&e);
            Err((e, v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resent step that can no longer tell whether its first send was
    /// applied (`scripts/operation.lua`) is an unknown outcome; another
    /// error from a script is the store failing.
    #[tokio::test]
    async fn a_refused_resend_is_an_unknown_outcome() {
        let server = redis_harness::Server::start_with(&[]).expect("a redis-server");
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{}/", server.port())).expect("a client");
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("a connection");
        let answer = |text: &'static str| {
            let mut conn = conn.clone();
            async move {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(format!("return redis.error_reply('{text}')"))
                    .arg(0);
                let reply: redis::RedisResult<Value> = cmd.query_async(&mut conn).await;
                refused(reply.expect_err("an error reply"))
            }
        };
        let unknown = answer("OPERATION_UNKNOWN outcome unknown: dropped").await;
        assert!(
            matches!(unknown, StoreFailure::OutcomeUnknown(_)),
            "{unknown:?}"
        );
        let other = answer("ERR something else").await;
        assert!(matches!(other, StoreFailure::Unavailable(_)), "{other:?}");
    }
}
