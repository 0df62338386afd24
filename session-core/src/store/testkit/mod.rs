//! The conformance kit: the session contract ([`crate::contract`], guarantees 1
//! to 14) as checks any store can run, ours or yours.
//!
//! # Running it against your store
//!
//! Implement [`Harness`] (how to make a fresh, isolated store), then call
//! the macro in an integration test. It expands to one `#[tokio::test]` per
//! check, on a multi-threaded runtime, so your crate needs `tokio` with the
//! `macros` and `rt-multi-thread` features as a dev-dependency.
//!
//! ```
//! use std::sync::Arc;
//! use session_core::MemoryStore;
//! use session_core::store::{SessionKey, SessionStore};
//! use session_core::store::testkit::Harness;
//!
//! /// Makes one fresh store per check.
//! #[derive(Default)]
//! struct MyHarness;
//!
//! #[async_trait::async_trait]
//! impl Harness for MyHarness {
//!     async fn store(&self) -> Arc<dyn SessionStore> {
//!         Arc::new(MemoryStore::new()) // your store here
//!     }
//! }
//!
//! // In tests/conformance.rs:
//! // session_core::conformance_tests!(MyHarness::default());
//! ```
//!
//! Each check creates its own store through the harness, drives it through
//! a [`crate::SessionManager`] on a [`crate::ManualClock`] (expiry is tested by moving
//! the clock, never by sleeping), and panics with the guarantee's number
//! when the store breaks it. Races are forced deterministically (one
//! handle loads, another invalidates, the first saves) and then stressed
//! with many concurrent tasks.

mod checks;
mod wrappers;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

use crate::store::{SessionKey, SessionStore};

pub use checks::*;
pub use wrappers::FaultyStore;

/// How the kit gets a store to check.
#[async_trait]
pub trait Harness: Send + Sync {
    /// A fresh store, isolated from every other check's (its own key prefix
    /// or its own server). Every call starts empty.
    async fn store(&self) -> Arc<dyn SessionStore>;

    /// Damages the stored record under `key` so that it no longer decodes,
    /// as a broken deployment or a hand edit would. Return false if your
    /// store cannot be damaged this way (the corrupt-record check is then
    /// skipped, and says so).
    async fn corrupt(&self, key: &SessionKey) -> bool {
        let _ = key;
        false
    }

    /// The store's own size measure for the last store made: what it keeps
    /// for sessions, tombstones, indexes and analytics (entries, keys or
    /// set members). `None` if your store cannot tell; the bounded-analytics
    /// check is then skipped and says so.
    async fn footprint(&self) -> Option<u64> {
        None
    }
}

/// The in-memory store's harness.
#[derive(Debug, Default)]
pub struct MemoryHarness {
    made: std::sync::Mutex<Vec<Arc<crate::MemoryStore>>>,
}

#[async_trait]
impl Harness for MemoryHarness {
    async fn store(&self) -> Arc<dyn SessionStore> {
        let store = Arc::new(crate::MemoryStore::new());
        if let Ok(mut made) = self.made.lock() {
            made.push(store.clone());
        }
        store
    }

    async fn corrupt(&self, key: &SessionKey) -> bool {
        let made = match self.made.lock() {
            Ok(m) => m.clone(),
            Err(_) => return false,
        };
        made.iter().any(|s| s.damage_for_tests(key))
    }

    async fn footprint(&self) -> Option<u64> {
        let made = self.made.lock().ok()?;
        made.last().map(|s| s.footprint())
    }
}

