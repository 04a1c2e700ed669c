//! The SOA state table (graph-api.md §3), the rollback gate and the UNCONFIRMED switches.

use super::*;
use crate::emulator::state::fixture::{admin, at, synced_group, synced_user, tenant, tenant_with};
use crate::emulator::state::{Behaviour, TextProp, UpdateError, UserChange};
use crate::emulator::switches::ImmutableIdAfterSoa;

fn state(t: &Tenant, id: &str) -> (bool, Option<bool>) {
    let u = t.users.get(id);
    (
        u.is_some_and(|u| u.sync.cloud_managed),
        u.and_then(|u| u.sync.enabled),
    )
}

fn rename(t: &mut Tenant, id: &str) -> Result<(), UpdateError> {
    t.update_user(id, vec![UserChange::DisplayName("Renamed".into())])
}

#[test]
fn the_user_state_table_end_to_end() {
    let mut t = tenant();
    let id = synced_user(&t, 0);
    let anchor = t
        .users
        .get(&id)
        .and_then(|u| u.sync.values.immutable_id.clone());
    // Synced from AD.
    assert_eq!(state(&t, &id), (false, Some(true)));
    assert_eq!(rename(&mut t, &id), Err(UpdateError::SyncMastered));
    // Switched to the cloud: null, writable, the anchor may go (default switch).
    assert_eq!(
        t.set_cloud_managed(ObjectKind::User, &id, true),
        Ok((id.clone(), true))
    );
    assert_eq!(state(&t, &id), (true, None));
    assert_eq!(rename(&mut t, &id), Ok(()));
    let clear = vec![UserChange::Text(TextProp::ImmutableId, None)];
    assert_eq!(t.update_user(&id, clear), Ok(()));
    // Setting it again is a no-op, still an accepted write.
    assert_eq!(
        t.set_cloud_managed(ObjectKind::User, &id, true),
        Ok((id.clone(), true))
    );
    // Skipped by cycles while cloud-managed.
    let report = t.run_cycle(at(60.0));
    assert_eq!(report.skipped_cloud_managed, vec![id.clone()]);
    assert_eq!(state(&t, &id), (true, None));
    // Rollback refused while takeover by hard match is blocked (the default).
    assert!(t.features.block_hard_match());
    assert_eq!(
        t.set_cloud_managed(ObjectKind::User, &id, false),
        Err(SoaError::RollbackBlocked)
    );
    assert_eq!(state(&t, &id), (true, None));
    // Allowed once the flag is off; the user stays null and writable until the next cycle.
    assert_eq!(
        t.features.set(super::super::BLOCK_HARD_MATCH, false),
        Ok(())
    );
    assert_eq!(
        t.set_cloud_managed(ObjectKind::User, &id, false),
        Ok((id.clone(), false))
    );
    assert_eq!(state(&t, &id), (false, None));
    assert_eq!(rename(&mut t, &id), Ok(()));
    // The next cycle takes it back: synced, anchor rewritten, writes refused.
    let report = t.run_cycle(at(120.0));
    assert_eq!(report.relinked, vec![id.clone()]);
    assert_eq!(state(&t, &id), (false, Some(true)));
    let user = t.users.get(&id);
    assert_eq!(
        user.and_then(|u| u.sync.values.immutable_id.clone()),
        anchor
    );
    assert_eq!(user.and_then(|u| u.sync.last_sync), Some(at(120.0)));
    assert_eq!(rename(&mut t, &id), Err(UpdateError::SyncMastered));
    let writes = t.users.get(&id).map(|u| u.writes).unwrap_or_default();
    assert_eq!((writes.soa, writes.patch), (3, 3));
}

#[test]
fn cloud_native_objects_are_refused_or_accepted_as_a_no_op() {
    let mut t = tenant();
    let cloud = admin(&t);
    assert_eq!(state(&t, &cloud), (false, None));
    assert_eq!(
        t.set_cloud_managed(ObjectKind::User, &cloud, true),
        Err(SoaError::NotSynced)
    );
    assert_eq!(t.users.get(&cloud).map(|u| u.writes.soa), Some(0));
    assert_eq!(
        t.set_cloud_managed(ObjectKind::User, "missing", true),
        Err(SoaError::NotFound)
    );
    assert_eq!(
        t.set_cloud_managed(ObjectKind::Group, "missing", true),
        Err(SoaError::NotFound)
    );
    t.behaviour.soa_on_cloud_object = SoaOnCloudObject::Accept;
    assert_eq!(
        t.set_cloud_managed(ObjectKind::User, "admin@contoso.onmicrosoft.com", true),
        Ok((cloud.clone(), false))
    );
    assert_eq!(state(&t, &cloud), (false, None));
    assert_eq!(t.users.get(&cloud).map(|u| u.writes.soa), Some(1));
}

#[test]
fn group_rollback_is_not_gated_by_the_hard_match_flag() {
    let mut t = tenant();
    let id = synced_group(&t, false);
    assert!(!id.is_empty());
    assert_eq!(
        t.cloud_managed(ObjectKind::Group, &id),
        Some((id.clone(), false))
    );
    assert_eq!(
        t.set_cloud_managed(ObjectKind::Group, &id, true),
        Ok((id.clone(), true))
    );
    let g = t
        .groups
        .get(&id)
        .map(|g| (g.sync.enabled, g.sync.cloud_managed));
    assert_eq!(g, Some((None, true)));
    assert!(t.features.block_hard_match());
    assert_eq!(
        t.set_cloud_managed(ObjectKind::Group, &id, false),
        Ok((id.clone(), false))
    );
    assert_eq!(t.run_cycle(at(60.0)).relinked, vec![id.clone()]);
    assert_eq!(t.groups.get(&id).and_then(|g| g.sync.enabled), Some(true));
}

#[test]
fn the_anchor_of_a_switched_user_follows_its_switch() {
    let refuse = Behaviour {
        immutable_id_after_soa: ImmutableIdAfterSoa::Refuse,
        ..Behaviour::default()
    };
    for (behaviour, expected) in [
        (Behaviour::default(), Ok(())),
        (refuse, Err(UpdateError::AnchorAfterSoa)),
    ] {
        let mut t = tenant_with(behaviour);
        let id = synced_user(&t, 1);
        assert_eq!(
            t.set_cloud_managed(ObjectKind::User, &id, true),
            Ok((id.clone(), true))
        );
        let clear = vec![UserChange::Text(TextProp::ImmutableId, None)];
        assert_eq!(t.update_user(&id, clear), expected);
        // Other properties stay writable either way.
        assert_eq!(rename(&mut t, &id), Ok(()));
    }
}

#[test]
fn a_tenant_wide_disable_leaves_switched_objects_alone_and_enable_skips_them() {
    let mut t = tenant();
    let switched = synced_user(&t, 0);
    let other = synced_user(&t, 1);
    assert!(
        t.set_cloud_managed(ObjectKind::User, &switched, true)
            .is_ok()
    );
    assert!(t.disable(at(10.0)));
    t.apply_due(at(10_000.0));
    assert_eq!(state(&t, &switched), (true, None));
    assert_eq!(state(&t, &other), (false, Some(false)));
    // A formerly synced user is no longer synchronised: SOA refuses it (not joined).
    assert_eq!(
        t.set_cloud_managed(ObjectKind::User, &other, true),
        Err(SoaError::NotSynced)
    );
    assert_eq!(t.enable(at(20_000.0)), Ok(()));
    assert_eq!(state(&t, &switched), (true, None));
    assert_eq!(state(&t, &other), (false, Some(true)));
}
