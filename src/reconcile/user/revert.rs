//! `onDelete: Revert`: undo what this resource did, from the journal. ImmutableIDs are put
//! back first (while the users are still cloud-managed and writable), then the Source of
//! Authority is switched back to AD. Idempotent: what the journal shows undone is skipped, and
//! an object that no longer exists counts as undone.
//!
//! Bounded: only entries the journal key proves drive a write (see `revert_trust`), an
//! ImmutableID goes back only where it is the user's AD anchor (see `revert_anchor`) and not
//! over one someone set since the clear (read first; a read lagging behind a change made
//! moments before cannot show it); a refused object is named in the result and nothing is
//! written for it. [`preview`] says all this from reads only, with the same code.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::json;

use crate::graph::models::User;
use crate::graph::{ErrorCategory, GraphClient, GraphError};
use crate::journal::{Action, Entry, Object, Phase, Record};
use crate::reconcile::permissions;
use crate::reconcile::revert_trust::{self, Refusals, RevertPlan};
use crate::reconcile::{Context, ReconcileError};

pub use crate::reconcile::RevertOutcome;
use crate::reconcile::remedy::missing_permission;

/// What one object needs undone.
#[derive(Debug, Default, Clone)]
struct Undo {
    name: Option<String>,
    /// The ImmutableID to put back.
    immutable_id: Option<String>,
    switch_back: bool,
}

/// Takes in one journal entry (in order) into what is left to undo per user.
fn take(todo: &mut BTreeMap<String, Undo>, e: &Entry) {
    if e.record.phase == Phase::Applied {
        let r = &e.record;
        let u = todo.entry(r.object_id.clone()).or_default();
        u.name = r.object_name.clone();
        match r.action {
            Action::SwitchToCloud => u.switch_back = true,
            Action::SwitchToAd => u.switch_back = false,
            Action::ClearImmutableId => {
                // The intent carried the prior value; the applied record repeats it.
                u.immutable_id = r.prior["onPremisesImmutableId"]
                    .as_str()
                    .map(str::to_string);
            }
            Action::RestoreImmutableId => u.immutable_id = None,
            _ => {}
        }
    }
}

fn record(
    ctx: &Context<'_>,
    tenant: &str,
    id: &str,
    u: &Undo,
    action: Action,
    phase: Phase,
) -> Record {
    let prior = match action {
        Action::RestoreImmutableId => {
            json!({"onPremisesImmutableId": null, "restoring": u.immutable_id})
        }
        _ => json!({"isCloudManaged": true}),
    };
    let user = Object::user(id, u.name.clone());
    Record::new(&ctx.resource, tenant, user, action, phase, prior)
}

/// 404 on an undo means there is nothing left to undo.
fn gone(e: &GraphError) -> bool {
    matches!(e, GraphError::Api { status: 404, .. })
}

fn blocked(e: &GraphError) -> bool {
    matches!(e, GraphError::Api { status: 400, message, .. } if message.contains("blockCloudObjectTakeoverThroughHardMatchEnabled"))
}

async fn undo_one(
    graph: GraphClient,
    id: String,
    u: Undo,
) -> Vec<(Action, Result<Option<String>, GraphError>)> {
    let mut done = Vec::new();
    if let Some(value) = &u.immutable_id {
        let r = match graph.set_immutable_id(&id, value).await {
            Err(e) if gone(&e) => Ok(None),
            other => other.map(|r| r.request_id),
        };
        let failed = r.is_err();
        done.push((Action::RestoreImmutableId, r));
        if failed {
            return done;
        }
    }
    if u.switch_back {
        let r = match graph.set_user_cloud_managed(&id, false).await {
            Err(e) if gone(&e) => Ok(None),
            other => other.map(|r| r.request_id),
        };
        done.push((Action::SwitchToAd, r));
    }
    done
}

/// What the Graph side of the revert undoes, per user (the entries the journal key proves,
/// less the ImmutableIDs that are not their user's AD anchor), and those proven entries; the
/// objects refused are added to `refused`. Reads only (the journal, and AD for the anchors).
async fn undo_plan(
    ctx: &Context<'_>,
    refused: &mut Refusals,
) -> Result<(BTreeMap<String, Undo>, Vec<Entry>), ReconcileError> {
    let (todo, ad) = journaled(ctx, refused).await?;
    let todo = checked(ctx, todo, &ad, refused).await?;
    Ok((todo, ad))
}

