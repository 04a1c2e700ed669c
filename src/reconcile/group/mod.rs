//! Per-object conversion of groups (`CloudGroupConversion`): select (with nested groups),
//! exclude, guard the blast radius, order bottom-up, then convert wave by wave (canary first):
//! journal each prior value, switch the Source of Authority, verify it and the membership, add
//! the owners; halt when a wave fails too often; watch the converted groups for AD taking them
//! back. Mail-enabled groups are reported as Exchange-managed once converted.

pub mod convert;
pub mod order;
pub mod plan;
mod progress;
pub mod revert;
pub mod select;
pub mod steps;
pub mod validate;

use tracing::{Instrument, info, info_span};

use crate::api::conditions as cond;
use crate::api::group::{CloudGroupConversionSpec, CloudGroupConversionStatus, GroupExclusion};
use crate::api::tenant::TenantSyncPolicySpec;
use crate::graph::ErrorCategory;
use crate::journal::{Action, Phase, Record};

use super::health::{self, Health};
use super::remedy::stall_message;
use super::settle::{self, OpenIntents};
use super::{Context, Outcome, ReconcileError};
use super::{GUARD_INTERVAL, Stall};
use crate::reasons::INVALID_SPEC;
use plan::{Done, Step};
use progress::{after_wave, listed, mark_drift, resolve_drift, waves_needed};

/// The resource kind.
pub const KIND: &str = "CloudGroupConversion";
/// Names kept in status lists.
const MAX_LISTED: usize = 20;

/// What the pass works on.
pub struct Input<'a> {
    /// The declared state.
    pub spec: &'a CloudGroupConversionSpec,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The last status written.
    pub status: Option<&'a CloudGroupConversionStatus>,
    /// The tenant (`spec.tenantRef`): its id and drift policy.
    pub tenant: &'a TenantSyncPolicySpec,
}

type Pass = health::Pass<CloudGroupConversionStatus>;

/// A pass that could not start (e.g. no tenant or credentials): `Stalled`, no Graph call.
pub fn stall(
    input: Input<'_>,
    now: jiff::Timestamp,
    stall: Stall,
) -> Outcome<CloudGroupConversionStatus> {
    let pass = Pass {
        status: input.status.cloned().unwrap_or_default(),
        generation: input.generation,
        now,
        events: Vec::new(),
    };
    pass.stall(stall)
}

/// One reconcile pass.
pub async fn reconcile(
    input: Input<'_>,
    ctx: &Context<'_>,
) -> Result<Outcome<CloudGroupConversionStatus>, ReconcileError> {
    let span = info_span!("reconcile", kind = KIND, resource = %ctx.resource);
    reconcile_inner(input, ctx).instrument(span).await
}

