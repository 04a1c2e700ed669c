//! Per-object conversion of users (`CloudUserConversion`): select, exclude, guard the blast
//! radius, then convert wave by wave (canary first), journaling each prior value, verifying
//! each switch by reading it back, halting when a wave fails too often, and watching the
//! converted users for AD taking them back.

pub mod ad_after;
pub mod ad_move;
mod ad_revert;
pub mod convert;
pub mod directory;
mod drift;
pub mod plan;
pub mod resume;
pub mod revert;
pub mod select;
pub mod validate;

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tracing::{Instrument, info, info_span};

use crate::api::conditions as cond;
use crate::api::tenant::TenantSyncPolicySpec;
use crate::api::user::{CloudUserConversionSpec, CloudUserConversionStatus, Exclusion};
use crate::graph::ErrorCategory;

use super::health::{self, Health};
use super::remedy::stall_message;
use super::{Context, Outcome, ReconcileError, ReconcileEvent, permissions};
use super::{GUARD_INTERVAL, Stall};
use crate::reasons::INVALID_SPEC;
use plan::Step;

/// The resource kind.
pub const KIND: &str = "CloudUserConversion";
/// Names kept in status lists.
const MAX_LISTED: usize = 20;

/// What the pass works on.
pub struct Input<'a> {
    /// The declared state.
    pub spec: &'a CloudUserConversionSpec,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The last status written.
    pub status: Option<&'a CloudUserConversionStatus>,
    /// The tenant (`spec.tenantRef`): its id and drift policy.
    pub tenant: &'a TenantSyncPolicySpec,
}

type Pass = health::Pass<CloudUserConversionStatus>;

/// A pass that could not start (e.g. no tenant or credentials): `Stalled`, no Graph call.
pub fn stall(
    input: Input<'_>,
    now: jiff::Timestamp,
    stall: Stall,
) -> Outcome<CloudUserConversionStatus> {
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
) -> Result<Outcome<CloudUserConversionStatus>, ReconcileError> {
    let span = info_span!("reconcile", kind = KIND, resource = %ctx.resource);
    reconcile_inner(input, ctx).instrument(span).await
}