/// From the journal, read as a stream: per user what is left to undo, and the entries about
/// AD objects (the anchors' checks and the AD side read them), of the objects whose entries
/// the key proves; the others are added to `refused`. Memory holds one summary per user and
/// the AD entries, not the journal.
async fn journaled(
    ctx: &Context<'_>,
    refused: &mut Refusals,
) -> Result<(BTreeMap<String, Undo>, Vec<Entry>), ReconcileError> {
    let mut todo = BTreeMap::new();
    let mut kept = Vec::new();
    ctx.journal
        .audit_visit_for(&ctx.resource, &mut |e| {
            take(&mut todo, &e);
            if !e.trust.is_proven() || super::ad_move::is_ad(e.record.action) {
                kept.push(e);
            }
        })
        .await?;
    let (ad, untrusted) = revert_trust::split(kept);
    todo.retain(|id, u| !untrusted.contains(id) && (u.switch_back || u.immutable_id.is_some()));
    refused.extend(untrusted);
    Ok((todo, ad))
}

/// [`undo_plan`] from what the journal proves: the pending undo `todo`, less what Graph and
/// AD say must be kept (reads only).
async fn checked(
    ctx: &Context<'_>,
    mut todo: BTreeMap<String, Undo>,
    entries: &[Entry],
    refused: &mut Refusals,
) -> Result<BTreeMap<String, Undo>, ReconcileError> {
    let wanted = todo
        .iter()
        .filter_map(|(id, u)| {
            Some(super::revert_anchor::Wanted {
                id: id.clone(),
                name: u.name.clone(),
                value: u.immutable_id.clone()?,
            })
        })
        .collect();
    let off_anchor = super::revert_anchor::check(ctx, entries, wanted).await?;
    todo.retain(|id, _| !off_anchor.contains(id));
    refused.extend(off_anchor);
    let changed = changed_since(ctx, &todo).await?;
    todo.retain(|id, _| !changed.contains(id));
    refused.extend(changed);
    Ok(todo)
}

/// `GET /users/{id}` on a clone of the client, so the reads can run side by side.
async fn read_user(graph: GraphClient, id: String) -> Result<Option<User>, GraphError> {
    graph.user(&id).await
}

/// The users of `todo` whose ImmutableID someone set since the conversion cleared it (to
/// another value than the journaled one): kept as they are, a restore would overwrite it.
/// Reads each user with an ImmutableID to restore.
async fn changed_since(
    ctx: &Context<'_>,
    todo: &BTreeMap<String, Undo>,
) -> Result<Refusals, ReconcileError> {
    let ids: Vec<String> = todo
        .iter()
        .filter(|(_, u)| u.immutable_id.is_some())
        .map(|(id, _)| id.clone())
        .collect();
    let reads: Vec<_> = ids
        .iter()
        .map(|id| read_user(ctx.graph.clone(), id.clone()))
        .collect();
    let now: Vec<_> = futures::stream::iter(reads)
        .buffered(ctx.concurrency.max(1))
        .collect()
        .await;
    let mut refused = Refusals::default();
    for (id, read) in ids.iter().zip(now) {
        let Some(u) = todo.get(id) else { continue };
        let current = match read {
            Ok(user) => user.and_then(|x| x.on_premises_immutable_id),
            Err(e) if gone(&e) => None,
            Err(e) => return Err(e.into()),
        };
        // A read may show the value before the clear for a while (eventual consistency): the
        // journaled value is put back all the same, so only a third value counts as changed.
        match current {
            None => {}
            Some(v) if Some(&v) == u.immutable_id.as_ref() => {}
            Some(v) => {
                let name = u.name.clone().unwrap_or_else(|| id.clone());
                let why = format!(
                    "its ImmutableID was set to {v} since the conversion cleared it (someone else changed it): kept as it is"
                );
                refused.refuse(id, &name, why);
            }
        }
    }
    Ok(refused)
}

/// What [`revert`] would do, from reads only (the journal, and AD to check the ImmutableIDs
/// against their anchors): the same undo it computes, in its order. The AD side is read from
/// the journal: each AD object moved or account disabled that no move back or re-enable
/// follows (the revert skips those it finds already back).
pub async fn preview(ctx: &Context<'_>) -> Result<RevertPlan, ReconcileError> {
    let mut plan = RevertPlan::default();
    let (todo, entries) = undo_plan(ctx, &mut plan.refused).await?;
    for (id, u) in &todo {
        if let Some(value) = &u.immutable_id {
            let action = format!("restore ImmutableID {value}");
            plan.step(id, u.name.as_deref(), action);
        }
        if u.switch_back {
            let action = "switch back to AD (isCloudManaged=false)";
            plan.step(id, u.name.as_deref(), action);
        }
    }
    ad_steps(&entries, &mut plan);
    Ok(plan)
}

