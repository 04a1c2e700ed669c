//! Resume after a stop: settle, by reading Graph back, every change the journal shows as
//! intended but never answered.
//!
//! A wave journals its intents (durably) before any request leaves and the outcomes after the
//! answers. An operator killed in between leaves intents without an outcome: either the
//! request never left (killed before the Graph write) or it landed and the answer was lost
//! (killed after it). Both are told apart by reading the object: the outcome is recorded then,
//! `Applied` or `Failed`, with a `note` saying it was read back, and the prior value carried
//! over from the intent (so a revert finds it). A change recorded `Failed` that Graph shows
//! done (a write that landed although every answer was lost) is recorded `Applied` the same way.
//!
//! The invariant this keeps: in the journal, every intent of a user's step is followed by
//! exactly one outcome, and each step a user went through has exactly one `Applied`.

use std::collections::BTreeMap;

use crate::graph::GraphError;
use crate::journal::{Action, Phase, Record};
use futures::StreamExt;

use crate::reconcile::rollout::consistency::read_back;
use crate::reconcile::{Context, ReconcileError};

use super::select::{Candidate, Selection};

/// The steps of a user conversion; revert entries settle on their own.
const STEPS: [Action; 3] = [
    Action::RestoreUser,
    Action::SwitchToCloud,
    Action::ClearImmutableId,
];

/// What the journal last says about one user's step.
#[derive(Debug, Clone)]
struct Last {
    /// The last intent (its prior values are carried into the outcome).
    intent: Record,
    /// The phase of the last record: `Intent` when no outcome followed it.
    phase: Phase,
}

/// What a pass needs from the journal, gathered entry by entry, so that memory holds one id
/// per converted user and the few changes still open, not the journal itself. Kept by the
/// journal between passes ([`crate::journal::Scan`]): a steady pass reads only what is new.
#[derive(Debug, Default, Clone)]
pub struct JournalScan {
    /// Users whose Source of Authority this resource switched (an `Applied` switch).
    pub switched: crate::guid::IdSet,
    /// Users whose ImmutableID this resource cleared (an `Applied` clear).
    pub cleared: crate::guid::IdSet,
    /// For each (user, step) whose last record is not `Applied`: the last intent and the
    /// phase of the last record (`Intent` when no outcome followed it, or `Failed`).
    open: BTreeMap<(String, Action), Last>,
    /// The memberships recorded before users left sync scope (`RestoreDeleted`).
    pub memberships: super::memberships::Recorded,
}

impl JournalScan {
    /// Reads the journal of the pass's resource (what was appended since the last pass, when
    /// the journal kept this scan).
    pub async fn read(ctx: &Context<'_>) -> Result<Self, crate::journal::JournalError> {
        crate::journal::scan(ctx.journal, &ctx.resource).await
    }

    /// Takes in one record, in journal order.
    pub fn visit(&mut self, r: Record) {
        self.memberships.visit(&r);
        if r.object_type != "user" || !STEPS.contains(&r.action) {
            return;
        }
        let key = (r.object_id.clone(), r.action);
        match r.phase {
            Phase::Intent => {
                self.open.insert(
                    key,
                    Last {
                        intent: r,
                        phase: Phase::Intent,
                    },
                );
            }
            Phase::Applied => {
                self.open.remove(&key);
                if r.action == Action::ClearImmutableId {
                    self.cleared.insert(&key.0);
                }
                if r.action == Action::SwitchToCloud {
                    self.switched.insert(&key.0);
                }
            }
            Phase::Failed => {
                if let Some(l) = self.open.get_mut(&key) {
                    l.phase = Phase::Failed;
                }
            }
        }
    }

    /// Changes left open (or failed): how many, for tests and logs.
    pub fn open_len(&self) -> usize {
        self.open.len()
    }
}

impl crate::journal::Scan for JournalScan {
    fn feed(&mut self, e: &crate::journal::Entry) {
        self.visit(e.record.clone());
    }
}