async fn reconcile_inner(
    input: Input<'_>,
    ctx: &Context<'_>,
) -> Result<Outcome<CloudUserConversionStatus>, ReconcileError> {
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

    let selection = match select::select(ctx.graph, spec).await {
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
                        &permissions::users(spec),
                    ),
                ),
            };
            return Ok(pass.finish(Health::Stalled(reason, msg), Some(GUARD_INTERVAL)));
        }
    };
    // The on-premises side (with `activeDirectory`): bind and audit the links before anything
    // changes; a bad password or an unreachable DC stalls here.
    let directory = match directory::prepare(
        ctx,
        spec,
        &selection,
        &mut pass.status,
        &mut pass.events,
    )
    .await?
    {
        directory::Prepared::Stall(reason, msg, requeue) => {
            return Ok(pass.finish(Health::Stalled(reason, msg), requeue));
        }
        directory::Prepared::Absent => None,
        directory::Prepared::Ready(d) => Some(d),
    };
    // Read entry by entry: one id per converted user and the changes still open are kept.
    let mut scan = resume::JournalScan::read(ctx).await?;
    // Changes a stop left without an outcome are settled by reading them back first, so the
    // plan below sees the journal as Graph is.
    if spec.mode == crate::api::common::ConversionMode::Apply {
        let (settled, records) = resume::settle(ctx, &selection, &scan).await?;
        if settled != resume::Settled::default() {
            info!(
                applied = settled.applied,
                abandoned = settled.abandoned,
                "settled open journal intents"
            );
            pass.events.push(ReconcileEvent::normal(
                crate::reasons::RESUMED,
                "Resume",
                format!(
                    "read back {} changes left without an outcome: {} had been made, {} had not",
                    settled.applied + settled.abandoned,
                    settled.applied,
                    settled.abandoned
                ),
            ));
        }
        for r in records {
            scan.visit(r);
        }
    }
    let applied = scan.switched;
    let mut selection = selection;
    // A user this resource switched that someone switched back is drift at once, before the
    // next sync cycle takes it over: the switch of those that look converted is read back.
    // That is a request per converted user, so it is done once nothing is pending: while a
    // rollout goes on, its passes spend their requests on the waves (a user AD takes back in
    // the meantime reads as synchronised again and is drift all the same).
    if spec.method == crate::api::user::UserConversionMethod::SourceOfAuthority
        && plan::classify(spec, &selection, &applied)
            .pending
            .is_empty()
    {
        match drift::read_switches(ctx, &mut selection, &applied).await {
            Ok(_) => {}
            Err(e) if e.category().is_retryable() => return Err(ReconcileError::Graph(e)),
            Err(e) => {
                let msg = stall_message(
                    &e,
                    input.tenant,
                    &ctx.resource.namespace,
                    &permissions::users(spec),
                );
                return Ok(pass.finish(
                    Health::Stalled(e.category().reason(), msg),
                    Some(GUARD_INTERVAL),
                ));
            }
        }
    }
    let classified = plan::classify(spec, &selection, &applied);
    let step = plan::decide(
        spec,
        &classified,
        &pass.status,
        input.tenant.drift,
        fresh,
        ctx.now,
    );
    info!(
        ?step,
        matched = selection.matched,
        pending = classified.pending.len(),
        "decided"
    );

    let st = &mut pass.status;
    st.matched = selection.matched;
    st.converted = classified.converted;
    st.pending = (classified.pending.len() + classified.waiting.len()) as i64;
    st.skipped = classified.skipped + selection.missing.len() as i64;
    st.excluded = selection.excluded.len() as i64;
    st.exclusions = selection
        .excluded
        .iter()
        .cloned()
        .chain(selection.missing.iter().map(|u| Exclusion {
            user_principal_name: u.clone(),
            reason: "NotFound".into(),
        }))
        .take(MAX_LISTED)
        .collect();
    st.drifted = classified
        .drifted
        .iter()
        .take(MAX_LISTED)
        .map(|c| c.upn.clone())
        .collect();
    if step != Step::Halted {
        st.failed = 0;
    }
    let summary = format!(
        "{} matched, {} converted, {} pending, {} excluded, {} skipped",
        st.matched, st.converted, st.pending, st.excluded, st.skipped
    );
    if classified.drifted.is_empty() {
        resolve_drift(&mut pass);
    } else {
        mark_drift(
            &mut pass,
            &classified
                .drifted
                .iter()
                .map(|c| c.upn.clone())
                .collect::<Vec<_>>(),
        );
    }

    let mut ad_failures = 0;
    if let Some(d) = &directory {
        ad_failures = ad_move::after_decide(
            ctx,
            spec,
            &input.tenant.tenant_id,
            d,
            &selection,
            &classified,
            &step,
            &mut pass,
        )
        .await?;
    }

    match step {
        Step::Report => {
            pass.status.phase = Some("Planned".into());
            let waves = waves_needed(spec, classified.pending.len() as i64);
            let msg = format!(
                "plan: would convert {} users in {waves} waves; {summary}",
                classified.pending.len()
            );
            Ok(pass.finish(
                Health::Ready(crate::reasons::PLANNED, msg),
                Some(GUARD_INTERVAL),
            ))
        }
        Step::BlastRadiusExceeded(n) => {
            let msg = format!(
                "the selector matches {n} users, more than rollout.maxObjects ({}); nothing was written. Narrow the selector or raise spec.rollout.maxObjects",
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
                "{} converted users were taken back by AD (first: {}); switch them back, or set drift: Remediate on the TenantSyncPolicy",
                classified.drifted.len(),
                pass.status.drifted.first().cloned().unwrap_or_default()
            );
            Ok(pass.finish(
                Health::Stalled(crate::reasons::DRIFT_DETECTED, msg),
                Some(GUARD_INTERVAL),
            ))
        }
        Step::WaitForSoftDelete => {
            let msg = format!(
                "{} users are still synchronised: {}; Entra soft-deletes them at the next sync cycle and they are restored then (first: {}); {summary}",
                classified.waiting.len(),
                match &directory {
                    Some(d) => format!(
                        "their AD objects are moved to {} a wave at a time",
                        d.client.settings().unsynced_ou
                    ),
                    None => "move their AD objects out of sync scope".into(),
                },
                classified.waiting.first().cloned().unwrap_or_default()
            );
            Ok(pass.finish(
                Health::Progressing(crate::reasons::WAITING_FOR_SOFT_DELETE, msg),
                Some(Duration::from_secs(300)),
            ))
        }
        Step::Converged => {
            pass.status.phase = Some("Converted".into());
            if ad_failures == 0 {
                // (AD changes that failed in this very pass stay listed.)
                pass.status.recent_failures.clear();
            }
            let msg =
                format!("every selected user is cloud-managed; {summary}; watching for drift");
            Ok(pass.finish(
                Health::Ready(crate::reasons::CONVERTED, msg),
                Some(GUARD_INTERVAL),
            ))
        }
        Step::Wave { users, canary } => wave(pass, ctx, &input, users, canary, summary).await,
    }
}