async fn reconcile_inner(
    input: Input<'_>,
    ctx: &Context<'_>,
) -> Result<Outcome<CloudGroupConversionStatus>, ReconcileError> {
    let spec = input.spec;
    let mut status = input.status.cloned().unwrap_or_default();
    let fresh = status.observed_generation != input.generation;
    if fresh {
        // A new instruction: a halted rollout resumes, waves count anew.
        status.phase = None;
        status.waves_completed = 0;
        status.last_wave_at = None;
    }
    let mut pass = Pass {
        status,
        generation: input.generation,
        now: ctx.now,
        events: Vec::new(),
    };
    if let Err(e) = validate::validate(spec) {
        return Ok(pass.finish(Health::Stalled(INVALID_SPEC, e.to_string()), None));
    }
    if spec.suspend {
        pass.status.observed_generation = input.generation;
        return Ok(Outcome {
            status: pass.status,
            events: pass.events,
            requeue_after: None,
        });
    }

    let sel = match select::select(ctx.graph, spec).await {
        Ok(s) => s,
        Err(select::SelectError { field, error }) => {
            let cat = error.category();
            if cat.is_retryable() {
                return Err(ReconcileError::Graph(error));
            }
            let (reason, msg) = match cat {
                ErrorCategory::NotFound => (
                    crate::reasons::GROUP_NOT_FOUND,
                    format!("spec.{field}: a group does not exist: {error}"),
                ),
                ErrorCategory::Rejected => (
                    crate::reasons::INVALID_SELECTOR,
                    format!("spec.{field}: Graph rejected it: {error}"),
                ),
                _ => (
                    cat.reason(),
                    stall_message(
                        &error,
                        input.tenant,
                        &ctx.resource.namespace,
                        &crate::reconcile::permissions::groups(spec),
                    ),
                ),
            };
            return Ok(pass.finish(Health::Stalled(reason, msg), Some(GUARD_INTERVAL)));
        }
    };
    if !sel.missing_owners.is_empty() {
        let msg = format!(
            "spec.owners: no such user in the tenant: {}; fix the UPN or object id",
            listed(&sel.missing_owners)
        );
        return Ok(pass.finish(
            Health::Stalled(crate::reasons::OWNER_NOT_FOUND, msg),
            Some(GUARD_INTERVAL),
        ));
    }
    let ids: Vec<String> = sel.candidates.keys().cloned().collect();
    let order = match order::bottom_up(&ids, &sel.nesting) {
        Ok(o) => o,
        Err(cycle) => {
            let names: Vec<String> = cycle
                .iter()
                .filter_map(|id| sel.candidates.get(id).map(|c| c.name.clone()))
                .collect();
            let msg = format!(
                "spec.selector: these groups are nested in one another in a cycle, so there is no bottom-up order to convert them in: {}. Break the cycle in AD, or exclude one of them (spec.exclude.groupIds)",
                listed(&names)
            );
            return Ok(pass.finish(
                Health::Stalled(crate::reasons::NESTING_CYCLE, msg),
                Some(GUARD_INTERVAL),
            ));
        }
    };
    let mut done = Done::default();
    let mut open = OpenIntents::default();
    let take = |r: Record, done: &mut Done| {
        if r.phase != Phase::Applied {
            return;
        }
        match r.action {
            Action::SwitchToCloud => {
                done.switched.insert(r.object_id);
            }
            Action::AddOwner => {
                if let Some(owner) = r.prior.get("owner").and_then(|o| o.as_str()) {
                    done.owners.insert((r.object_id, owner.to_string()));
                }
            }
            _ => {}
        }
    };
    ctx.journal
        .visit_for(&ctx.resource, &mut |e| {
            open.visit(&e.record);
            take(e.record, &mut done);
        })
        .await?;
    // Changes a stop left without an outcome are settled by reading them back first, so the
    // plan below sees the journal as Graph is.
    if spec.mode == crate::api::common::ConversionMode::Apply && !open.is_empty() {
        let records =
            settle::settle(ctx, open, |r| settle::group_change_made(ctx.graph, r)).await?;
        pass.events.extend(settle::resumed_event(&records));
        for r in records {
            take(r, &mut done);
        }
    }
    let classified = plan::classify(&sel, &done, &order);
    let step = plan::decide(
        spec,
        &classified,
        &pass.status,
        input.tenant.drift,
        fresh,
        sel.truncated,
        ctx.now,
    );
    let pending = classified.pending().count() as i64;
    let drifted: Vec<String> = classified.drifted().map(|w| w.group.name.clone()).collect();
    info!(?step, matched = sel.matched, pending, "decided");

    let st = &mut pass.status;
    st.matched = sel.matched;
    st.converted = classified.converted;
    st.pending = pending;
    st.skipped = classified.skipped + sel.missing.len() as i64;
    st.excluded = sel.excluded.len() as i64;
    st.exclusions = sel
        .excluded
        .iter()
        .cloned()
        .chain(sel.missing.iter().map(|id| GroupExclusion {
            id: id.clone(),
            display_name: None,
            reason: "NotFound".into(),
        }))
        .take(MAX_LISTED)
        .collect();
    st.exchange_managed = classified
        .exchange_managed
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect();
    st.drifted = drifted.iter().take(MAX_LISTED).cloned().collect();
    if step != Step::Halted {
        st.failed = 0;
    }
    let summary = format!(
        "{} matched, {} converted, {} pending, {} excluded, {} skipped",
        st.matched, st.converted, st.pending, st.excluded, st.skipped
    );
    if drifted.is_empty() {
        resolve_drift(&mut pass);
    } else {
        mark_drift(&mut pass, &drifted);
    }

    match step {
        Step::Report => {
            pass.status.phase = Some("Planned".into());
            let switches = classified.pending().filter(|w| w.switch).count();
            let mail = classified
                .pending()
                .filter(|w| w.switch && w.group.exchange_managed)
                .count();
            let owned = classified
                .pending()
                .filter(|w| !w.owners.is_empty())
                .count();
            let waves = waves_needed(spec, pending);
            let msg = format!(
                "plan: would convert {switches} groups bottom-up (nested groups first; {mail} mail-enabled, Exchange-managed afterwards) and add owners to {owned}, in {waves} waves; {summary}"
            );
            Ok(pass.finish(
                Health::Ready(crate::reasons::PLANNED, msg),
                Some(GUARD_INTERVAL),
            ))
        }
        Step::BlastRadiusExceeded(n) => {
            let count = if sel.truncated {
                format!("more than {}", spec.rollout.max_objects)
            } else {
                n.to_string()
            };
            let msg = format!(
                "the selector matches {count} groups (nested groups included), more than rollout.maxObjects ({}); nothing was written. Narrow the selector or raise spec.rollout.maxObjects",
                spec.rollout.max_objects
            );
            Ok(pass.finish(
                Health::Stalled(crate::reasons::BLAST_RADIUS_EXCEEDED, msg),
                Some(GUARD_INTERVAL),
            ))
        }
        Step::Halted => {
            let msg = cond::get(&pass.status.conditions, cond::STALLED)
                .map(|c| c.message.clone())
                .unwrap_or_else(|| "halted: change the spec to resume".into());
            Ok(pass.finish(Health::Stalled(crate::reasons::AUTO_HALTED, msg), None))
        }
        Step::Pause(d) => {
            let msg = format!(
                "pausing {}s between waves (rollout.pauseBetweenWaves); {summary}",
                d.as_secs()
            );
            Ok(pass.finish(
                Health::Progressing(crate::reasons::PAUSED_BETWEEN_WAVES, msg),
                Some(d),
            ))
        }
        Step::ReportDrift => {
            let msg = format!(
                "{} converted groups were taken back by AD (first: {}); switch them back, or set drift: Remediate on the TenantSyncPolicy",
                drifted.len(),
                drifted.first().cloned().unwrap_or_default()
            );
            Ok(pass.finish(
                Health::Stalled(crate::reasons::DRIFT_DETECTED, msg),
                Some(GUARD_INTERVAL),
            ))
        }
        Step::Converged => {
            pass.status.phase = Some("Converted".into());
            pass.status.recent_failures.clear();
            let msg = format!(
                "every selected group is cloud-managed with its owners; {summary}; watching for drift"
            );
            Ok(pass.finish(
                Health::Ready(crate::reasons::CONVERTED, msg),
                Some(GUARD_INTERVAL),
            ))
        }
        Step::Wave { groups, canary } => {
            let heights = order::heights(&order, &sel.nesting);
            let report = convert::run_wave(
                ctx,
                &input.tenant.tenant_id,
                &groups,
                &heights,
                &sel.nesting,
            )
            .await?;
            Ok(after_wave(
                pass,
                ctx,
                &input,
                groups.len(),
                canary,
                report,
                summary,
            ))
        }
    }
}
