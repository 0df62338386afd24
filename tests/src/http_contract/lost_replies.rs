//! Issue 26, exactly once after a lost reply: the demo's counter on a
//! single Redis behind a [`FaultProxy`] that drops the reply of a share of
//! the script calls after Redis ran them, and resets that connection.
//!
//! Redis applied each of those calls; only its answer was lost. The user
//! must see none of it: every increment answers 200 with the next value,
//! so a store that reports the lost reply (503) fails, and so does one
//! that sends the call again as a new increment (a value skipped).

use std::sync::Arc;

use redis_harness::{Fault, FaultProxy};
use reqwest::{Method, StatusCode};

use super::{Launcher, Servers, serve};

/// The share of script replies the proxy drops, in percent.
pub const DROPPED_PERCENT: u8 = 15;

/// How many increments the scenario sends, one after the other.
pub const INCREMENTS: i64 = 150;

/// What one `POST /api/counter` answered.
#[derive(Debug)]
struct Increment {
    /// Which increment, from 1.
    nth: i64,
    /// Its status.
    status: StatusCode,
    /// `counter` from the body, when there was one.
    counter: Option<i64>,
    /// `error` from the body, when there was one.
    error: Option<String>,
}

/// Signs in, then sends [`INCREMENTS`] increments one after the other
/// while the proxy drops the reply of [`DROPPED_PERCENT`] percent of the
/// script calls (the 7th, the 14th, the 20th, ... script call the proxy
/// sees; the sign-in's calls are not counted: the fault is set after it).
/// Every increment must answer 200, the values must be exactly 1, 2, ...,
/// [`INCREMENTS`] in order, and the stored counter must end at
/// [`INCREMENTS`].
///
/// Not vacuous: every increment is at least one script call, and the proxy
/// drops exactly `calls * 15 / 100` of them (spread evenly), so at least
/// `150 * 15 / 100 = 22` replies must have been dropped.
pub async fn increments_exactly_once_when_script_replies_are_lost(l: &dyn Launcher) {
    let server = redis_harness::Server::standalone().expect("redis-server starts");
    let port = server.port();
    let proxy = Arc::new(FaultProxy::start(port).expect("the proxy starts"));
    let store = session_redis::RedisStore::connect(&proxy.url())
        .await
        .expect("connects through the proxy");
    let servers: Servers = Some(Box::new((server, proxy.clone())));
    let env = serve(l, Arc::new(store), servers, Some(port), vec![port], |b| b).await;
    let b = env.browser();
    let login = b.login("alice", "laptop").await;
    assert_eq!(login.status, 200, "sign-in: {}", login.text);

    proxy.set(Fault::DropScriptReplies(DROPPED_PERCENT));
    let mut answers = Vec::new();
    for nth in 1..=INCREMENTS {
        let a = b.send(Method::POST, "/api/counter", None).await;
        answers.push(Increment {
            nth,
            status: a.status,
            counter: a.json["counter"].as_i64(),
            error: a.json["error"].as_str().map(str::to_owned),
        });
    }
    proxy.set(Fault::None);
    let dropped = proxy.replies_dropped();
    println!("script replies dropped: {dropped}");

    let failed: Vec<String> = answers
        .iter()
        .filter(|a| a.status != StatusCode::OK)
        .map(|a| match &a.error {
            Some(e) => format!("#{} {} {e}", a.nth, a.status.as_u16()),
            None => format!("#{} {}", a.nth, a.status.as_u16()),
        })
        .collect();
    let out_of_order: Vec<String> = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK && a.counter != Some(a.nth))
        .map(|a| format!("#{} answered {:?}", a.nth, a.counter))
        .collect();
    assert!(
        failed.is_empty() && out_of_order.is_empty(),
        "{} of {INCREMENTS} increments failed with {dropped} script replies dropped: \
         {failed:?}; {} answered 200 with another value than their number: {out_of_order:?}",
        failed.len(),
        out_of_order.len()
    );
    let least = INCREMENTS.unsigned_abs() * u64::from(DROPPED_PERCENT) / 100;
    assert!(
        dropped >= least,
        "the proxy dropped {dropped} script replies, at least {least} expected: \
         the increments did not go through it as script calls"
    );
    let me = b.me().await;
    assert_eq!(me.status, 200, "GET /api/me: {}", me.text);
    assert_eq!(
        me.json["counter"], INCREMENTS,
        "the stored counter after {INCREMENTS} increments"
    );
}
