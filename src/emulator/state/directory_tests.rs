#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The import of a directory snapshot, without LDAP: provisioning, joins by objectGUID and
//! anchor, scope changes, deletion in AD, cloud-managed users, failed reads.

use super::*;
use crate::emulator::state::RestoreOptions;
use crate::emulator::state::fixture::{at, tenant};

const BASE: &str = "DC=corp,DC=example,DC=test";
const SYNCED: &str = "OU=Synced,OU=T,DC=corp,DC=example,DC=test";
const UNSYNCED: &str = "OU=NotSynced,OU=T,DC=corp,DC=example,DC=test";

fn linked() -> Tenant {
    let mut t = tenant();
    // The AD domain is verified in this tenant (seeded users are @contoso.com).
    t.org.domains.push(crate::emulator::model::VerifiedDomain {
        name: "corp.example.test".into(),
        is_default: false,
        is_initial: false,
        federated: false,
    });
    t.directory = Some(DirectoryLink::new(DirectoryScope {
        base_dn: BASE.into(),
        synced_ous: vec![SYNCED.into()],
    }));
    t
}

fn ad(n: u8, ou: &str) -> AdUser {
    AdUser {
        object_guid: format!("00000000-0000-0000-0000-0000000000{n:02x}"),
        anchor: format!("anchor-{n}"),
        distinguished_name: format!("CN=User {n},{ou}"),
        sam_account_name: Some(format!("user{n}")),
        user_principal_name: Some(format!("user{n}@corp.example.test")),
        security_identifier: Some(format!("S-1-5-21-1-2-3-{}", 1100 + u32::from(n))),
        domain_name: Some("corp.example.test".into()),
        display_name: Some(format!("User {n}")),
        given_name: Some("User".into()),
        surname: Some(n.to_string()),
        mail: Some(format!("user{n}@corp.example.test")),
        account_enabled: true,
    }
}

fn id_of(t: &Tenant, n: u8) -> String {
    let upn = format!("user{n}@corp.example.test");
    t.user(&upn)
        .map(|u| u.id.clone())
        .or_else(|| {
            t.deleted_users
                .values()
                .find(|d| d.object.user_principal_name == upn)
                .map(|d| d.object.id.clone())
        })
        .unwrap_or_default()
}

/// Imports `users` and runs a cycle at `secs`.
fn sync(t: &mut Tenant, users: &[AdUser], secs: f64) -> CycleReportPair {
    let imported = t.import_directory(users, at(secs));
    let cycle = t.run_cycle(at(secs));
    (imported, cycle)
}

type CycleReportPair = (DirectoryReport, crate::emulator::state::CycleReport);

#[test]
fn in_scope_objects_become_synced_users_with_their_ad_values() {
    let mut t = linked();
    let seeded = t.users.len();
    let (imported, _) = sync(&mut t, &[ad(1, SYNCED), ad(2, UNSYNCED)], 10.0);
    assert_eq!((imported.read, imported.in_scope), (2, 1));
    assert_eq!(imported.created.len(), 1);
    assert_eq!(t.users.len(), seeded + 1, "seeded users are left alone");
    let u = t.user("user1@corp.example.test").expect("provisioned");
    assert!(u.sync.is_synced() && u.sync.joined && u.kind == Kind::Synced);
    let on = &u.sync.values;
    assert_eq!(on.immutable_id.as_deref(), Some("anchor-1"));
    assert_eq!(
        on.distinguished_name.as_deref(),
        Some(ad(1, SYNCED).distinguished_name.as_str())
    );
    assert_eq!(on.sam_account_name.as_deref(), Some("user1"));
    assert_eq!(
        on.security_identifier.as_deref(),
        Some("S-1-5-21-1-2-3-1101")
    );
    assert_eq!(on.domain_name.as_deref(), Some("corp.example.test"));
    assert_eq!(u.display_name, "User 1");
    assert!(
        t.user("user2@corp.example.test").is_none(),
        "out of scope: not synced"
    );

    // An attribute changed in AD reaches the synced user at the next import.
    let mut changed = ad(1, SYNCED);
    changed.account_enabled = false;
    changed.display_name = Some("User One".into());
    let (imported, _) = sync(&mut t, &[changed], 20.0);
    assert_eq!(imported.updated, vec![id_of(&t, 1)]);
    let u = t.user("user1@corp.example.test").expect("still there");
    assert!(!u.account_enabled);
    assert_eq!(u.display_name, "User One");
    assert_eq!(u.sync.last_sync, Some(at(20.0)));
    // Nothing changed: no update, and the last sync time stays.
    let again = t.user("user1@corp.example.test").map(ad_of);
    let (imported, _) = sync(&mut t, &again.into_iter().collect::<Vec<_>>(), 30.0);
    assert!(imported.updated.is_empty(), "{imported:?}");
}

