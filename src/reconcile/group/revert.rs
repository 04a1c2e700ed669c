//! `onDelete: Revert` for groups: from the journal, remove the owners this resource added,
//! then switch each group's Source of Authority back to AD, parents before the groups nested
//! in them (the reverse of the conversion's order). Idempotent: what the journal shows undone
//! is skipped; an object that no longer exists counts as undone. Group rollback is not gated
//! by the hard-match flag (that applies to users); the next Connect Sync cycle takes them back.
//!
//! Graph refuses to remove a group's last owner (`group-delete-owners`), and a synced group had
//! no cloud owner, so the owner added is often its last: that owner is kept, the journal says
//! so (a `RemoveOwner` refused, with the note [`KEPT_LAST_OWNER`]; later passes count it
//! done), the group is switched back all the same, and the result names what was kept.

use serde_json::json;

use crate::graph::GraphError;
use crate::journal::{Action, Entry, Object, Phase, Record};
use crate::reconcile::RevertOutcome;
use crate::reconcile::permissions;
use crate::reconcile::remedy::missing_permission;
use crate::reconcile::revert_trust::{self, Refusals, RevertPlan};
use crate::reconcile::{Context, ReconcileError};

/// The note on a `RemoveOwner` Graph refused because the owner is the group's last: the owner
/// stays, and the revert counts it done.
pub const KEPT_LAST_OWNER: &str = "kept: the group's last owner, which Graph refuses to remove; remove it after adding another owner, if it should go";

/// Whether `e` is Graph refusing to remove a group's last owner: `400 Request_BadRequest`
/// "The group must have at least one owner, hence this owner cannot be removed."
/// (microsoftgraph/microsoft-graph-docs#12054, hashicorp/terraform-provider-azuread#1435).
/// The code is Graph's generic one, so the message tells.
pub fn last_owner_refused(e: &GraphError) -> bool {
    matches!(e, GraphError::Api { status: 400, message, .. }
        if message.to_ascii_lowercase().contains("must have at least one owner"))
}

/// What one group needs undone.
#[derive(Debug, Default, Clone)]
struct Undo {
    name: Option<String>,
    owners: Vec<String>,
    switch_back: bool,
}

/// Whether the revert reads `r`: a change applied to a group, or an owner kept as its last.
fn counts(r: &Record) -> bool {
    let kept = r.action == Action::RemoveOwner
        && r.phase == Phase::Failed
        && r.note.as_deref() == Some(KEPT_LAST_OWNER);
    r.object_type == "group" && (r.phase == Phase::Applied || kept)
}

