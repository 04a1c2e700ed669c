//! What a rollout pass reports: the counts, drift, the status and Events of each step, and the
//! same decision rendered for `plan`.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use crate::api::common::ObjectFailure;
use crate::api::conditions as cond;
use crate::reasons;
use crate::reconcile::health::{Conditioned, Health, Pass};
use crate::reconcile::outcome::PlannedChange;
use crate::reconcile::{GUARD_INTERVAL, Outcome, ReconcileEvent, Stall};

use super::plan::{Classified, Step};
use super::status::{self, MAX_FAILURES, MAX_LISTED, RolloutStatus, listed};
use super::{ConversionSpec as _, Cx, Rollout, SpecOf, StatusOf, WaveDone};

/// Set the counts and the drift condition from the classified selection; the summary in words.
pub(super) fn tally<K: Rollout>(
    world: &K::World,
    classified: &Classified<K::Item>,
    step: &Step<K::Item>,
    pass: &mut Pass<StatusOf<K>>,
) -> String {
    let drifted: Vec<String> = classified.drifted().map(|i| K::name(world, i)).collect();
    {
        let m = K::matched(world);
        let p = pass.status.progress();
        *p.matched = m.matched;
        *p.converted = classified.converted;
        *p.pending = classified.pending_count();
        *p.skipped = classified.skipped + m.missing;
        *p.excluded = m.excluded;
        *p.drifted = drifted.iter().take(MAX_LISTED).cloned().collect();
        if !matches!(step, Step::Halted) {
            *p.failed = 0;
        }
    }
    K::tally(world, classified, &mut pass.status);
    let summary = counts(pass.status.progress());
    if drifted.is_empty() {
        pass.resolve_drift(&format!(
            "every converted {} is cloud-managed again",
            one::<K>()
        ));
    } else {
        pass.mark_drift(format!(
            "{} converted {} are synchronised from AD again: {}",
            drifted.len(),
            K::WORDS.objects,
            listed(&drifted)
        ));
    }
    summary
}

/// The counts in words.
fn counts(p: super::status::Progress<'_>) -> String {
    format!(
        "{} matched, {} converted, {} pending, {} excluded, {} skipped",
        p.matched, p.converted, p.pending, p.excluded, p.skipped
    )
}

/// The singular of `K::WORDS.objects` ("users" → "user").
fn one<K: Rollout>() -> &'static str {
    K::WORDS
        .objects
        .strip_suffix('s')
        .unwrap_or(K::WORDS.objects)
}

