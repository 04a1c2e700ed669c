//! The tenant-wide cutover: turn directory synchronisation off for the whole tenant, wait
//! while Entra converts every object, clear the ImmutableIDs, then keep watching for drift.
//!
//! Each pass reads inputs, validates (no I/O), observes Graph, decides (pure, `plan`), acts,
//! and returns the new status with the Events to emit and when to look again.

pub mod approval;
mod audit;
pub mod clear;
mod confirm;
pub mod guard;
mod messages;
pub mod observe;
pub mod plan;
pub mod validate;
mod writes;

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tracing::{Instrument, info, info_span};

use crate::api::conditions::{self as cond, FALSE, TRUE};
use crate::api::tenant::{
    DirectorySyncMode, ImmutableIdCounts, OrganizationStatus, TenantSyncPolicySpec,
    TenantSyncPolicyStatus,
};
use crate::graph::GraphError;
use crate::journal::ResourceKey;

use super::health::{self, Health};
pub use super::remedy::stall_message;
use super::{GUARD_INTERVAL, Outcome, ReconcileError, ReconcileEvent, Stall, settle};
use messages::drift_text;
use plan::{Decision, Drift, Observation};

/// The resource kind, as journal records and Events name it.
pub const KIND: &str = "TenantSyncPolicy";
/// How soon to look again after changing the tenant's sync state.
const AFTER_WRITE: Duration = Duration::from_secs(30);
/// How soon to retry ImmutableIDs that failed transiently.
const RETRY_FAILED: Duration = Duration::from_secs(60);
/// Per-object failures kept in status (the journal has all of them).
const MAX_RECENT_FAILURES: usize = 10;

/// What the pass works on.
pub struct Input<'a> {
    /// The declared state.
    pub spec: &'a TenantSyncPolicySpec,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The last status written.
    pub status: Option<&'a TenantSyncPolicyStatus>,
}

pub use super::Context;

/// The outcome of a pass that could not start, e.g. because the credentials could not be
/// resolved: `Stalled` with `reason` and `message`, nothing sent to Graph. A bad spec waits
/// for a spec change (no requeue); anything else (a missing Secret, say) is looked at again
/// every [`GUARD_INTERVAL`], since it can be fixed without touching the resource.
pub fn stall(
    input: Input<'_>,
    now: jiff::Timestamp,
    stall: Stall,
) -> Outcome<TenantSyncPolicyStatus> {
    let prev = input.status.cloned().unwrap_or_default();
    Pass::new(prev, input.generation, now).stall(stall)
}

/// One reconcile pass.
pub async fn reconcile(
    input: Input<'_>,
    ctx: &Context<'_>,
) -> Result<Outcome<TenantSyncPolicyStatus>, ReconcileError> {
    let span = info_span!("reconcile", kind = KIND, resource = %ctx.resource);
    reconcile_inner(input, ctx).instrument(span).await
}

