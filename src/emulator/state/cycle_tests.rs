//! Sync cycles: scheduling on the emulated clock, scope, deletion, recovery, re-creation and
//! matching of restored users.

use std::time::Duration;

use super::*;
use crate::emulator::state::export::ExportStopped;
use crate::emulator::state::fixture::{
    at, parent_group, synced_group, synced_user, tenant, tenant_with,
};
use crate::emulator::state::{Relation, RestoreOptions, SyncState};

#[test]
fn cycles_run_lazily_every_interval_while_sync_is_enabled() {
    let mut t = tenant();
    // Seeded two minutes after the last cycle: the next one is 28 minutes away.
    assert_eq!(t.next_cycle(), Some(at(1_680.0)));
    let id = synced_user(&t, 0);
    assert_eq!(
        t.set_scope(ObjectKind::User, &id, false),
        Ok(ScopeState::Active)
    );
    t.apply_due(at(1_679.0));
    assert!(t.users.contains_key(&id), "no cycle before its time");
    t.apply_due(at(1_680.0));
    assert_eq!(t.deleted_users.get(&id).map(|d| d.at), Some(at(1_680.0)));
    assert_eq!(t.org.last_sync, Some(at(1_680.0)));
    assert_eq!(t.next_cycle(), Some(at(3_480.0)));
    // A long jump: the cycles in between change nothing, the last one sets the times.
    t.apply_due(at(1_680.0 + 10.0 * 1_800.0 + 5.0));
    assert_eq!(t.org.last_sync, Some(at(1_680.0 + 10.0 * 1_800.0)));
    assert_eq!(t.next_cycle(), Some(at(1_680.0 + 11.0 * 1_800.0)));
    // No cycles while a disable is pending or done.
    assert!(t.disable(at(30_000.0)));
    assert_eq!(t.next_cycle(), None);
    t.apply_due(at(40_000.0));
    assert_eq!(t.sync, SyncState::Disabled);
    assert_eq!(t.org.last_sync, Some(at(1_680.0 + 10.0 * 1_800.0)));
    // Re-enabling resumes them, an interval after.
    assert_eq!(t.enable(at(50_000.0)), Ok(()));
    assert_eq!(t.next_cycle(), Some(at(51_800.0)));
}

#[test]
fn a_zero_interval_runs_cycles_only_on_request() {
    let mut t = tenant_with(Behaviour {
        sync_interval: Duration::ZERO,
        ..Behaviour::default()
    });
    assert_eq!(t.next_cycle(), None);
    let id = synced_user(&t, 0);
    assert!(t.set_scope(ObjectKind::User, &id, false).is_ok());
    t.apply_due(at(86_400.0));
    assert!(t.users.contains_key(&id));
    assert_eq!(t.run_cycle(at(86_400.0)).soft_deleted, vec![id]);
}

#[test]
fn out_of_scope_users_are_soft_deleted_and_come_back_with_their_id() {
    let mut t = tenant();
    let parent = parent_group(&t);
    let id = t
        .direct(&parent, Relation::Members)
        .and_then(|m| m.iter().find(|m| t.users.contains_key(*m)).cloned())
        .unwrap_or_default();
    assert_eq!(
        t.set_scope(ObjectKind::User, &id, false),
        Ok(ScopeState::Active)
    );
    let report = t.run_cycle(at(60.0));
    assert_eq!(report.soft_deleted, vec![id.clone()]);
    assert!(!t.users.contains_key(&id) && t.user(&id).is_none());
    assert!(
        !t.direct(&parent, Relation::Members)
            .unwrap_or(&[])
            .contains(&id)
    );
    let entry = t.deleted_users.get(&id);
    assert_eq!(entry.map(|d| d.member_of.contains(&parent)), Some(true));
    // Its UPN is free while it is deleted.
    let upn = entry
        .map(|d| d.object.user_principal_name.clone())
        .unwrap_or_default();
    assert!(t.user(&upn).is_none());
    // A second cycle changes nothing.
    assert_eq!(t.run_cycle(at(120.0)), CycleReport::default());
    // Back in scope: the next cycle recovers the deleted user, same id, synced, in its groups.
    assert_eq!(
        t.set_scope(ObjectKind::User, &id, true),
        Ok(ScopeState::SoftDeleted)
    );
    let report = t.run_cycle(at(180.0));
    assert_eq!(report.recovered, vec![id.clone()]);
    assert_eq!(t.users.get(&id).and_then(|u| u.sync.enabled), Some(true));
    assert!(
        t.direct(&parent, Relation::Members)
            .unwrap_or(&[])
            .contains(&id)
    );
    assert_eq!(t.user(&upn).map(|u| u.id.clone()), Some(id));
}

