//! The sync state machine, flips and updates with explicit times (no HTTP, no clock).

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::emulator::model::Kind;
use crate::emulator::seed::{SeedSpec, seed_tenant};

fn t0() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn tenant(users: AfterDisable, org: AfterDisable) -> Tenant {
    let spec = SeedSpec {
        tenant_id: "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        tenant_name: "Contoso",
        domain: "contoso.com",
        users: 200,
        groups: 10,
        seed: 3,
    };
    let behaviour = Behaviour {
        user_sync_after_disable: users,
        org_sync_during_disable: org,
        propagation: Duration::from_secs(7_200),
        ..Behaviour::default()
    };
    seed_tenant(&spec, t0(), behaviour)
}

fn synced_id(t: &Tenant) -> String {
    t.users
        .values()
        .find(|u| u.kind == Kind::Synced)
        .map(|u| u.id.clone())
        .unwrap_or_default()
}

#[test]
fn disable_flips_objects_spread_over_the_window() {
    let mut t = tenant(AfterDisable::False, AfterDisable::False);
    assert!(t.disable(t0()));
    assert!(!t.disable(t0()), "a second disable is a no-op");
    assert_eq!(t.org_sync_enabled(), Some(false));
    let mut previous = 0;
    for quarter in 1..=4 {
        t.apply_due(add_secs(t0(), 1_800.0 * f64::from(quarter)));
        let converted = t.user_counts().formerly_synced;
        assert!(converted > previous, "quarter {quarter}: {converted}");
        previous = converted;
    }
    assert_eq!(t.user_counts().synced, 0);
    assert_eq!(t.group_counts().synced, 0);
    assert_eq!(t.sync, SyncState::Disabled);
    // Quarters are roughly even: the flip times are spread uniformly.
    let mut again = tenant(AfterDisable::False, AfterDisable::False);
    again.disable(t0());
    again.apply_due(add_secs(t0(), 3_600.0));
    let half = again.user_counts().formerly_synced;
    assert!((60..=140).contains(&half), "{half}");
    assert!(matches!(again.sync, SyncState::PendingDisable { .. }));
}

#[test]
fn flips_clear_what_the_documentation_says_and_keep_the_rest() {
    let mut t = tenant(AfterDisable::Null, AfterDisable::Null);
    let id = synced_id(&t);
    let before = t.users.get(&id).map(|u| u.sync.clone()).unwrap_or_default();
    t.disable(t0());
    assert_eq!(t.org_sync_enabled(), None);
    t.apply_due(add_secs(t0(), 7_200.0));
    assert_eq!(t.org_sync_enabled(), Some(false));
    let after = t.users.get(&id).map(|u| u.sync.clone()).unwrap_or_default();
    assert_eq!(after.enabled, None);
    assert_eq!(after.last_sync, before.last_sync);
    assert_eq!(after.values.immutable_id, before.values.immutable_id);
    assert_eq!(
        after.values.security_identifier,
        before.values.security_identifier
    );
    assert_eq!(after.values.distinguished_name, None);
    assert_eq!(after.values.sam_account_name, None);
    assert_eq!(after.values.user_principal_name, None);
    assert_eq!(after.values.domain_name, None);
    let group = t
        .groups
        .values()
        .find(|g| g.kind == Kind::Synced)
        .map(|g| g.sync.clone())
        .unwrap_or_default();
    assert_eq!((group.enabled, group.values.net_bios_name), (None, None));
}

#[test]
fn enable_is_refused_while_pending_and_relinks_after() {
    let mut t = tenant(AfterDisable::False, AfterDisable::False);
    assert_eq!(
        t.enable(t0()),
        Ok(()),
        "enabling an enabled tenant is a no-op"
    );
    t.disable(t0());
    assert_eq!(
        t.enable(add_secs(t0(), 10.0)),
        Err(EnableError::PendingDisable)
    );
    let done = add_secs(t0(), 7_200.0);
    t.apply_due(done);
    let id = synced_id(&t);
    let anchor = t
        .users
        .get(&id)
        .and_then(|u| u.sync.values.immutable_id.clone());
    assert_eq!(
        t.update_user(&id, vec![UserChange::Text(TextProp::ImmutableId, None)]),
        Ok(())
    );
    let later = add_secs(done, 60.0);
    assert_eq!(t.enable(later), Ok(()));
    assert_eq!(t.sync, SyncState::Enabled);
    let user = t.users.get(&id).map(|u| u.sync.clone()).unwrap_or_default();
    assert_eq!(user.enabled, Some(true));
    assert_eq!(user.values.immutable_id, anchor);
    assert_eq!(user.last_sync, Some(later));
    assert!(user.values.distinguished_name.is_some());
    assert_eq!(t.org.last_sync, Some(later));
    let counts = t.user_counts();
    assert_eq!(
        (counts.synced, counts.formerly_synced, counts.cloud_only),
        (200, 0, 7)
    );
    assert!(
        t.users
            .values()
            .filter(|u| u.kind != Kind::Synced)
            .all(|u| u.sync.enabled.is_none())
    );
}

#[test]
fn updates_are_refused_on_synced_users_and_keep_the_upn_index() {
    let mut t = tenant(AfterDisable::False, AfterDisable::False);
    let synced = synced_id(&t);
    let change = vec![UserChange::DisplayName("X".into())];
    assert_eq!(
        t.update_user(&synced, change.clone()),
        Err(UpdateError::SyncMastered)
    );
    assert_eq!(t.update_user("missing", change), Err(UpdateError::NotFound));
    let admin = t
        .user("admin@contoso.onmicrosoft.com")
        .map(|u| u.id.clone())
        .unwrap_or_default();
    let taken = vec![UserChange::UserPrincipalName(
        "BreakGlass01@contoso.onmicrosoft.com".into(),
    )];
    assert_eq!(t.update_user(&admin, taken), Err(UpdateError::UpnConflict));
    let renamed = vec![
        UserChange::UserPrincipalName("root@contoso.com".into()),
        UserChange::AccountEnabled(false),
    ];
    assert_eq!(t.update_user(&admin, renamed), Ok(()));
    assert!(t.user("admin@contoso.onmicrosoft.com").is_none());
    let user = t.user("ROOT@contoso.com");
    assert_eq!(
        user.map(|u| (u.id.clone(), u.account_enabled, u.writes.total())),
        Some((admin.clone(), false, 1))
    );
    // Keeping one's own UPN (in another case) is not a conflict.
    let same = vec![UserChange::UserPrincipalName("Root@contoso.com".into())];
    assert_eq!(t.update_user(&admin, same), Ok(()));
}

#[test]
fn zero_propagation_converts_everything_on_the_next_look() {
    let mut t = tenant(AfterDisable::False, AfterDisable::False);
    t.behaviour.propagation = Duration::ZERO;
    t.disable(t0());
    t.apply_due(t0());
    assert_eq!(t.sync, SyncState::Disabled);
    assert_eq!(t.user_counts().synced, 0);
}