async fn wave(
    mut pass: Pass,
    ctx: &Context<'_>,
    input: &Input<'_>,
    users: Vec<&select::Candidate>,
    canary: bool,
    summary: String,
) -> Result<Outcome<CloudUserConversionStatus>, ReconcileError> {
    let spec = input.spec;
    let report = convert::run_wave(ctx, spec, &input.tenant.tenant_id, &users).await?;
    let n = pass.status.waves_completed + 1;
    let failed = report.failures.len() as i64;
    let st = &mut pass.status;
    st.converted += report.converted;
    st.pending = (st.pending - report.converted).max(0);
    st.failed = failed;
    if !report.failures.is_empty() {
        st.recent_failures = report.failures.iter().take(10).cloned().collect();
    }
    if let Some(fatal) = report.fatal {
        let msg = stall_message(
            &fatal,
            input.tenant,
            &ctx.resource.namespace,
            &permissions::users(spec),
        );
        return Ok(pass.finish(
            Health::Stalled(fatal.category().reason(), msg),
            Some(GUARD_INTERVAL),
        ));
    }
    let label = if canary {
        "canary wave".to_string()
    } else {
        format!("wave {n}")
    };
    pass.events.push(ReconcileEvent::normal(
        crate::reasons::WAVE_COMPLETED,
        "Convert",
        format!(
            "{label}: {} of {} users converted, {failed} failed",
            report.converted,
            users.len()
        ),
    ));
    if failed > spec.rollout.max_failures_per_wave {
        pass.status.phase = Some("Halted".into());
        let first = &report.failures[0];
        let msg = format!(
            "{label}: {failed} of {} users failed, more than rollout.maxFailuresPerWave ({}); first: {}: {}. Fix the cause, then change the spec to resume",
            users.len(),
            spec.rollout.max_failures_per_wave,
            first.name.clone().unwrap_or_default(),
            first.message
        );
        pass.events.push(ReconcileEvent::warning(
            crate::reasons::AUTO_HALTED,
            "Convert",
            msg.clone(),
        ));
        return Ok(pass.finish(Health::Stalled(crate::reasons::AUTO_HALTED, msg), None));
    }
    pass.status.waves_completed = n;
    pass.status.last_wave_at = Some(Time(ctx.now));
    pass.status.phase = Some(if canary { "Canary" } else { "Converting" }.into());
    let pause =
        crate::api::common::parse_duration(&spec.rollout.pause_between_waves).unwrap_or_default();
    let msg = format!("{label} done; {summary}");
    // Look again after the pause (at least a moment, so the next pass reads fresh state).
    let next = pause.max(Duration::from_secs(1));
    Ok(pass.finish(
        Health::Progressing(crate::reasons::CONVERTING, msg),
        Some(next),
    ))
}

fn waves_needed(spec: &CloudUserConversionSpec, pending: i64) -> i64 {
    if pending == 0 {
        return 0;
    }
    let canary = spec.rollout.canary.min(pending);
    let rest = pending - canary;
    i64::from(canary > 0) + (rest + spec.rollout.wave_size - 1) / spec.rollout.wave_size
}

fn mark_drift(pass: &mut Pass, names: &[String]) {
    pass.mark_drift(format!(
        "{} converted users are synchronised from AD again: {}",
        names.len(),
        names.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
    ));
}

fn resolve_drift(pass: &mut Pass) {
    pass.resolve_drift("every converted user is cloud-managed again");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn waves_needed_counts_the_canary() {
        let spec: CloudUserConversionSpec = serde_json::from_value(serde_json::json!({
            "tenantRef": {"name": "t"}, "mode": "Apply", "selector": {"domains": ["contoso.com"]},
            "rollout": {"waveSize": 10, "canary": 2}
        }))
        .unwrap();
        assert_eq!(waves_needed(&spec, 0), 0);
        assert_eq!(waves_needed(&spec, 1), 1);
        assert_eq!(waves_needed(&spec, 12), 2);
        assert_eq!(waves_needed(&spec, 13), 3);
    }
}
