//! Seeding: determinism and the shape of a seeded tenant.

use super::*;
use crate::emulator::AfterDisable;
use std::time::Duration;

fn spec(users: usize, seed: u64) -> SeedSpec<'static> {
    SeedSpec {
        tenant_id: "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        tenant_name: "Contoso",
        domain: "contoso.com",
        users,
        groups: 20,
        seed,
    }
}

fn behaviour() -> Behaviour {
    Behaviour {
        user_sync_after_disable: AfterDisable::False,
        org_sync_during_disable: AfterDisable::False,
        propagation: Duration::from_secs(1800),
        ..Behaviour::default()
    }
}

#[test]
fn same_seed_same_tenant() {
    let start = Timestamp::now();
    let a = seed_tenant(&spec(300, 7), start, behaviour());
    let b = seed_tenant(&spec(300, 7), start, behaviour());
    let c = seed_tenant(&spec(300, 8), start, behaviour());
    let ids = |t: &Tenant| t.users.keys().cloned().collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    assert_ne!(ids(&a), ids(&c));
    let upns = |t: &Tenant| {
        t.users
            .values()
            .map(|u| u.user_principal_name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(upns(&a), upns(&b));
}

#[test]
fn seeded_objects_look_like_a_synced_tenant() {
    let t = seed_tenant(&spec(1_000, 42), Timestamp::now(), behaviour());
    let synced: Vec<&User> = t
        .users
        .values()
        .filter(|u| u.kind == Kind::Synced)
        .collect();
    assert_eq!(synced.len(), 1_000);
    let cloud = t
        .users
        .values()
        .filter(|u| u.kind == Kind::CloudOnly)
        .count();
    assert_eq!(cloud, 20);
    assert!(t.user("admin@contoso.onmicrosoft.com").is_some());
    assert!(t.user("BREAKGLASS02@contoso.onmicrosoft.com").is_some());
    let sync_account = t
        .users
        .values()
        .filter(|u| u.kind == Kind::SyncServiceAccount);
    let sync_account: Vec<&User> = sync_account.collect();
    assert_eq!(sync_account.len(), 1);
    assert!(
        sync_account[0]
            .user_principal_name
            .starts_with("Sync_DC01_")
    );
    let mut upns = HashSet::new();
    let mut sams = HashSet::new();
    let mut disabled = 0;
    for u in &synced {
        assert!(upns.insert(u.user_principal_name.to_lowercase()));
        let v = &u.sync.values;
        let sam = v.sam_account_name.clone().unwrap_or_default();
        assert!(!sam.is_empty() && sam.len() <= 20 && sams.insert(sam));
        let anchor = v.immutable_id.clone().unwrap_or_default();
        assert_eq!(STANDARD.decode(anchor).map(|b| b.len()).ok(), Some(16));
        assert!(
            v.distinguished_name
                .as_deref()
                .is_some_and(|dn| dn.ends_with("OU=Users,OU=Corp,DC=contoso,DC=com"))
        );
        assert!(
            v.security_identifier
                .as_deref()
                .is_some_and(|s| s.starts_with("S-1-5-21-"))
        );
        assert_eq!(u.id.len(), 36);
        disabled += usize::from(!u.account_enabled);
    }
    assert!((10..=60).contains(&disabled), "{disabled} disabled");
    for u in t.users.values().filter(|u| u.kind != Kind::Synced) {
        assert_eq!(u.sync.enabled, None);
        assert_eq!(u.sync.values, OnPremIdentity::default());
    }
    assert_eq!(t.groups.len(), 23, "20 synced + 3 cloud-only");
    assert_eq!(t.groups.values().filter(|g| g.sync.is_synced()).count(), 20);
    assert!(
        t.groups.values().any(|g| g.mail_enabled) && t.groups.values().any(|g| g.security_enabled)
    );
    for g in t.groups.values() {
        assert!(
            g.members
                .iter()
                .all(|m| t.users.contains_key(m) || t.groups.contains_key(m))
        );
        assert!(g.members.is_sorted() && g.owners.is_sorted());
        // Synced groups have no owners; the cloud-only groups are owned by the admin.
        assert_eq!(
            g.owners.is_empty(),
            g.kind == Kind::Synced,
            "{}",
            g.display_name
        );
        assert!(g.sync.is_synced() == (g.sync.in_scope && g.sync.joined));
    }
}

#[test]
fn synced_groups_nest_three_levels_deep() {
    let t = seed_tenant(&spec(100, 42), Timestamp::now(), behaviour());
    let synced: Vec<&Group> = t
        .groups
        .values()
        .filter(|g| g.kind == Kind::Synced)
        .collect();
    let nested = |g: &Group| {
        g.members
            .iter()
            .filter(|m| t.groups.contains_key(*m))
            .count()
    };
    // Twenty groups in runs of five: each run has a parent of two and a parent of one.
    assert_eq!(synced.iter().map(|g| nested(g)).sum::<usize>(), 12);
    let depth = |root: &Group| {
        let mut depth = 0;
        let mut level: Vec<&Group> = vec![root];
        while !level.is_empty() && depth < 10 {
            depth += 1;
            level = level
                .iter()
                .flat_map(|g| g.members.iter().filter_map(|m| t.groups.get(m)))
                .collect();
        }
        depth
    };
    assert_eq!(synced.iter().map(|g| depth(g)).max(), Some(3));
    // Every run's parent has users and groups as members.
    assert!(synced.iter().any(|g| nested(g) == 2 && g.members.len() > 2));
}

#[test]
fn guids_are_version_4() {
    let mut rng = Rng::with_seed(1);
    let g = guid(&mut rng);
    assert_eq!(g.len(), 36);
    assert_eq!(&g[14..15], "4");
    assert!(
        g.chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
}

#[test]
fn initial_domain_is_lowercase_onmicrosoft() {
    assert_eq!(initial_domain("Contoso"), "contoso.onmicrosoft.com");
    assert_eq!(
        initial_domain("Fabrikam Ltd."),
        "fabrikamltd.onmicrosoft.com"
    );
}
