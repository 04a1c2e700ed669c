//! `afterConversion: Disable | Move`: once a user of the selection is converted, its AD object
//! is disabled (`userAccountControl` bit 2) or moved to `activeDirectory.unsyncedOu`, each
//! journaled with its prior value and undone by `onDelete: Revert`. Only users this resource
//! converted (journaled `Applied`) are touched, never anyone else.

use std::collections::BTreeMap;

use futures::TryFutureExt as _;
use serde_json::json;

use crate::ad::client::ACCOUNT_DISABLED;
use crate::ad::{AdClient, DirectoryUser, anchor};
use crate::api::active_directory::AfterConversion;
use crate::api::common::ObjectFailure;
use crate::journal::{Action, Object, Phase, Record};
use crate::reconcile::{Context, ReconcileError};

use super::ad_move::{self, last_of};
use super::ad_scan::{AdScan, AdUser};
use super::select::Selection;

/// The AD object of converted user `id`: the one a journaled move names, else the one whose
/// anchor is the user's ImmutableID (now, or as journaled before it was cleared), else by UPN.
async fn find(
    ad: &AdClient,
    (id, journaled): (&str, &AdUser),
    selection: &Selection,
) -> Result<Option<DirectoryUser>, crate::ad::AdError> {
    if let Some(g) = journaled.moved_guid
        && let Some(u) = ad.user_by_guid(&g).await?
    {
        return Ok(Some(u));
    }
    let immutable = selection
        .candidates
        .get(id)
        .and_then(|c| c.immutable_id())
        .or(journaled.immutable_id.as_deref());
    if let Some(b) = immutable.and_then(anchor::from_immutable_id)
        && let Some(u) = ad.user_by_anchor(&b).await?
    {
        return Ok(Some(u));
    }
    match journaled.upn.as_deref() {
        Some(u) => ad.user_by_upn(u).await,
        None => Ok(None),
    }
}

fn uac_record(
    ctx: &Context<'_>,
    tenant: &str,
    (id, upn): (&str, Option<&str>),
    action: Action,
    user: &DirectoryUser,
) -> Record {
    let prior = json!({
        "distinguishedName": user.dn,
        "objectGuid": anchor::guid_string(&user.object_guid),
        "userAccountControl": user.user_account_control,
    });
    let object = Object::user(id, upn.map(str::to_string));
    Record::new(&ctx.resource, tenant, object, action, Phase::Intent, prior)
}

/// Apply `afterConversion` to up to `budget` converted users not handled yet. Returns the
/// number changed and the failures.
pub async fn apply(
    ctx: &Context<'_>,
    spec: &crate::api::user::CloudUserConversionSpec,
    tenant_id: &str,
    ad: &AdClient,
    selection: &Selection,
    journal: &AdScan,
    budget: i64,
) -> Result<(i64, Vec<ObjectFailure>), ReconcileError> {
    let done_action = match spec.after_conversion {
        AfterConversion::Keep => return Ok((0, Vec::new())),
        AfterConversion::Disable => Action::DisableAdAccount,
        AfterConversion::Move => Action::MoveAdObject,
    };
    let handled = |u: &AdUser| match done_action {
        Action::DisableAdAccount => u.disabled == Some(Phase::Applied),
        _ => u.moved == Some(Phase::Applied),
    };
    let (mut changed, mut failures) = (0, Vec::new());
    let todo = journal
        .users()
        .filter(|(_, u)| u.converted && !handled(u))
        .take(usize::try_from(budget.max(0)).unwrap_or(0));
    let target = ad.settings().unsynced_ou.clone();
    for (id, journaled) in todo {
        let upn: Option<String> = journaled.upn.as_deref().map(str::to_string);
        let fail = |message: String| ObjectFailure {
            object_id: id.clone(),
            name: upn.clone(),
            action: format!("{done_action:?}"),
            code: "DirectoryError".into(),
            message,
            time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ctx.now),
        };
        let user = match find(ad, (&id, journaled), selection).await {
            Ok(Some(u)) => u,
            Ok(None) => {
                failures.push(fail(format!(
                    "no AD object is linked to {} (by journaled move, ImmutableID or UPN)",
                    upn.as_deref().unwrap_or(&id)
                )));
                continue;
            }
            Err(e) => {
                failures.push(fail(e.stall_message()));
                continue;
            }
        };
        let ids = (id.as_str(), upn.as_deref());
        let intent = match done_action {
            Action::DisableAdAccount => uac_record(ctx, tenant_id, ids, done_action, &user),
            _ => ad_move::record(
                &ctx.resource,
                tenant_id,
                ids,
                done_action,
                Phase::Intent,
                (user.dn.as_str(), &user.object_guid, target.as_str()),
            ),
        };
        let write = async {
            match done_action {
                Action::DisableAdAccount => ad.set_enabled(&user, false).await.map(|_| None),
                _ => ad.move_to(&user.dn, &target).await.map(Some),
            }
        };
        match ad_move::journaled(ctx, intent, write).await? {
            Ok(_) => changed += 1,
            Err(e) => failures.push(fail(e.stall_message())),
        }
    }
    Ok((changed, failures))
}

