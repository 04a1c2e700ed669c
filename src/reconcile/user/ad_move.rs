//! `RestoreDeleted` with an AD connection: the operator itself moves each selected user's AD
//! object to `activeDirectory.unsyncedOu`, a wave at a time, journaling the previous DN (intent
//! before the LDAP write, outcome after). Entra Connect then soft-deletes the cloud user at its
//! next cycle, and the usual restore / clear / verify wave takes over.

use std::collections::BTreeMap;

use futures::TryFutureExt as _;
use serde_json::json;

use crate::ad::{AdClient, DirectoryUser, anchor, dn};
use crate::api::common::ObjectFailure;
use crate::journal::{Action, Entry, Object, Phase, Record, ResourceKey};
use crate::reconcile::{Context, ReconcileError};

use super::ad_scan::AdScan;
use super::directory::Directory;
use super::select::{Candidate, Selection};

/// What a pass of moves did.
#[derive(Debug, Default)]
pub struct Moved {
    /// AD objects moved out of sync scope in this pass.
    pub moved: i64,
    /// Moves that failed, or users without an AD object.
    pub failures: Vec<ObjectFailure>,
}

/// A move as the journal shows it.
#[derive(Debug, Clone)]
pub struct JournaledMove {
    /// The intent (with the prior DN and objectGUID).
    pub intent: Record,
    /// Its last phase.
    pub phase: Phase,
}

/// Whether `action` changes an AD object (a move, a disable, or their undoing).
pub fn is_ad(action: Action) -> bool {
    matches!(
        action,
        Action::MoveAdObject
            | Action::MoveAdObjectBack
            | Action::DisableAdAccount
            | Action::EnableAdAccount
    )
}

/// The resource's journal entries about AD objects, and every entry the journal key does not
/// prove ([`crate::journal::audit_where`]), read as a stream: a revert holds these, not the
/// journal.
pub async fn ad_entries(ctx: &Context<'_>) -> Result<Vec<Entry>, crate::journal::JournalError> {
    crate::journal::audit_where(ctx.journal, &ctx.resource, |e| is_ad(e.record.action)).await
}

/// Per user, the last `action` record of `entries` (forward moves, or moves back).
pub fn last_of(entries: &[Entry], action: Action) -> BTreeMap<String, JournaledMove> {
    let mut out: BTreeMap<String, JournaledMove> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.record.action == action) {
        let r = &e.record;
        match r.phase {
            Phase::Intent => {
                out.insert(
                    r.object_id.clone(),
                    JournaledMove {
                        intent: r.clone(),
                        phase: Phase::Intent,
                    },
                );
            }
            phase => {
                if let Some(m) = out.get_mut(&r.object_id) {
                    m.phase = phase;
                }
            }
        }
    }
    out
}

/// The record of a move of `user` (Entra id `id`) to `target`.
pub fn record(
    resource: &ResourceKey,
    tenant: &str,
    (id, upn): (&str, Option<&str>),
    action: Action,
    phase: Phase,
    (from, guid, target): (&str, &[u8; 16], &str),
) -> Record {
    let prior = json!({
        "distinguishedName": from,
        "objectGuid": anchor::guid_string(guid),
        "targetOu": target,
    });
    let user = Object::user(id, upn.map(str::to_string));
    Record::new(resource, tenant, user, action, phase, prior)
}

fn failure(c: &Candidate, action: &str, message: String, now: jiff::Timestamp) -> ObjectFailure {
    ObjectFailure {
        object_id: c.id().to_string(),
        name: Some(c.upn().to_string()),
        action: action.into(),
        code: "DirectoryError".into(),
        message,
        time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now),
    }
}

/// Where the object of a journaled move (its intent) is now, by its objectGUID.
async fn read_back(
    ad: &AdClient,
    intent: &Record,
) -> Result<Option<DirectoryUser>, crate::ad::AdError> {
    match intent.prior["objectGuid"]
        .as_str()
        .and_then(anchor::guid_bytes)
    {
        Some(g) => ad.user_by_guid(&g).await,
        None => Ok(None),
    }
}