/// The status and Events of a step that writes nothing.
pub(super) fn conclude<K: Rollout>(
    mut pass: Pass<StatusOf<K>>,
    cx: &Cx<'_, SpecOf<K>>,
    world: &K::World,
    classified: &Classified<K::Item>,
    step: Step<K::Item>,
    summary: &str,
    kept_failures: usize,
) -> Outcome<StatusOf<K>> {
    let rollout = &cx.spec.rollout;
    match step {
        Step::Report => {
            *pass.status.progress().phase = Some(status::PLANNED.into());
            let pending = classified.pending().count();
            let waves = rollout.waves_needed(pending);
            let estimate =
                super::eta::plan_suffix(rollout, cx.ctx.graph, pending, K::WORDS.objects);
            let msg = K::plan_message(world, classified, waves, summary) + &estimate;
            pass.finish(Health::Ready(reasons::PLANNED, msg), Some(GUARD_INTERVAL))
        }
        Step::BlastRadiusExceeded { selected, at_least } => {
            let count = if at_least {
                format!("more than {}", rollout.max_objects)
            } else {
                selected.to_string()
            };
            pass.stall(Stall::fixable(
                reasons::BLAST_RADIUS_EXCEEDED,
                format!(
                    "the selector matches {count} {}, more than rollout.maxObjects ({}); nothing was written. Narrow the selector or raise spec.rollout.maxObjects",
                    K::WORDS.objects,
                    rollout.max_objects
                ),
            ))
        }
        Step::Halted => {
            let msg = cond::get(pass.status.conditions_mut(), cond::STALLED)
                .map(|c| c.message.clone())
                .unwrap_or_else(|| "halted: change the spec to resume".into());
            pass.stall(Stall::until_spec_change(reasons::AUTO_HALTED, msg))
        }
        Step::Pause(d) => {
            let p = pass.status.progress();
            let estimate = super::eta::left_suffix(
                rollout,
                cx.ctx.graph,
                *p.pending,
                *p.waves_completed,
                Some(d),
                K::WORDS.objects,
            );
            let msg = format!(
                "pausing {} between waves (rollout.pauseBetweenWaves); {summary}{estimate}",
                super::eta::human(d)
            );
            pass.finish(
                Health::Progressing(reasons::PAUSED_BETWEEN_WAVES, msg),
                Some(d),
            )
        }
        Step::ReportDrift => {
            let drifted: Vec<String> = classified.drifted().map(|i| K::name(world, i)).collect();
            let msg = format!(
                "{} converted {} were taken back by AD (first: {}); switch them back, or set drift: Remediate on the TenantSyncPolicy",
                drifted.len(),
                K::WORDS.objects,
                drifted.first().cloned().unwrap_or_default()
            );
            pass.stall(Stall::fixable(reasons::DRIFT_DETECTED, msg))
        }
        Step::Wait => {
            let msg = K::waiting_message(world, classified, summary);
            pass.finish(
                Health::Progressing(reasons::WAITING_FOR_SOFT_DELETE, msg),
                Some(GUARD_INTERVAL),
            )
        }
        Step::Confirm => {
            let last = pass.status.progress().last_wave_at.as_ref().map(|t| t.0);
            let msg = format!(
                "{} {} switched in the last wave do not read back yet (Graph is eventually consistent): read again for up to {} after the wave before the next wave or any drift verdict (first: {}); {summary}",
                classified.confirming.len(),
                K::WORDS.objects,
                crate::duration::format(super::consistency::WINDOW),
                classified.confirming.first().cloned().unwrap_or_default()
            );
            let next = super::consistency::requeue(last, cx.ctx.now);
            pass.finish(
                Health::Progressing(reasons::WAITING_FOR_CONSISTENCY, msg),
                Some(next),
            )
        }
        Step::Converged => {
            let p = pass.status.progress();
            *p.phase = Some(status::CONVERTED.into());
            if kept_failures == 0 {
                // (Failures of the kind's follow-up in this very pass stay listed.)
                p.recent_failures.clear();
            }
            let msg = format!("{}; {summary}; watching for drift", K::WORDS.converged);
            pass.finish(Health::Ready(reasons::CONVERTED, msg), Some(GUARD_INTERVAL))
        }
        Step::Wave { .. } => unreachable!("a wave is run, not concluded"),
    }
}

