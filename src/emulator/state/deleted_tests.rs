//! Soft delete, restore (same id, cloud-only, anchor per switch), conflicts and the purge.

use super::*;
use crate::emulator::state::fixture::{admin, at, cloud_group, synced_user, tenant, tenant_with};
use crate::emulator::state::{Behaviour, GroupChange, ObjectKind, Relation, UserChange};

fn deleted_by_a_cycle(t: &mut Tenant, n: usize) -> String {
    let id = synced_user(t, n);
    assert!(t.set_scope(ObjectKind::User, &id, false).is_ok());
    assert_eq!(t.run_cycle(at(60.0)).soft_deleted, vec![id.clone()]);
    id
}

#[test]
fn a_restored_user_keeps_its_id_and_anchor_and_is_cloud_only() {
    for (switch, keeps) in [
        (ImmutableIdOnRestore::Keep, true),
        (ImmutableIdOnRestore::Clear, false),
    ] {
        let mut t = tenant_with(Behaviour {
            immutable_id_survives_restore: switch,
            ..Behaviour::default()
        });
        let id = deleted_by_a_cycle(&mut t, 0);
        let before = t.deleted_users.get(&id).map(|d| d.object.sync.clone());
        let before = before.unwrap_or_default();
        let member_of = t.deleted_users.get(&id).map(|d| d.member_of.clone());
        assert_eq!(
            t.restore(&id, &RestoreOptions::default()),
            Ok(ObjectKind::User)
        );
        let user = t.users.get(&id).cloned();
        let sync = user.as_ref().map(|u| u.sync.clone()).unwrap_or_default();
        assert_eq!(
            (sync.enabled, sync.joined, sync.cloud_managed),
            (None, false, false)
        );
        assert_eq!(sync.values.immutable_id.is_some(), keeps);
        assert_eq!(sync.last_sync, before.last_sync);
        assert_eq!(user.map(|u| u.writes.restore), Some(1));
        // Back in its cloud groups; its synchronised groups' memberships are AD's, and gone.
        for g in member_of.unwrap_or_default() {
            let synced = t.groups.get(&g).is_some_and(|g| g.sync.is_synced());
            let member = t.direct(&g, Relation::Members).unwrap_or(&[]).contains(&id);
            assert_eq!(member, !synced, "{g}");
        }
        // Restored users are cloud-only: writable.
        let rename = vec![UserChange::DisplayName("Back".into())];
        assert_eq!(t.update_user(&id, rename), Ok(()));
        assert_eq!(
            t.restore(&id, &RestoreOptions::default()),
            Err(RestoreError::NotFound)
        );
    }
}

#[test]
fn a_taken_upn_needs_a_new_one_and_a_taken_mail_needs_reconciling() {
    let mut t = tenant();
    let id = deleted_by_a_cycle(&mut t, 0);
    let (upn, mail) = t
        .deleted_users
        .get(&id)
        .map(|d| (d.object.user_principal_name.clone(), d.object.mail.clone()))
        .unwrap_or_default();
    let admin = admin(&t);
    let take = vec![UserChange::UserPrincipalName(upn.clone())];
    assert_eq!(t.update_user(&admin, take), Ok(()));
    assert_eq!(
        t.restore(&id, &RestoreOptions::default()),
        Err(RestoreError::UpnConflict)
    );
    let taken_mail = vec![UserChange::Text(super::super::TextProp::Mail, mail.clone())];
    assert_eq!(t.update_user(&admin, taken_mail), Ok(()));
    let renamed = RestoreOptions {
        new_user_principal_name: Some("restored@contoso.com".into()),
        auto_reconcile_proxy_conflict: false,
    };
    assert_eq!(t.restore(&id, &renamed), Err(RestoreError::ProxyConflict));
    let reconciled = RestoreOptions {
        auto_reconcile_proxy_conflict: true,
        ..renamed
    };
    assert_eq!(t.restore(&id, &reconciled), Ok(ObjectKind::User));
    assert_eq!(
        t.user("Restored@contoso.com").map(|u| u.id.clone()),
        Some(id.clone())
    );
    assert_eq!(t.users.get(&id).and_then(|u| u.mail.clone()), None);
    assert_eq!(t.user(&upn).map(|u| u.id.clone()), Some(admin));
}