/// A check's future.
pub type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One check of the contract.
#[derive(Clone, Copy)]
pub struct Check {
    /// The check's name (also its test name).
    pub name: &'static str,
    /// Runs the check against a harness; panics when the store breaks the contract.
    pub run: fn(Arc<dyn Harness>) -> CheckFuture,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Calls `$callback!` with every check's name: the one list of checks.
#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_for_each_check {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { ($($args)*)
            g00_store_calls_per_request_within_budget
            g00_changes_then_settings_then_save_cost_one_write
            g01_starsessions_race_load_logout_save
            g01_ended_sessions_refuse_every_write
            g01_stress_saves_racing_a_logout
            g01_a_save_racing_a_logout_changes_nothing_a_load_returns
            g02_overlapping_saves_keep_both_keys
            g02_same_key_later_save_wins
            g02_stress_many_keys_in_parallel
            g02_clear_empties_the_data_and_keeps_the_session
            g03_increment_is_one_call_and_refused_when_ended
            g03_stress_concurrent_increments_add_exactly
            g03_take_hands_out_a_value_once
            g03_stress_racing_takes_hand_out_each_value_once
            g04_evict_idle_ends_the_least_recently_active
            g04_evict_oldest_ends_the_oldest
            g04_deny_refuses_and_changes_nothing
            g04_stress_concurrent_logins_respect_the_limit
            g04_created_outside_a_request_whole_and_under_the_limit
            g05_revoke_all_keeps_the_exception_and_spares_later_logins
            g05_stress_revoke_all_cuts_while_logins_race
            g06_rotation_moves_everything_and_ends_the_old_id
            g06_login_always_rotates_no_fixation
            g06_racing_rotations_one_winner
            g06_stress_racing_rotations_one_winner
            g07_idle_timeout_is_exact
            g07_absolute_lifetime_caps_refreshes
            g07_refresh_only_within_threshold
            g07_increments_refresh_only_within_threshold
            g07_peek_and_fixed_expiry_never_refresh
            g07_passive_reads_never_refresh
            g07_extend_pushes_the_idle_deadline_on_purpose
            g07_per_session_idle_timeout
            g07_skewed_clocks_expiry_is_final
            g07_expiry_seen_by_a_load_is_final
            g07_long_lifetimes_round_trip
            g07_analytics_stay_bounded
            g08_every_reason_is_kept_then_forgotten
            g09_store_down_fails_closed
            g09_store_failing_mid_request_writes_nothing
            g09_corrupt_record_is_reported_not_replaced
            g10_bad_ids_cost_nothing
            g11_analytics_are_exact
            g11_anonymous_sessions_are_counted_only_when_asked
            g13_a_damaged_record_stays_local
            g13_the_data_cap_holds_where_data_is_merged
            g14_every_change_is_recorded_once
            g14_a_group_handles_each_end_once_across_restarts
            g14_a_crashed_consumer_s_events_are_taken_over
            g14_anonymous_sessions_stream_only_with_analytics
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_emit_tests {
    (($harness:expr; [$($xfail:ident)*]) $($name:ident)*) => {
        /// Checks this store is known to fail (run, and required to fail).
        const __EXPECTED_FAILURES: &[&str] = &[$({
            // Names a real check.
            let _ = $crate::store::testkit::$xfail;
            stringify!($xfail)
        }),*];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let harness: ::std::sync::Arc<dyn $crate::store::testkit::Harness> =
                    ::std::sync::Arc::new($harness);
                let name = stringify!($name);
                $crate::store::testkit::run_check(
                    name,
                    __EXPECTED_FAILURES.contains(&name),
                    $crate::store::testkit::$name(harness),
                )
                .await;
            }
        )*
    };
}

/// Runs one check: it must pass, or, when `expected_to_fail`, it must
/// fail (and a pass then fails the test, so the mark is removed once the
/// store is fixed: nothing is skipped silently).
#[doc(hidden)]
pub async fn run_check(
    name: &str,
    expected_to_fail: bool,
    check: impl Future<Output = ()> + Send + 'static,
) {
    let outcome = tokio::spawn(check).await;
    match (outcome, expected_to_fail) {
        (Ok(()), false) => {}
        (Err(e), false) => std::panic::resume_unwind(e.into_panic()),
        (Err(_), true) => println!("{name}: failed, as expected for this store"),
        (Ok(()), true) => panic!(
            "{name} passes now although it is marked as an expected failure: remove the mark"
        ),
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_emit_list {
    (() $($name:ident)*) => {
        vec![$(
            $crate::store::testkit::Check {
                name: stringify!($name),
                run: |h| Box::pin($crate::store::testkit::$name(h)),
            },
        )*]
    };
}

/// Expands to one `#[tokio::test]` per check of the contract, each with a
/// fresh harness from `$harness` (an expression that makes a [`Harness`]).
///
/// A store that is known to break a check names it after
/// `expected_failures`: the check still runs and must fail, and once the
/// store passes it the test fails until the mark is removed.
///
/// ```ignore
/// session_core::conformance_tests!(session_core::store::testkit::MemoryHarness::default());
/// session_core::conformance_tests!(MyHarness::default();
///     expected_failures = [g07_skewed_clocks_expiry_is_final]);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::__testkit_for_each_check!(__testkit_emit_tests!($harness; []));
    };
    ($harness:expr; expected_failures = [$($xfail:ident),* $(,)?]) => {
        $crate::__testkit_for_each_check!(__testkit_emit_tests!($harness; [$($xfail)*]));
    };
}

/// Every check, in order (for running them your own way).
pub fn all() -> Vec<Check> {
    crate::__testkit_for_each_check!(__testkit_emit_list!())
}