/// The status and Events after a wave: counts, failures; `Stalled` on a fatal error or too
/// many failures (`AutoHalted`), else progressing after the pause.
pub(super) fn after_wave<K: Rollout>(
    mut pass: Pass<StatusOf<K>>,
    cx: &Cx<'_, SpecOf<K>>,
    size: usize,
    canary: bool,
    done: WaveDone,
) -> Outcome<StatusOf<K>> {
    let rollout = &cx.spec.rollout;
    let failed = done.failures.len() as i64;
    let n = {
        let p = pass.status.progress();
        *p.converted += done.converted;
        *p.pending = (*p.pending - done.converted).max(0);
        *p.failed = failed;
        if !done.failures.is_empty() {
            *p.recent_failures = done.failures.iter().take(MAX_FAILURES).cloned().collect();
        }
        *p.waves_completed + 1
    };
    // The counts after the wave, not before it.
    let summary = &counts(pass.status.progress());
    if let Some(fatal) = done.fatal {
        let stall = super::failure::fatal_stall(cx, &fatal);
        return pass.stall(stall);
    }
    let label = if canary {
        "canary wave".to_string()
    } else {
        format!("wave {n}")
    };
    pass.events.push(ReconcileEvent::normal(
        reasons::WAVE_COMPLETED,
        "Convert",
        format!(
            "{label}: {} of {size} {} converted, {failed} failed{}",
            done.converted,
            K::WORDS.objects,
            done.note
        ),
    ));
    pass.events.extend(done.events);
    if failed > rollout.max_failures_per_wave {
        *pass.status.progress().phase = Some(status::HALTED.into());
        let first = &done.failures[0];
        let msg = format!(
            "{label}: {failed} of {size} {} failed, more than rollout.maxFailuresPerWave ({}); first: {}. Fix the cause, then change the spec to resume",
            K::WORDS.objects,
            rollout.max_failures_per_wave,
            failure_text(first)
        );
        pass.events.push(ReconcileEvent::warning(
            reasons::AUTO_HALTED,
            "Convert",
            msg.clone(),
        ));
        return pass.stall(Stall::until_spec_change(reasons::AUTO_HALTED, msg));
    }
    let p = pass.status.progress();
    *p.waves_completed = n;
    *p.last_wave_at = Some(Time(cx.ctx.now));
    *p.phase = Some(
        if canary {
            status::CANARY
        } else {
            status::CONVERTING
        }
        .into(),
    );
    if done.converted == 0
        && let Some(first) = done.failures.first()
        && done
            .failures
            .iter()
            .all(|f| f.code == crate::graph::error::REQUEST_DENIED)
    {
        // Every object of the wave was refused one by one: looking again after the pause
        // would send the same refused writes in a loop, so the next try waits as a stall's.
        let msg = format!(
            "{label}: Graph refused every {} of it one by one (first: {}); trying again every 5 minutes: exclude them (spec.exclude) to finish; {summary}",
            one::<K>(),
            failure_text(first)
        );
        return pass.finish(
            Health::Progressing(reasons::RETRYING_FAILURES, msg),
            Some(GUARD_INTERVAL),
        );
    }
    let estimate =
        super::eta::left_suffix(rollout, cx.ctx.graph, *p.pending, n, None, K::WORDS.objects);
    let msg = format!("{label} done; {summary}{estimate}");
    // Look again after the pause (at least a moment, so the next pass reads fresh state).
    let next = rollout.pause.max(Duration::from_secs(1));
    pass.finish(Health::Progressing(reasons::CONVERTING, msg), Some(next))
}

/// A failed object in words: `name (code): message`.
fn failure_text(f: &ObjectFailure) -> String {
    let name = f.name.as_deref().unwrap_or(&f.object_id);
    format!("{name} ({}): {}", f.code, f.message)
}

/// What `plan` shows of a conversion: the next step `apply` would take and its requests.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// The next step, in words.
    pub next_step: String,
    /// The requests it leads to, and what is left alone.
    pub changes: Vec<PlannedChange>,
    /// The AD ↔ Entra link audit of the selection (with `activeDirectory`), every finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_audit: Option<crate::api::active_directory::LinkAudit>,
    /// The object ids selected, sorted (ids only), to compare resources; never printed.
    #[serde(skip)]
    pub selected: crate::guid::IdSet,
    /// Every selected object and what `apply` would do to it.
    pub objects: Vec<crate::reconcile::outcome::PlannedObject>,
    /// The plan of the selection: the digest to approve in `spec.approvedPlan`.
    pub approval: String,
    /// Whether the spec approves it, in words; `None` when it asks for no approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_status: Option<String>,
    /// The permission preflight: what `apply` needs against what the application was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<crate::reconcile::preflight::Report>,
}

