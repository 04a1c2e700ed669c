//! What to do next for a `CloudGroupConversion`, from the selection in bottom-up order, the
//! journal and the last status. Pure: no I/O.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::api::common::{ConversionMode, parse_duration};
use crate::api::group::{CloudGroupConversionSpec, CloudGroupConversionStatus};
use crate::api::tenant::DriftPolicy;

use super::select::{Candidate, Owner, Selection};

/// What this resource did before, from its journal.
#[derive(Debug, Default)]
pub struct Done {
    /// Groups it switched to the cloud (`SwitchToCloud` applied).
    pub switched: BTreeSet<String>,
    /// (group id, owner id) pairs it added (`AddOwner` applied).
    pub owners: BTreeSet<(String, String)>,
}

/// One group's remaining changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    /// The group.
    pub group: Candidate,
    /// It needs the Source of Authority switch.
    pub switch: bool,
    /// Owners still to add (none for mail-enabled groups: Exchange Online manages them).
    pub owners: Vec<Owner>,
    /// This resource switched it before and AD took it back.
    pub drifted: bool,
}

/// The selection sorted by what it needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Classified {
    /// Groups with changes to make, bottom-up (nested groups before their containers).
    pub work: Vec<Work>,
    /// Groups already as declared.
    pub converted: i64,
    /// Groups with nothing to do (never synchronised).
    pub skipped: i64,
    /// Names of the converted mail-enabled groups (Exchange Online manages them).
    pub exchange_managed: Vec<String>,
}

impl Classified {
    /// Groups to convert (or to give their owners), drift aside.
    pub fn pending(&self) -> impl Iterator<Item = &Work> {
        self.work.iter().filter(|w| !w.drifted)
    }

    /// Groups this resource converted that AD took back.
    pub fn drifted(&self) -> impl Iterator<Item = &Work> {
        self.work.iter().filter(|w| w.drifted)
    }
}

/// Sort the selection, visiting groups in `order` (bottom-up ids of the candidates).
pub fn classify(sel: &Selection, done: &Done, order: &[String]) -> Classified {
    let mut c = Classified::default();
    for g in order.iter().filter_map(|id| sel.candidates.get(id)) {
        let owners: Vec<Owner> = if g.exchange_managed {
            Vec::new()
        } else {
            sel.owners
                .iter()
                .filter(|o| !done.owners.contains(&(g.id.clone(), o.id.clone())))
                .cloned()
                .collect()
        };
        let work = |switch, drifted| Work {
            group: g.clone(),
            switch,
            owners: owners.clone(),
            drifted,
        };
        if g.synced {
            c.work.push(work(true, done.switched.contains(&g.id)));
        } else if g.formerly_synced {
            if g.exchange_managed {
                c.exchange_managed.push(g.name.clone());
            }
            if owners.is_empty() {
                c.converted += 1;
            } else {
                c.work.push(work(false, false));
            }
        } else {
            c.skipped += 1;
        }
    }
    c
}

/// The next step.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// `mode: Plan`: report only.
    Report,
    /// More groups than `maxObjects` (at least this many).
    BlastRadiusExceeded(i64),
    /// The rollout halted on failures; waits for a spec change.
    Halted,
    /// Waiting between waves.
    Pause(Duration),
    /// Convert these groups, bottom-up (the canary when `canary`).
    Wave {
        /// The groups.
        groups: Vec<Work>,
        /// Whether it is the canary wave.
        canary: bool,
    },
    /// Drift, `Report` declared: wait for a human.
    ReportDrift,
    /// Everything as declared.
    Converged,
}

