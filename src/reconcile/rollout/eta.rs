//! How long a rollout has left, from the quota arithmetic: the objects left at the write rate
//! the client is paced to (one write at least per object; Graph's quota counts each request of
//! a JSON batch), plus the pauses between the waves still to come. What it can't know is left
//! out and said: how long each wave's objects take to read back (Graph's eventual
//! consistency), retries, and a human's approval.

use std::time::Duration;

use crate::graph::GraphClient;
use crate::reconcile::validate::ValidRollout;

/// What a rollout has left, in time.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Objects left.
    pub pending: usize,
    /// Waves left.
    pub waves: usize,
    /// Writes per second assumed.
    pub write_rate: f64,
    /// Time writing.
    pub writing: Duration,
    /// Time pausing between waves.
    pub pausing: Duration,
}

impl Estimate {
    /// `pending` objects after `waves_completed` waves; `pause_left`: the pause in progress
    /// (`None`: a wave comes next, or was just done and its pause is still whole).
    pub fn new(
        rollout: &ValidRollout,
        pending: usize,
        waves_completed: i64,
        pause_left: Option<Duration>,
        write_rate: f64,
    ) -> Option<Self> {
        if pending == 0 || !write_rate.is_finite() || write_rate <= 0.0 {
            return None;
        }
        let waves = if waves_completed == 0 {
            rollout.waves_needed(pending)
        } else {
            pending.div_ceil(rollout.wave_size)
        };
        // A pause before each wave still to come, except the first when nothing ran yet.
        let whole = if waves_completed == 0 {
            waves.saturating_sub(1)
        } else {
            waves
        };
        let pausing = match pause_left {
            Some(left) => left + rollout.pause * u32::try_from(waves.saturating_sub(1)).ok()?,
            None => rollout.pause * u32::try_from(whole).ok()?,
        };
        let writing = Duration::try_from_secs_f64(pending as f64 / write_rate).ok()?;
        Some(Estimate {
            pending,
            waves,
            write_rate,
            writing,
            pausing,
        })
    }

    /// The whole.
    pub fn total(&self) -> Duration {
        self.writing + self.pausing
    }

    /// In words: `about 1h40m left (312 users at 19.0 writes/s, 3 waves, pauses 1h30m; each
    /// wave's read-back not counted)`.
    pub fn describe(&self, objects: &str) -> String {
        format!(
            "about {} left{}",
            human(self.total()),
            self.reasoning(objects)
        )
    }

    /// For a rollout not started: `would take about 1h40m (…)`.
    pub fn describe_plan(&self, objects: &str) -> String {
        format!(
            "would take about {}{}",
            human(self.total()),
            self.reasoning(objects)
        )
    }

    fn reasoning(&self, objects: &str) -> String {
        let pauses = if self.pausing.is_zero() {
            String::new()
        } else {
            format!(", pauses {}", human(self.pausing))
        };
        format!(
            " ({} {objects} at {:.1} writes/s, {} wave{}{pauses}; each wave's read-back not counted)",
            self.pending,
            self.write_rate,
            self.waves,
            if self.waves == 1 { "" } else { "s" },
        )
    }
}

/// The write rate a rollout can count on: during a rollout (`started`), what the client is
/// paced to now (slower after throttling); before it, the quota's (the slow start is short);
/// Graph's documented rate when the client does not pace.
pub fn write_rate(graph: &GraphClient, started: bool) -> f64 {
    let paced = if started {
        graph.paced_write_rate()
    } else {
        graph.quota_write_rate()
    };
    paced.unwrap_or_else(|| crate::graph::pacing::Quota::default().write_rate())
}

/// `; about … left (…)` for a rollout under way with `pending` objects after
/// `waves_completed` waves (`pause_left`: the pause in progress), at the paced rate; empty
/// when nothing is left.
pub fn left_suffix(
    rollout: &ValidRollout,
    graph: &GraphClient,
    pending: i64,
    waves_completed: i64,
    pause_left: Option<Duration>,
    objects: &str,
) -> String {
    let pending = usize::try_from(pending).unwrap_or(0);
    Estimate::new(
        rollout,
        pending,
        waves_completed,
        pause_left,
        write_rate(graph, true),
    )
    .map(|e| format!("; {}", e.describe(objects)))
    .unwrap_or_default()
}

/// `; would take about … (…)` for a rollout of `pending` objects not started, at the quota's
/// rate; empty when there is nothing to convert.
pub fn plan_suffix(
    rollout: &ValidRollout,
    graph: &GraphClient,
    pending: usize,
    objects: &str,
) -> String {
    Estimate::new(rollout, pending, 0, None, write_rate(graph, false))
        .map(|e| format!("; {}", e.describe_plan(objects)))
        .unwrap_or_default()
}

/// A duration as a person reads an estimate: whole seconds under ten minutes, whole minutes
/// under a day, hours and minutes beyond.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let rounded = if secs < 600 {
        secs
    } else {
        secs.div_ceil(60) * 60
    };
    crate::duration::format(Duration::from_secs(rounded))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rollout(canary: usize, wave_size: usize, pause: u64) -> ValidRollout {
        ValidRollout {
            max_objects: 100_000,
            wave_size,
            canary,
            pause: Duration::from_secs(pause),
            max_failures_per_wave: 0,
        }
    }

    #[test]
    fn nothing_ran_yet_counts_the_canary_and_a_pause_between_waves() {
        // 1 canary + 99 in waves of 50 = 3 waves, 2 pauses of 10 minutes; 100 at 10/s = 10 s.
        let e = Estimate::new(&rollout(1, 50, 600), 100, 0, None, 10.0).unwrap();
        assert_eq!(e.waves, 3);
        assert_eq!(e.pausing, Duration::from_secs(1200));
        assert_eq!(e.writing, Duration::from_secs(10));
        assert_eq!(e.total(), Duration::from_secs(1210));
        assert_eq!(
            e.describe("users"),
            "about 21m left (100 users at 10.0 writes/s, 3 waves, pauses 20m; each wave's read-back not counted)"
        );
    }

    #[test]
    fn after_a_wave_each_remaining_wave_waits_its_pause_first() {
        let e = Estimate::new(&rollout(1, 50, 600), 99, 1, None, 10.0).unwrap();
        assert_eq!(e.waves, 2);
        assert_eq!(e.pausing, Duration::from_secs(1200));
        // During a pause: what is left of it, then one whole pause per further wave.
        let e = Estimate::new(
            &rollout(1, 50, 600),
            99,
            1,
            Some(Duration::from_secs(60)),
            10.0,
        )
        .unwrap();
        assert_eq!(e.pausing, Duration::from_secs(660));
    }

    #[test]
    fn no_estimate_without_work_or_rate() {
        assert_eq!(Estimate::new(&rollout(0, 10, 0), 0, 0, None, 10.0), None);
        assert_eq!(Estimate::new(&rollout(0, 10, 0), 5, 0, None, 0.0), None);
        assert_eq!(
            Estimate::new(&rollout(0, 10, 0), 5, 0, None, f64::NAN),
            None
        );
    }

    #[test]
    fn estimates_read_as_a_person_would() {
        assert_eq!(human(Duration::from_millis(1500)), "2s");
        assert_eq!(human(Duration::from_secs(599)), "9m59s");
        assert_eq!(human(Duration::from_secs(601)), "11m");
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
        let e = Estimate::new(&rollout(0, 100, 0), 312, 0, None, 19.0).unwrap();
        assert_eq!(
            e.describe("users"),
            "about 17s left (312 users at 19.0 writes/s, 4 waves; each wave's read-back not counted)"
        );
    }
}
