//! How a `CloudUserConversion`'s selection is sorted for the rollout engine, and the requests
//! `plan` shows for it. Pure: no I/O.

use crate::api::user::{CloudUserConversionSpec, UserConversionMethod};
use crate::guid::IdSet;
use crate::reconcile::outcome::PlannedChange;
use crate::reconcile::rollout::plan::{Classified, Step, Todo};

use super::select::{Candidate, Selection};

/// Sort the selection: users to convert (or, for `ClearImmutableId` and after a switch, to
/// clear) in id order, then those AD took back; each by its index in the selection (a wave of
/// 100,000 users is not copied). `applied` holds the ids this resource switched before
/// (journal); `confirming` those of them that do not read back yet within the consistency
/// window: waiting, neither pending nor drift.
pub fn classify(
    spec: &CloudUserConversionSpec,
    sel: &Selection,
    applied: &IdSet,
    confirming: &IdSet,
) -> Classified<usize> {
    let mut c = Classified::default();
    let mut drifted = Vec::new();
    for (index, cand) in sel.candidates.values().enumerate() {
        let pending = |c: &mut Classified<usize>| {
            c.work.push(Todo {
                item: index,
                drifted: false,
            })
        };
        match spec.method {
            UserConversionMethod::RestoreDeleted => {
                if cand.deleted || (cand.formerly_synced && cand.immutable_id().is_some()) {
                    pending(&mut c);
                } else if cand.synced {
                    // Its AD object has not left sync scope yet: someone else moves it; Entra
                    // soft-deletes the user at the next sync cycle.
                    c.waiting.push(cand.upn().to_string());
                } else if cand.formerly_synced {
                    c.converted += 1;
                } else {
                    c.skipped += 1;
                }
            }
            UserConversionMethod::SourceOfAuthority => {
                if confirming.contains(cand.id()) {
                    c.confirming.push(cand.upn().to_string());
                } else if cand.synced || cand.rolled_back {
                    if applied.contains(cand.id()) {
                        drifted.push(Todo {
                            item: index,
                            drifted: true,
                        });
                    } else {
                        pending(&mut c);
                    }
                } else if cand.formerly_synced {
                    if spec.clear_immutable_id && cand.immutable_id().is_some() {
                        pending(&mut c);
                    } else {
                        c.converted += 1;
                    }
                } else {
                    c.skipped += 1;
                }
            }
            UserConversionMethod::ClearImmutableId => {
                if cand.formerly_synced && cand.immutable_id().is_some() {
                    pending(&mut c);
                } else if cand.formerly_synced {
                    c.converted += 1;
                } else {
                    c.skipped += 1;
                }
            }
        }
    }
    c.work.extend(drifted);
    c
}

/// The users at `indexes` of the selection.
pub fn users<'a>(
    sel: &'a Selection,
    indexes: impl IntoIterator<Item = &'a usize> + 'a,
) -> impl Iterator<Item = &'a Candidate> + 'a {
    indexes.into_iter().filter_map(|&i| sel.candidates.at(i))
}

/// The requests `apply` would send for the pending users, and what is left alone.
/// With `RestoreDeleted`: the users still live must leave sync scope first, at most
/// `maxSoftDeletesPerSyncCycle` per Entra Connect sync cycle.
fn out_of_scope(spec: &CloudUserConversionSpec, pending: &[&Candidate]) -> Option<PlannedChange> {
    let live = pending.iter().filter(|u| !u.deleted).count();
    if live == 0 {
        return None;
    }
    let per = usize::try_from(spec.soft_deletes_per_sync_cycle()).unwrap_or(1);
    let cycles = live.div_ceil(per);
    Some(PlannedChange {
        request: "out of sync scope (the AD object moved to activeDirectory.unsyncedOu, or by hand), then soft-deleted by Entra Connect".into(),
        objects: live as i64,
        detail: format!(
            "at most {per} per sync cycle (maxSoftDeletesPerSyncCycle, below Entra Connect's accidental-delete threshold of 500 by default): {cycles} sync cycles, about {} minutes at the default 30-minute interval; a soft-deleted user loses its memberships in synchronised groups",
            cycles * 30
        ),
    })
}