#[test]
fn deleted_items_are_purged_after_30_days() {
    let mut t = tenant();
    let first = deleted_by_a_cycle(&mut t, 0);
    let second = deleted_by_a_cycle(&mut t, 1);
    let purge_at = t.deleted_users.get(&first).map(|d| d.purge_at());
    assert_eq!(purge_at, Some(at(60.0 + 30.0 * 86_400.0)));
    // A permanent delete goes first.
    assert!(t.purge(&second));
    assert!(!t.purge(&second));
    t.apply_due(at(60.0 + 30.0 * 86_400.0 - 1.0));
    assert!(t.deleted_users.contains_key(&first));
    t.apply_due(at(60.0 + 30.0 * 86_400.0));
    assert!(t.deleted_users.is_empty());
    assert_eq!(
        t.restore(&first, &RestoreOptions::default()),
        Err(RestoreError::NotFound)
    );
    // The sync client still knows the AD object: back in scope, it is created again.
    assert_eq!(t.is_gone(&first), Some(ObjectKind::User));
    assert!(t.set_scope(ObjectKind::User, &first, true).is_ok());
    let report = t.run_cycle(at(31.0 * 86_400.0));
    assert_eq!(
        report.recreated.first().map(|r| r.from.clone()),
        Some(first)
    );
}

#[test]
fn only_microsoft_365_groups_are_restorable() {
    let mut t = tenant();
    let security = cloud_group(&t, false);
    let unified = cloud_group(&t, true);
    let members = t.groups.get(&unified).map(|g| g.members.clone());
    assert_eq!(t.delete_group(&security, at(10.0)), Ok(()));
    assert_eq!(t.delete_group(&unified, at(10.0)), Ok(()));
    assert_eq!(t.deleted_kind(&security), None);
    assert_eq!(
        t.restore(&security, &RestoreOptions::default()),
        Err(RestoreError::NotFound)
    );
    assert_eq!(t.deleted_kind(&unified), Some(ObjectKind::Group));
    assert_eq!(
        t.restore(&unified, &RestoreOptions::default()),
        Ok(ObjectKind::Group)
    );
    assert_eq!(t.groups.get(&unified).map(|g| g.members.clone()), members);
    assert_eq!(t.groups.get(&unified).map(|g| g.writes.restore), Some(1));
    let rename = vec![GroupChange::DisplayName("Everyone".into())];
    assert!(t.update_group(&unified, rename).is_ok());
}

#[test]
fn graph_deletes_refuse_synced_objects() {
    let mut t = tenant();
    let synced = synced_user(&t, 0);
    assert_eq!(
        t.delete_user(&synced, at(1.0)),
        Err(DeleteError::SyncMastered)
    );
    assert_eq!(
        t.delete_user("missing", at(1.0)),
        Err(DeleteError::NotFound)
    );
    let admin = admin(&t);
    assert_eq!(
        t.delete_user("ADMIN@contoso.onmicrosoft.com", at(1.0)),
        Ok(admin.clone())
    );
    assert!(t.user("admin@contoso.onmicrosoft.com").is_none());
    assert!(t.groups.values().all(|g| !g.owners.contains(&admin)));
    assert_eq!(
        t.deleted_json(&admin)
            .map(|(k, o)| (k, o["deletedDateTime"].clone())),
        Some((ObjectKind::User, serde_json::json!("2027-01-15T08:00:01Z")))
    );
    assert_eq!(
        t.restore(&admin, &RestoreOptions::default()),
        Ok(ObjectKind::User)
    );
    // Its ownerships come back too.
    assert!(
        t.groups
            .values()
            .filter(|g| g.owners.contains(&admin))
            .count()
            == 3
    );
}