/// Whether Graph shows a step done, from what the selection read (`None`: read it).
fn shown_done(action: Action, c: Option<&Candidate>) -> Option<bool> {
    let c = c?;
    match action {
        Action::RestoreUser => Some(!c.deleted),
        Action::ClearImmutableId => Some(!c.deleted && c.immutable_id().is_none()),
        // The switch is read explicitly: a user that reads as not synchronised may also have
        // been switched back (and not yet taken back by the sync client).
        _ => None,
    }
}

/// What resuming found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Intents (or failed answers) whose change Graph shows done.
    pub applied: usize,
    /// Intents whose change Graph shows not done: the request never left, or failed.
    pub abandoned: usize,
}

/// Settle what the journal leaves open, appending one outcome per open intent (and `Applied`
/// for a failed answer whose change Graph shows done). Returns the records appended too, so
/// the caller sees the journal as it now stands.
pub async fn settle(
    ctx: &Context<'_>,
    selection: &Selection,
    scan: &JournalScan,
) -> Result<(Settled, Vec<Record>), ReconcileError> {
    // Open intents, and failed switches or clears that may have landed after all.
    let mut open: Vec<(Action, &Last)> = Vec::new();
    for ((id, action), l) in &scan.open {
        let cand = selection.candidates.get(id);
        let maybe_landed = l.phase == Phase::Failed
            && match action {
                Action::SwitchToCloud => cand.is_some_and(|c| !c.synced && c.formerly_synced),
                other => shown_done(*other, cand) == Some(true),
            };
        if l.phase == Phase::Intent || maybe_landed {
            open.push((*action, l));
        }
    }
    if open.is_empty() {
        return Ok((Settled::default(), Vec::new()));
    }

    // Read back what the selection does not tell: switches, and users it no longer holds.
    // Graph is eventually consistent: a change that landed just before the stop may not read
    // back at once, so what reads as not made is read again with backoff (and a clear the
    // selection, an advanced query, still shows is read through the user itself).
    let switches: Vec<String> = open
        .iter()
        .filter(|(a, _)| *a == Action::SwitchToCloud)
        .map(|(_, l)| l.intent.object_id.clone())
        .collect();
    let reads = read_back(&switches, |part| async move {
        ctx.graph.users_cloud_managed(&part, ctx.concurrency).await
    })
    .await;
    let mut switched: BTreeMap<String, Result<bool, GraphError>> =
        switches.iter().cloned().zip(reads).collect();
    let unshown: Vec<(Action, String)> = open
        .iter()
        .filter(|(a, l)| {
            *a != Action::SwitchToCloud
                && shown_done(*a, selection.candidates.get(&l.intent.object_id)) != Some(true)
        })
        .map(|(a, l)| (*a, l.intent.object_id.clone()))
        .collect();
    let reads = read_back(&unshown, |part| async move {
        futures::stream::iter(part)
            .map(|(action, id)| async move { read_user(ctx, action, &id).await })
            .buffered(ctx.concurrency.max(1))
            .collect::<Vec<_>>()
            .await
    })
    .await;
    let mut read: BTreeMap<(Action, String), Result<bool, GraphError>> =
        unshown.into_iter().zip(reads).collect();

    let mut settled = Settled::default();
    let mut records = Vec::new();
    for (action, l) in open {
        let id = &l.intent.object_id;
        let done: Result<bool, GraphError> = match action {
            Action::SwitchToCloud => switched
                .remove(id)
                .unwrap_or(Ok(false))
                // A 404: the user is gone, so the switch is not in effect.
                .or_else(|e| not_found_as(e, false)),
            other => match read.remove(&(other, id.clone())) {
                Some(done) => done,
                None => Ok(shown_done(other, selection.candidates.get(id)).unwrap_or(false)),
            },
        };
        let done = match done {
            Ok(d) => d,
            Err(e) if e.category().is_retryable() => return Err(ReconcileError::Graph(e)),
            Err(e) => {
                // Cannot tell: close the intent as failed; a change that landed after all is
                // found by the next pass (a failed answer whose change Graph shows done).
                records.push(outcome(
                    &l.intent,
                    Phase::Failed,
                    format!("could not be read back after the operator stopped: {e}"),
                ));
                settled.abandoned += 1;
                continue;
            }
        };
        if done {
            settled.applied += 1;
            let how = if l.phase == Phase::Intent {
                "read back after the operator stopped before recording the answer: the change had landed"
            } else {
                "read back after a failed answer: the change had landed"
            };
            records.push(outcome(&l.intent, Phase::Applied, how.into()));
        } else if l.phase == Phase::Intent {
            settled.abandoned += 1;
            records.push(outcome(
                &l.intent,
                Phase::Failed,
                "read back after the operator stopped before recording the answer: the change had not been made".into(),
            ));
        }
    }
    ctx.journal.append(&records).await?;
    Ok((settled, records))
}

