//! The steps of a pass that write: the organization's sync flag, and the ImmutableIDs.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use crate::api::tenant::{TenantSyncPolicySpec, TenantSyncPolicyStatus};
use crate::journal::{Action, Phase, Record};
use crate::reconcile::rollout::consistency;
use crate::reconcile::user::resume::JournalScan;

use super::health::Health;
use super::messages::{first_message, is_pending_disable};
use super::plan::{Drift, Observation};
use super::{
    AFTER_WRITE, Context, GUARD_INTERVAL, MAX_RECENT_FAILURES, Outcome, Pass, RETRY_FAILED,
    ReconcileError, ReconcileEvent, clear,
};

impl Pass {
    pub(super) async fn set_sync(
        mut self,
        ctx: &Context<'_>,
        spec: &TenantSyncPolicySpec,
        obs: &Observation,
        enabled: bool,
        remediation: bool,
    ) -> Result<Outcome<TenantSyncPolicyStatus>, ReconcileError> {
        if let Err(stall) = preflight(ctx, spec).await? {
            return Ok(self.stall(stall));
        }
        let action = if enabled {
            Action::EnableDirectorySync
        } else {
            Action::DisableDirectorySync
        };
        let org = &obs.organization;
        let record = |phase, request_id, error| Record {
            resource: ctx.resource.clone(),
            tenant_id: spec.tenant_id.clone(),
            object_type: "organization".into(),
            object_id: org.id.clone(),
            object_name: org.display_name.clone(),
            action,
            phase,
            prior: json!({ "onPremisesSyncEnabled": org.on_premises_sync_enabled }),
            request_id,
            error,
            note: None,
        };
        if remediation {
            let drift = if enabled {
                Drift::SyncDisabled
            } else {
                Drift::SyncReEnabled
            };
            self.mark_drift(drift, "remediating (drift: Remediate)");
        }
        ctx.journal
            .append(&[record(Phase::Intent, None, None)])
            .await?;
        match ctx.graph.set_directory_sync(&org.id, enabled).await {
            Ok(receipt) => {
                ctx.journal
                    .append(&[record(Phase::Applied, receipt.request_id, None)])
                    .await?;
                self.status.converged_at = None;
                // The tenant goes through a sync change again: ImmutableIDs cleared before it
                // that read set after it were written back (AD), not shown late.
                self.status.immutable_ids_cleared_at = None;
                let (reason, msg) = if enabled {
                    (
                        crate::reasons::ENABLE_REQUESTED,
                        "asked Entra to turn directory synchronisation on".to_string(),
                    )
                } else {
                    self.status.disable_requested_at = Some(Time(self.now));
                    (
                        crate::reasons::DISABLE_REQUESTED,
                        format!(
                            "asked Entra to turn directory synchronisation off; {} users and {} groups will become cloud-managed (Entra takes minutes to 72 hours)",
                            obs.users.synced, obs.groups.synced
                        ),
                    )
                };
                Ok(self.finish(Health::Progressing(reason, msg), Some(AFTER_WRITE)))
            }
            Err(e) => {
                ctx.journal
                    .append(&[record(Phase::Failed, None, Some(e.to_string()))])
                    .await?;
                if is_pending_disable(&e) {
                    let msg = format!("Entra refuses the change while a disable is pending: {e}");
                    return Ok(self.finish(
                        Health::Progressing(crate::reasons::DISABLE_PENDING, msg),
                        Some(AFTER_WRITE),
                    ));
                }
                self.graph_failure(e, spec, &ctx.resource)
            }
        }
    }