async fn reconcile_inner(
    input: Input<'_>,
    ctx: &Context<'_>,
) -> Result<Outcome<TenantSyncPolicyStatus>, ReconcileError> {
    let spec = input.spec;
    let prev = input.status.cloned().unwrap_or_default();
    let fresh = prev.observed_generation != input.generation;
    let mut pass = Pass::new(prev, input.generation, ctx.now);

    if let Err(e) = validate::validate(spec) {
        return Ok(pass.stall(Stall::invalid_spec(e.to_string())));
    }
    if spec.suspend {
        return Ok(pass.suspended());
    }
    // Changes a stop left without an outcome (the sync flag, ImmutableIDs being cleared) are
    // settled by reading them back, so that the journal says what Graph shows.
    let open = settle::OpenIntents::read(ctx).await?;
    if !open.is_empty() {
        let records =
            settle::settle(ctx, open, |r| settle::tenant_change_made(ctx.graph, r)).await?;
        pass.events.extend(settle::resumed_event(&records));
    }

    let observed = if guard::watching(input.status, fresh) {
        guard::observe(ctx, spec, input.generation).await
    } else {
        // Not converged (or a new generation): read everything; the guard starts over after.
        ctx.guard.forget(&ctx.resource);
        observe::observe(ctx.graph).await
    };
    let obs = match observed {
        Ok(o) => o,
        Err(e) => return pass.graph_failure(e, spec, &ctx.resource),
    };
    if !obs.organization.id.eq_ignore_ascii_case(&spec.tenant_id) {
        let msg = format!(
            "Graph answered for tenant {} but spec.tenantId is {}; check spec.tenantId and spec.endpoints",
            obs.organization.id, spec.tenant_id
        );
        return Ok(pass.finish(
            Health::Stalled(crate::reasons::TENANT_MISMATCH, msg),
            Some(GUARD_INTERVAL),
        ));
    }
    pass.record_observation(&obs);
    if let Some((reason, msg)) = audit::refresh(ctx, &mut pass.status, fresh).await? {
        return Ok(pass.finish(Health::Stalled(reason, msg), Some(GUARD_INTERVAL)));
    }

    let decision = plan::decide(spec, &obs, &pass.status, fresh, ctx.now);
    info!(?decision, synced = obs.still_synced(), progress = %obs.progress(), "decided");
    match decision {
        Decision::Observe => {
            let msg = format!(
                "observing only (directorySync: Unmanaged): sync is {:?}; {} users and {} groups synchronised",
                obs.sync_state(),
                obs.users.synced,
                obs.groups.synced
            );
            Ok(pass.finish(
                Health::Ready(crate::reasons::OBSERVING, msg),
                Some(GUARD_INTERVAL),
            ))
        }
        Decision::SetSync {
            enabled: false,
            remediation: false,
        } => match pass.approved(spec, &obs) {
            Ok(()) => pass.set_sync(ctx, spec, &obs, false, false).await,
            Err(health) => {
                // Unapproved (or planning): the next pass reads everything again.
                ctx.guard.forget(&ctx.resource);
                Ok(pass.finish(health, Some(GUARD_INTERVAL)))
            }
        },
        Decision::SetSync {
            enabled,
            remediation,
        } => pass.set_sync(ctx, spec, &obs, enabled, remediation).await,
        Decision::WaitForPropagation => {
            let msg = format!(
                "directory sync is off for the tenant; Entra is converting objects: {} users and {} groups still synchronised ({} converted)",
                obs.users.synced,
                obs.groups.synced,
                obs.progress()
            );
            let wait = plan::propagation_poll(&pass.status, ctx.now);
            Ok(pass.finish(
                Health::Progressing(crate::reasons::PROPAGATING, msg),
                Some(wait),
            ))
        }
        Decision::WaitForPendingDisable => {
            let msg = format!(
                "a directory sync disable is still propagating ({} objects synchronised); Entra refuses to re-enable until it completes",
                obs.still_synced()
            );
            let wait = plan::propagation_poll(&pass.status, ctx.now);
            Ok(pass.finish(
                Health::Progressing(crate::reasons::DISABLE_PENDING, msg),
                Some(wait),
            ))
        }
        Decision::ClearImmutableIds => pass.clear(ctx, spec, &obs).await,
        Decision::Converged => Ok(pass.converged(spec, &obs)),
        Decision::ReportDrift(drift) => Ok(pass.report_drift(spec, drift)),
    }
}

/// The status being built in one pass, and the Events that go with it.
struct Pass {
    status: TenantSyncPolicyStatus,
    generation: Option<i64>,
    now: jiff::Timestamp,
    events: Vec<ReconcileEvent>,
}

impl Pass {
    fn new(prev: TenantSyncPolicyStatus, generation: Option<i64>, now: jiff::Timestamp) -> Self {
        let mut status = prev;
        if status.observed_generation != generation {
            // A new instruction: timestamps of the previous one no longer describe it.
            status.converged_at = None;
            status.disable_requested_at = None;
        }
        Pass {
            status,
            generation,
            now,
            events: Vec::new(),
        }
    }