/// Revert: re-enable every account this resource disabled, by clearing only the disable bit
/// (0x2) on its current `userAccountControl`: no other journaled flag is ever written back.
/// Only disables the journal key proves count (others are added to `refused`), and an account
/// that was disabled before the operator's disable stays disabled. Idempotent: an account
/// already enabled, or gone, needs nothing.
pub async fn enable_back(
    ctx: &Context<'_>,
    ad: &AdClient,
    tenant_id: &str,
    refused: &mut crate::reconcile::revert_trust::Refusals,
) -> Result<Result<i64, String>, ReconcileError> {
    let (entries, untrusted) =
        crate::reconcile::revert_trust::split(ad_move::ad_entries(ctx).await?);
    refused.extend(untrusted);
    // The value before the first disable: a disable retried after a stop journals the
    // already-disabled value as its prior, which must not be what the revert puts back.
    let mut first_prior: BTreeMap<String, u32> = BTreeMap::new();
    for r in entries.iter().map(|e| &e.record) {
        if r.action == Action::DisableAdAccount
            && let Some(v) = r.prior["userAccountControl"].as_u64()
            && let Ok(v) = u32::try_from(v)
        {
            first_prior.entry(r.object_id.clone()).or_insert(v);
        }
    }
    let mut n = 0;
    for (id, m) in last_of(&entries, Action::DisableAdAccount) {
        if m.phase != Phase::Applied || refused.contains(&id) {
            continue;
        }
        let Some(prior) = first_prior.get(&id).copied() else {
            continue;
        };
        let Some(g) = m.intent.prior["objectGuid"]
            .as_str()
            .and_then(anchor::guid_bytes)
        else {
            continue;
        };
        let user = match ad.user_by_guid(&g).await {
            Ok(Some(u)) => u,
            Ok(None) => continue,
            Err(e) => return Ok(Err(e.stall_message())),
        };
        let Some(value) = enabled_value(prior, user.user_account_control) else {
            continue;
        };
        let ids = (id.as_str(), m.intent.object_name.as_deref());
        let intent = uac_record(ctx, tenant_id, ids, Action::EnableAdAccount, &user);
        let write = ad
            .set_user_account_control(&user.dn, value)
            .map_ok(|_| None);
        match ad_move::journaled(ctx, intent, write).await? {
            Ok(_) => n += 1,
            Err(e) => return Ok(Err(e.stall_message())),
        }
    }
    Ok(Ok(n))
}

/// The `userAccountControl` that re-enables an account the operator disabled: the current
/// value with only the disable bit cleared. `None` when there is nothing to do: the account
/// is enabled, or it was already disabled before the operator's disable (`prior`), so the bit
/// is not the operator's to clear. Nothing else of `prior` is ever written back.
pub fn enabled_value(prior: u32, current: u32) -> Option<u32> {
    if prior & ACCOUNT_DISABLED != 0 || current & ACCOUNT_DISABLED == 0 {
        return None;
    }
    Some(current & !ACCOUNT_DISABLED)
}

#[cfg(test)]
mod tests {
    use super::enabled_value;

    #[test]
    fn only_the_disable_bit_is_cleared_never_a_journaled_flag_written_back() {
        const NORMAL: u32 = 0x200;
        const DONT_REQ_PREAUTH: u32 = 0x40_0000;
        const DONT_EXPIRE: u32 = 0x1_0000;
        // A forged prior asking for DONT_REQ_PREAUTH (AS-REP roasting) changes nothing.
        assert_eq!(
            enabled_value(NORMAL | DONT_REQ_PREAUTH, NORMAL | 0x2),
            Some(NORMAL)
        );
        // Flags set since the disable stay as they are.
        assert_eq!(
            enabled_value(NORMAL, NORMAL | DONT_EXPIRE | 0x2),
            Some(NORMAL | DONT_EXPIRE)
        );
        // Disabled before the operator's disable: stays disabled.
        assert_eq!(enabled_value(NORMAL | 0x2, NORMAL | 0x2), None);
        // Already enabled: nothing to do.
        assert_eq!(enabled_value(NORMAL, NORMAL), None);
    }
}