/// Decide the next step. `fresh`: the status describes another generation (or none);
/// `truncated`: the selection stopped counting past `maxObjects`.
pub fn decide(
    spec: &CloudGroupConversionSpec,
    c: &Classified,
    status: &CloudGroupConversionStatus,
    drift: DriftPolicy,
    fresh: bool,
    truncated: bool,
    now: jiff::Timestamp,
) -> Step {
    let selected = c.work.len() as i64 + c.converted;
    if truncated || selected > spec.rollout.max_objects {
        return Step::BlastRadiusExceeded(selected);
    }
    if spec.mode == ConversionMode::Plan {
        return Step::Report;
    }
    if !fresh && status.phase.as_deref() == Some("Halted") {
        return Step::Halted;
    }
    let remediate = drift == DriftPolicy::Remediate;
    let mut todo: Vec<Work> = c
        .work
        .iter()
        .filter(|w| !w.drifted || remediate)
        .cloned()
        .collect();
    if todo.is_empty() {
        return if c.drifted().next().is_none() {
            Step::Converged
        } else {
            Step::ReportDrift
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
    todo.truncate(usize::try_from(size).unwrap_or(usize::MAX));
    Step::Wave {
        groups: todo,
        canary,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn spec(mode: &str) -> CloudGroupConversionSpec {
        serde_json::from_value(serde_json::json!({
            "tenantRef": {"name": "contoso"}, "mode": mode,
            "selector": {"filter": "startswith(displayName,'SG')"},
            "rollout": {"maxObjects": 10, "waveSize": 3, "canary": 1, "pauseBetweenWaves": "10m"}
        }))
        .unwrap()
    }

    fn cand(id: &str, synced: bool, formerly: bool, mail: bool) -> Candidate {
        Candidate {
            id: id.into(),
            name: format!("G {id}"),
            synced,
            formerly_synced: formerly,
            exchange_managed: mail,
        }
    }

    fn sel(c: Vec<Candidate>, owners: &[&str]) -> Selection {
        Selection {
            matched: c.len() as i64,
            candidates: c.into_iter().map(|c| (c.id.clone(), c)).collect(),
            owners: owners
                .iter()
                .map(|o| Owner {
                    id: o.to_string(),
                    name: format!("{o}@contoso.com"),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn ids(w: &[Work]) -> Vec<&str> {
        w.iter().map(|w| w.group.id.as_str()).collect()
    }

    fn ts(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn classification_keeps_the_order_and_tracks_owners() {
        let s = sel(
            vec![
                cand("a", true, false, false),
                cand("b", false, true, false),
                cand("c", false, true, true),
                cand("d", false, false, false),
                cand("e", true, false, true),
                cand("f", true, false, false),
            ],
            &["o1", "o2"],
        );
        let order: Vec<String> = ["f", "e", "d", "c", "b", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let done = Done {
            switched: ["f".to_string()].into(),
            owners: [("b".to_string(), "o1".to_string())].into(),
        };
        let c = classify(&s, &done, &order);
        assert_eq!(ids(&c.work), vec!["f", "e", "b", "a"]);
        assert!(c.work[0].drifted && !c.work[1].drifted);
        assert!(c.work[1].owners.is_empty(), "mail-enabled: no owners");
        assert!(!c.work[2].switch);
        assert_eq!(c.work[2].owners.len(), 1, "o1 was added before");
        assert_eq!(c.work[3].owners.len(), 2);
        assert_eq!((c.converted, c.skipped), (1, 1));
        assert_eq!(c.exchange_managed, vec!["G c".to_string()]);
        assert_eq!(c.pending().count(), 3);
        assert_eq!(c.drifted().count(), 1);
    }

    #[test]
    fn waves_follow_the_order_with_canary_pause_and_guards() {
        let s = sel(
            (0..8)
                .map(|i| cand(&format!("g{i}"), true, false, false))
                .collect(),
            &[],
        );
        let order: Vec<String> = (0..8).rev().map(|i| format!("g{i}")).collect();
        let c = classify(&s, &Done::default(), &order);
        let sp = spec("Apply");
        let mut st = CloudGroupConversionStatus::default();
        let d = |st: &CloudGroupConversionStatus, fresh, t| {
            decide(&sp, &c, st, DriftPolicy::Report, fresh, false, ts(t))
        };
        match d(&st, true, 0) {
            Step::Wave { groups, canary } => {
                assert_eq!((ids(&groups), canary), (vec!["g7"], true))
            }
            other => panic!("{other:?}"),
        }
        st.waves_completed = 1;
        st.last_wave_at = Some(Time(ts(0)));
        assert_eq!(d(&st, false, 60), Step::Pause(Duration::from_secs(540)));
        match d(&st, false, 600) {
            Step::Wave { groups, canary } => assert_eq!((groups.len(), canary), (3, false)),
            other => panic!("{other:?}"),
        }
        st.phase = Some("Halted".into());
        assert_eq!(d(&st, false, 600), Step::Halted);
        assert!(matches!(d(&st, true, 600), Step::Wave { .. }));
        let plan = spec("Plan");
        assert_eq!(
            decide(&plan, &c, &st, DriftPolicy::Report, true, false, ts(0)),
            Step::Report
        );
        assert_eq!(
            decide(&plan, &c, &st, DriftPolicy::Report, true, true, ts(0)),
            Step::BlastRadiusExceeded(8),
            "a truncated walk is over the limit whatever it counted"
        );
    }

    #[test]
    fn drift_is_reported_or_remediated() {
        let s = sel(
            vec![cand("a", true, false, false), cand("b", false, true, false)],
            &[],
        );
        let order = vec!["a".to_string(), "b".to_string()];
        let done = Done {
            switched: ["a".to_string()].into(),
            ..Default::default()
        };
        let c = classify(&s, &done, &order);
        let sp = spec("Apply");
        let st = CloudGroupConversionStatus::default();
        let d = |p| decide(&sp, &c, &st, p, false, false, ts(0));
        assert_eq!(d(DriftPolicy::Report), Step::ReportDrift);
        assert!(matches!(d(DriftPolicy::Remediate), Step::Wave { .. }));
        let none = classify(&s, &Done::default(), &["b".to_string()]);
        assert_eq!(
            decide(&sp, &none, &st, DriftPolicy::Report, false, false, ts(0)),
            Step::Converged
        );
    }
}
