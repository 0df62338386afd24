//! The per-user session limit (guarantee 4).

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

/// What happens when a user at the limit signs in once more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LimitPolicy {
    /// End the user's least recently active session (the default, as Spring
    /// Security and Keycloak do). "Active" is known to the precision of the
    /// refresh threshold.
    #[default]
    EvictIdle,
    /// End the user's oldest session (by creation time).
    EvictOldest,
    /// Refuse the new sign-in with [`crate::SessionError::LimitReached`].
    Deny,
}

impl LimitPolicy {
    /// The policy's name as configured: `evict-idle`, `evict-oldest`, `deny`.
    pub fn name(&self) -> &'static str {
        match self {
            LimitPolicy::EvictIdle => "evict-idle",
            LimitPolicy::EvictOldest => "evict-oldest",
            LimitPolicy::Deny => "deny",
        }
    }
}

impl fmt::Display for LimitPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text was not a limit policy name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown limit policy {0:?}: expected evict-idle, evict-oldest or deny")]
pub struct UnknownLimitPolicy(pub String);

impl FromStr for LimitPolicy {
    type Err = UnknownLimitPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "evict-idle" => Ok(LimitPolicy::EvictIdle),
            "evict-oldest" => Ok(LimitPolicy::EvictOldest),
            "deny" => Ok(LimitPolicy::Deny),
            other => Err(UnknownLimitPolicy(other.to_owned())),
        }
    }
}

/// At most how many active sessions one user may have, and what to do at
/// the limit.
///
/// ```
/// use session_core::{LimitPolicy, UserLimit};
/// let limit = UserLimit::at_most(3, LimitPolicy::Deny);
/// assert_eq!(limit.max(), Some(3));
/// assert_eq!(UserLimit::unlimited().max(), None);
/// assert_eq!(UserLimit::default().max(), Some(1000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserLimit {
    max: Option<NonZeroU32>,
    policy: LimitPolicy,
}

/// The default per-user cap: at most this many active sessions per user,
/// the least recently active evicted first (guarantee 13: no client can
/// grow one user's sessions without bound by signing in again and again).
/// Ending all of them (revoke-all) stays within one short store step.
pub const DEFAULT_MAX_SESSIONS_PER_USER: u32 = 1000;

impl Default for UserLimit {
    /// [`DEFAULT_MAX_SESSIONS_PER_USER`] sessions, evicting the least
    /// recently active.
    fn default() -> Self {
        UserLimit::at_most(DEFAULT_MAX_SESSIONS_PER_USER, LimitPolicy::EvictIdle)
    }
}

impl UserLimit {
    /// No limit: only when asked for (`at_most(0, …)`, or
    /// `SESSION_MAX_CONCURRENT=0`); a user's steps over their sessions
    /// still run in bounded time.
    pub fn unlimited() -> Self {
        UserLimit {
            max: None,
            policy: LimitPolicy::default(),
        }
    }

    /// At most `max` sessions (0 means unlimited), enforced by `policy`.
    pub fn at_most(max: u32, policy: LimitPolicy) -> Self {
        UserLimit {
            max: NonZeroU32::new(max),
            policy,
        }
    }

    /// The limit, if any.
    pub fn max(&self) -> Option<u32> {
        self.max.map(NonZeroU32::get)
    }

    /// The policy at the limit.
    pub fn policy(&self) -> LimitPolicy {
        self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip() {
        for p in [
            LimitPolicy::EvictIdle,
            LimitPolicy::EvictOldest,
            LimitPolicy::Deny,
        ] {
            assert_eq!(p.name().parse::<LimitPolicy>(), Ok(p));
        }
        assert!("lru".parse::<LimitPolicy>().is_err());
        assert_eq!(UserLimit::at_most(0, LimitPolicy::Deny).max(), None);
    }
}