pub fn describe(
    spec: &CloudUserConversionSpec,
    sel: &Selection,
    c: &Classified<usize>,
    step: &Step<usize>,
) -> Vec<PlannedChange> {
    let mut changes = Vec::new();
    let pending: Vec<&Candidate> = users(sel, c.pending()).collect();
    if !pending.is_empty() && !matches!(step, Step::BlastRadiusExceeded { .. }) {
        let request = match spec.method {
            UserConversionMethod::ClearImmutableId => {
                "PATCH /users/{id} onPremisesImmutableId=null"
            }
            UserConversionMethod::RestoreDeleted => {
                "POST /directory/deletedItems/{id}/restore, then PATCH /users/{id} onPremisesImmutableId=null"
            }
            UserConversionMethod::SourceOfAuthority => {
                "PATCH /users/{id}/onPremisesSyncBehavior isCloudManaged=true"
            }
        };
        let sample: Vec<String> = pending
            .iter()
            .take(5)
            .map(|u| u.upn().to_string())
            .collect();
        changes.push(PlannedChange {
            request: request.into(),
            objects: pending.len() as i64,
            detail: format!("e.g. {}", sample.join(", ")),
        });
        if spec.method == UserConversionMethod::RestoreDeleted {
            changes.extend(out_of_scope(spec, &pending));
        }
    }
    let drifted: Vec<String> = users(sel, c.drifted())
        .map(|u| u.upn().to_string())
        .collect();
    if !drifted.is_empty() {
        changes.push(PlannedChange {
            request: "PATCH /users/{id}/onPremisesSyncBehavior isCloudManaged=true (only with drift: Remediate)".into(),
            objects: drifted.len() as i64,
            detail: format!("taken back by AD; e.g. {}", drifted.iter().take(5).cloned().collect::<Vec<_>>().join(", ")),
        });
    }
    for x in &sel.excluded {
        changes.push(PlannedChange::none(
            "excluded",
            0,
            format!("{}: {}", x.user_principal_name, x.reason),
        ));
    }
    if c.skipped > 0 {
        changes.push(PlannedChange::none(
            "not synchronised",
            0,
            format!("{} selected users were never synchronised from AD (or, for ClearImmutableId, still are): nothing to do", c.skipped),
        ));
    }
    if !c.waiting.is_empty() {
        changes.push(PlannedChange::none(
            "waiting",
            0,
            format!(
                "{} users are still synchronised: move their AD objects out of sync scope first (e.g. {})",
                c.waiting.len(),
                c.waiting.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    for upn in &sel.missing {
        changes.push(PlannedChange::none(
            "not found",
            0,
            format!("{upn} does not exist in the tenant"),
        ));
    }
    changes
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(method: &str, extra: serde_json::Value) -> CloudUserConversionSpec {
        let mut v = serde_json::json!({
            "tenantRef": {"name": "contoso"}, "mode": "Apply", "method": method,
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
        let mut c = Candidate::new(id, &format!("{id}@contoso.com"), imm.then_some("x"));
        c.synced = synced;
        c.formerly_synced = formerly;
        c
    }

    fn sel(c: Vec<Candidate>) -> Selection {
        Selection {
            matched: c.len() as i64,
            candidates: super::super::select::Candidates::from_vec(c),
            ..Default::default()
        }
    }

    fn ids<'a>(s: &'a Selection, it: impl Iterator<Item = &'a usize> + 'a) -> Vec<&'a str> {
        users(s, it).map(|c| c.id()).collect()
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
            &spec("SourceOfAuthority", serde_json::json!({})),
            &s,
            &applied,
            &IdSet::default(),
        );
        assert_eq!(ids(&s, soa.pending()), vec!["a"]);
        assert_eq!(
            (soa.converted, soa.skipped, soa.drifted().count()),
            (1, 1, 1)
        );
        let soa_clear = classify(
            &spec(
                "SourceOfAuthority",
                serde_json::json!({"clearImmutableId": true}),
            ),
            &s,
            &applied,
            &IdSet::default(),
        );
        assert_eq!(
            soa_clear.pending().count(),
            2,
            "b still has its ImmutableID"
        );
        let clear = classify(
            &spec("ClearImmutableId", serde_json::json!({})),
            &s,
            &IdSet::default(),
            &IdSet::default(),
        );
        assert_eq!(ids(&s, clear.pending()), vec!["b"]);
        assert_eq!(clear.skipped, 3);
    }

    #[test]
    fn drifted_users_come_after_the_pending_ones() {
        let s = sel(vec![
            cand("a", true, false, true),
            cand("b", true, false, true),
            cand("c", true, false, true),
        ]);
        let applied: IdSet = ["a"].into_iter().collect();
        let c = classify(
            &spec("SourceOfAuthority", serde_json::json!({})),
            &s,
            &applied,
            &IdSet::default(),
        );
        let order: Vec<(&str, bool)> = c
            .work
            .iter()
            .map(|t| (s.candidates.at(t.item).map_or("", |c| c.id()), t.drifted))
            .collect();
        assert_eq!(order, vec![("b", false), ("c", false), ("a", true)]);
    }

    #[test]
    fn users_that_do_not_read_back_yet_are_neither_pending_nor_drift() {
        let s = sel(vec![
            cand("a", true, false, true),
            cand("b", true, false, true),
            cand("c", true, false, true),
        ]);
        let applied: IdSet = ["a", "b"].into_iter().collect();
        let confirming: IdSet = ["a"].into_iter().collect();
        let c = classify(
            &spec("SourceOfAuthority", serde_json::json!({})),
            &s,
            &applied,
            &confirming,
        );
        assert_eq!(c.confirming, vec!["a@contoso.com".to_string()]);
        assert_eq!(ids(&s, c.pending()), vec!["c"]);
        assert_eq!(ids(&s, c.drifted()), vec!["b"], "outside the window: drift");
        assert_eq!(c.pending_count(), 2);
    }

    #[test]
    fn restore_deleted_waits_for_synchronised_users() {
        let mut deleted = cand("a", false, true, true);
        deleted.deleted = true;
        let s = sel(vec![
            deleted,
            cand("b", true, false, true),
            cand("c", false, true, false),
        ]);
        let c = classify(
            &spec("RestoreDeleted", serde_json::json!({})),
            &s,
            &IdSet::default(),
            &IdSet::default(),
        );
        assert_eq!(ids(&s, c.pending()), vec!["a"]);
        assert_eq!(c.waiting, vec!["b@contoso.com".to_string()]);
        assert_eq!((c.converted, c.skipped), (1, 0));
        assert_eq!(c.pending_count(), 2, "waiting users are pending too");
    }
}