    /// Whether the disable `obs` calls for runs under an approved plan (`approval.rs`); the plan
    /// as observed goes to `status.plan` either way. `Err`: what the resource says instead.
    fn approved(&mut self, spec: &TenantSyncPolicySpec, obs: &Observation) -> Result<(), Health> {
        let Some(now) = obs.plan_digest(&spec.tenant_id) else {
            // A guard round never leads to a first disable; count everything next pass.
            return Err(Health::Progressing(
                crate::reasons::PLANNING,
                "reading every synchronised object to plan the disable".into(),
            ));
        };
        self.status.plan = Some(now.to_status());
        match approval::check(spec, &now) {
            approval::Verdict::Approved { difference } => {
                if difference > 0 {
                    self.events.push(ReconcileEvent::normal(
                        crate::reasons::PLAN_APPROVED,
                        "Approve",
                        format!("the tenant is {difference} objects from the approved plan, within spec.planTolerance: turning directory synchronisation off"),
                    ));
                }
                Ok(())
            }
            approval::Verdict::Unapproved => Err(Health::Stalled(
                crate::reasons::APPROVAL_REQUIRED,
                approval::unapproved_message(&now),
            )),
            v @ approval::Verdict::Changed { .. } => Err(Health::Stalled(
                crate::reasons::PLAN_CHANGED,
                approval::changed_message(spec, &now, &v),
            )),
        }
    }

    fn record_observation(&mut self, obs: &Observation) {
        let st = &mut self.status;
        st.organization = Some(OrganizationStatus {
            display_name: obs.organization.display_name.clone(),
            on_premises_sync_enabled: obs.organization.on_premises_sync_enabled,
            on_premises_last_sync_date_time: obs
                .organization
                .on_premises_last_sync_date_time
                .clone(),
        });
        st.sync_state = Some(obs.sync_state());
        st.progress = Some(obs.progress());
        st.users = Some(obs.users);
        st.groups = Some(obs.groups);
        st.immutable_ids = Some(ImmutableIdCounts {
            failed: 0,
            ..obs.immutable_ids
        });
        let (status, reason, message) = match obs.sync_state() {
            crate::api::tenant::ObservedSyncState::Enabled => (
                FALSE,
                crate::reasons::SYNC_ENABLED,
                "directory synchronisation is enabled for the tenant".to_string(),
            ),
            crate::api::tenant::ObservedSyncState::DisablePending => (
                FALSE,
                crate::reasons::PROPAGATING,
                format!(
                    "disabled for the tenant; {} objects still synchronised",
                    obs.still_synced()
                ),
            ),
            crate::api::tenant::ObservedSyncState::Disabled => (
                TRUE,
                crate::reasons::CONVERTED,
                format!(
                    "disabled; {} users and {} groups are cloud-managed",
                    obs.users.converted, obs.groups.converted
                ),
            ),
            crate::api::tenant::ObservedSyncState::NeverSynced => (
                TRUE,
                "NeverSynced",
                "the tenant has never been synchronised".to_string(),
            ),
        };
        cond::set(
            &mut st.conditions,
            cond::DIRECTORY_SYNC_DISABLED,
            status,
            reason,
            message,
            self.generation,
            self.now,
        );
    }

    fn converged(
        mut self,
        spec: &TenantSyncPolicySpec,
        obs: &Observation,
    ) -> Outcome<TenantSyncPolicyStatus> {
        self.mark_converged();
        self.status.recent_failures.clear();
        self.converged_message(spec, obs)
    }

    fn converged_message(
        mut self,
        spec: &TenantSyncPolicySpec,
        obs: &Observation,
    ) -> Outcome<TenantSyncPolicyStatus> {
        self.resolve_drift();
        let msg = match spec.directory_sync {
            DirectorySyncMode::Enabled => {
                "directory synchronisation is enabled as declared".to_string()
            }
            _ => {
                let ids = self.status.immutable_ids.unwrap_or_default();
                let cleared = if spec.clear_immutable_ids {
                    format!("; {} ImmutableIDs cleared", ids.cleared)
                } else {
                    String::new()
                };
                format!(
                    "directory synchronisation is off; {} users and {} groups are cloud-managed{cleared}; watching for drift",
                    obs.users.converted, obs.groups.converted
                )
            }
        };
        self.finish(
            Health::Ready(crate::reasons::CONVERGED, msg),
            Some(GUARD_INTERVAL),
        )
    }

