//! What to do next for a `CloudUserConversion`, from the selection, the journal and the last
//! status. Pure: no I/O.

use std::time::Duration;

use crate::api::common::{ConversionMode, parse_duration};
use crate::api::tenant::DriftPolicy;
use crate::api::user::{CloudUserConversionSpec, CloudUserConversionStatus, UserConversionMethod};

use super::select::{Candidate, Selection};
use crate::guid::IdSet;

/// The selection sorted by what it needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Classified<'a> {
    /// Users to convert (or, for `ClearImmutableId` and after a switch, to clear).
    pub pending: Vec<&'a Candidate>,
    /// Users already as declared.
    pub converted: i64,
    /// Users with nothing to do (never synchronised; for `ClearImmutableId`, still synchronised).
    pub skipped: i64,
    /// Users this resource converted that AD took back.
    pub drifted: Vec<&'a Candidate>,
    /// `RestoreDeleted`: users still synchronised, waiting for their soft delete.
    pub waiting: Vec<String>,
}

/// Sort the selection. `applied` holds the ids this resource switched before (journal).
pub fn classify<'a>(
    spec: &CloudUserConversionSpec,
    sel: &'a Selection,
    applied: &IdSet,
) -> Classified<'a> {
    let mut c = Classified::default();
    for cand in sel.candidates.values() {
        match spec.method {
            UserConversionMethod::RestoreDeleted => {
                if cand.deleted || (cand.formerly_synced && cand.immutable_id.is_some()) {
                    c.pending.push(cand);
                } else if cand.synced {
                    // Its AD object has not left sync scope yet: someone else moves it; Entra
                    // soft-deletes the user at the next sync cycle.
                    c.waiting.push(cand.upn.clone());
                } else if cand.formerly_synced {
                    c.converted += 1;
                } else {
                    c.skipped += 1;
                }
            }
            UserConversionMethod::SourceOfAuthority => {
                if cand.synced || cand.rolled_back {
                    if applied.contains(&cand.id) {
                        c.drifted.push(cand);
                    } else {
                        c.pending.push(cand);
                    }
                } else if cand.formerly_synced {
                    if spec.clear_immutable_id && cand.immutable_id.is_some() {
                        c.pending.push(cand);
                    } else {
                        c.converted += 1;
                    }
                } else {
                    c.skipped += 1;
                }
            }
            UserConversionMethod::ClearImmutableId => {
                if cand.formerly_synced && cand.immutable_id.is_some() {
                    c.pending.push(cand);
                } else if cand.formerly_synced {
                    c.converted += 1;
                } else {
                    c.skipped += 1;
                }
            }
        }
    }
    c
}

/// The next step.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// `mode: Plan`: report only.
    Report,
    /// More objects than `maxObjects`.
    BlastRadiusExceeded(i64),
    /// The rollout halted on failures; waits for a spec change.
    Halted,
    /// Waiting between waves.
    Pause(Duration),
    /// Convert these users (the canary when `canary`).
    Wave {
        /// The users (borrowed from the selection: a wave of 100,000 is not copied).
        users: Vec<&'a Candidate>,
        /// Whether it is the canary wave.
        canary: bool,
    },
    /// Drift, `Report` declared: wait for a human.
    ReportDrift,
    /// `RestoreDeleted`: waiting for Entra to soft-delete users whose AD objects leave scope.
    WaitForSoftDelete,
    /// Everything as declared.
    Converged,
}