/// Settle the intents of `action` (a move forward or back, a disable) a stop left without an
/// outcome (`open`): the object's DN tells whether the modifyDN landed, its account whether
/// the disable did.
pub async fn settle(
    ctx: &Context<'_>,
    ad: &AdClient,
    open: Vec<Record>,
    action: Action,
) -> Result<i64, ReconcileError> {
    let mut records = Vec::new();
    for intent in &open {
        // Every move record names where the object goes (`targetOu`); a disable is done when
        // the account reads disabled.
        let target = intent.prior["targetOu"].as_str().unwrap_or_default();
        let now_at = read_back(ad, intent).await.ok().flatten();
        let landed = now_at.as_ref().is_some_and(|u| match action {
            Action::DisableAdAccount => !u.enabled(),
            _ => dn::parent(&u.dn).is_some_and(|p| dn::same(&p, target)),
        });
        let mut r = intent.clone();
        r.phase = if landed {
            Phase::Applied
        } else {
            Phase::Failed
        };
        r.note = Some(format!(
            "read back after a stop: the object is at {}",
            now_at
                .map(|u| u.dn)
                .unwrap_or_else(|| "an unknown place".into())
        ));
        records.push(r);
    }
    let n = records.len() as i64;
    if n > 0 {
        ctx.journal.append(&records).await?;
    }
    Ok(n)
}

/// How many more AD objects may leave sync scope now: with those already out and not yet
/// soft-deleted (`in_flight`; the next sync cycle deletes them all), no more than a wave and no
/// more than one cycle may delete.
pub fn move_budget(wave_size: i64, per_cycle: i64, in_flight: i64) -> usize {
    usize::try_from((wave_size.min(per_cycle) - in_flight).max(0)).unwrap_or(0)
}

/// Move the AD objects of users still waiting for their soft delete (those not moved before,
/// and, unless `recorded` is `None`, whose memberships are recorded), within
/// [`move_budget`], each journaled.
pub async fn move_waiting(
    ctx: &Context<'_>,
    tenant_id: &str,
    dir: &Directory,
    selection: &Selection,
    (waiting, recorded): (&[String], Option<&crate::guid::IdSet>),
    journal: &AdScan,
    (wave_size, per_cycle): (i64, i64),
) -> Result<Moved, ReconcileError> {
    let mut out = Moved::default();
    let moved = |id: &str| journal.user(id).and_then(|u| u.moved) == Some(Phase::Applied);
    let by_upn: BTreeMap<&str, &Candidate> = selection
        .candidates
        .values()
        .map(|c| (c.upn(), c))
        .collect();
    let waiting: Vec<&Candidate> = waiting
        .iter()
        .filter_map(|u| by_upn.get(u.as_str()).copied())
        .collect();
    // Moved and not yet soft-deleted: the next sync cycle deletes them all, so together with
    // the new moves they stay within a wave and within what one cycle may delete.
    let in_flight = waiting.iter().filter(|c| moved(c.id())).count() as i64;
    let budget = move_budget(wave_size, per_cycle, in_flight);
    let target = &dir.client.settings().unsynced_ou;
    // A user leaves sync scope only once its group memberships are recorded (when Graph lets
    // the operator read them): the soft delete drops those in synchronised groups.
    for c in waiting
        .into_iter()
        .filter(|c| !moved(c.id()))
        .filter(|c| recorded.is_none_or(|r| r.contains(c.id())))
        .take(budget)
    {
        let Some(user) = dir.audit.joined.get(c.id()) else {
            out.failures.push(failure(
                c,
                "MoveAdObject",
                format!("no AD object in the synchronised OUs is linked to {} (objectSid, DN, ImmutableID or UPN); move it out of sync scope by hand", c.upn()),
                ctx.now,
            ));
            continue;
        };
        let ids = (c.id(), Some(c.upn()));
        let what = (user.dn.as_str(), &user.object_guid, target.as_str());
        let intent = record(
            &ctx.resource,
            tenant_id,
            ids,
            Action::MoveAdObject,
            Phase::Intent,
            what,
        );
        match journaled(
            ctx,
            intent,
            dir.client.move_to(&user.dn, target).map_ok(Some),
        )
        .await?
        {
            Ok(_) => out.moved += 1,
            Err(e) => out
                .failures
                .push(failure(c, "MoveAdObject", e.stall_message(), ctx.now)),
        }
    }
    Ok(out)
}

