//! Tenant time for rehearsals: the operator's clock (local runner and controller alike) can
//! run faster than real time, in step with an emulator started with the same `--time-scale`.

use std::time::{Duration, Instant};

/// A clock that starts at the real time and runs `scale` times faster.
#[derive(Clone, Debug)]
pub struct ScaledClock {
    start_real: Instant,
    start: jiff::Timestamp,
    scale: f64,
}

impl ScaledClock {
    /// `scale` must be positive and finite; 1 is real time.
    pub fn new(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        ScaledClock {
            start_real: Instant::now(),
            start: jiff::Timestamp::now(),
            scale,
        }
    }

    /// The current tenant time.
    pub fn now(&self) -> jiff::Timestamp {
        let elapsed = self.start_real.elapsed().mul_f64(self.scale);
        let span = jiff::SignedDuration::try_from(elapsed).unwrap_or(jiff::SignedDuration::MAX);
        self.start.checked_add(span).unwrap_or(jiff::Timestamp::MAX)
    }

    /// Real time to sleep for a tenant-time delay.
    pub fn real(&self, tenant: Duration) -> Duration {
        tenant.div_f64(self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling() {
        let c = ScaledClock::new(600.0);
        assert_eq!(c.real(Duration::from_secs(600)), Duration::from_secs(1));
        assert!(c.now() >= c.start);
        assert_eq!(
            ScaledClock::new(-1.0).real(Duration::from_secs(3)),
            Duration::from_secs(3)
        );
    }
}
