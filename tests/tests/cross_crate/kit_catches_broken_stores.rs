//! The conformance kit must fail against stores that break the contract:
//! each deliberate fault is caught by the check for its guarantee, so no
//! check passes vacuously.

use std::sync::Arc;

use session_core::store::testkit::{self, Harness};
use session_tests::{BrokenHarness, Fault};

/// Runs `check` against a store with `fault`, up to `tries` times, and
/// passes if the check fails at least once (a race may need a few tries to
/// show; a broken store that never fails it is a kit bug).
async fn caught(fault: Fault, check: &str, tries: usize) {
    let c = testkit::all()
        .into_iter()
        .find(|c| c.name == check)
        .unwrap_or_else(|| panic!("no check named {check}"));
    for _ in 0..tries {
        let harness: Arc<dyn Harness> = Arc::new(BrokenHarness::new(fault));
        let outcome = tokio::spawn((c.run)(harness)).await;
        if outcome.is_err_and(|e| e.is_panic()) {
            return;
        }
    }
    panic!("{check} passed against a store with {fault:?} in {tries} tries");
}

macro_rules! caught {
    ($($name:ident: $fault:ident => $check:ident $(x $tries:literal)?;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            #[allow(unused_mut, unused_assignments)]
            let mut tries = 1;
            $(tries = $tries;)?
            caught(Fault::$fault, stringify!($check), tries).await;
        }
    )*};
}

caught! {
    g01_forced_race_catches_resurrecting_saves: SaveResurrects => g01_starsessions_race_load_logout_save;
    g01_store_check_catches_resurrecting_saves: SaveResurrects => g01_ended_sessions_refuse_every_write;
    g01_stress_catches_resurrecting_saves: SaveResurrects => g01_stress_saves_racing_a_logout x 5;
    g02_catches_whole_record_saves: SaveOverwritesAll => g02_overlapping_saves_keep_both_keys;
    g03_stress_catches_read_then_write_increments: IncrementReadThenWrite => g03_stress_concurrent_increments_add_exactly x 5;
    g03_stress_catches_read_then_remove_takes: TakeReadThenRemove => g03_stress_racing_takes_hand_out_each_value_once x 5;
    g03_catches_takes_on_ended_sessions: SaveResurrects => g03_take_hands_out_a_value_once;
    g03_catches_increments_on_ended_sessions: SaveResurrects => g03_increment_is_one_call_and_refused_when_ended;
    g04_stress_catches_count_then_act_limits: LimitCountThenAct => g04_stress_concurrent_logins_respect_the_limit x 5;
    g04_catches_creations_that_drop_data: SignedInCreateDropsData => g04_created_outside_a_request_whole_and_under_the_limit;
    g04_catches_the_wrong_eviction: EvictIdleIsOldest => g04_evict_idle_ends_the_least_recently_active;
    g05_catches_a_missed_exception: RevokeAllIgnoresException => g05_revoke_all_keeps_the_exception_and_spares_later_logins;
    g06_catches_rotation_that_keeps_the_old_id: RotationKeepsOldId => g06_rotation_moves_everything_and_ends_the_old_id;
    g06_forced_race_catches_two_live_sessions: RotationKeepsOldId => g06_racing_rotations_one_winner;
    g06_stress_catches_read_then_write_rotation: RotationReadThenWrite => g06_stress_racing_rotations_one_winner x 5;
    g06_catches_fixation: RotationKeepsOldId => g06_login_always_rotates_no_fixation;
    g07_catches_late_expiry: ExpiresLate => g07_idle_timeout_is_exact;
    g07_catches_late_absolute_expiry: ExpiresLate => g07_absolute_lifetime_caps_refreshes;
    g07_catches_refresh_on_every_load: RefreshesEveryLoad => g07_refresh_only_within_threshold;
    g07_catches_ghosts_after_clock_skew: IndexPrunedByFastClock => g07_skewed_clocks_expiry_is_final;
    g07_catches_an_expiry_that_is_not_final: LoadExpiryNotFinal => g07_expiry_seen_by_a_load_is_final;
    g13_catches_damage_that_blocks_revoke_all: DamageBlocksRevokeAll => g13_a_damaged_record_stays_local;
    g07_catches_truncated_long_lifetimes: TruncatesLongDurations => g07_long_lifetimes_round_trip;
    g07_catches_indexes_that_never_shrink: AnalyticsNeverShrink => g07_analytics_stay_bounded;
    g08_catches_forgotten_reasons: ForgetsReasons => g08_every_reason_is_kept_then_forgotten;
    g08_catches_tombstones_kept_too_long: KeepsTombstonesTooLong => g08_every_reason_is_kept_then_forgotten;
    g09_catches_corrupt_records_read_as_gone: CorruptLoadsAsUnknown => g09_corrupt_record_is_reported_not_replaced;
    g11_catches_counts_that_never_decrease: CountsNeverDecrease => g11_analytics_are_exact;
}
