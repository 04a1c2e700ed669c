//! The change log on its own and as the tenant's mutations feed it (no HTTP).
#![allow(clippy::expect_used)]

use super::super::fixture::{admin, at, cloud_group, synced_user, t0, tenant};
use super::super::{ObjectKind, RestoreOptions, Tenant, TextProp, UserChange};
use super::*;
use crate::emulator::model::Kind;

#[test]
fn the_property_table_covers_every_rendered_property() {
    let t = tenant();
    let user = t.users.values().next().map(|u| u.to_json());
    let group = t.groups.values().next().map(|g| g.to_json());
    let keys: Vec<String> = user
        .into_iter()
        .chain(group)
        .flat_map(|obj| obj.keys().cloned().collect::<Vec<_>>())
        .collect();
    assert!(keys.len() > 40);
    for key in keys {
        assert_ne!(prop_index(&key), OTHER, "{key} is not in PROPS");
    }
    for name in SYNC_PROPS {
        assert_ne!(prop_index(name), OTHER, "{name}");
    }
}

#[test]
fn a_patch_records_only_the_properties_it_changed() {
    let mut t = tenant();
    let id = admin(&t);
    assert_eq!(t.changes.stats(), ChangeStats::default());
    let patch = vec![
        UserChange::Text(TextProp::JobTitle, Some("Boss".into())),
        UserChange::DisplayName("Tenant Admin".into()),
    ];
    assert_eq!(t.update_user(&id, patch), Ok(()));
    let v = t.changes.version(ObjectKind::User, &id).cloned();
    let v = v.expect("the admin has an entry");
    assert!(v.changed_after("jobTitle", 0));
    assert!(
        !v.changed_after("displayName", 0),
        "displayName kept its value"
    );
    assert!(!v.appeared_after(0));
    assert_eq!(v.removed(), None);
    let stats = t.changes.stats();
    assert_eq!((stats.seq, stats.users, stats.properties), (1, 1, 1));
    // The derived proxyAddresses change with the mail.
    let mail = vec![UserChange::Text(
        TextProp::Mail,
        Some("boss@contoso.onmicrosoft.com".into()),
    )];
    assert_eq!(t.update_user(&id, mail), Ok(()));
    let v = t.changes.version(ObjectKind::User, &id).cloned();
    let v = v.expect("entry");
    assert!(v.changed_after("mail", 1) && v.changed_after("proxyAddresses", 1));
    assert!(!v.changed_after("jobTitle", 1));
    let order: Vec<u64> = t
        .changes
        .touched_after(ObjectKind::User, 0)
        .map(|(s, _, _)| s)
        .collect();
    assert_eq!(
        order,
        vec![2],
        "one index entry per object, at its last change"
    );
}

#[test]
fn disable_flips_record_a_few_sequences_per_object_not_copies() {
    let mut t = tenant();
    let synced = t.user_counts().synced;
    let synced_groups = t.group_counts().synced;
    assert!(t.disable(t0()));
    t.apply_due(at(86_400.0));
    assert_eq!(t.user_counts().synced, 0);
    let stats = t.changes.stats();
    assert_eq!(stats.users, synced);
    assert_eq!(stats.groups, synced_groups);
    // onPremisesSyncEnabled and the four cleared names at most, per object.
    assert!(
        stats.properties <= 5 * (synced + synced_groups),
        "{stats:?}"
    );
    let id = synced_user(&t, 0);
    let v = t.changes.version(ObjectKind::User, &id).cloned();
    let v = v.expect("flipped users have an entry");
    for changed in [
        "onPremisesSyncEnabled",
        "onPremisesDistinguishedName",
        "onPremisesSamAccountName",
        "onPremisesUserPrincipalName",
        "onPremisesDomainName",
    ] {
        assert!(v.changed_after(changed, 0), "{changed}");
    }
    for kept in [
        "onPremisesImmutableId",
        "onPremisesSecurityIdentifier",
        "displayName",
    ] {
        assert!(!v.changed_after(kept, 0), "{kept}");
    }
}