/// The AD object a synced user came from, as read again unchanged.
fn ad_of(u: &User) -> AdUser {
    let n: u8 = u
        .sync
        .values
        .sam_account_name
        .as_deref()
        .and_then(|s| s.trim_start_matches("user").parse().ok())
        .unwrap_or(0);
    AdUser {
        account_enabled: u.account_enabled,
        display_name: Some(u.display_name.clone()),
        ..ad(n, SYNCED)
    }
}

#[test]
fn an_unverified_upn_domain_falls_back_to_the_initial_domain() {
    let mut t = tenant();
    t.directory = Some(DirectoryLink::new(DirectoryScope {
        base_dn: BASE.into(),
        synced_ous: vec![SYNCED.into()],
    }));
    sync(&mut t, &[ad(1, SYNCED)], 10.0);
    let u = t
        .user("user1@contoso.onmicrosoft.com")
        .expect("provisioned");
    assert_eq!(
        u.sync.values.user_principal_name.as_deref(),
        Some("user1@corp.example.test")
    );
}

#[test]
fn the_seed_002_flow_move_delete_restore_clear_stays_cloud_only() {
    let mut t = linked();
    sync(&mut t, &[ad(1, SYNCED), ad(2, SYNCED)], 10.0);
    let id = id_of(&t, 1);
    // Moved to the unsynchronised OU: the next cycle soft-deletes the cloud user.
    let (imported, cycle) = sync(&mut t, &[ad(1, UNSYNCED), ad(2, SYNCED)], 20.0);
    assert!(imported.left_scope.is_empty(), "moved, not deleted in AD");
    assert_eq!(cycle.soft_deleted, vec![id.clone()]);
    // Restored and its anchor cleared by an admin: cloud-only, and it stays so.
    assert!(t.restore(&id, &RestoreOptions::default()).is_ok());
    let u = t.users.get_mut(&id).expect("restored");
    u.sync.values.immutable_id = None;
    for secs in [30.0, 40.0, 50.0] {
        let (_, cycle) = sync(&mut t, &[ad(1, UNSYNCED), ad(2, SYNCED)], secs);
        assert!(cycle.relinked.is_empty() && cycle.soft_deleted.is_empty());
    }
    let u = &t.users[&id];
    assert_eq!(u.sync.enabled, None);
    assert_eq!(u.sync.values.immutable_id, None);
}

#[test]
fn soft_deleted_users_come_back_with_their_id_when_moved_back() {
    let mut t = linked();
    sync(&mut t, &[ad(1, SYNCED)], 10.0);
    let id = id_of(&t, 1);
    sync(&mut t, &[ad(1, UNSYNCED)], 20.0);
    assert!(t.deleted_users.contains_key(&id));
    let (_, cycle) = sync(&mut t, &[ad(1, SYNCED)], 30.0);
    assert_eq!(cycle.recovered, vec![id.clone()]);
    assert!(t.users[&id].sync.is_synced());
}

#[test]
fn objects_deleted_in_ad_leave_the_scope() {
    let mut t = linked();
    sync(&mut t, &[ad(1, SYNCED), ad(2, SYNCED)], 10.0);
    let gone = id_of(&t, 2);
    let (imported, cycle) = sync(&mut t, &[ad(1, SYNCED)], 20.0);
    assert_eq!(imported.left_scope, vec![gone.clone()]);
    assert_eq!(cycle.soft_deleted, vec![gone]);
    // An empty directory read is a directory without users, not a failure; seeded users
    // (twins outside the base DN) are never touched.
    let seeded_synced = t.user_counts().synced - 1;
    sync(&mut t, &[], 30.0);
    assert_eq!(t.user_counts().synced, seeded_synced);
}

