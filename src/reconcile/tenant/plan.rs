//! What to do next, decided from the spec, what Graph shows and the last status. Pure: no
//! I/O, so every branch is tested with plain values.

use std::time::Duration;

use crate::api::tenant::{
    DirectorySyncMode, DriftPolicy, ImmutableIdCounts, ObjectCounts, ObservedSyncState,
    TenantSyncPolicySpec, TenantSyncPolicyStatus,
};
use crate::graph::models::Organization;

/// After asking Entra to change the tenant's sync state, how long an old value may still be
/// read back before the request is considered lost and sent again.
pub const WRITE_GRACE: Duration = Duration::from_secs(120);

/// What Graph showed in one pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    /// The organization.
    pub organization: Organization,
    /// Users by sync state.
    pub users: ObjectCounts,
    /// Groups by sync state.
    pub groups: ObjectCounts,
    /// ImmutableIDs of formerly synchronised users (`failed` is always 0 here).
    pub immutable_ids: ImmutableIdCounts,
    /// The synchronised users and groups (a full read; `None` from the guard's delta rounds),
    /// what a disable's plan is approved for (`approval.rs`).
    pub affected: Option<super::approval::Fingerprint>,
}

impl Observation {
    /// The tenant says it is synchronised.
    pub fn sync_on(&self) -> bool {
        self.organization.on_premises_sync_enabled == Some(true)
    }

    /// The plan of a disable of `tenant_id` as this observation shows it (`None` when it does
    /// not carry the set: a guard round, never the first disable).
    pub fn plan_digest(&self, tenant_id: &str) -> Option<super::approval::PlanDigest> {
        let set = self.affected?;
        Some(super::approval::PlanDigest::new(
            tenant_id,
            self.users.synced,
            self.groups.synced,
            set,
        ))
    }

    /// Objects still reporting synchronised.
    pub fn still_synced(&self) -> i64 {
        self.users.synced + self.groups.synced
    }

    /// The tenant-wide state in one word.
    pub fn sync_state(&self) -> ObservedSyncState {
        let ever_synced = self.users.converted + self.groups.converted + self.still_synced() > 0
            || self.organization.on_premises_sync_enabled.is_some();
        if self.sync_on() {
            ObservedSyncState::Enabled
        } else if self.still_synced() > 0 {
            ObservedSyncState::DisablePending
        } else if ever_synced {
            ObservedSyncState::Disabled
        } else {
            ObservedSyncState::NeverSynced
        }
    }

    /// `converted/total` over users and groups that are or were synchronised.
    pub fn progress(&self) -> String {
        let converted = self.users.converted + self.groups.converted;
        format!("{converted}/{}", converted + self.still_synced())
    }
}

/// The drift the guard can see after convergence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drift {
    /// Directory synchronisation was turned back on.
    SyncReEnabled,
    /// Directory synchronisation was turned off.
    SyncDisabled,
}

/// The next step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// `Unmanaged`: report only.
    Observe,
    /// PATCH the organization's `onPremisesSyncEnabled`.
    SetSync {
        /// The value to set.
        enabled: bool,
        /// The change undoes drift.
        remediation: bool,
    },
    /// The disable is propagating to users and groups (or our write is not visible yet).
    WaitForPropagation,
    /// `Enabled` is declared but a disable is still propagating; Entra refuses a re-enable
    /// until it completes.
    WaitForPendingDisable,
    /// Converged: clear the remaining ImmutableIDs.
    ClearImmutableIds,
    /// The declared state holds.
    Converged,
    /// Drift seen, `Report` declared: wait for a human.
    ReportDrift(Drift),
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decision::Observe => "observe only (directorySync: Unmanaged)",
            Decision::SetSync {
                enabled: false,
                remediation: false,
            } => "turn directory synchronisation off",
            Decision::SetSync {
                enabled: false,
                remediation: true,
            } => "turn directory synchronisation off again (drift: Remediate)",
            Decision::SetSync {
                enabled: true,
                remediation: false,
            } => "turn directory synchronisation on",
            Decision::SetSync {
                enabled: true,
                remediation: true,
            } => "turn directory synchronisation on again (drift: Remediate)",
            Decision::WaitForPropagation => "wait while Entra converts the remaining objects",
            Decision::WaitForPendingDisable => {
                "wait for the pending disable to complete before enabling"
            }
            Decision::ClearImmutableIds => "clear the remaining ImmutableIDs",
            Decision::Converged => "nothing: the tenant is in the declared state",
            Decision::ReportDrift(Drift::SyncReEnabled) => {
                "report drift: directory synchronisation was re-enabled (drift: Report)"
            }
            Decision::ReportDrift(Drift::SyncDisabled) => {
                "report drift: directory synchronisation was disabled (drift: Report)"
            }
        })
    }
}