    fn report_drift(
        mut self,
        spec: &TenantSyncPolicySpec,
        drift: Drift,
    ) -> Outcome<TenantSyncPolicyStatus> {
        let fix = match drift {
            Drift::SyncReEnabled => {
                "turn it off again, or set spec.drift: Remediate to let the operator do it"
            }
            Drift::SyncDisabled => {
                "turn it on again, or set spec.drift: Remediate to let the operator do it"
            }
        };
        self.mark_drift(drift, fix);
        let msg = format!(
            "{} ({:?} declared); {fix}",
            drift_text(drift),
            spec.directory_sync
        );
        self.finish(
            Health::Stalled(crate::reasons::DRIFT_DETECTED, msg),
            Some(GUARD_INTERVAL),
        )
    }

    fn mark_converged(&mut self) {
        if self.status.converged_at.is_none() {
            self.status.converged_at = Some(Time(self.now));
        }
    }

    fn mark_drift(&mut self, drift: Drift, what_next: &str) {
        let was = cond::is_true(&self.status.conditions, cond::DRIFT_DETECTED);
        let reason = match drift {
            Drift::SyncReEnabled => crate::reasons::SYNC_RE_ENABLED,
            Drift::SyncDisabled => crate::reasons::SYNC_DISABLED,
        };
        let msg = format!("{}; {what_next}", drift_text(drift));
        if !was {
            self.status.drift_detected_at = Some(Time(self.now));
            self.events.push(ReconcileEvent::warning(
                crate::reasons::DRIFT_DETECTED,
                "Observe",
                msg.clone(),
            ));
        }
        cond::set(
            &mut self.status.conditions,
            cond::DRIFT_DETECTED,
            TRUE,
            reason,
            msg,
            self.generation,
            self.now,
        );
    }

    fn resolve_drift(&mut self) {
        if cond::is_true(&self.status.conditions, cond::DRIFT_DETECTED) {
            let msg = "Entra is back in the declared state";
            self.events.push(ReconcileEvent::normal(
                crate::reasons::DRIFT_RESOLVED,
                "Observe",
                msg,
            ));
            cond::set(
                &mut self.status.conditions,
                cond::DRIFT_DETECTED,
                FALSE,
                crate::reasons::RESOLVED,
                msg,
                self.generation,
                self.now,
            );
        }
    }

    fn suspended(mut self) -> Outcome<TenantSyncPolicyStatus> {
        if self.status.observed_generation != self.generation {
            self.events.push(ReconcileEvent::normal(
                "Suspended",
                "Suspend",
                "spec.suspend is true: no Graph calls until it is set back to false",
            ));
        }
        self.status.observed_generation = self.generation;
        Outcome {
            status: self.status,
            events: self.events,
            requeue_after: None,
        }
    }

    /// A Graph failure: transient ones go back to the shell for a retry with backoff;
    /// the rest stall with a message that names the fix.
    fn graph_failure(
        self,
        e: GraphError,
        spec: &TenantSyncPolicySpec,
        resource: &ResourceKey,
    ) -> Result<Outcome<TenantSyncPolicyStatus>, ReconcileError> {
        let category = e.category();
        if category.is_retryable() {
            return Err(ReconcileError::Graph(e));
        }
        let needed = crate::reconcile::permissions::tenant(spec);
        let msg = stall_message(&e, spec, &resource.namespace, &needed);
        Ok(self.finish(
            Health::Stalled(category.reason(), msg),
            Some(GUARD_INTERVAL),
        ))
    }

    /// `Stalled` with the stall's reason and message, looked at again as it says.
    fn stall(self, stall: Stall) -> Outcome<TenantSyncPolicyStatus> {
        let requeue = stall.requeue_after();
        self.finish(Health::Stalled(stall.reason, stall.message), requeue)
    }

    /// Set the summary conditions, record the generation, and derive transition Events.
    fn finish(
        mut self,
        health: Health,
        requeue_after: Option<Duration>,
    ) -> Outcome<TenantSyncPolicyStatus> {
        if let Some(event) = health::apply(
            &mut self.status.conditions,
            health,
            self.generation,
            self.now,
        ) {
            self.events.push(event);
        }
        self.status.observed_generation = self.generation;
        Outcome {
            status: self.status,
            events: self.events,
            requeue_after,
        }
    }
}
