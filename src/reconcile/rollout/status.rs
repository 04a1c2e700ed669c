//! The status fields every rollout kind shares (counts, phase, waves, drift, failures), reached
//! through one trait so the engine fills them whatever the kind.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::common::ObjectFailure;
use crate::reconcile::health::Conditioned;

use super::plan::Previous;

/// `status.phase`: `mode: Plan` reported.
pub const PLANNED: &str = "Planned";
/// `status.phase`: the canary wave is done.
pub const CANARY: &str = "Canary";
/// `status.phase`: waves are running.
pub const CONVERTING: &str = "Converting";
/// `status.phase`: every selected object is as declared.
pub const CONVERTED: &str = "Converted";
/// `status.phase`: halted on failures until the spec changes.
pub const HALTED: &str = "Halted";

/// Objects listed by name in status (the journal has them all).
pub const MAX_LISTED: usize = 20;
/// Per-object failures kept in status.
pub const MAX_FAILURES: usize = 10;

/// The shared fields of a rollout's status, to read and change.
pub struct Progress<'a> {
    /// `Planned`, `Canary`, `Converting`, `Converted` or `Halted`.
    pub phase: &'a mut Option<String>,
    /// Objects the selector matched.
    pub matched: &'a mut i64,
    /// Selected objects as declared.
    pub converted: &'a mut i64,
    /// Selected objects still to convert.
    pub pending: &'a mut i64,
    /// Objects that failed in the last pass.
    pub failed: &'a mut i64,
    /// Objects with nothing to do.
    pub skipped: &'a mut i64,
    /// Objects excluded.
    pub excluded: &'a mut i64,
    /// Waves completed in this generation.
    pub waves_completed: &'a mut i64,
    /// When the last wave ended.
    pub last_wave_at: &'a mut Option<Time>,
    /// Converted objects taken back by AD, by name.
    pub drifted: &'a mut Vec<String>,
    /// The most recent per-object failures.
    pub recent_failures: &'a mut Vec<ObjectFailure>,
    /// The plan of the selection, to approve.
    pub plan: &'a mut Option<crate::api::common::ConversionPlan>,
}

/// The status of a rollout kind.
pub trait RolloutStatus:
    Conditioned + Clone + Default + PartialEq + serde::Serialize + Send + Sync + 'static
{
    /// The shared fields.
    fn progress(&mut self) -> Progress<'_>;

    /// Objects converted, pending and failed.
    fn counts(&self) -> (i64, i64, i64);

    /// What the status says of the rollout, for the next decision.
    fn previous(&mut self, fresh: bool) -> Previous {
        let p = self.progress();
        Previous {
            fresh,
            halted: p.phase.as_deref() == Some(HALTED),
            waves_completed: *p.waves_completed,
            last_wave_at: p.last_wave_at.as_ref().map(|t| t.0),
        }
    }
}

macro_rules! rollout_status {
    ($($status:ty),*) => {$(
        impl RolloutStatus for $status {
            fn counts(&self) -> (i64, i64, i64) {
                (self.converted, self.pending, self.failed)
            }
            fn progress(&mut self) -> Progress<'_> {
                Progress {
                    phase: &mut self.phase,
                    matched: &mut self.matched,
                    converted: &mut self.converted,
                    pending: &mut self.pending,
                    failed: &mut self.failed,
                    skipped: &mut self.skipped,
                    excluded: &mut self.excluded,
                    waves_completed: &mut self.waves_completed,
                    last_wave_at: &mut self.last_wave_at,
                    drifted: &mut self.drifted,
                    recent_failures: &mut self.recent_failures,
                    plan: &mut self.plan,
                }
            }
        }

        impl Conditioned for $status {
            fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
                &self.conditions
            }
            fn conditions_mut(&mut self) -> &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
                &mut self.conditions
            }
            fn observed_generation(&self) -> Option<i64> {
                self.observed_generation
            }
            fn set_observed_generation(&mut self, generation: Option<i64>) {
                self.observed_generation = generation;
            }
        }
    )*};
}

rollout_status!(
    crate::api::CloudUserConversionStatus,
    crate::api::CloudGroupConversionStatus
);

/// `names` as "a, b, c" (at most five, then "…").
pub fn listed(names: &[String]) -> String {
    let mut s = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        s.push_str(", …");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_names_at_most_five() {
        let names: Vec<String> = (0..7).map(|i| format!("g{i}")).collect();
        assert_eq!(listed(&names[..2]), "g0, g1");
        assert_eq!(listed(&names), "g0, g1, g2, g3, g4, …");
    }
}
