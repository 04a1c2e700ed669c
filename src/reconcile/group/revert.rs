//! `onDelete: Revert` for groups: from the journal, remove the owners this resource added,
//! then switch each group's Source of Authority back to AD, parents before the groups nested
//! in them (the reverse of the conversion's order). Idempotent: what the journal shows undone
//! is skipped; an object that no longer exists counts as undone. Group rollback is not gated
//! by the hard-match flag (that applies to users); the next Connect Sync cycle takes them back.

use serde_json::json;

use crate::graph::GraphError;
use crate::journal::{Action, Entry, Object, Phase, Record};
use crate::reconcile::RevertOutcome;
use crate::reconcile::permissions;
use crate::reconcile::remedy::missing_permission;
use crate::reconcile::{Context, ReconcileError};

/// What one group needs undone.
#[derive(Debug, Default, Clone)]
struct Undo {
    name: Option<String>,
    owners: Vec<String>,
    switch_back: bool,
}

/// Groups to undo, in the reverse of the order they were switched.
fn pending(entries: &[Entry]) -> Vec<(String, Undo)> {
    let mut order: Vec<String> = Vec::new();
    let mut todo: std::collections::BTreeMap<String, Undo> = Default::default();
    for e in entries
        .iter()
        .filter(|e| e.record.phase == Phase::Applied && e.record.object_type == "group")
    {
        let r = &e.record;
        let u = todo.entry(r.object_id.clone()).or_default();
        u.name = r.object_name.clone();
        match r.action {
            Action::SwitchToCloud => {
                u.switch_back = true;
                order.retain(|g| g != &r.object_id);
                order.push(r.object_id.clone());
            }
            Action::SwitchToAd => u.switch_back = false,
            Action::AddOwner if r.prior["alreadyOwner"] != json!(true) => {
                if let Some(o) = r.prior["owner"].as_str() {
                    u.owners.push(o.to_string());
                }
            }
            Action::RemoveOwner => {
                if let Some(o) = r.prior["owner"].as_str() {
                    u.owners.retain(|x| x != o);
                }
            }
            _ => {}
        }
    }
    // Groups with owners added but never switched (not expected) are undone too.
    for id in todo.keys() {
        if !order.contains(id) {
            order.insert(0, id.clone());
        }
    }
    order
        .into_iter()
        .rev()
        .filter_map(|id| {
            let u = todo.remove(&id)?;
            (u.switch_back || !u.owners.is_empty()).then_some((id, u))
        })
        .collect()
}

fn record(
    ctx: &Context<'_>,
    tenant: &str,
    id: &str,
    name: &Option<String>,
    action: Action,
    phase: Phase,
    prior: serde_json::Value,
) -> Record {
    let group = Object::group(id, name.clone());
    Record::new(&ctx.resource, tenant, group, action, phase, prior)
}

/// Undo everything the resource's journal shows done to groups.
pub async fn revert(ctx: &Context<'_>, tenant_id: &str) -> Result<RevertOutcome, ReconcileError> {
    let entries = ctx.journal.entries_for(&ctx.resource).await?;
    let todo = pending(&entries);
    let needed = permissions::needed(&permissions::group_revert_operations(
        todo.iter().any(|(_, u)| !u.owners.is_empty()),
    ));
    let mut reverted = 0;
    let mut failures = Vec::new();
    for (id, u) in &todo {
        let mut ok = true;
        for owner in &u.owners {
            let prior = json!({"owner": owner});
            ctx.journal
                .append(&[record(
                    ctx,
                    tenant_id,
                    id,
                    &u.name,
                    Action::RemoveOwner,
                    Phase::Intent,
                    prior.clone(),
                )])
                .await?;
            let mut r = record(
                ctx,
                tenant_id,
                id,
                &u.name,
                Action::RemoveOwner,
                Phase::Applied,
                prior,
            );
            match ctx.graph.remove_group_owner(id, owner).await {
                Ok(receipt) => r.request_id = receipt.and_then(|x| x.request_id),
                Err(e) => {
                    ok = false;
                    r.phase = Phase::Failed;
                    r.error = Some(e.to_string());
                    // Without the permission every other write would be refused too: stop.
                    if let Some(denied) = missing_permission(&e, &needed) {
                        ctx.journal.append(&[r]).await?;
                        return Ok(denied);
                    }
                    failures.push(format!(
                        "{}: {e}",
                        u.name.clone().unwrap_or_else(|| id.clone())
                    ));
                }
            }
            ctx.journal.append(&[r]).await?;
        }
        if ok && u.switch_back {
            let prior = json!({"isCloudManaged": true});
            ctx.journal
                .append(&[record(
                    ctx,
                    tenant_id,
                    id,
                    &u.name,
                    Action::SwitchToAd,
                    Phase::Intent,
                    prior.clone(),
                )])
                .await?;
            let mut r = record(
                ctx,
                tenant_id,
                id,
                &u.name,
                Action::SwitchToAd,
                Phase::Applied,
                prior,
            );
            match ctx.graph.set_group_cloud_managed(id, false).await {
                Ok(receipt) => r.request_id = receipt.request_id,
                Err(GraphError::Api { status: 404, .. }) => {}
                Err(e) => {
                    ok = false;
                    r.phase = Phase::Failed;
                    r.error = Some(e.to_string());
                    if let Some(denied) = missing_permission(&e, &needed) {
                        ctx.journal.append(&[r]).await?;
                        return Ok(denied);
                    }
                    failures.push(format!(
                        "{}: {e}",
                        u.name.clone().unwrap_or_else(|| id.clone())
                    ));
                }
            }
            ctx.journal.append(&[r]).await?;
        }
        if ok {
            reverted += 1;
        }
    }
    if let Some(first) = failures.first() {
        return Ok(RevertOutcome::Failed(format!(
            "{} groups could not be reverted (first: {first})",
            failures.len()
        )));
    }
    Ok(RevertOutcome::Done(reverted))
}