/// The AD side of a revert's plan, from the journal: each AD object moved, and each account
/// disabled, that no journaled move back or re-enable follows, unless the object is refused.
fn ad_steps(entries: &[Entry], plan: &mut RevertPlan) {
    let open = |forward: Action, back: Action| {
        let backs = super::ad_move::last_of(entries, back);
        let mut out = super::ad_move::last_of(entries, forward);
        out.retain(|id, m| {
            m.phase == Phase::Applied
                && !plan.refused.contains(id)
                && backs.get(id).is_none_or(|b| b.phase != Phase::Applied)
        });
        out
    };
    let moves = open(Action::MoveAdObject, Action::MoveAdObjectBack);
    let disables = open(Action::DisableAdAccount, Action::EnableAdAccount);
    for (id, m) in moves {
        let from = m.intent.prior["distinguishedName"].as_str().unwrap_or("?");
        let action = format!("move its AD object back to where it was ({from})");
        plan.step(&id, m.intent.object_name.as_deref(), action);
    }
    for (id, m) in disables {
        let action = "re-enable its AD account (userAccountControl)";
        plan.step(&id, m.intent.object_name.as_deref(), action);
    }
}

/// Undo everything the resource's journal shows done: the Graph side first (ImmutableIDs
/// back, then the switches), then, with an AD connection, the AD side (objects moved back,
/// accounts re-enabled), so Entra Connect finds each user as it left it.
pub async fn revert(ctx: &Context<'_>, tenant_id: &str) -> Result<RevertOutcome, ReconcileError> {
    let mut refused = Refusals::default();
    let outcome = match revert_graph(ctx, tenant_id, &mut refused).await? {
        RevertOutcome::Done(n) => super::ad_revert::revert(ctx, tenant_id, n, &mut refused).await?,
        other => other,
    };
    Ok(match (outcome, refused.message()) {
        (RevertOutcome::Done(_), Some(m)) => RevertOutcome::Failed(m),
        (other, _) => other,
    })
}

