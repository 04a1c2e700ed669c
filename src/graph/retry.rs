//! Retry policy: how often and how long to wait before sending a request again.

use std::time::Duration;

use tracing::warn;

/// The longest wait a server can impose on one request, whatever its `Retry-After` says
/// (Graph asks for seconds to a few minutes; `RetryPolicy::max_retry_after` usually caps
/// lower). Longer requests are noted and capped, and the capped value is what errors carry
/// for the reconciler's requeue.
pub const RETRY_AFTER_CEILING: Duration = Duration::from_secs(10 * 60);

/// Bounds for the request pipeline's retries.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per request, the first included (>= 1).
    pub max_attempts: u32,
    /// First backoff step for 5xx and connection errors without `Retry-After`.
    pub base_delay: Duration,
    /// Largest single backoff step.
    pub max_delay: Duration,
    /// Largest `Retry-After` honoured as given; longer ones are capped (Graph may ask for
    /// minutes; the reconciler requeues instead of holding a worker that long).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with "equal jitter": half the step is fixed, half random, so
    /// retries of many concurrent requests spread out instead of arriving together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let half = step / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// The wait Graph asked for, capped (by the policy and by [`RETRY_AFTER_CEILING`]).
    pub fn retry_after(&self, asked: Duration) -> Duration {
        asked.min(self.max_retry_after).min(RETRY_AFTER_CEILING)
    }
}

/// Parse a `Retry-After` header value in seconds. Graph sends whole seconds, but an older
/// documented sample sent `2.128`, so decimals are accepted. HTTP dates are not used by Graph
/// and yield `None` (the caller falls back to backoff).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    if secs.is_finite() && secs >= 0.0 {
        // Far beyond any ceiling, and far from Duration's overflow.
        Duration::try_from_secs_f64(secs.min(1e12)).ok()
    } else {
        None
    }
}

/// A `Retry-After` header value as the client believes it: parsed, and capped at
/// [`RETRY_AFTER_CEILING`] with a note when the server asked for more.
pub fn server_retry_after(value: &str) -> Option<Duration> {
    let asked = parse_retry_after(value)?;
    if asked > RETRY_AFTER_CEILING {
        warn!(
            asked_s = asked.as_secs(),
            ceiling_s = RETRY_AFTER_CEILING.as_secs(),
            "the server asked to wait longer than any request waits; capped"
        );
    }
    Some(asked.min(RETRY_AFTER_CEILING))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_integers_and_decimals() {
        assert_eq!(parse_retry_after("10"), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_retry_after(" 2.128 "),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let p = RetryPolicy::default();
        for attempt in 0..40 {
            let d = p.backoff(attempt);
            let step = p
                .base_delay
                .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
                .min(p.max_delay);
            assert!(
                d >= step / 2 && d <= step,
                "attempt {attempt}: {d:?} vs {step:?}"
            );
        }
        assert!(p.backoff(30) <= p.max_delay);
        assert_eq!(p.retry_after(Duration::from_secs(3600)), p.max_retry_after);
        let lax = RetryPolicy {
            max_retry_after: Duration::MAX,
            ..p
        };
        assert_eq!(lax.retry_after(Duration::MAX), RETRY_AFTER_CEILING);
    }

    #[test]
    fn server_waits_are_capped_at_the_ceiling() {
        assert_eq!(server_retry_after("1000000000"), Some(RETRY_AFTER_CEILING));
        assert_eq!(server_retry_after("1e308"), Some(RETRY_AFTER_CEILING));
        assert_eq!(server_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(server_retry_after("inf"), None);
        assert_eq!(server_retry_after("-3"), None);
    }
}
