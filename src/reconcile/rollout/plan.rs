//! What a rollout does next, whatever the kind: from the classified selection, the rollout
//! settings and the last status. Pure: no I/O, so `plan` and `apply` share it and it is tested
//! with plain values.

use std::time::Duration;

use crate::api::common::ConversionMode;
use crate::api::tenant::DriftPolicy;
use crate::reconcile::validate::ValidRollout;

/// An object with changes to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Todo<I> {
    /// The object (or what the kind needs of it).
    pub item: I,
    /// This resource converted it before and AD took it back.
    pub drifted: bool,
}

/// The selection sorted by what it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified<I> {
    /// Objects with changes to make, in the order waves take them (drifted ones flagged).
    pub work: Vec<Todo<I>>,
    /// Objects already as declared.
    pub converted: i64,
    /// Objects with nothing to do (never synchronised, say).
    pub skipped: i64,
    /// Objects waiting for something outside the operator (`RestoreDeleted`: users still
    /// synchronised, waiting for their soft delete), by name.
    pub waiting: Vec<String>,
    /// Objects this resource switched that do not read back yet, within the consistency
    /// window after their wave (`consistency.rs`): neither failed nor drift, by name.
    pub confirming: Vec<String>,
}

impl<I> Default for Classified<I> {
    fn default() -> Self {
        Classified {
            work: Vec::new(),
            converted: 0,
            skipped: 0,
            waiting: Vec::new(),
            confirming: Vec::new(),
        }
    }
}

impl<I> Classified<I> {
    /// Objects to convert, drift aside.
    pub fn pending(&self) -> impl Iterator<Item = &I> {
        self.work.iter().filter(|t| !t.drifted).map(|t| &t.item)
    }

    /// Objects this resource converted that AD took back.
    pub fn drifted(&self) -> impl Iterator<Item = &I> {
        self.work.iter().filter(|t| t.drifted).map(|t| &t.item)
    }

    /// How many objects are still to convert (those waiting or confirming included).
    pub fn pending_count(&self) -> i64 {
        (self.pending().count() + self.waiting.len() + self.confirming.len()) as i64
    }

    /// Every selected object the counts know of.
    pub fn selected(&self) -> i64 {
        self.work.len() as i64
            + self.converted
            + self.waiting.len() as i64
            + self.confirming.len() as i64
    }
}

/// What the last status says of the rollout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Previous {
    /// The status describes another generation (or there is none): a new instruction.
    pub fresh: bool,
    /// The rollout halted on failures.
    pub halted: bool,
    /// Waves completed in this generation.
    pub waves_completed: i64,
    /// When the last wave ended.
    pub last_wave_at: Option<jiff::Timestamp>,
}

/// The next step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<I> {
    /// `mode: Plan`: report only.
    Report,
    /// More objects than `maxObjects`; `at_least` when the selection stopped counting.
    BlastRadiusExceeded {
        /// Objects selected (at least this many when `at_least`).
        selected: i64,
        /// The selection stopped counting past the limit.
        at_least: bool,
    },
    /// The rollout halted on failures; waits for a spec change.
    Halted,
    /// Waiting between waves.
    Pause(Duration),
    /// Convert these objects (the canary when `canary`).
    Wave {
        /// The objects, in order.
        items: Vec<I>,
        /// Whether it is the canary wave.
        canary: bool,
    },
    /// Drift, `Report` declared: wait for a human.
    ReportDrift,
    /// Objects wait for something outside the operator (a soft delete).
    Wait,
    /// Objects switched in the last wave do not read back yet (eventual consistency): read
    /// again before the next wave or any verdict of drift.
    Confirm,
    /// Everything as declared.
    Converged,
}

impl<I> Step<I> {
    /// Whether the step changes objects (or, waiting or converged, lets the kind's own
    /// follow-up work run).
    pub fn acts(&self) -> bool {
        matches!(self, Step::Wave { .. } | Step::Wait | Step::Converged)
    }
}

/// The objects the next wave may take: the canary first, then `waveSize` at a time.
pub fn wave_size(rollout: &ValidRollout, waves_completed: i64) -> usize {
    if waves_completed == 0 && rollout.canary > 0 {
        rollout.canary
    } else {
        rollout.wave_size
    }
}

