//! An ImmutableID goes back onto a user only where it is that user's AD anchor: with an AD
//! connection, the AD object linked to the user (the one a journaled move or disable names by
//! `objectGUID`, else the one with the user's UPN) must carry it as its source anchor; a
//! journaled value that is anyone else's anchor would let the next sync hard-match a
//! different AD account onto this user. Without an AD connection the value must be the one
//! the operator itself cleared, which the caller ensures by using only entries the journal
//! key proves.

use crate::ad::{AdClient, anchor};
use crate::journal::{Action, Entry};
use crate::reconcile::revert_trust::Refusals;
use crate::reconcile::{Context, ReconcileError};

/// One ImmutableID a revert would restore: Entra id, UPN, value.
pub(super) struct Wanted {
    pub id: String,
    pub name: Option<String>,
    pub value: String,
}

/// The users of `wanted` whose value is not their AD object's anchor (or cannot be checked).
pub(super) async fn check(
    ctx: &Context<'_>,
    entries: &[Entry],
    wanted: Vec<Wanted>,
) -> Result<Refusals, ReconcileError> {
    let mut refused = Refusals::default();
    if wanted.is_empty() {
        return Ok(refused);
    }
    let settings = match ctx.ad {
        None => return Ok(refused),
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            let why = format!(
                "the ImmutableID cannot be checked against its AD object: {}",
                e.stall_message()
            );
            for w in &wanted {
                refused.refuse(&w.id, &shown(w), why.clone());
            }
            return Ok(refused);
        }
    };
    let ad = match AdClient::connect(settings).await {
        Ok(ad) => ad,
        Err(e) => {
            let why = format!(
                "the ImmutableID cannot be checked against its AD object: {}",
                e.stall_message()
            );
            for w in &wanted {
                refused.refuse(&w.id, &shown(w), why.clone());
            }
            return Ok(refused);
        }
    };
    for w in &wanted {
        let linked = match linked(&ad, entries, w).await {
            Ok(u) => u,
            Err(e) => {
                refused.refuse(
                    &w.id,
                    &shown(w),
                    format!("its AD object could not be read: {}", e.stall_message()),
                );
                continue;
            }
        };
        if let Some(why) = refusal(&w.value, linked.as_ref()) {
            refused.refuse(&w.id, &shown(w), why);
        }
    }
    ad.close().await;
    Ok(refused)
}

/// Why the ImmutableID `value` may not go back onto a user whose linked AD object is
/// `linked`, or `None` when it is that object's source anchor.
pub(super) fn refusal(value: &str, linked: Option<&crate::ad::DirectoryUser>) -> Option<String> {
    match linked {
        None => Some("no AD object is linked to it (by a journaled objectGUID or its UPN), so the journaled ImmutableID cannot be checked".into()),
        Some(u) if u.immutable_id() != value => Some(format!(
            "the journaled ImmutableID {value} is not the source anchor of its AD object {}",
            u.dn
        )),
        Some(_) => None,
    }
}

fn shown(w: &Wanted) -> String {
    w.name.clone().unwrap_or_else(|| w.id.clone())
}

async fn linked(
    ad: &AdClient,
    entries: &[Entry],
    w: &Wanted,
) -> Result<Option<crate::ad::DirectoryUser>, crate::ad::AdError> {
    let guid = entries.iter().rev().find_map(|e| {
        (e.record.object_id == w.id
            && matches!(
                e.record.action,
                Action::MoveAdObject | Action::DisableAdAccount
            ))
        .then(|| {
            e.record.prior["objectGuid"]
                .as_str()
                .and_then(anchor::guid_bytes)
        })
        .flatten()
    });
    if let Some(g) = guid
        && let Some(u) = ad.user_by_guid(&g).await?
    {
        return Ok(Some(u));
    }
    match &w.name {
        Some(upn) => ad.user_by_upn(upn).await,
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;
    use crate::ad::DirectoryUser;
    use crate::ad::anchor::immutable_id;

    #[test]
    fn an_immutable_id_goes_back_only_as_the_linked_objects_anchor() {
        let user = DirectoryUser {
            dn: "CN=Alice,OU=Staff,DC=corp".into(),
            object_guid: [1; 16],
            consistency_guid: None,
            sid: None,
            upn: Some("alice@corp.example".into()),
            sam_account_name: None,
            user_account_control: 0x200,
            admin_count: false,
            mailbox_on_premises: false,
        };
        assert_eq!(refusal(&immutable_id(&[1; 16]), Some(&user)), None);
        // Someone else's anchor (a hard-match takeover): refused.
        let why = refusal(&immutable_id(&[9; 16]), Some(&user)).unwrap_or_default();
        assert!(
            why.contains("not the source anchor") && why.contains("CN=Alice"),
            "{why}"
        );
        // The consistency GUID is the anchor where set.
        let with_cguid = DirectoryUser {
            consistency_guid: Some([2; 16]),
            ..user.clone()
        };
        assert!(refusal(&immutable_id(&[1; 16]), Some(&with_cguid)).is_some());
        assert_eq!(refusal(&immutable_id(&[2; 16]), Some(&with_cguid)), None);
        assert!(refusal(&immutable_id(&[1; 16]), None).is_some());
    }
}