#[test]
fn out_of_scope_groups_are_deleted_for_good_and_created_again() {
    let mut t = tenant();
    let parent = parent_group(&t);
    let child = t
        .direct(&parent, Relation::Members)
        .and_then(|m| m.iter().find(|m| t.groups.contains_key(*m)).cloned())
        .unwrap_or_default();
    assert_eq!(
        t.set_scope(ObjectKind::Group, &child, false),
        Ok(ScopeState::Active)
    );
    let report = t.run_cycle(at(60.0));
    assert_eq!(report.hard_deleted, vec![child.clone()]);
    assert!(!t.groups.contains_key(&child) && t.deleted_groups.is_empty());
    assert!(
        !t.direct(&parent, Relation::Members)
            .unwrap_or(&[])
            .contains(&child)
    );
    assert_eq!(
        t.set_scope(ObjectKind::Group, &child, true),
        Ok(ScopeState::Gone)
    );
    let report = t.run_cycle(at(120.0));
    let recreated = report.recreated.first().cloned();
    assert_eq!(
        recreated.as_ref().map(|r| r.from.clone()),
        Some(child.clone())
    );
    let new_id = recreated.map(|r| r.id).unwrap_or_default();
    assert_ne!(new_id, child);
    assert_eq!(
        t.groups.get(&new_id).and_then(|g| g.sync.enabled),
        Some(true)
    );
    assert_eq!(
        t.set_scope(ObjectKind::Group, &child, true),
        Err(ScopeError::NotFound)
    );
    let cloud = t
        .groups
        .values()
        .find(|g| g.sync.ad_twin.is_none())
        .map(|g| g.id.clone());
    assert_eq!(
        t.set_scope(ObjectKind::Group, &cloud.unwrap_or_default(), false),
        Err(ScopeError::NoAdObject)
    );
}

#[test]
fn switched_objects_are_left_alone_even_out_of_scope() {
    let mut t = tenant();
    let user = synced_user(&t, 0);
    let group = synced_group(&t, false);
    assert!(t.set_cloud_managed(ObjectKind::User, &user, true).is_ok());
    assert!(t.set_cloud_managed(ObjectKind::Group, &group, true).is_ok());
    assert!(t.set_scope(ObjectKind::User, &user, false).is_ok());
    assert!(t.set_scope(ObjectKind::Group, &group, false).is_ok());
    let report = t.run_cycle(at(60.0));
    assert_eq!(report.skipped_cloud_managed.len(), 2);
    assert!(report.soft_deleted.is_empty() && report.hard_deleted.is_empty());
    assert!(t.users.contains_key(&user) && t.groups.contains_key(&group));
}

/// A user moved out of scope, deleted by a cycle, restored by an admin, moved back in scope.
fn restored_and_back_in_scope(t: &mut Tenant) -> String {
    let id = synced_user(t, 2);
    assert!(t.set_scope(ObjectKind::User, &id, false).is_ok());
    t.run_cycle(at(60.0));
    assert_eq!(
        t.restore(&id, &RestoreOptions::default()),
        Ok(ObjectKind::User)
    );
    assert!(t.set_scope(ObjectKind::User, &id, true).is_ok());
    id
}

#[test]
fn restored_users_are_joined_again_by_hard_or_soft_match_unless_blocked() {
    // Hard match on the kept anchor: blocked while the takeover block is on.
    let mut t = tenant();
    let id = restored_and_back_in_scope(&mut t);
    assert_eq!(t.run_cycle(at(120.0)).blocked, vec![id.clone()]);
    assert_eq!(t.users.get(&id).and_then(|u| u.sync.enabled), None);
    assert!(
        t.features
            .set(super::super::BLOCK_HARD_MATCH, false)
            .is_ok()
    );
    assert_eq!(t.run_cycle(at(180.0)).relinked, vec![id.clone()]);
    assert_eq!(t.users.get(&id).and_then(|u| u.sync.enabled), Some(true));
    // Anchor cleared: soft match on the UPN, unless blocked.
    let mut t = tenant();
    let id = restored_and_back_in_scope(&mut t);
    if let Some(u) = t.users.get_mut(&id) {
        u.sync.values.immutable_id = None;
    }
    assert!(t.features.set("blockSoftMatchEnabled", true).is_ok());
    assert_eq!(t.run_cycle(at(120.0)).blocked, vec![id.clone()]);
    assert!(t.features.set("blockSoftMatchEnabled", false).is_ok());
    assert_eq!(t.run_cycle(at(180.0)).relinked, vec![id.clone()]);
    let anchor = t
        .users
        .get(&id)
        .and_then(|u| u.sync.values.immutable_id.clone());
    assert!(anchor.is_some(), "the anchor is written back");
}

