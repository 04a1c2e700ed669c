//! Members and owners: nesting, `$ref` rules, the owner switch and Exchange-managed groups.

use super::*;
use crate::emulator::state::fixture::{
    admin, cloud_group, parent_group, synced_group, synced_user, tenant, tenant_with,
};
use crate::emulator::state::{Behaviour, ObjectKind};

#[test]
fn transitive_members_follow_nesting_and_survive_cycles() {
    let mut t = tenant();
    let parent = parent_group(&t);
    let direct: Vec<String> = t.direct(&parent, Relation::Members).unwrap_or(&[]).to_vec();
    let nested: Vec<String> = direct
        .iter()
        .filter(|m| t.groups.contains_key(*m))
        .cloned()
        .collect();
    assert_eq!(nested.len(), 2, "the seeded parent nests two groups");
    let all = t.transitive_members(&parent).unwrap_or_default();
    // Every direct member, and every member of the nested groups (two levels further).
    let mut expected: BTreeSet<String> = direct.iter().cloned().collect();
    let mut level = nested.clone();
    for _ in 0..3 {
        let mut next = Vec::new();
        for g in &level {
            for m in t.direct(g, Relation::Members).unwrap_or(&[]) {
                expected.insert(m.clone());
                if t.groups.contains_key(m) {
                    next.push(m.clone());
                }
            }
        }
        level = next;
    }
    assert_eq!(all, expected);
    assert!(all.len() > direct.len());
    assert!(!all.contains(&parent));
    // A membership cycle (child contains parent) neither loops nor lists the group itself.
    let child = nested[0].clone();
    if let Some(g) = t.groups.get_mut(&child) {
        g.members.push(parent.clone());
        g.members.sort();
    }
    assert_eq!(t.transitive_members(&parent), Some(expected));
    assert!(
        t.transitive_members(&child)
            .is_some_and(|s| s.contains(&parent) && !s.contains(&child))
    );
    assert_eq!(t.transitive_members("missing"), None);
}

#[test]
fn ref_writes_follow_graph_rules() {
    let mut t = tenant();
    let cloud = cloud_group(&t, false);
    let unified = cloud_group(&t, true);
    let synced = synced_group(&t, false);
    let user = synced_user(&t, 0);
    let owner = admin(&t);
    let add = |t: &mut Tenant, g: &str, r: Relation, x: &str| t.add_ref(g, r, x);
    // Cloud groups take users and groups as members, users as owners.
    assert_eq!(add(&mut t, &cloud, Relation::Members, &user), Ok(()));
    assert_eq!(
        add(&mut t, &cloud, Relation::Members, &user),
        Err(RefError::Exists)
    );
    assert_eq!(add(&mut t, &cloud, Relation::Members, &synced), Ok(()));
    assert_eq!(
        add(&mut t, &cloud, Relation::Members, &cloud),
        Err(RefError::InvalidTarget(ObjectKind::Group))
    );
    assert_eq!(
        add(&mut t, &unified, Relation::Members, &synced),
        Err(RefError::InvalidTarget(ObjectKind::Group))
    );
    assert_eq!(
        add(&mut t, &cloud, Relation::Owners, &owner),
        Err(RefError::Exists)
    );
    assert_eq!(add(&mut t, &cloud, Relation::Owners, &user), Ok(()));
    assert_eq!(
        add(&mut t, &cloud, Relation::Owners, &synced),
        Err(RefError::InvalidTarget(ObjectKind::Group))
    );
    assert_eq!(
        add(&mut t, &cloud, Relation::Owners, "missing"),
        Err(RefError::TargetNotFound)
    );
    assert_eq!(
        add(&mut t, "missing", Relation::Owners, &user),
        Err(RefError::GroupNotFound)
    );
    // A synced group refuses member writes, and owner writes by default.
    assert_eq!(
        add(&mut t, &synced, Relation::Members, &owner),
        Err(RefError::SyncMastered)
    );
    assert_eq!(
        add(&mut t, &synced, Relation::Owners, &owner),
        Err(RefError::SyncMastered)
    );
    // Removal.
    assert_eq!(t.remove_ref(&cloud, Relation::Owners, &user), Ok(()));
    assert_eq!(
        t.remove_ref(&cloud, Relation::Owners, &user),
        Err(RefError::TargetNotFound)
    );
    assert_eq!(
        t.remove_ref(&synced, Relation::Members, &user),
        Err(RefError::SyncMastered)
    );
    let w = t.groups.get(&cloud).map(|g| g.writes).unwrap_or_default();
    assert_eq!(
        (w.members_added, w.owners_added, w.owners_removed, w.total()),
        (2, 1, 1, 4)
    );
    assert_eq!(t.groups.get(&synced).map(|g| g.writes.total()), Some(0));
}

#[test]
fn owners_on_a_synced_group_follow_the_switch_and_stop_at_100() {
    let mut t = tenant_with(Behaviour {
        owner_add_on_synced_group: OwnerAddOnSyncedGroup::Allow,
        ..Behaviour::default()
    });
    let synced = synced_group(&t, false);
    let users: Vec<String> = t.users.keys().cloned().collect();
    assert_eq!(t.add_ref(&synced, Relation::Owners, &users[0]), Ok(()));
    assert_eq!(t.add_ref(&synced, Relation::Owners, &users[1]), Ok(()));
    assert_eq!(t.remove_ref(&synced, Relation::Owners, &users[0]), Ok(()));
    // The last owner stays (Graph's rule, on by default).
    assert_eq!(
        t.remove_ref(&synced, Relation::Owners, &users[1]),
        Err(RefError::LastOwner)
    );
    assert_eq!(
        t.add_ref(&synced, Relation::Members, &users[0]),
        Err(RefError::SyncMastered)
    );
    // 100 owners at most (the group gets them directly: the seed has fewer users).
    if let Some(g) = t.groups.get_mut(&synced) {
        g.owners = (0..MAX_OWNERS).map(|i| format!("owner-{i:03}")).collect();
    }
    assert_eq!(
        t.add_ref(&synced, Relation::Owners, &users[2]),
        Err(RefError::OwnerLimit)
    );
}