/// The decision of a pass, in words, with the kind's requests.
pub(super) fn preview<K: Rollout>(
    cx: &Cx<'_, SpecOf<K>>,
    world: &K::World,
    classified: &Classified<K::Item>,
    step: &Step<K::Item>,
) -> Preview {
    let rollout = &cx.spec.rollout;
    let pending = classified.pending().count();
    let matched = K::matched(world).matched;
    let waves = rollout.waves_needed(pending);
    // As `waves` above: counted as if nothing ran yet.
    let estimate = super::eta::plan_suffix(rollout, cx.ctx.graph, pending, K::WORDS.objects);
    let convert = || {
        format!(
            "convert {pending} {} in {waves} waves (canary {}, then waves of {}){estimate}",
            K::WORDS.objects,
            rollout.canary,
            rollout.wave_size
        )
    };
    let next_step = match step {
        Step::BlastRadiusExceeded { selected, at_least } => format!(
            "stall: {}{selected} {} selected, more than rollout.maxObjects ({}); nothing is written",
            if *at_least { "at least " } else { "" },
            K::WORDS.objects,
            rollout.max_objects
        ),
        _ if matched == 0 => format!(
            "nothing: the selector matches no {}; check spec.selector",
            K::WORDS.objects
        ),
        Step::Report if pending == 0 => format!(
            "report only (mode: Plan): apply writes nothing; every selected {} is as declared",
            one::<K>()
        ),
        Step::Report => format!(
            "report only (mode: Plan): apply writes nothing; with mode: Apply it would {}",
            convert()
        ),
        Step::Halted => "halted on failures: change the spec to resume".into(),
        Step::Pause(d) => format!(
            "wait {} (rollout.pauseBetweenWaves), then {}",
            crate::duration::format(*d),
            convert()
        ),
        Step::ReportDrift => format!(
            "stall: {} converted {} were taken back by AD (drift: Report)",
            classified.drifted().count(),
            K::WORDS.objects
        ),
        Step::Wait => format!(
            "wait: {} {} are still synchronised",
            classified.waiting.len(),
            K::WORDS.objects
        ),
        Step::Confirm => format!(
            "wait: {} {} switched in the last wave do not read back yet (eventual consistency)",
            classified.confirming.len(),
            K::WORDS.objects
        ),
        Step::Converged => format!("nothing: every selected {} is as declared", one::<K>()),
        Step::Wave { .. } => convert(),
    };
    let digest = super::digest::<K>(cx, world);
    let approval = cx.spec.approval();
    Preview {
        objects: objects::<K>(world, classified),
        approval: digest.render(),
        approval_status: approval
            .required
            .then(|| super::approval::plan_row(&approval, &digest)),
        next_step,
        changes: K::describe(cx, world, classified, step),
        link_audit: K::audit(world),
        selected: K::selected(world).collect(),
        permissions: None,
    }
}

/// Every selected object with its action: the objects of the next waves, those drifted,
/// waiting or reading back, then the rest as they are (`none`).
fn objects<K: Rollout>(
    world: &K::World,
    classified: &Classified<K::Item>,
) -> Vec<crate::reconcile::outcome::PlannedObject> {
    use crate::reconcile::outcome::PlannedObject;
    use std::collections::HashMap;
    let mut action: HashMap<String, &'static str> = HashMap::new();
    for t in &classified.work {
        let what = if t.drifted {
            "drifted"
        } else {
            K::action(world, &t.item)
        };
        action.insert(K::object_id(world, &t.item), what);
    }
    let by_name: HashMap<&str, &'static str> = classified
        .waiting
        .iter()
        .map(|n| (n.as_str(), "wait"))
        .chain(
            classified
                .confirming
                .iter()
                .map(|n| (n.as_str(), "read back")),
        )
        .collect();
    let mut out: Vec<PlannedObject> = K::named(world)
        .into_iter()
        .map(|(id, name)| {
            let what = action
                .get(&id)
                .or_else(|| by_name.get(name.as_str()))
                .copied()
                .unwrap_or("none");
            PlannedObject {
                id,
                name,
                action: what,
            }
        })
        .collect();
    // The objects to change first, in a stable order.
    out.sort_by(|a, b| (a.action == "none", &a.name).cmp(&(b.action == "none", &b.name)));
    out
}
