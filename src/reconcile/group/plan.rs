//! How a `CloudGroupConversion`'s selection is sorted for the rollout engine (bottom-up), and
//! the requests `plan` shows for it. Pure: no I/O.

use std::collections::BTreeSet;

use crate::reconcile::outcome::PlannedChange;
use crate::reconcile::rollout::plan::{Classified, Step, Todo};

use super::select::{Candidate, Owner, Selection};

/// What this resource did before, from its journal.
#[derive(Debug, Default, Clone)]
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
}

/// Sort the selection, visiting groups in `order` (bottom-up ids of the candidates): nested
/// groups before the groups containing them, drifted ones in their place. `confirming`: the
/// switched groups that do not read back yet within the consistency window (waiting).
pub fn classify(
    sel: &Selection,
    done: &Done,
    order: &[String],
    confirming: &BTreeSet<String>,
) -> Classified<Work> {
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
        let work = |switch, drifted| Todo {
            item: Work {
                group: g.clone(),
                switch,
                owners: owners.clone(),
            },
            drifted,
        };
        if confirming.contains(&g.id) {
            c.confirming.push(g.name.clone());
        } else if g.synced {
            c.work.push(work(true, done.switched.contains(&g.id)));
        } else if g.formerly_synced {
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

/// Names of the converted mail-enabled groups, in `order` (Exchange Online manages them).
pub fn exchange_managed(sel: &Selection, order: &[String]) -> Vec<String> {
    order
        .iter()
        .filter_map(|id| sel.candidates.get(id))
        .filter(|g| !g.synced && g.formerly_synced && g.exchange_managed)
        .map(|g| g.name.clone())
        .collect()
}

/// The requests `apply` would send for the pending groups, and what is left alone.
pub fn describe(sel: &Selection, c: &Classified<Work>, step: &Step<Work>) -> Vec<PlannedChange> {
    let mut changes = Vec::new();
    if matches!(step, Step::BlastRadiusExceeded { .. }) {
        return changes;
    }
    let switch: Vec<&Work> = c.pending().filter(|w| w.switch).collect();
    let owners: Vec<&Work> = c.pending().filter(|w| !w.owners.is_empty()).collect();
    let sample = |w: &[&Work]| {
        let names: Vec<String> = w.iter().take(5).map(|w| w.group.name.clone()).collect();
        format!("e.g. {}", names.join(", "))
    };
    if !switch.is_empty() {
        changes.push(PlannedChange {
            request: "PATCH /groups/{id}/onPremisesSyncBehavior isCloudManaged=true".into(),
            objects: switch.len() as i64,
            detail: format!("in this order, nested groups first; {}", sample(&switch)),
        });
    }
    let mail: Vec<&Work> = switch
        .iter()
        .copied()
        .filter(|w| w.group.exchange_managed)
        .collect();
    if !mail.is_empty() {
        changes.push(PlannedChange::none(
            "Exchange Online manages them afterwards; no owners added",
            mail.len() as i64,
            format!("mail-enabled groups; {}", sample(&mail)),
        ));
    }
    if !owners.is_empty() {
        let names: Vec<String> = sel.owners.iter().map(|o| o.name.clone()).collect();
        changes.push(PlannedChange {
            request: "POST /groups/{id}/owners/$ref".into(),
            objects: owners.len() as i64,
            detail: format!("owners {}; {}", names.join(", "), sample(&owners)),
        });
    }
    let drifted: Vec<&Work> = c.drifted().collect();
    if !drifted.is_empty() {
        changes.push(PlannedChange {
            request: "PATCH /groups/{id}/onPremisesSyncBehavior isCloudManaged=true (only with drift: Remediate)".into(),
            objects: drifted.len() as i64,
            detail: format!("taken back by AD; {}", sample(&drifted)),
        });
    }
    for x in &sel.excluded {
        changes.push(PlannedChange::none(
            "excluded",
            0,
            format!(
                "{}: {}",
                x.display_name.clone().unwrap_or_else(|| x.id.clone()),
                x.reason
            ),
        ));
    }
    for id in &sel.missing {
        changes.push(PlannedChange::none(
            "not found",
            0,
            format!("group {id} does not exist in the tenant"),
        ));
    }
    changes
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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

    fn ids(w: &[Todo<Work>]) -> Vec<&str> {
        w.iter().map(|w| w.item.group.id.as_str()).collect()
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
        let c = classify(&s, &done, &order, &BTreeSet::new());
        assert_eq!(ids(&c.work), vec!["f", "e", "b", "a"]);
        assert!(c.work[0].drifted && !c.work[1].drifted);
        assert!(c.work[1].item.owners.is_empty(), "mail-enabled: no owners");
        assert!(!c.work[2].item.switch);
        assert_eq!(c.work[2].item.owners.len(), 1, "o1 was added before");
        assert_eq!(c.work[3].item.owners.len(), 2);
        assert_eq!((c.converted, c.skipped), (1, 1));
        assert_eq!(exchange_managed(&s, &order), vec!["G c".to_string()]);
        assert_eq!(c.pending().count(), 3);
        assert_eq!(c.drifted().count(), 1);
    }

    #[test]
    fn drifted_groups_keep_their_place_in_the_order() {
        let s = sel(
            vec![cand("a", true, false, false), cand("b", false, true, false)],
            &[],
        );
        let order = vec!["a".to_string(), "b".to_string()];
        let done = Done {
            switched: ["a".to_string()].into(),
            ..Default::default()
        };
        let c = classify(&s, &done, &order, &BTreeSet::new());
        assert_eq!(c.drifted().count(), 1);
        assert_eq!(c.pending().count(), 0);
        let none = classify(&s, &Done::default(), &["b".to_string()], &BTreeSet::new());
        assert!(none.work.is_empty());
        assert_eq!(none.converted, 1);
    }
}