#[test]
fn the_last_owner_stays_unless_the_rule_is_off() {
    for (rule, last_removed) in [
        (LastOwnerRemoval::Refuse, Err(RefError::LastOwner)),
        (LastOwnerRemoval::Allow, Ok(())),
    ] {
        let mut t = tenant_with(Behaviour {
            last_owner_removal: rule,
            ..Behaviour::default()
        });
        let cloud = cloud_group(&t, false);
        let owners = t.direct(&cloud, Relation::Owners).unwrap_or(&[]).to_vec();
        assert_eq!(owners.len(), 1, "the seeded cloud group has one owner");
        let other = t
            .users
            .keys()
            .find(|u| **u != owners[0])
            .cloned()
            .unwrap_or_default();
        assert_eq!(t.add_ref(&cloud, Relation::Owners, &other), Ok(()));
        // With another owner left, either owner can go.
        assert_eq!(t.remove_ref(&cloud, Relation::Owners, &owners[0]), Ok(()));
        assert_eq!(
            t.remove_ref(&cloud, Relation::Owners, &other),
            last_removed,
            "{rule:?}"
        );
        let left = usize::from(last_removed.is_err());
        assert_eq!(
            t.direct(&cloud, Relation::Owners).map(<[_]>::len),
            Some(left)
        );
        // Not an owner: 404, not the last-owner refusal.
        if let Some(g) = t.groups.get_mut(&cloud) {
            g.owners = vec![other.clone()];
        }
        assert_eq!(
            t.remove_ref(&cloud, Relation::Owners, &owners[0]),
            Err(RefError::TargetNotFound)
        );
    }
}

#[test]
fn owners_of_synced_and_exchange_groups_are_not_available_unless_listed() {
    for mode in [
        UnavailableOwners::Refuse,
        UnavailableOwners::Empty,
        UnavailableOwners::List,
    ] {
        let mut t = tenant_with(Behaviour {
            unavailable_owners: mode,
            owner_add_on_synced_group: OwnerAddOnSyncedGroup::Allow,
            ..Behaviour::default()
        });
        let synced = synced_group(&t, false);
        let dl = synced_group(&t, true);
        let cloud = cloud_group(&t, false);
        let user = admin(&t);
        assert_eq!(t.add_ref(&synced, Relation::Owners, &user), Ok(()));
        let stored = vec![user.clone()];
        let unavailable = match mode {
            UnavailableOwners::Refuse => OwnersListing::Refused,
            UnavailableOwners::Empty => OwnersListing::Empty,
            UnavailableOwners::List => OwnersListing::Listed(&stored),
        };
        assert_eq!(t.owners_listing(&synced), Some(unavailable), "{mode:?}");
        // A switched distribution list is Exchange's: still not available.
        assert!(t.set_cloud_managed(ObjectKind::Group, &dl, true).is_ok());
        let expected = match mode {
            UnavailableOwners::List => OwnersListing::Listed(&[]),
            _ => unavailable,
        };
        assert_eq!(t.owners_listing(&dl), Some(expected), "{mode:?}");
        // Cloud security groups and switched security groups list their owners.
        let cloud_owners = t.direct(&cloud, Relation::Owners).unwrap_or(&[]).to_vec();
        assert_eq!(
            t.owners_listing(&cloud),
            Some(OwnersListing::Listed(&cloud_owners))
        );
        assert!(
            t.set_cloud_managed(ObjectKind::Group, &synced, true)
                .is_ok()
        );
        assert_eq!(
            t.owners_listing(&synced),
            Some(OwnersListing::Listed(&stored))
        );
        assert_eq!(t.owners_listing("no-such-group"), None);
    }
}

#[test]
fn mail_enabled_groups_belong_to_exchange_once_switched() {
    let mut t = tenant();
    let dl = synced_group(&t, true);
    let security = synced_group(&t, false);
    assert!(!dl.is_empty() && !security.is_empty());
    let user = admin(&t);
    let rename = vec![GroupChange::DisplayName("Renamed".into())];
    assert_eq!(
        t.update_group(&dl, rename.clone()),
        Err(GroupUpdateError::SyncMastered)
    );
    for g in [&dl, &security] {
        assert!(t.set_cloud_managed(ObjectKind::Group, g, true).is_ok());
    }
    assert_eq!(
        t.update_group(&dl, rename.clone()),
        Err(GroupUpdateError::ExchangeManaged)
    );
    assert_eq!(
        t.add_ref(&dl, Relation::Members, &user),
        Err(RefError::ExchangeManaged)
    );
    let member = t
        .direct(&dl, Relation::Members)
        .and_then(|m| m.first().cloned());
    let member = member.unwrap_or_default();
    assert_eq!(
        t.remove_ref(&dl, Relation::Members, &member),
        Err(RefError::ExchangeManaged)
    );
    // Owners are not Exchange's concern here.
    assert_eq!(t.add_ref(&dl, Relation::Owners, &user), Ok(()));
    // A security group is Entra's: writable once switched.
    assert_eq!(t.update_group(&security, rename), Ok(()));
    assert_eq!(t.add_ref(&security, Relation::Members, &user), Ok(()));
    assert_eq!(
        t.update_group("missing", Vec::new()),
        Err(GroupUpdateError::NotFound)
    );
}