/// Groups to undo, in the reverse of the order they were switched.
fn pending(entries: &[Entry]) -> Vec<(String, Undo)> {
    let mut order: Vec<String> = Vec::new();
    let mut todo: std::collections::BTreeMap<String, Undo> = Default::default();
    for e in entries.iter().filter(|e| counts(&e.record)) {
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

/// What the revert undoes, per group in its order, from the entries the journal key proves;
/// other groups are refused by name. Reads only the journal.
async fn undo_plan(ctx: &Context<'_>) -> Result<(Vec<(String, Undo)>, Refusals), ReconcileError> {
    // Streamed: only the entries the revert counts (and those the key does not prove) are kept.
    let read = crate::journal::audit_where(ctx.journal, &ctx.resource, |e| counts(&e.record));
    let (entries, refused) = revert_trust::split(read.await?);
    Ok((pending(&entries), refused))
}

/// What [`revert`] would do, from the journal only: the same undo it computes, in its order.
/// An owner that turns out to be its group's last is kept then (Graph refuses to remove it).
pub async fn preview(ctx: &Context<'_>) -> Result<RevertPlan, ReconcileError> {
    let (todo, refused) = undo_plan(ctx).await?;
    let mut plan = RevertPlan {
        refused,
        ..RevertPlan::default()
    };
    for (id, u) in &todo {
        for owner in &u.owners {
            let action = format!(
                "remove owner {owner} (kept if it is the group's last owner: Graph refuses that)"
            );
            plan.step(id, u.name.as_deref(), action);
        }
        if u.switch_back {
            let action = "switch back to AD (isCloudManaged=false)";
            plan.step(id, u.name.as_deref(), action);
        }
    }
    Ok(plan)
}

/// Undo everything the resource's journal shows done to groups.
pub async fn revert(ctx: &Context<'_>, tenant_id: &str) -> Result<RevertOutcome, ReconcileError> {
    // Only entries the journal key proves drive a write; other groups are refused by name.
    let (todo, refused) = undo_plan(ctx).await?;
    let ops = permissions::group_revert_operations(todo.iter().any(|(_, u)| !u.owners.is_empty()));
    if !todo.is_empty()
        && let Some(missing) = crate::reconcile::preflight::revert_gate(ctx.graph, &ops).await?
    {
        return Ok(missing);
    }
    let needed = permissions::needed(&ops);
    let mut reverted = 0;
    let mut failures = Vec::new();
    let mut kept = Vec::new();
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
                // The group's last owner: kept (see the module's doc), not a failure.
                Err(e) if last_owner_refused(&e) => {
                    r.phase = Phase::Failed;
                    r.error = Some(e.to_string());
                    r.note = Some(KEPT_LAST_OWNER.to_string());
                    kept.push(u.name.clone().unwrap_or_else(|| id.clone()));
                }
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
    if let Some(m) = refused.message() {
        return Ok(RevertOutcome::Failed(m));
    }
    Ok(match kept_message(&kept) {
        Some(m) => RevertOutcome::Kept(reverted, m),
        None => RevertOutcome::Done(reverted),
    })
}

/// What the result says of the owners kept as their group's last (group names).
fn kept_message(groups: &[String]) -> Option<String> {
    let first = groups.first()?;
    let more = match groups.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    Some(format!(
        "the owner added to {} group(s) was kept as the group's last owner, which Graph refuses to remove (first: {first}{more})",
        groups.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Operation;
    use crate::journal::ResourceKey;

    fn entry(action: Action, phase: Phase, owner: &str) -> Entry {
        let key = ResourceKey {
            kind: "CloudGroupConversion".into(),
            namespace: "ns".into(),
            name: "r".into(),
        };
        let prior = if owner.is_empty() {
            json!({"isCloudManaged": false})
        } else {
            json!({"owner": owner})
        };
        let group = Object::group("g", Some("G".into()));
        Entry {
            seq: 0,
            time: String::new(),
            record: Record::new(&key, "t", group, action, phase, prior),
            prev_hash: String::new(),
            hash: String::new(),
            key_id: None,
            trust: crate::journal::Trust::Proven,
        }
    }

    fn api(status: u16, message: &str) -> GraphError {
        GraphError::Api {
            operation: Operation::RemoveGroupOwner,
            status,
            code: "Request_BadRequest".into(),
            message: message.into(),
            request_id: None,
            retry_after: None,
        }
    }

    #[test]
    fn only_the_last_owner_refusal_keeps_an_owner() {
        let graph = "The group must have at least one owner, hence this owner cannot be removed.";
        assert!(last_owner_refused(&api(400, graph)));
        assert!(!last_owner_refused(&api(
            400,
            "Invalid object identifier 'x'."
        )));
        assert!(!last_owner_refused(&api(403, graph)));
        assert!(!last_owner_refused(&api(
            404,
            "Resource 'u' does not exist."
        )));
    }

    #[test]
    fn a_kept_owner_counts_as_undone_and_a_failed_removal_does_not() {
        let converted = vec![
            entry(Action::SwitchToCloud, Phase::Applied, ""),
            entry(Action::AddOwner, Phase::Applied, "u1"),
            entry(Action::AddOwner, Phase::Applied, "u2"),
        ];
        let owners = |entries: &[Entry]| {
            pending(entries)
                .into_iter()
                .map(|(_, u)| (u.owners, u.switch_back))
                .collect::<Vec<_>>()
        };
        let both = vec!["u1".to_string(), "u2".to_string()];
        assert_eq!(owners(&converted), vec![(both.clone(), true)]);
        // u1 removed, u2 kept as the last owner: nothing left but the switch.
        let mut kept = entry(Action::RemoveOwner, Phase::Failed, "u2");
        kept.record.note = Some(KEPT_LAST_OWNER.into());
        let mut revert = converted.clone();
        revert.push(entry(Action::RemoveOwner, Phase::Applied, "u1"));
        revert.push(kept);
        assert_eq!(owners(&revert), vec![(Vec::new(), true)]);
        // A removal that failed otherwise is tried again.
        let mut failed = converted.clone();
        failed.push(entry(Action::RemoveOwner, Phase::Failed, "u1"));
        assert_eq!(owners(&failed), vec![(both, true)]);
        // Switched back too: nothing left.
        revert.push(entry(Action::SwitchToAd, Phase::Applied, ""));
        assert!(owners(&revert).is_empty());
    }

    #[test]
    fn the_result_names_the_groups_whose_owner_was_kept() {
        assert_eq!(kept_message(&[]), None);
        let one = kept_message(&["Finance".into()]).unwrap_or_default();
        assert!(
            one.contains("1 group(s)") && one.contains("(first: Finance)"),
            "{one}"
        );
        let three = kept_message(&["A".into(), "B".into(), "C".into()]).unwrap_or_default();
        assert!(three.contains("(first: A and 2 more)"), "{three}");
    }
}