async fn revert_graph(
    ctx: &Context<'_>,
    tenant_id: &str,
    refused: &mut Refusals,
) -> Result<RevertOutcome, ReconcileError> {
    // The permissions first, from the journal alone: the checks below read users too.
    let (journaled, ad) = journaled(ctx, refused).await?;
    if journaled.is_empty() {
        return Ok(RevertOutcome::Done(0));
    }
    let ops =
        permissions::user_revert_operations(journaled.values().any(|u| u.immutable_id.is_some()));
    if let Some(missing) = crate::reconcile::preflight::revert_gate(ctx.graph, &ops).await? {
        return Ok(missing);
    }
    let todo = checked(ctx, journaled, &ad, refused).await?;
    if todo.is_empty() {
        return Ok(RevertOutcome::Done(0));
    }
    let intents: Vec<Record> = todo
        .iter()
        .flat_map(|(id, u)| {
            let mut v = Vec::new();
            if u.immutable_id.is_some() {
                v.push(record(
                    ctx,
                    tenant_id,
                    id,
                    u,
                    Action::RestoreImmutableId,
                    Phase::Intent,
                ));
            }
            if u.switch_back {
                v.push(record(
                    ctx,
                    tenant_id,
                    id,
                    u,
                    Action::SwitchToAd,
                    Phase::Intent,
                ));
            }
            v
        })
        .collect();
    ctx.journal.append(&intents).await?;
    let requests: Vec<_> = todo
        .iter()
        .map(|(id, u)| undo_one(ctx.graph.clone(), id.clone(), u.clone()))
        .collect();
    let needed = permissions::needed(&ops);
    // Without a permission every further write would be refused too: stop starting them (the
    // users not reached keep their intents only, and the next pass undoes them).
    let mut results = Vec::with_capacity(todo.len());
    let mut undos = futures::stream::iter(requests).buffered(ctx.concurrency.max(1));
    while let Some(done) = undos.next().await {
        let denied = done.iter().any(|(_, r)| {
            r.as_ref()
                .is_err_and(|e| e.category() == ErrorCategory::MissingPermission)
        });
        results.push(done);
        if denied {
            break;
        }
    }
    let mut outcomes = Vec::new();
    let (mut reverted, mut failures, mut block, mut denied) = (0, Vec::new(), None, None);
    for ((id, u), done) in todo.iter().zip(results) {
        let ok = done.iter().all(|(_, r)| r.is_ok());
        for (action, result) in done {
            let mut r = record(ctx, tenant_id, id, u, action, Phase::Applied);
            match result {
                Ok(request_id) => r.request_id = request_id,
                Err(e) => {
                    r.phase = Phase::Failed;
                    r.error = Some(e.to_string());
                    if let Some(d) = missing_permission(&e, &needed) {
                        denied.get_or_insert(d);
                    } else if blocked(&e) {
                        block.get_or_insert_with(|| e.to_string());
                    } else {
                        failures.push(format!(
                            "{}: {e}",
                            u.name.clone().unwrap_or_else(|| id.clone())
                        ));
                    }
                }
            }
            outcomes.push(r);
        }
        if ok {
            reverted += 1;
        }
    }
    ctx.journal.append(&outcomes).await?;
    if let Some(d) = denied {
        return Ok(d);
    }
    if let Some(detail) = block {
        return Ok(RevertOutcome::Blocked(format!(
            "Entra refuses to hand users back to AD while the tenant blocks hard-match takeover ({detail}). Fix, as Microsoft documents for a user rollback: a Global Administrator turns off blockCloudObjectTakeoverThroughHardMatchEnabled (PATCH /beta/directory/onPremisesSynchronization/{{id}}), the next Connect Sync cycle takes the users back, then turn it on again; the operator retries every 5 minutes"
        )));
    }
    if !failures.is_empty() {
        return Ok(RevertOutcome::Failed(format!(
            "{} objects could not be reverted (first: {})",
            failures.len(),
            failures[0]
        )));
    }
    Ok(RevertOutcome::Done(reverted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{ResourceKey, Trust};

    fn entry(id: &str, action: Action, phase: Phase) -> Entry {
        let key = ResourceKey {
            kind: "CloudUserConversion".into(),
            namespace: "identity".into(),
            name: "w".into(),
        };
        let prior = json!({"distinguishedName": format!("CN={id},OU=Staff,DC=corp")});
        let user = Object::user(id, Some(format!("{id}@corp.example")));
        Entry {
            seq: 0,
            time: String::new(),
            record: Record::new(&key, "t", user, action, phase, prior),
            prev_hash: String::new(),
            key_id: None,
            hash: String::new(),
            trust: Trust::Proven,
        }
    }

    #[test]
    fn the_plan_lists_the_ad_changes_not_undone_yet() {
        let mut entries = Vec::new();
        for (id, forward, back) in [
            ("moved", Action::MoveAdObject, None),
            ("disabled", Action::DisableAdAccount, None),
            ("home", Action::MoveAdObject, Some(Action::MoveAdObjectBack)),
            (
                "enabled",
                Action::DisableAdAccount,
                Some(Action::EnableAdAccount),
            ),
        ] {
            entries.push(entry(id, forward, Phase::Intent));
            entries.push(entry(id, forward, Phase::Applied));
            if let Some(back) = back {
                entries.push(entry(id, back, Phase::Intent));
                entries.push(entry(id, back, Phase::Applied));
            }
        }
        // A move that never landed, and one of a refused object: nothing to undo.
        entries.push(entry("failed", Action::MoveAdObject, Phase::Intent));
        entries.push(entry("failed", Action::MoveAdObject, Phase::Failed));
        entries.push(entry("refused", Action::MoveAdObject, Phase::Intent));
        entries.push(entry("refused", Action::MoveAdObject, Phase::Applied));
        let mut plan = RevertPlan::default();
        plan.refused.refuse("refused", "refused", "edited".into());
        ad_steps(&entries, &mut plan);
        let steps: Vec<(&str, &str)> = plan
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.action.as_str()))
            .collect();
        assert_eq!(
            steps,
            vec![
                (
                    "moved@corp.example",
                    "move its AD object back to where it was (CN=moved,OU=Staff,DC=corp)"
                ),
                (
                    "disabled@corp.example",
                    "re-enable its AD account (userAccountControl)"
                ),
            ]
        );
    }
}