/// Decide the next step. `truncated`: the selection stopped counting past `maxObjects`.
pub fn decide<I: Clone>(
    rollout: &ValidRollout,
    mode: ConversionMode,
    c: &Classified<I>,
    prev: Previous,
    drift: DriftPolicy,
    truncated: bool,
    now: jiff::Timestamp,
) -> Step<I> {
    let selected = c.selected();
    if truncated || selected > rollout.max_objects {
        return Step::BlastRadiusExceeded {
            selected,
            at_least: truncated,
        };
    }
    if mode == ConversionMode::Plan {
        return Step::Report;
    }
    if !prev.fresh && prev.halted {
        return Step::Halted;
    }
    if !c.confirming.is_empty() {
        return Step::Confirm;
    }
    let remediate = drift == DriftPolicy::Remediate;
    let mut todo = c.work.iter().filter(|t| !t.drifted || remediate).peekable();
    if todo.peek().is_none() {
        return if c.drifted().next().is_some() {
            Step::ReportDrift
        } else if !c.waiting.is_empty() {
            Step::Wait
        } else {
            Step::Converged
        };
    }
    let waves_done = if prev.fresh { 0 } else { prev.waves_completed };
    if waves_done > 0
        && let Some(last) = prev.last_wave_at
    {
        let since = now.duration_since(last).unsigned_abs();
        if since < rollout.pause && last <= now {
            return Step::Pause(rollout.pause - since);
        }
    }
    let size = wave_size(rollout, waves_done);
    Step::Wave {
        items: todo.take(size).map(|t| t.item.clone()).collect(),
        canary: waves_done == 0 && rollout.canary > 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rollout() -> ValidRollout {
        ValidRollout {
            max_objects: 10,
            wave_size: 3,
            canary: 1,
            pause: Duration::from_secs(600),
            max_failures_per_wave: 0,
        }
    }

    fn classified(pending: &[&'static str], drifted: &[&'static str]) -> Classified<&'static str> {
        let todo = |item, drifted| Todo { item, drifted };
        Classified {
            work: pending
                .iter()
                .map(|p| todo(*p, false))
                .chain(drifted.iter().map(|d| todo(*d, true)))
                .collect(),
            ..Default::default()
        }
    }

    fn ts(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn fresh() -> Previous {
        Previous {
            fresh: true,
            ..Default::default()
        }
    }

    #[test]
    fn waves_canary_pause_and_guards() {
        let c = classified(&["a", "b", "c", "d", "e", "f", "g", "h"], &[]);
        let d = |prev, t| {
            decide(
                &rollout(),
                ConversionMode::Apply,
                &c,
                prev,
                DriftPolicy::Report,
                false,
                ts(t),
            )
        };
        assert_eq!(
            d(fresh(), 0),
            Step::Wave {
                items: vec!["a"],
                canary: true
            }
        );
        let after_canary = Previous {
            fresh: false,
            halted: false,
            waves_completed: 1,
            last_wave_at: Some(ts(0)),
        };
        assert_eq!(d(after_canary, 60), Step::Pause(Duration::from_secs(540)));
        assert_eq!(
            d(after_canary, 600),
            Step::Wave {
                items: vec!["a", "b", "c"],
                canary: false
            }
        );
        let halted = Previous {
            halted: true,
            ..after_canary
        };
        assert_eq!(d(halted, 600), Step::Halted);
        assert!(
            matches!(
                d(
                    Previous {
                        fresh: true,
                        ..halted
                    },
                    600
                ),
                Step::Wave { .. }
            ),
            "a spec change resumes"
        );
        assert_eq!(
            decide(
                &rollout(),
                ConversionMode::Plan,
                &c,
                fresh(),
                DriftPolicy::Report,
                false,
                ts(0)
            ),
            Step::Report
        );
        let big = classified(
            &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"],
            &[],
        );
        assert_eq!(
            decide(
                &rollout(),
                ConversionMode::Plan,
                &big,
                fresh(),
                DriftPolicy::Report,
                false,
                ts(0)
            ),
            Step::BlastRadiusExceeded {
                selected: 11,
                at_least: false
            }
        );
        assert_eq!(
            decide(
                &rollout(),
                ConversionMode::Plan,
                &c,
                fresh(),
                DriftPolicy::Report,
                true,
                ts(0)
            ),
            Step::BlastRadiusExceeded {
                selected: 8,
                at_least: true
            },
            "a truncated selection is over the limit whatever it counted"
        );
    }

    #[test]
    fn drift_is_reported_or_remediated_and_waiting_waits() {
        let c = classified(&[], &["a"]);
        let d = |c: &Classified<&'static str>, p| {
            decide(
                &rollout(),
                ConversionMode::Apply,
                c,
                Previous::default(),
                p,
                false,
                ts(0),
            )
        };
        assert_eq!(d(&c, DriftPolicy::Report), Step::ReportDrift);
        assert!(matches!(d(&c, DriftPolicy::Remediate), Step::Wave { .. }));
        let none = classified(&[], &[]);
        assert_eq!(d(&none, DriftPolicy::Report), Step::Converged);
        let waiting = Classified {
            waiting: vec!["w@contoso.com".to_string()],
            ..classified(&[], &[])
        };
        assert_eq!(d(&waiting, DriftPolicy::Report), Step::Wait);
        assert_eq!(waiting.pending_count(), 1);
    }

    #[test]
    fn objects_confirming_hold_back_waves_and_drift_verdicts() {
        let confirming = |pending: &[&'static str], drifted: &[&'static str]| Classified {
            confirming: vec!["c@contoso.com".to_string()],
            ..classified(pending, drifted)
        };
        for policy in [DriftPolicy::Report, DriftPolicy::Remediate] {
            for c in [
                confirming(&[], &[]),
                confirming(&["a"], &[]),
                confirming(&[], &["d"]),
            ] {
                let step = decide(
                    &rollout(),
                    ConversionMode::Apply,
                    &c,
                    fresh(),
                    policy,
                    false,
                    ts(0),
                );
                assert_eq!(step, Step::Confirm, "{c:?} {policy:?}");
            }
        }
        let c = confirming(&["a"], &[]);
        assert_eq!((c.pending_count(), c.selected()), (2, 2));
        // Plan mode and the blast radius still come first.
        let plan = decide(
            &rollout(),
            ConversionMode::Plan,
            &c,
            fresh(),
            DriftPolicy::Report,
            false,
            ts(0),
        );
        assert_eq!(plan, Step::Report);
    }

    #[test]
    fn remediation_keeps_the_order_of_the_work() {
        let mut c = classified(&["a", "c"], &[]);
        c.work.insert(
            1,
            Todo {
                item: "b",
                drifted: true,
            },
        );
        let step = decide(
            &ValidRollout {
                canary: 0,
                ..rollout()
            },
            ConversionMode::Apply,
            &c,
            fresh(),
            DriftPolicy::Remediate,
            false,
            ts(0),
        );
        assert_eq!(
            step,
            Step::Wave {
                items: vec!["a", "b", "c"],
                canary: false
            }
        );
    }
}