/// `onDelete: Revert`: move every AD object this resource moved back to its journaled DN's
/// parent. Idempotent: an object already there, or gone, counts as done. Returns how many
/// were moved back, or the first error. Bounded: only moves the journal key proves, and only
/// to a place within the connection's `baseDn`; other objects are added to `refused`.
pub async fn move_back(
    ctx: &Context<'_>,
    ad: &AdClient,
    tenant_id: &str,
    entries: &[Entry],
    refused: &mut crate::reconcile::revert_trust::Refusals,
) -> Result<Result<i64, String>, ReconcileError> {
    let open: Vec<Record> = last_of(entries, Action::MoveAdObjectBack)
        .into_values()
        .filter(|m| m.phase == Phase::Intent)
        .map(|m| m.intent)
        .collect();
    settle(ctx, ad, open, Action::MoveAdObjectBack).await?;
    let (entries, untrusted) = crate::reconcile::revert_trust::split(ad_entries(ctx).await?);
    refused.extend(untrusted);
    let forward = last_of(&entries, Action::MoveAdObject);
    let base = ad.settings().base_dn.clone();
    let mut n = 0;
    for (id, m) in forward {
        if m.phase != Phase::Applied || refused.contains(&id) {
            continue;
        }
        let Some(prior_dn) = m.intent.prior["distinguishedName"].as_str() else {
            continue;
        };
        let home = match home_within(prior_dn, &base) {
            Ok(Some(home)) => home,
            Ok(None) => continue,
            Err(why) => {
                let name = m.intent.object_name.clone().unwrap_or_else(|| id.clone());
                refused.refuse(&id, &name, why);
                continue;
            }
        };
        // Idempotent by reading back: an object already home (or gone) needs nothing.
        let current = match read_back(ad, &m.intent).await {
            Ok(Some(u)) => u,
            Ok(None) => continue,
            Err(e) => return Ok(Err(e.stall_message())),
        };
        if dn::parent(&current.dn).is_some_and(|p| dn::same(&p, &home)) {
            continue;
        }
        let what = (current.dn.as_str(), &current.object_guid, home.as_str());
        let ids = (id.as_str(), m.intent.object_name.as_deref());
        let intent = record(
            &ctx.resource,
            tenant_id,
            ids,
            Action::MoveAdObjectBack,
            Phase::Intent,
            what,
        );
        match journaled(ctx, intent, ad.move_to(&current.dn, &home).map_ok(Some)).await? {
            Ok(_) => n += 1,
            Err(e) => return Ok(Err(e.stall_message())),
        }
    }
    Ok(Ok(n))
}

/// Where a revert moves an object journaled at `prior_dn`: its parent, which must be within
/// the connection's `base` DN (a journaled DN elsewhere is refused with the reason). `None`
/// for a DN without a parent.
pub fn home_within(prior_dn: &str, base: &str) -> Result<Option<String>, String> {
    let Some(home) = dn::parent(prior_dn) else {
        return Ok(None);
    };
    if !dn::is_dn(&home) || !dn::is_within(&home, base) {
        return Err(format!(
            "its journaled place {home} is outside the connection's baseDn {base}"
        ));
    }
    Ok(Some(home))
}

/// Journals `intent` (durably, before the directory is touched), makes `write`, and journals
/// its outcome: `Applied` (noted `moved to <DN>` when the write moved the object) or `Failed`
/// with the error. Returns what the write returned.
pub(super) async fn journaled(
    ctx: &Context<'_>,
    intent: Record,
    write: impl std::future::Future<Output = Result<Option<String>, crate::ad::AdError>>,
) -> Result<Result<Option<String>, crate::ad::AdError>, crate::journal::JournalError> {
    ctx.journal.append(std::slice::from_ref(&intent)).await?;
    let result = write.await;
    let mut outcome = intent;
    match &result {
        Ok(new_dn) => {
            outcome.phase = Phase::Applied;
            outcome.note = new_dn.as_ref().map(|d| format!("moved to {d}"));
        }
        Err(e) => {
            outcome.phase = Phase::Failed;
            outcome.error = Some(e.to_string());
        }
    }
    ctx.journal.append(std::slice::from_ref(&outcome)).await?;
    Ok(result)
}

#[cfg(test)]
#[path = "ad_move_tests.rs"]
mod tests;
