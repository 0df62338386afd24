//! The expiry policy (guarantee 7): idle timeout, absolute lifetime, refresh
//! threshold, and how long an ended session's reason is kept.
//!
//! A session's *idle deadline* is `last_seen + idle_timeout`, never past its
//! *absolute deadline* (`created + absolute_lifetime`). It is active strictly
//! before the earlier of the two. A load pushes the idle deadline forward only
//! when less than the refresh threshold remains, so a busy session costs one
//! write per threshold interval, not one per request.

use std::time::Duration;

use crate::time::Timestamp;

/// The longest duration any setting accepts: 100 years (of 365.25 days).
/// Every duration up to it round-trips exactly on every store; a larger one
/// is refused when the configuration is built.
pub const MAX_DURATION: Duration = Duration::from_secs(3_155_760_000);

/// A per-session duration, checked: at least a second, at most
/// [`MAX_DURATION`].
pub(crate) fn check_duration(d: Duration) -> Result<Duration, ()> {
    if d < Duration::from_secs(1) || d > MAX_DURATION {
        return Err(());
    }
    Ok(d)
}

/// Why an expiry policy was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpiryError {
    /// A duration was zero.
    #[error("{setting} must be at least one second")]
    Zero {
        /// The setting's name.
        setting: &'static str,
    },
    /// A duration was longer than [`MAX_DURATION`] (100 years).
    #[error("{setting} must be at most 100 years ({} seconds)", MAX_DURATION.as_secs())]
    TooLong {
        /// The setting's name.
        setting: &'static str,
    },
    /// The refresh threshold was longer than the idle timeout.
    #[error("the refresh threshold ({threshold:?}) must not exceed the idle timeout ({idle:?})")]
    ThresholdAboveIdle {
        /// The threshold given.
        threshold: Duration,
        /// The idle timeout given.
        idle: Duration,
    },
}

/// How long sessions live.
///
/// Defaults: idle timeout 24 h, absolute lifetime 7 days, refresh threshold
/// 1 h, reasons kept for the idle timeout.
///
/// ```
/// use session_core::ExpiryPolicy;
/// use std::time::Duration;
/// let p = ExpiryPolicy::default()
///     .with_idle_timeout(Duration::from_secs(1800))
///     .with_refresh_threshold(Duration::from_secs(60));
/// assert!(p.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    idle_timeout: Duration,
    absolute_lifetime: Duration,
    refresh_threshold: Duration,
    ended_retention: Option<Duration>,
    mode: ExpiryMode,
}

/// Whether activity moves a session's idle deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiryMode {
    /// Activity pushes the idle deadline to `now + idle timeout` (once less
    /// than the refresh threshold remains), never past the absolute one.
    #[default]
    Sliding,
    /// The session expires at `created + idle timeout` (or its absolute
    /// deadline, if earlier) however active it is; loads never write.
    /// `SESSION_SLIDING_WINDOW=false`.
    Fixed,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        ExpiryPolicy {
            idle_timeout: Duration::from_secs(86_400),
            absolute_lifetime: Duration::from_secs(604_800),
            refresh_threshold: Duration::from_secs(3_600),
            ended_retention: None,
            mode: ExpiryMode::Sliding,
        }
    }
}

impl ExpiryPolicy {
    /// Sets the sliding idle timeout (default 24 h).
    pub fn with_idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Sets the absolute lifetime from creation (default 7 days).
    pub fn with_absolute_lifetime(mut self, d: Duration) -> Self {
        self.absolute_lifetime = d;
        self
    }

    /// Sets the refresh threshold (default 1 h).
    ///
    /// Cost: a larger threshold means more idle-deadline writes (one per
    /// `idle_timeout - threshold` of activity); a smaller one makes
    /// "last seen" and "least recently active" coarser.
    pub fn with_refresh_threshold(mut self, d: Duration) -> Self {
        self.refresh_threshold = d;
        self
    }

    /// Sets how long an ended session's reason stays readable (default: the
    /// idle timeout). Memory cost: one small tombstone per ended session for
    /// this long.
    pub fn with_ended_retention(mut self, d: Duration) -> Self {
        self.ended_retention = Some(d);
        self
    }