#[test]
fn a_soa_switch_and_the_cycle_that_takes_the_object_back_are_recorded() {
    let mut t = tenant();
    let id = synced_user(&t, 1);
    assert_eq!(
        t.set_cloud_managed(ObjectKind::User, &id, true),
        Ok((id.clone(), true))
    );
    let v = t.changes.version(ObjectKind::User, &id).cloned();
    assert!(v.is_some_and(|v| v.changed_after("onPremisesSyncEnabled", 0)));
    let seq = t.changes.seq();
    t.features.set(super::super::BLOCK_HARD_MATCH, false).ok();
    assert!(t.set_cloud_managed(ObjectKind::User, &id, false).is_ok());
    assert_eq!(t.changes.seq(), seq, "a rollback changes no property yet");
    let report = t.run_cycle(at(60.0));
    assert!(report.relinked.contains(&id));
    let v = t.changes.version(ObjectKind::User, &id).cloned();
    let v = v.expect("entry");
    assert!(v.changed_after("onPremisesSyncEnabled", seq));
    assert!(v.changed_after("onPremisesLastSyncDateTime", seq));
}

#[test]
fn delete_restore_and_purge_move_the_tombstone() {
    let mut t = tenant();
    t.apply_due(t0());
    let id = admin(&t);
    let groups_before: Vec<String> = t
        .groups
        .values()
        .filter(|g| g.members.contains(&id))
        .map(|g| g.id.clone())
        .collect();
    assert!(!groups_before.is_empty());
    assert!(t.delete_user(&id, t0()).is_ok());
    let removed = |t: &Tenant| {
        t.changes
            .version(ObjectKind::User, &id)
            .and_then(Version::removed)
    };
    assert_eq!(removed(&t), Some(Removal::Changed));
    // Its groups record the member leaving.
    for g in &groups_before {
        let changes = t.changes.member_changes(g, 0);
        let expected = [(id.as_str(), (ObjectKind::User, false))]
            .into_iter()
            .collect();
        assert_eq!(changes, MemberChanges::Net(expected), "{g}");
    }
    let seq = t.changes.seq();
    assert_eq!(
        t.restore(&id, &RestoreOptions::default()),
        Ok(ObjectKind::User)
    );
    assert_eq!(removed(&t), None);
    let v = t.changes.version(ObjectKind::User, &id).cloned();
    assert!(v.is_some_and(|v| v.appeared_after(seq)));
    let g = &groups_before[0];
    let back = [(id.as_str(), (ObjectKind::User, true))]
        .into_iter()
        .collect();
    assert_eq!(t.changes.member_changes(g, seq), MemberChanges::Net(back));
    assert!(t.delete_user(&id, t0()).is_ok());
    assert!(t.purge(&id));
    assert_eq!(removed(&t), Some(Removal::Deleted));
    assert_eq!(t.changes.stats().tombstones, 1);
}

#[test]
fn a_security_group_deleted_for_good_is_deleted_not_changed() {
    let mut t = tenant();
    let security = cloud_group(&t, false);
    let unified = cloud_group(&t, true);
    assert!(t.delete_group(&security, t0()).is_ok());
    assert!(t.delete_group(&unified, t0()).is_ok());
    let removal = |id: &str| {
        t.changes
            .version(ObjectKind::Group, id)
            .and_then(Version::removed)
    };
    assert_eq!(removal(&security), Some(Removal::Deleted));
    assert_eq!(removal(&unified), Some(Removal::Changed));
}

#[test]
fn member_writes_are_logged_and_the_log_is_bounded() {
    let mut t = tenant();
    let group = cloud_group(&t, false);
    let user = t
        .users
        .values()
        .find(|u| u.kind == Kind::Synced && !t.groups[&group].members.contains(&u.id))
        .map(|u| u.id.clone())
        .unwrap_or_default();
    assert_eq!(
        t.add_ref(&group, super::super::Relation::Members, &user),
        Ok(())
    );
    let v = t.changes.version(ObjectKind::Group, &group).cloned();
    let v = v.expect("the group has an entry");
    assert!(v.changed_after(MEMBERS, 0) && !v.changed_after("displayName", 0));
    assert_eq!(
        t.remove_ref(&group, super::super::Relation::Members, &user),
        Ok(())
    );
    let net = [(user.as_str(), (ObjectKind::User, false))]
        .into_iter()
        .collect();
    assert_eq!(t.changes.member_changes(&group, 0), MemberChanges::Net(net));

    let mut log = ChangeLog::new();
    for n in 0..MEMBER_LOG_LIMIT + 10 {
        log.member("g", &format!("m{n}"), ObjectKind::User, true);
    }
    assert_eq!(log.stats().member_changes, MEMBER_LOG_LIMIT);
    assert_eq!(log.member_changes("g", 5), MemberChanges::All);
    match log.member_changes("g", log.seq() - 2) {
        MemberChanges::Net(net) => assert_eq!(net.len(), 2),
        MemberChanges::All => panic!("the last changes are still logged"),
    }
}