#[test]
fn features_know_graph_names_only() {
    let mut f = Features::new(false);
    assert!(!f.block_hard_match());
    assert_eq!(f.set(BLOCK_HARD_MATCH, true), Ok(()));
    assert!(f.block_hard_match());
    assert_eq!(f.set("nope", true), Err("nope".to_string()));
    assert!(Features::knows("blockSoftMatchEnabled"));
    let json = f.to_json();
    assert_eq!(
        json["blockCloudObjectTakeoverThroughHardMatchEnabled"],
        true
    );
    assert_eq!(json.as_object().map(|o| o.len()), Some(19));
}

#[test]
fn an_export_deleting_more_than_the_threshold_is_stopped_until_an_administrator_allows_it() {
    let mut t = tenant_with(Behaviour {
        accidental_delete_threshold: Some(3),
        sync_interval: Duration::ZERO,
        ..Behaviour::default()
    });
    let ids: Vec<String> = (0..4).map(|n| synced_user(&t, n)).collect();
    for id in &ids {
        assert!(t.set_scope(ObjectKind::User, id, false).is_ok());
    }
    let before = t.org.last_sync;
    let report = t.run_cycle(at(60.0));
    assert_eq!(
        report.export_stopped,
        Some(ExportStopped {
            deletes: 4,
            threshold: 3
        })
    );
    assert!(report.soft_deleted.is_empty());
    assert!(
        ids.iter().all(|id| t.users.contains_key(id)),
        "nothing deleted"
    );
    assert_eq!(t.org.last_sync, before, "nothing exported");
    // Still stopped at the next cycle, until an administrator lets one export through.
    assert!(t.run_cycle(at(120.0)).export_stopped.is_some());
    t.allow_deletes_once = true;
    let report = t.run_cycle(at(180.0));
    assert_eq!(report.export_stopped, None);
    assert_eq!(report.soft_deleted.len(), 4);
    assert!(!t.allow_deletes_once, "once");
    assert_eq!(t.export_stopped, None);
}

#[test]
fn within_the_threshold_or_without_one_the_export_runs() {
    for threshold in [Some(4), None] {
        let mut t = tenant_with(Behaviour {
            accidental_delete_threshold: threshold,
            sync_interval: Duration::ZERO,
            ..Behaviour::default()
        });
        for n in 0..4 {
            let id = synced_user(&t, n);
            assert!(t.set_scope(ObjectKind::User, &id, false).is_ok());
        }
        let report = t.run_cycle(at(60.0));
        assert_eq!(report.export_stopped, None, "{threshold:?}");
        assert_eq!(report.soft_deleted.len(), 4, "{threshold:?}");
    }
}

#[test]
fn a_soft_deleted_user_loses_its_synchronised_group_memberships_for_good() {
    let mut t = tenant();
    let id = synced_user(&t, 0);
    let synced = synced_group(&t, false);
    let cloud = crate::emulator::state::fixture::cloud_group(&t, false);
    for g in [&synced, &cloud] {
        if let Some(group) = t.groups.get_mut(g.as_str())
            && !group.members.contains(&id)
        {
            group.members.push(id.clone());
            group.members.sort();
        }
    }
    assert!(t.set_scope(ObjectKind::User, &id, false).is_ok());
    assert_eq!(t.run_cycle(at(60.0)).soft_deleted, vec![id.clone()]);
    assert!(t.restore(&id, &RestoreOptions::default()).is_ok());
    let member = |t: &Tenant, g: &str| t.groups.get(g).is_some_and(|g| g.members.contains(&id));
    assert!(
        !member(&t, &synced),
        "the synchronised group's membership is AD's, and gone"
    );
    assert!(member(&t, &cloud), "the cloud group's is back");
}