#[test]
fn joins_follow_the_object_guid_and_keep_their_first_anchor() {
    let mut t = linked();
    sync(&mut t, &[ad(1, SYNCED)], 10.0);
    let id = id_of(&t, 1);
    // Someone rewrites the consistency GUID in AD: the join holds (objectGUID), the cloud
    // anchor stays: a mismatch for an audit to find, not a new user.
    let rewritten = AdUser {
        anchor: "rewritten".into(),
        ..ad(1, SYNCED)
    };
    let (imported, cycle) = sync(&mut t, &[rewritten], 20.0);
    assert!(imported.created.is_empty() && cycle.soft_deleted.is_empty());
    assert_eq!(
        t.users[&id].sync.values.immutable_id.as_deref(),
        Some("anchor-1")
    );
}

#[test]
fn cloud_managed_users_are_skipped_and_cloud_only_users_matched() {
    let mut t = linked();
    sync(&mut t, &[ad(1, SYNCED)], 10.0);
    let id = id_of(&t, 1);
    assert!(t.set_cloud_managed(ObjectKind::User, &id, true).is_ok());
    let changed = AdUser {
        display_name: Some("Changed in AD".into()),
        ..ad(1, UNSYNCED)
    };
    let (imported, cycle) = sync(&mut t, &[changed], 20.0);
    assert!(imported.updated.is_empty());
    assert_eq!(cycle.skipped_cloud_managed, vec![id.clone()]);
    assert_eq!(t.users[&id].display_name, "User 1");

    // A cloud-only user with the UPN of a new AD object gets it as its twin; the cycle joins
    // it by soft match.
    let admin = t
        .users
        .values()
        .find(|u| u.kind == Kind::CloudOnly && u.sync.ad_twin.is_none())
        .map(|u| (u.id.clone(), u.user_principal_name.clone()))
        .expect("a cloud-only user");
    let mut twin = ad(3, SYNCED);
    twin.user_principal_name = Some(admin.1.clone());
    let (imported, cycle) = sync(&mut t, &[twin], 30.0);
    assert_eq!(imported.matched, vec![admin.0.clone()]);
    assert_eq!(cycle.relinked, vec![admin.0]);
}

#[test]
fn a_due_cycle_waits_for_a_read_and_a_failed_read_changes_nothing() {
    let mut t = linked();
    sync(&mut t, &[ad(1, SYNCED)], 10.0);
    let id = id_of(&t, 1);
    let due = t.next_cycle().expect("scheduled");
    let secs = due.duration_since(at(0.0)).as_secs_f64();
    assert!(t.directory_read_due(due));
    t.apply_due(due);
    assert_eq!(t.next_cycle(), Some(due), "waits: nothing read yet");
    // The directory cannot be read: the cycle changes nothing and the schedule moves on.
    t.stage_directory(Some(Err("connecting failed".into())));
    let before = t.user_counts();
    t.apply_due(due);
    assert_eq!(t.user_counts(), before);
    assert!(t.users.contains_key(&id));
    let status = &t.directory.as_ref().expect("linked").status;
    assert_eq!((status.failures, status.skipped_cycles), (1, 1));
    assert_eq!(status.last_error.as_deref(), Some("connecting failed"));
    let next = t.next_cycle().expect("still scheduled");
    assert!(next > due);
    // An empty read after a failure is not the failure's fault: it is applied.
    t.stage_directory(Some(Ok(vec![ad(1, UNSYNCED)])));
    t.apply_due(next);
    assert!(t.deleted_users.contains_key(&id));
    let status = &t.directory.as_ref().expect("linked").status;
    assert_eq!(status.last_error, None);
    assert!(secs > 0.0);
}

#[test]
fn dns_compare_case_and_blank_insensitively() {
    assert!(dn_under(
        "CN=a,OU=Synced, OU=T,dc=corp",
        "ou=synced,ou=t,DC=Corp"
    ));
    assert!(dn_under("OU=Synced,OU=T,DC=corp", "OU=Synced,OU=T,DC=corp"));
    assert!(!dn_under(
        "CN=a,OU=NotSynced,OU=T,DC=corp",
        "OU=Synced,OU=T,DC=corp"
    ));
    assert!(!dn_under("CN=a,OU=xSynced,DC=corp", "OU=Synced,DC=corp"));
    assert!(!dn_under("CN=a", ""));
    assert_eq!(normalize_dn("CN=A\\, B , OU=X"), "cn=a\\, b,ou=x");
}