    /// Sets whether activity moves the idle deadline (default
    /// [`ExpiryMode::Sliding`]).
    pub fn with_mode(mut self, mode: ExpiryMode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether activity moves the idle deadline.
    pub fn mode(&self) -> ExpiryMode {
        self.mode
    }

    /// The threshold stores apply: the refresh threshold when sliding, zero
    /// (never refresh) when fixed.
    pub(crate) fn effective_threshold(&self) -> Duration {
        match self.mode {
            ExpiryMode::Sliding => self.refresh_threshold,
            ExpiryMode::Fixed => Duration::ZERO,
        }
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The absolute lifetime.
    pub fn absolute_lifetime(&self) -> Duration {
        self.absolute_lifetime
    }

    /// The refresh threshold.
    pub fn refresh_threshold(&self) -> Duration {
        self.refresh_threshold
    }

    /// How long an ended session's reason stays readable.
    pub fn ended_retention(&self) -> Duration {
        self.ended_retention.unwrap_or(self.idle_timeout)
    }

    /// Checks that the durations make sense together.
    pub fn validate(&self) -> Result<(), ExpiryError> {
        for (setting, d) in [
            ("the idle timeout", self.idle_timeout),
            ("the absolute lifetime", self.absolute_lifetime),
            ("the refresh threshold", self.refresh_threshold),
            ("the ended-session retention", self.ended_retention()),
        ] {
            if d < Duration::from_secs(1) {
                return Err(ExpiryError::Zero { setting });
            }
            if d > MAX_DURATION {
                return Err(ExpiryError::TooLong { setting });
            }
        }
        if self.refresh_threshold > self.idle_timeout {
            return Err(ExpiryError::ThresholdAboveIdle {
                threshold: self.refresh_threshold,
                idle: self.idle_timeout,
            });
        }
        Ok(())
    }
}

/// The idle deadline of a session last seen at `last_seen`: never past the
/// absolute deadline.
pub fn idle_deadline(
    last_seen: Timestamp,
    idle_timeout: Duration,
    absolute: Timestamp,
) -> Timestamp {
    last_seen.plus(idle_timeout).min(absolute)
}

/// Whether a load at `now` should push the idle deadline forward: less than
/// `threshold` remains and pushing would move it.
pub fn refresh_due(
    now: Timestamp,
    current_deadline: Timestamp,
    idle_timeout: Duration,
    absolute: Timestamp,
    threshold: Duration,
) -> bool {
    now.until(current_deadline) < threshold
        && idle_deadline(now, idle_timeout, absolute) > current_deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_and_threshold() {
        let t = Timestamp::from_unix_millis;
        let h = Duration::from_secs(3600);
        assert_eq!(idle_deadline(t(0), h, t(10_000)), t(10_000));
        assert_eq!(idle_deadline(t(0), h, t(u64::MAX)), t(3_600_000));
        // 2 h left, threshold 1 h: not due.
        assert!(!refresh_due(t(0), t(7_200_000), 3 * h, t(u64::MAX), h));
        // 30 min left: due.
        assert!(refresh_due(t(0), t(1_800_000), 3 * h, t(u64::MAX), h));
        // Due by time but capped by the absolute deadline: nothing to push.
        assert!(!refresh_due(t(0), t(1_800_000), 3 * h, t(1_800_000), h));
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(ExpiryPolicy::default().validate().is_ok());
        let bad = ExpiryPolicy::default().with_refresh_threshold(Duration::from_secs(100_000));
        assert!(matches!(
            bad.validate(),
            Err(ExpiryError::ThresholdAboveIdle { .. })
        ));
        let zero = ExpiryPolicy::default().with_idle_timeout(Duration::ZERO);
        assert!(matches!(zero.validate(), Err(ExpiryError::Zero { .. })));
        // A hundred years is accepted, a second more is not.
        let century = ExpiryPolicy::default()
            .with_idle_timeout(MAX_DURATION)
            .with_absolute_lifetime(MAX_DURATION);
        assert!(century.validate().is_ok());
        let over = century.with_absolute_lifetime(MAX_DURATION + Duration::from_secs(1));
        assert_eq!(
            over.validate(),
            Err(ExpiryError::TooLong {
                setting: "the absolute lifetime"
            })
        );
        assert!(
            ExpiryPolicy::default()
                .with_ended_retention(Duration::MAX)
                .validate()
                .is_err()
        );
    }
}
