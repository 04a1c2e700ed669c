//! The emulated clock, and the conversions between emulated and real time.
//!
//! `emulated_now = wall time at start + real elapsed × time_scale + advanced offset`. Every
//! emulated duration (propagation, quota windows) runs on it; anything told to an HTTP client
//! in seconds (`Retry-After`) is converted back to real seconds.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

/// The emulator's clock. Emulated time is measured in seconds since the emulator started.
#[derive(Debug, Clone)]
pub struct Clock {
    start_wall: Timestamp,
    start_real: Instant,
    scale: f64,
    advanced: f64,
}

impl Clock {
    /// A clock starting now, running `scale` emulated seconds per real second (`scale` > 0).
    pub fn new(scale: f64) -> Self {
        Self {
            start_wall: Timestamp::now(),
            start_real: Instant::now(),
            scale,
            advanced: 0.0,
        }
    }

    /// Emulated seconds per real second.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Emulated seconds elapsed since the start.
    pub fn secs(&self) -> f64 {
        self.start_real.elapsed().as_secs_f64() * self.scale + self.advanced
    }

    /// The emulated wall-clock time now.
    pub fn now(&self) -> Timestamp {
        self.at(self.secs())
    }

    /// The emulated wall-clock time `secs` emulated seconds after the start.
    pub fn at(&self, secs: f64) -> Timestamp {
        add_secs(self.start_wall, secs)
    }

    /// Moves emulated time forward by `secs` (ignored unless finite and positive).
    pub fn advance(&mut self, secs: f64) {
        if secs.is_finite() && secs > 0.0 {
            self.advanced += secs;
        }
    }

    /// Real seconds it takes for `emulated` seconds to pass on this clock.
    pub fn real_secs(&self, emulated: f64) -> f64 {
        emulated / self.scale
    }

    /// A `Retry-After` value for a wait of `emulated` seconds on this clock.
    pub fn retry_after(&self, emulated: f64) -> String {
        retry_after(self.real_secs(emulated), self.scale)
    }
}

/// `t + secs` (saturating; `secs` may be negative).
pub fn add_secs(t: Timestamp, secs: f64) -> Timestamp {
    match SignedDuration::try_from_secs_f64(secs) {
        Ok(d) => t.saturating_add(d).unwrap_or(t),
        Err(_) => t,
    }
}

/// `t + d`.
pub fn add_duration(t: Timestamp, d: Duration) -> Timestamp {
    add_secs(t, d.as_secs_f64())
}

/// Formats a `Retry-After` value in real seconds, rounded up so that waiting that long is
/// always enough. At time scale 1 Graph's whole seconds are used (at least 1); otherwise a
/// decimal with up to three places (`0.25`), at least one millisecond.
pub fn retry_after(real_secs: f64, scale: f64) -> String {
    let real_secs = if real_secs.is_finite() {
        real_secs.max(0.0)
    } else {
        0.0
    };
    if scale == 1.0 {
        let whole = real_secs.ceil().max(1.0);
        return format!("{whole:.0}");
    }
    let millis = (real_secs * 1000.0).ceil().max(1.0);
    let text = format!("{:.3}", millis / 1000.0);
    let text = text.trim_end_matches('0');
    text.trim_end_matches('.').to_string()
}

/// RFC 3339 UTC with whole seconds and a `Z`, as Graph writes `DateTimeOffset` values.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_in_real_seconds() {
        assert_eq!(retry_after(0.2, 1.0), "1");
        assert_eq!(retry_after(7.01, 1.0), "8");
        assert_eq!(retry_after(0.25, 4.0), "0.25");
        assert_eq!(retry_after(0.0001, 100.0), "0.001");
        assert_eq!(retry_after(2.0, 0.5), "2");
        assert_eq!(retry_after(1.2345, 2.0), "1.235");
    }

    #[test]
    fn clock_scales_and_advances() {
        let mut clock = Clock::new(60.0);
        // One emulated minute of waiting is one real second at 60×.
        assert_eq!(clock.retry_after(60.0), "1");
        assert_eq!(clock.real_secs(30.0), 0.5);
        let before = clock.secs();
        clock.advance(3600.0);
        assert!(clock.secs() >= before + 3600.0);
        clock.advance(-5.0);
        assert!(clock.secs() >= before + 3600.0);
    }

    #[test]
    fn formats_rfc3339_with_whole_seconds() {
        let t = Timestamp::from_second(1_700_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(rfc3339(add_secs(t, 0.75)), "2023-11-14T22:13:20Z");
    }
}
