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
        // Checked: a huge scale saturates at the end of time instead of panicking.
        let elapsed = self.start_real.elapsed().as_secs_f64() * self.scale;
        let span =
            jiff::SignedDuration::try_from_secs_f64(elapsed).unwrap_or(jiff::SignedDuration::MAX);
        self.start.checked_add(span).unwrap_or(jiff::Timestamp::MAX)
    }

    /// Real time to sleep for a tenant-time delay (saturating at [`Duration::MAX`]).
    pub fn real(&self, tenant: Duration) -> Duration {
        Duration::try_from_secs_f64(tenant.as_secs_f64() / self.scale).unwrap_or(Duration::MAX)
    }
}

/// The smallest and largest `--time-scale` the command line takes.
pub const SCALE_RANGE: (f64, f64) = (1e-6, 1e6);

/// Parses a `--time-scale` flag: a number from 0.000001 to 1000000 (a clap `value_parser`).
pub fn parse_scale(text: &str) -> Result<f64, String> {
    let (min, max) = SCALE_RANGE;
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (min..=max).contains(&x) => Ok(x),
        _ => Err(format!(
            "{text:?} is not a time scale: use a number from {min} to {max} (1 is real time)"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
        // Extreme scales saturate, never panic.
        let fast = ScaledClock::new(f64::MAX);
        assert_eq!(fast.real(Duration::from_secs(1)), Duration::ZERO);
        assert!(fast.now() >= fast.start);
        let slow = ScaledClock::new(f64::MIN_POSITIVE);
        assert_eq!(slow.real(Duration::from_secs(1)), Duration::MAX);
    }

    #[test]
    fn scale_flag_is_bounded() {
        assert_eq!(parse_scale("3600"), Ok(3600.0));
        assert_eq!(parse_scale("0.5"), Ok(0.5));
        for bad in ["0", "-1", "1e308", "1e-300", "NaN", "inf", "x", ""] {
            let e = parse_scale(bad).unwrap_err();
            assert!(e.contains("not a time scale"), "{bad}: {e}");
        }
    }
}
