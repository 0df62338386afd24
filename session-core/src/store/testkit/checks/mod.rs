//! The checks, one file per guarantee of the contract (`docs/contract.md`).
//! Each takes a harness, makes its own store, and panics naming the
//! guarantee it found broken.

mod support;

mod g00_round_trips;
mod g01_invalidation_wins;
mod g02_no_lost_updates;
mod g03_atomic_counters;
mod g04_user_limit;
mod g05_revoke_all;
mod g06_rotation;
mod g07_expiry;
mod g07_passive_and_extend;
mod g08_reasons;
mod g09_fail_closed;
mod g10_bad_ids;
mod g11_analytics;
mod g13_bounded;
mod g14_lifecycle_stream;

pub use g00_round_trips::*;
pub use g01_invalidation_wins::*;
pub use g02_no_lost_updates::*;
pub use g03_atomic_counters::*;
pub use g04_user_limit::*;
pub use g05_revoke_all::*;
pub use g06_rotation::*;
pub use g07_expiry::*;
pub use g07_passive_and_extend::*;
pub use g08_reasons::*;
pub use g09_fail_closed::*;
pub use g10_bad_ids::*;
pub use g11_analytics::*;
pub use g13_bounded::*;
pub use g14_lifecycle_stream::*;
