//! What a pass reports: the status and Events after a wave, drift, and counts in words.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::group::{CloudGroupConversionSpec, CloudGroupConversionStatus};
use crate::reconcile::GUARD_INTERVAL;
use crate::reconcile::health::Health;
use crate::reconcile::remedy::stall_message;
use crate::reconcile::{Context, Outcome, ReconcileEvent};

use super::{Input, MAX_LISTED, Pass, convert};

/// `names` as "a, b, c" (at most five, then "…").
pub(super) fn listed(names: &[String]) -> String {
    let mut s = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        s.push_str(", …");
    }
    s
}

/// The status and Events after a wave: counts, failures, Exchange-managed groups; `Stalled`
/// on a fatal error or too many failures (`AutoHalted`), else progressing after the pause.
pub(super) fn after_wave(
    mut pass: Pass,
    ctx: &Context<'_>,
    input: &Input<'_>,
    size: usize,
    canary: bool,
    report: convert::WaveReport,
    summary: String,
) -> Outcome<CloudGroupConversionStatus> {
    let spec = input.spec;
    let n = pass.status.waves_completed + 1;
    let failed = report.failures.len() as i64;
    let st = &mut pass.status;
    st.converted += report.converted;
    st.pending = (st.pending - report.converted).max(0);
    st.failed = failed;
    for name in &report.exchange_managed {
        if st.exchange_managed.len() < MAX_LISTED && !st.exchange_managed.contains(name) {
            st.exchange_managed.push(name.clone());
        }
    }
    if !report.failures.is_empty() {
        st.recent_failures = report.failures.iter().take(10).cloned().collect();
    }
    if let Some(fatal) = report.fatal {
        let msg = stall_message(
            &fatal,
            input.tenant,
            &ctx.resource.namespace,
            &crate::reconcile::permissions::groups(spec),
        );
        return pass.finish(
            Health::Stalled(fatal.category().reason(), msg),
            Some(GUARD_INTERVAL),
        );
    }
    let label = if canary {
        "canary wave".to_string()
    } else {
        format!("wave {n}")
    };
    let mut note = format!(
        "{label}: {} of {size} groups converted, {failed} failed, {} owners added",
        report.converted, report.owners_added
    );
    if !report.deferred.is_empty() {
        note.push_str(&format!(
            "; {} left for a later wave (a group nested in them failed): {}",
            report.deferred.len(),
            listed(&report.deferred)
        ));
    }
    pass.events.push(ReconcileEvent::normal(
        crate::reasons::WAVE_COMPLETED,
        "Convert",
        note,
    ));
    if !report.exchange_managed.is_empty() {
        pass.events.push(ReconcileEvent::normal(
            crate::reasons::EXCHANGE_MANAGED,
            "Convert",
            format!(
                "{} mail-enabled groups are now managed in Exchange Online (Graph refuses writes to them; no owners were added): {}",
                report.exchange_managed.len(),
                listed(&report.exchange_managed)
            ),
        ));
    }
    if failed > spec.rollout.max_failures_per_wave {
        pass.status.phase = Some("Halted".into());
        let first = &report.failures[0];
        let msg = format!(
            "{label}: {failed} of {size} groups failed, more than rollout.maxFailuresPerWave ({}); first: {} ({}): {}. Fix the cause, then change the spec to resume",
            spec.rollout.max_failures_per_wave,
            first.name.clone().unwrap_or_default(),
            first.code,
            first.message
        );
        pass.events.push(ReconcileEvent::warning(
            crate::reasons::AUTO_HALTED,
            "Convert",
            msg.clone(),
        ));
        return pass.finish(Health::Stalled(crate::reasons::AUTO_HALTED, msg), None);
    }
    pass.status.waves_completed = n;
    pass.status.last_wave_at = Some(Time(ctx.now));
    pass.status.phase = Some(if canary { "Canary" } else { "Converting" }.into());
    let pause =
        crate::api::common::parse_duration(&spec.rollout.pause_between_waves).unwrap_or_default();
    let msg = format!("{label} done; {summary}");
    // Look again after the pause (at least a moment, so the next pass reads fresh state).
    let next = pause.max(Duration::from_secs(1));
    pass.finish(
        Health::Progressing(crate::reasons::CONVERTING, msg),
        Some(next),
    )
}

/// Waves (the canary counting as one) to convert `pending` groups.
pub(super) fn waves_needed(spec: &CloudGroupConversionSpec, pending: i64) -> i64 {
    if pending == 0 {
        return 0;
    }
    let canary = spec.rollout.canary.min(pending);
    let rest = pending - canary;
    i64::from(canary > 0) + (rest + spec.rollout.wave_size - 1) / spec.rollout.wave_size
}

/// `DriftDetected=True` naming the groups AD took back (an Event when it turns true).
pub(super) fn mark_drift(pass: &mut Pass, names: &[String]) {
    pass.mark_drift(format!(
        "{} converted groups are synchronised from AD again: {}",
        names.len(),
        listed(names)
    ));
}

/// `DriftDetected=False` once no converted group is synchronised again.
pub(super) fn resolve_drift(pass: &mut Pass) {
    pass.resolve_drift("every converted group is cloud-managed again");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn waves_needed_counts_the_canary() {
        let spec: CloudGroupConversionSpec = serde_json::from_value(serde_json::json!({
            "tenantRef": {"name": "t"}, "mode": "Apply", "selector": {"filter": "x eq 'y'"},
            "rollout": {"waveSize": 10, "canary": 2}
        }))
        .unwrap();
        assert_eq!(waves_needed(&spec, 0), 0);
        assert_eq!(waves_needed(&spec, 12), 2);
        assert_eq!(waves_needed(&spec, 13), 3);
        let names: Vec<String> = (0..7).map(|i| format!("g{i}")).collect();
        assert_eq!(listed(&names[..2]), "g0, g1");
        assert_eq!(listed(&names), "g0, g1, g2, g3, g4, …");
    }
}
