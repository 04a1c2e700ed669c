//! The writes Graph admitted lately: the measure a 429 cuts the paced rate to.

use std::time::Duration;

use tokio::time::Instant;

/// Fewer admitted writes than this over two ticks tell no rate.
const MIN_SAMPLE: f64 = 4.0;

/// Writes Graph admitted, over the current tick and the one before.
#[derive(Debug)]
pub(super) struct Admitted {
    start: Instant,
    count: f64,
    previous: f64,
}

impl Admitted {
    /// Nothing admitted yet, counting from `now`.
    pub(super) fn new(now: Instant) -> Self {
        Self {
            start: now,
            count: 0.0,
            previous: 0.0,
        }
    }

    /// One write admitted at `now`.
    pub(super) fn record(&mut self, now: Instant, tick: f64) {
        self.roll(now, tick);
        self.count += 1.0;
    }

    /// Moves the window to the tick of `now`; returns the seconds into it.
    fn roll(&mut self, now: Instant, tick: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        if elapsed >= 2.0 * tick {
            *self = Self::new(now);
            0.0
        } else if elapsed >= tick {
            self.previous = self.count;
            self.count = 0.0;
            self.start = self
                .start
                .checked_add(Duration::from_secs_f64(tick))
                .unwrap_or(now);
            elapsed - tick
        } else {
            elapsed
        }
    }

    /// Writes admitted per second over the current tick and the one before; `None` when too
    /// few to tell.
    pub(super) fn rate(&mut self, now: Instant, tick: f64) -> Option<f64> {
        let elapsed = self.roll(now, tick);
        let window = if self.previous > 0.0 {
            tick + elapsed
        } else {
            elapsed
        };
        let count = self.previous + self.count;
        (count >= MIN_SAMPLE).then(|| count / window.max(tick))
    }
}