#[test]
fn tombstones_expire_with_the_tokens_that_could_need_them() {
    let mut log = ChangeLog::new();
    log.set_now(t0());
    log.removed(ObjectKind::User, "u1", Removal::Changed);
    log.appeared(ObjectKind::User, "u2");
    log.set_now(at(TOKEN_LIFETIME.as_secs_f64()));
    assert_eq!(log.stats().tombstones, 1, "not older than the lifetime yet");
    log.set_now(at(TOKEN_LIFETIME.as_secs_f64() + 1.0));
    let stats = log.stats();
    assert_eq!((stats.tombstones, stats.users), (0, 1));
    assert!(log.version(ObjectKind::User, "u1").is_none());
    assert_eq!(log.touched_after(ObjectKind::User, 0).count(), 1);
}

#[test]
fn a_resync_invalidates_every_sequence_taken_so_far() {
    let mut log = ChangeLog::new();
    log.appeared(ObjectKind::Group, "g");
    assert_eq!(log.resync_from(), 0);
    let from = log.require_resync();
    assert_eq!((from, log.seq()), (2, 2));
    assert_ne!(ChangeLog::new().epoch(), log.epoch());
}

#[test]
fn sync_prints_only_report_the_properties_the_kind_renders() {
    let t = tenant();
    let id = synced_user(&t, 0);
    let mut sync = t.users[&id].sync.clone();
    let start = SyncPrint::of(&sync);
    sync.values.net_bios_name = Some("CONTOSO".into());
    let netbios = SyncPrint::of(&sync);
    sync.values.immutable_id = None;
    let anchor = SyncPrint::of(&sync);
    let mut log = ChangeLog::new();
    log.sync_changed(ObjectKind::User, "u", start, netbios);
    assert!(
        log.version(ObjectKind::User, "u").is_none(),
        "users have no NetBIOS name"
    );
    log.sync_changed(ObjectKind::User, "u", netbios, anchor);
    let v = log.version(ObjectKind::User, "u").cloned();
    assert!(v.is_some_and(|v| v.changed_after("onPremisesImmutableId", 0)));
    log.sync_changed(ObjectKind::Group, "g", netbios, anchor);
    assert!(
        log.version(ObjectKind::Group, "g").is_none(),
        "groups have no anchor"
    );
    log.sync_changed(ObjectKind::Group, "g", start, netbios);
    let v = log.version(ObjectKind::Group, "g").cloned();
    assert!(v.is_some_and(|v| v.changed_after("onPremisesNetBiosName", 0)));
}

#[test]
fn a_large_tenant_costs_a_few_sequences_per_flip_and_rounds_read_only_changes() {
    use crate::emulator::seed::{SeedSpec, seed_tenant};
    let spec = SeedSpec {
        tenant_id: "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        tenant_name: "Contoso",
        domain: "contoso.com",
        users: 20_000,
        groups: 20,
        seed: 3,
    };
    let mut t = seed_tenant(&spec, t0(), super::super::Behaviour::default());
    assert!(t.disable(t0()));
    t.apply_due(at(86_400.0));
    let stats = t.changes.stats();
    assert_eq!(stats.users, 20_000);
    assert!(
        stats.properties <= 5 * (stats.users + stats.groups),
        "{stats:?}"
    );
    let seq = t.changes.seq();
    let id = admin(&t);
    let patch = vec![UserChange::Text(TextProp::JobTitle, Some("Boss".into()))];
    assert_eq!(t.update_user(&id, patch), Ok(()));
    let news: Vec<&str> = t
        .changes
        .touched_after(ObjectKind::User, seq)
        .map(|(_, id, _)| id)
        .collect();
    assert_eq!(news, vec![id.as_str()]);
}