fn not_found_as(e: GraphError, value: bool) -> Result<bool, GraphError> {
    match e {
        GraphError::Api { status: 404, .. } => Ok(value),
        e => Err(e),
    }
}

/// Whether a restore or a clear is in effect, reading the user (not in the selection).
async fn read_user(ctx: &Context<'_>, action: Action, id: &str) -> Result<bool, GraphError> {
    let user = ctx.graph.user(id).await?;
    Ok(match action {
        Action::RestoreUser => user.is_some(),
        _ => user.is_some_and(|u| u.on_premises_immutable_id.is_none()),
    })
}

fn outcome(intent: &Record, phase: Phase, note: String) -> Record {
    crate::reconcile::settle::outcome(intent, phase, &note)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::journal::{Entry, ResourceKey};

    fn entry(seq: u64, id: &str, action: Action, phase: Phase) -> Entry {
        Entry {
            seq,
            time: String::new(),
            record: Record {
                resource: ResourceKey {
                    kind: "CloudUserConversion".into(),
                    namespace: "identity".into(),
                    name: "w".into(),
                },
                tenant_id: "t".into(),
                object_type: "user".into(),
                object_id: id.into(),
                object_name: None,
                action,
                phase,
                prior: serde_json::json!({"onPremisesImmutableId": format!("imm-{id}-{seq}")}),
                request_id: None,
                error: None,
                note: None,
            },
            prev_hash: String::new(),
            hash: String::new(),
            key_id: None,
            trust: crate::journal::Trust::Proven,
        }
    }

    #[test]
    fn the_scan_keeps_the_last_open_intent_and_the_switched_users() {
        use Action::*;
        use Phase::*;
        let entries = vec![
            entry(1, "a", SwitchToCloud, Intent),
            entry(2, "a", ClearImmutableId, Intent),
            entry(3, "b", SwitchToCloud, Intent),
            entry(4, "a", SwitchToCloud, Applied),
            entry(5, "b", SwitchToCloud, Failed),
            entry(6, "b", SwitchToCloud, Intent),
            entry(7, "c", SwitchToAd, Intent),
            entry(8, "d", SwitchToCloud, Intent),
            entry(9, "d", SwitchToCloud, Failed),
        ];
        let mut scan = JournalScan::default();
        for e in entries {
            scan.visit(e.record);
        }
        let phase = |id: &str, a| scan.open.get(&(id.to_string(), a)).map(|l| l.phase);
        assert_eq!(phase("a", SwitchToCloud), None, "applied: nothing open");
        assert_eq!(phase("a", ClearImmutableId), Some(Intent));
        assert_eq!(
            phase("b", SwitchToCloud),
            Some(Intent),
            "retried after a failure"
        );
        assert_eq!(phase("d", SwitchToCloud), Some(Failed));
        assert_eq!(phase("c", SwitchToAd), None, "revert entries are not steps");
        let b = &scan.open[&("b".to_string(), SwitchToCloud)];
        assert_eq!(b.intent.prior["onPremisesImmutableId"], "imm-b-6");
        assert!(scan.switched.contains("a") && scan.switched.len() == 1);
        assert_eq!(scan.open_len(), 3);
    }
}