    pub(super) async fn clear(
        mut self,
        ctx: &Context<'_>,
        spec: &TenantSyncPolicySpec,
        obs: &Observation,
    ) -> Result<Outcome<TenantSyncPolicyStatus>, ReconcileError> {
        if let Err(stall) = preflight(ctx, spec).await? {
            return Ok(self.stall(stall));
        }
        // The listing lags behind writes: what it says of the users this resource cleared is
        // read back (`confirm.rs`), and waited for within the window after the last clearing.
        let last = self.status.immutable_ids_cleared_at.as_ref().map(|t| t.0);
        let within = consistency::within_window(last, ctx.now);
        self.mark_converged();
        let scan = JournalScan::read(ctx).await?;
        let clear_ctx = clear::ClearContext {
            graph: ctx.graph,
            journal: ctx.journal,
            resource: &ctx.resource,
            tenant_id: &spec.tenant_id,
            concurrency: ctx.concurrency,
            now: ctx.now,
            cleared_before: &scan.cleared,
            within,
        };
        let report = match clear::clear_immutable_ids(&clear_ctx).await {
            Ok(r) => r,
            Err(ReconcileError::Graph(e)) => return self.graph_failure(e, spec, &ctx.resource),
            Err(e) => return Err(e),
        };
        let failed = report.failures.len() as i64;
        let mut ids = obs.immutable_ids;
        let done = report.cleared + report.confirmed;
        ids.cleared += done;
        ids.remaining = (ids.remaining - done).max(0);
        ids.failed = failed;
        self.status.immutable_ids = Some(ids);
        if report.set_again > 0 {
            self.events.push(ReconcileEvent::warning(
                crate::reasons::IMMUTABLE_IDS_SET_AGAIN,
                "ClearImmutableId",
                format!(
                    "{} ImmutableIDs this resource had cleared were set again outside the operator (first: {}); cleared once more",
                    report.set_again,
                    report.first_set_again.as_deref().unwrap_or_default()
                ),
            ));
        }
        if report.cleared > 0 {
            self.status.immutable_ids_cleared_at = Some(Time(ctx.now));
            self.events.push(ReconcileEvent::normal(
                crate::reasons::IMMUTABLE_IDS_CLEARED,
                "ClearImmutableId",
                format!(
                    "cleared {} ImmutableIDs ({} remaining); prior values are in the journal",
                    report.cleared, ids.remaining
                ),
            ));
        }
        if let Some(fatal) = report.fatal {
            return self.graph_failure(fatal, spec, &ctx.resource);
        }
        if !report.failures.is_empty() {
            self.status.recent_failures = report
                .failures
                .into_iter()
                .take(MAX_RECENT_FAILURES)
                .collect();
            let detail = format!(
                "{failed} ImmutableIDs could not be cleared (first: {}: {}); see status.recentFailures and the journal",
                self.status
                    .recent_failures
                    .first()
                    .and_then(|f| f.name.clone())
                    .unwrap_or_default(),
                first_message(&self.status.recent_failures)
            );
            return if report.transient == failed {
                Ok(self.finish(
                    Health::Progressing(crate::reasons::RETRYING_FAILURES, detail),
                    Some(RETRY_FAILED),
                ))
            } else {
                self.events.push(ReconcileEvent::warning(
                    crate::reasons::CLEAR_FAILED,
                    "ClearImmutableId",
                    detail.clone(),
                ));
                Ok(self.finish(
                    Health::Stalled(
                        crate::reasons::CLEAR_FAILED,
                        format!("{detail}; retrying every 5 minutes"),
                    ),
                    Some(GUARD_INTERVAL),
                ))
            };
        }
        self.status.recent_failures.clear();
        if report.waiting > 0 {
            // Cleared by this resource, not read back yet: neither written again nor failed.
            let msg = format!(
                "{} ImmutableIDs this resource cleared do not read back cleared yet (eventual consistency) or could not be read; they are read again, not written",
                report.waiting
            );
            let wait = if within {
                consistency::requeue(last, ctx.now)
            } else {
                RETRY_FAILED
            };
            return Ok(self.finish(
                Health::Progressing(crate::reasons::WAITING_FOR_CONSISTENCY, msg),
                Some(wait),
            ));
        }
        if ids.remaining > 0 {
            // Users whose anchor reappeared during the pass: go round again soon.
            let msg = format!("{} ImmutableIDs left to clear", ids.remaining);
            return Ok(self.finish(
                Health::Progressing(crate::reasons::CLEARING_IMMUTABLE_IDS, msg),
                Some(AFTER_WRITE),
            ));
        }
        Ok(self.converged_message(spec, obs))
    }
}

/// The permission preflight before a pass's first write (`reconcile::preflight`): the whole
/// flow's permissions, so a disable never starts that the clearing after it could not finish.
async fn preflight(
    ctx: &Context<'_>,
    spec: &TenantSyncPolicySpec,
) -> Result<Result<(), crate::reconcile::Stall>, ReconcileError> {
    let ops = crate::reconcile::permissions::tenant_operations(spec);
    crate::reconcile::preflight::gate(ctx.graph, &ops, spec, &ctx.resource.namespace).await
}