/// Decide the next step. `fresh` is true when the status was computed for another
/// generation (or never): a spec change is a new instruction, not drift.
pub fn decide(
    spec: &TenantSyncPolicySpec,
    obs: &Observation,
    status: &TenantSyncPolicyStatus,
    fresh: bool,
    now: jiff::Timestamp,
) -> Decision {
    let converged_before = !fresh && status.converged_at.is_some();
    let requested_recently = !fresh
        && status
            .disable_requested_at
            .as_ref()
            .is_some_and(|t| now.duration_since(t.0).unsigned_abs() < WRITE_GRACE && t.0 <= now);
    let pending = !obs.sync_on() && obs.still_synced() > 0;
    match spec.directory_sync {
        DirectorySyncMode::Unmanaged => Decision::Observe,
        DirectorySyncMode::Disabled if obs.sync_on() => {
            if converged_before {
                drift_or_fix(spec.drift, Drift::SyncReEnabled, false)
            } else if requested_recently {
                Decision::WaitForPropagation
            } else {
                Decision::SetSync {
                    enabled: false,
                    remediation: false,
                }
            }
        }
        DirectorySyncMode::Disabled if pending => Decision::WaitForPropagation,
        DirectorySyncMode::Disabled => {
            if spec.clear_immutable_ids && obs.immutable_ids.remaining > 0 {
                Decision::ClearImmutableIds
            } else {
                Decision::Converged
            }
        }
        DirectorySyncMode::Enabled if obs.sync_on() => Decision::Converged,
        DirectorySyncMode::Enabled if pending => Decision::WaitForPendingDisable,
        DirectorySyncMode::Enabled => {
            if converged_before {
                drift_or_fix(spec.drift, Drift::SyncDisabled, true)
            } else {
                Decision::SetSync {
                    enabled: true,
                    remediation: false,
                }
            }
        }
    }
}

fn drift_or_fix(policy: DriftPolicy, drift: Drift, enabled: bool) -> Decision {
    match policy {
        DriftPolicy::Report => Decision::ReportDrift(drift),
        DriftPolicy::Remediate => Decision::SetSync {
            enabled,
            remediation: true,
        },
    }
}

pub use crate::reconcile::outcome::PlannedChange;

/// The changes `decision` leads to, now and after propagation, in order.
pub fn describe(
    spec: &TenantSyncPolicySpec,
    obs: &Observation,
    decision: Decision,
) -> Vec<PlannedChange> {
    let org = &obs.organization.id;
    let mut out = Vec::new();
    let clear_later = |out: &mut Vec<PlannedChange>, users: i64| {
        if spec.clear_immutable_ids && users > 0 {
            out.push(PlannedChange {
                request: "PATCH /users/{id} onPremisesImmutableId=null".into(),
                objects: users,
                detail: format!(
                    "once no object reports synchronised, clear the ImmutableID of {users} formerly synchronised users (prior values journaled first)"
                ),
            });
        }
    };
    match decision {
        Decision::SetSync {
            enabled: false,
            remediation,
        } => {
            out.push(PlannedChange {
                request: format!("PATCH /organization/{org} onPremisesSyncEnabled=false"),
                objects: 1,
                detail: format!(
                    "turn directory synchronisation off for the tenant; Entra then converts {} users and {} groups to cloud-managed (minutes to 72 hours; cannot be cancelled)",
                    obs.users.synced, obs.groups.synced
                ),
            });
            if !remediation
                && let Some(now) = obs.plan_digest(&spec.tenant_id)
            {
                out.push(PlannedChange::none(
                    "approval",
                    0,
                    super::approval::plan_row(spec, &now),
                ));
            }
            clear_later(&mut out, obs.users.synced + obs.immutable_ids.remaining);
        }
        Decision::SetSync { enabled: true, .. } => out.push(PlannedChange {
            request: format!("PATCH /organization/{org} onPremisesSyncEnabled=true"),
            objects: 1,
            detail: "turn directory synchronisation on; the sync client takes objects back on its next cycle".into(),
        }),
        Decision::WaitForPropagation => {
            clear_later(&mut out, obs.users.synced + obs.immutable_ids.remaining);
        }
        Decision::ClearImmutableIds => clear_later(&mut out, obs.immutable_ids.remaining),
        Decision::Observe
        | Decision::WaitForPendingDisable
        | Decision::Converged
        | Decision::ReportDrift(_) => {}
    }
    out
}

/// How long to wait before looking again while a disable propagates: it grows with the
/// time already spent (Entra takes minutes in small tenants, up to 72 hours in large ones),
/// between 30 seconds and 15 minutes.
pub fn propagation_poll(status: &TenantSyncPolicyStatus, now: jiff::Timestamp) -> Duration {
    let elapsed = status
        .disable_requested_at
        .as_ref()
        .map(|t| now.duration_since(t.0).unsigned_abs())
        .unwrap_or_default();
    (elapsed / 4).clamp(Duration::from_secs(30), Duration::from_secs(900))
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