/// Decide the next step. `fresh`: the status describes another generation (or none).
pub fn decide<'a>(
    spec: &CloudUserConversionSpec,
    c: &Classified<'a>,
    status: &CloudUserConversionStatus,
    drift: DriftPolicy,
    fresh: bool,
    now: jiff::Timestamp,
) -> Step<'a> {
    let selected =
        c.pending.len() as i64 + c.converted + c.drifted.len() as i64 + c.waiting.len() as i64;
    if selected > spec.rollout.max_objects {
        return Step::BlastRadiusExceeded(selected);
    }
    if spec.mode == ConversionMode::Plan {
        return Step::Report;
    }
    if !fresh && status.phase.as_deref() == Some("Halted") {
        return Step::Halted;
    }
    let drifted: &[&'a Candidate] = if drift == DriftPolicy::Remediate {
        &c.drifted
    } else {
        &[]
    };
    if c.pending.is_empty() && drifted.is_empty() {
        return if !c.drifted.is_empty() {
            Step::ReportDrift
        } else if !c.waiting.is_empty() {
            Step::WaitForSoftDelete
        } else {
            Step::Converged
        };
    }
    let waves_done = if fresh { 0 } else { status.waves_completed };
    if waves_done > 0
        && let Some(last) = &status.last_wave_at
    {
        let pause = parse_duration(&spec.rollout.pause_between_waves).unwrap_or_default();
        let since = now.duration_since(last.0).unsigned_abs();
        if since < pause && last.0 <= now {
            return Step::Pause(pause - since);
        }
    }
    let canary = waves_done == 0 && spec.rollout.canary > 0;
    let size = if canary {
        spec.rollout.canary
    } else {
        spec.rollout.wave_size
    };
    let users = c
        .pending
        .iter()
        .chain(drifted)
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .copied()
        .collect();
    Step::Wave { users, canary }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn spec(mode: &str, method: &str, extra: serde_json::Value) -> CloudUserConversionSpec {
        let mut v = serde_json::json!({
            "tenantRef": {"name": "contoso"}, "mode": mode, "method": method,
            "selector": {"domains": ["contoso.com"]},
            "rollout": {"maxObjects": 10, "waveSize": 3, "canary": 1, "pauseBetweenWaves": "10m"}
        });
        if let serde_json::Value::Object(m) = extra {
            for (k, x) in m {
                v[k] = x;
            }
        }
        serde_json::from_value(v).unwrap()
    }

    fn cand(id: &str, synced: bool, formerly: bool, imm: bool) -> Candidate {
        Candidate {
            id: id.into(),
            upn: format!("{id}@contoso.com"),
            synced,
            formerly_synced: formerly,
            immutable_id: imm.then(|| "x".into()),
            deleted: false,
            rolled_back: false,
        }
    }

    fn sel(c: Vec<Candidate>) -> Selection {
        Selection {
            matched: c.len() as i64,
            candidates: super::super::select::Candidates::from_vec(c),
            ..Default::default()
        }
    }

    fn ts(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn classification_by_method() {
        let s = sel(vec![
            cand("a", true, false, true),
            cand("b", false, true, true),
            cand("c", false, false, false),
            cand("d", true, false, true),
        ]);
        let applied: IdSet = ["d"].into_iter().collect();
        let soa = classify(
            &spec("Apply", "SourceOfAuthority", serde_json::json!({})),
            &s,
            &applied,
        );
        assert_eq!(
            soa.pending
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>(),
            vec!["a"]
        );
        assert_eq!((soa.converted, soa.skipped, soa.drifted.len()), (1, 1, 1));
        let soa_clear = classify(
            &spec(
                "Apply",
                "SourceOfAuthority",
                serde_json::json!({"clearImmutableId": true}),
            ),
            &s,
            &applied,
        );
        assert_eq!(soa_clear.pending.len(), 2, "b still has its ImmutableID");
        let clear = classify(
            &spec("Apply", "ClearImmutableId", serde_json::json!({})),
            &s,
            &IdSet::default(),
        );
        assert_eq!(
            clear
                .pending
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>(),
            vec!["b"]
        );
        assert_eq!(clear.skipped, 3);
    }

    #[test]
    fn waves_canary_pause_and_guards() {
        let s = sel((0..8)
            .map(|i| cand(&format!("u{i}"), true, false, true))
            .collect());
        let sp = spec("Apply", "SourceOfAuthority", serde_json::json!({}));
        let c = classify(&sp, &s, &IdSet::default());
        let mut st = CloudUserConversionStatus::default();
        match decide(&sp, &c, &st, DriftPolicy::Report, true, ts(0)) {
            Step::Wave { users, canary } => assert_eq!((users.len(), canary), (1, true)),
            other => panic!("{other:?}"),
        }
        st.waves_completed = 1;
        st.last_wave_at = Some(Time(ts(0)));
        assert_eq!(
            decide(&sp, &c, &st, DriftPolicy::Report, false, ts(60)),
            Step::Pause(Duration::from_secs(540))
        );
        match decide(&sp, &c, &st, DriftPolicy::Report, false, ts(600)) {
            Step::Wave { users, canary } => assert_eq!((users.len(), canary), (3, false)),
            other => panic!("{other:?}"),
        }
        st.phase = Some("Halted".into());
        assert_eq!(
            decide(&sp, &c, &st, DriftPolicy::Report, false, ts(600)),
            Step::Halted
        );
        assert!(
            matches!(
                decide(&sp, &c, &st, DriftPolicy::Report, true, ts(600)),
                Step::Wave { .. }
            ),
            "a spec change resumes"
        );
        let plan = spec("Plan", "SourceOfAuthority", serde_json::json!({}));
        assert_eq!(
            decide(&plan, &c, &st, DriftPolicy::Report, true, ts(0)),
            Step::Report
        );
        let big = sel((0..11)
            .map(|i| cand(&format!("u{i}"), true, false, true))
            .collect());
        let cb = classify(&sp, &big, &IdSet::default());
        assert_eq!(
            decide(&plan, &cb, &st, DriftPolicy::Report, true, ts(0)),
            Step::BlastRadiusExceeded(11)
        );
    }

    #[test]
    fn drift_is_reported_or_remediated() {
        let s = sel(vec![
            cand("a", true, false, true),
            cand("b", false, true, true),
        ]);
        let applied: IdSet = ["a"].into_iter().collect();
        let sp = spec("Apply", "SourceOfAuthority", serde_json::json!({}));
        let c = classify(&sp, &s, &applied);
        let st = CloudUserConversionStatus::default();
        assert_eq!(
            decide(&sp, &c, &st, DriftPolicy::Report, false, ts(0)),
            Step::ReportDrift
        );
        assert!(matches!(
            decide(&sp, &c, &st, DriftPolicy::Remediate, false, ts(0)),
            Step::Wave { .. }
        ));
        let converged = sel(vec![cand("b", false, true, true)]);
        let none = classify(&sp, &converged, &applied);
        assert_eq!(
            decide(&sp, &none, &st, DriftPolicy::Report, false, ts(0)),
            Step::Converged
        );
    }
}
