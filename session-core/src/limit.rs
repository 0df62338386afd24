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
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserLimit {
    max: Option<NonZeroU32>,
    policy: LimitPolicy,
}

impl UserLimit {
    /// No limit (the default).
    pub fn unlimited() -> Self {
        Self::default()
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
