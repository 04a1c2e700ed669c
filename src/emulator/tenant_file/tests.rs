#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::Timestamp;

use super::*;
use crate::emulator::model::Kind;
use crate::emulator::seed::{SeedSpec, seed_tenant};
use crate::emulator::state::{Behaviour, SyncState, Tenant};
use crate::emulator::{DEFAULT_TENANT_ID, EmulatorConfig};

const FILE: &str = r#"
organization:
  displayName: Fabrikam
  domains: [{ name: fabrikam.com }, { name: partners.fabrikam.com, federated: true }]
users:
  - userPrincipalName: ada@fabrikam.com
    displayName: Ada Lovelace
    department: Finance
    onPremises: { immutableId: "AAECAwQFBgcICQoLDA0ODw==" }
  - userPrincipalName: alan@fabrikam.com
  - { userPrincipalName: admin@fabrikam.onmicrosoft.com, kind: cloudOnly }
groups:
  - displayName: SG Finance EMEA
    members: [alan@fabrikam.com]
  - displayName: SG Finance
    members: [ada@fabrikam.com, SG Finance EMEA]
    owners: [admin@fabrikam.onmicrosoft.com]
"#;

fn now() -> Timestamp {
    "2026-11-22T00:00:00Z".parse().unwrap()
}

fn behaviour() -> Behaviour {
    Behaviour::from_config(&EmulatorConfig::default())
}

fn defaults() -> Defaults<'static> {
    Defaults {
        tenant_id: DEFAULT_TENANT_ID,
        tenant_name: "Contoso",
        domain: "contoso.com",
    }
}

fn load(text: &str) -> Result<Tenant, TenantFileError> {
    build(&TenantFile::parse(text)?, &defaults(), now(), behaviour())
}

#[test]
fn a_hand_written_file_gives_the_tenant_it_describes() {
    let t = load(FILE).unwrap();
    assert_eq!(t.org.display_name, "Fabrikam");
    let names: Vec<(&str, bool, bool)> = t
        .org
        .domains
        .iter()
        .map(|d| (d.name.as_str(), d.is_default, d.federated))
        .collect();
    assert_eq!(
        names,
        [
            ("fabrikam.com", true, false),
            ("partners.fabrikam.com", false, true),
            ("fabrikam.onmicrosoft.com", false, false)
        ]
    );
    let ada = t.user("ada@fabrikam.com").unwrap();
    assert_eq!(ada.kind, Kind::Synced);
    assert!(ada.sync.is_synced() && ada.sync.joined && ada.sync.in_scope);
    assert_eq!(
        ada.sync.values.immutable_id.as_deref(),
        Some("AAECAwQFBgcICQoLDA0ODw==")
    );
    assert_eq!(
        ada.sync.values.distinguished_name.as_deref(),
        Some("CN=Ada Lovelace,OU=Users,DC=fabrikam,DC=com")
    );
    let alan = t.user("alan@fabrikam.com").unwrap();
    // Derived anchors are stable from load to load, and differ between users.
    let again = load(FILE).unwrap();
    let alan_again = again.user("alan@fabrikam.com").unwrap();
    assert_eq!(alan.id, alan_again.id);
    assert_eq!(
        alan.sync.values.immutable_id,
        alan_again.sync.values.immutable_id
    );
    assert_ne!(alan.sync.values.immutable_id, ada.sync.values.immutable_id);
    assert_eq!(alan.sync.values.sam_account_name.as_deref(), Some("alan"));
    let admin = t.user("admin@fabrikam.onmicrosoft.com").unwrap();
    assert_eq!(admin.sync.enabled, None);
    let finance = t
        .groups
        .values()
        .find(|g| g.display_name == "SG Finance")
        .unwrap();
    let emea = t
        .groups
        .values()
        .find(|g| g.display_name == "SG Finance EMEA")
        .unwrap();
    assert!(finance.members.contains(&ada.id) && finance.members.contains(&emea.id));
    assert_eq!(finance.owners, vec![admin.id.clone()]);
    assert!(finance.sync.is_synced());
    assert_eq!(t.sync, SyncState::Enabled);
}

#[test]
fn mistakes_are_named_with_their_fix() {
    let cases = [
        (
            "users: [{ userPrincipalName: ada }]",
            "users[0] (ada): userPrincipalName must look like name@domain.com",
        ),
        (
            "users: [{ userPrincipalName: a@x.com }, { userPrincipalName: A@x.com }]",
            "userPrincipalName A@x.com is used twice",
        ),
        (
            "users: [{ userPrincipalName: a@x.com, id: nope }]",
            "users[0] (a@x.com): id 'nope' is not a GUID",
        ),
        (
            "groups: [{ displayName: G, members: [bob@x.com] }]",
            "groups[0] (G).members: 'bob@x.com' is no user (UPN), group (display name) or id in the file",
        ),
        (
            "groups: [{ displayName: G }, { displayName: G }, { displayName: H, members: [G] }]",
            "more than one group is named 'G'; refer to it by id",
        ),
        (
            "users: [{ userPrincipalName: a@x.com, kind: cloudOnly, onPremises: { immutableId: x } }]",
            "onPremises is only for kind synced",
        ),
        (
            "groups: [{ displayName: G, members: [G] }]",
            "a group cannot be its own member",
        ),
        (
            "groups: [{ displayName: G, state: { deletedDateTime: '2026-11-01T00:00:00Z' } }]",
            "only Microsoft 365 groups (groupTypes: [Unified]) can be soft-deleted",
        ),
        (
            "organization: { id: 11111111-2222-4333-8444-555555555555 }",
            "is not this emulator's tenant",
        ),
        (
            "organization: { directorySync: Off }",
            "organization.directorySync: 'Off' is not Enabled, Disabled or PendingDisable",
        ),
        (
            "users: [{ userPrincipalName: a@x.com, colour: red }]",
            "colour",
        ),
        (
            "users: [{ userPrincipalName: a@x.com, state: { onPremisesSyncEnabled: true, lastSync: yesterday } }]",
            "state.lastSync: 'yesterday' is not an RFC 3339 time",
        ),
    ];
    for (text, needle) in cases {
        let err = load(text).err().unwrap_or_else(|| panic!("{text} loaded"));
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
}

fn seeded() -> Tenant {
    let spec = SeedSpec {
        tenant_id: DEFAULT_TENANT_ID,
        tenant_name: "Contoso",
        domain: "contoso.com",
        users: 40,
        groups: 8,
        seed: 7,
    };
    seed_tenant(&spec, now(), behaviour())
}

#[test]
fn a_dump_loads_back_into_the_same_tenant() {
    let mut t = seeded();
    // Things a rehearsal leaves behind: a user switched by SOA, one soft-deleted with its
    // groups remembered, a rolled-back one not yet taken back.
    let ids: Vec<String> = t
        .users
        .values()
        .filter(|u| u.kind == Kind::Synced)
        .map(|u| u.id.clone())
        .take(3)
        .collect();
    {
        let switched = t.users.get_mut(&ids[0]).unwrap();
        switched.sync.cloud_managed = true;
        switched.sync.enabled = None;
        switched.sync.values.immutable_id = None;
        let rolled_back = t.users.get_mut(&ids[1]).unwrap();
        rolled_back.sync.enabled = None;
    }
    let in_groups = t
        .groups
        .values()
        .filter(|g| g.members.contains(&ids[2]))
        .count();
    assert!(t.soft_delete_user(&ids[2], now()));
    t.sync = SyncState::Disabled;

    let first = dump(&t);
    let text = serde_json::to_string(&first).unwrap();
    let loaded = build(
        &TenantFile::parse(&text).unwrap(),
        &defaults(),
        now(),
        behaviour(),
    )
    .unwrap();
    let (a, b) = (
        serde_json::to_value(dump(&loaded)).unwrap(),
        serde_json::to_value(&first).unwrap(),
    );
    assert!(
        a == b,
        "first difference: {}",
        first_difference(&a, &b, "$")
    );
    assert_eq!(loaded.users.len(), t.users.len());
    assert_eq!(loaded.sync, SyncState::Disabled);
    let switched = &loaded.users[&ids[0]];
    assert!(switched.sync.cloud_managed && switched.sync.values.immutable_id.is_none());
    assert!(
        switched
            .sync
            .ad_twin
            .as_ref()
            .is_some_and(|a| a.immutable_id.is_some())
    );
    let deleted = &loaded.deleted_users[&ids[2]];
    assert_eq!(deleted.member_of.len(), in_groups);
    assert!(loaded.groups.values().all(|g| !g.members.contains(&ids[2])));
    assert_eq!(
        (
            &loaded.org.id,
            &loaded.org.display_name,
            &loaded.org.domains,
            loaded.org.last_sync
        ),
        (
            &t.org.id,
            &t.org.display_name,
            &t.org.domains,
            t.org.last_sync
        )
    );
}

/// Where two JSON values first differ (a short message instead of two whole tenants).
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> String {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                if x.get(k) != y.get(k) {
                    return first_difference(
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        &format!("{path}.{k}"),
                    );
                }
            }
            path.to_string()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                if p != q {
                    return first_difference(p, q, &format!("{path}[{i}]"));
                }
            }
            path.to_string()
        }
        _ => format!("{path}: {a} vs {b}"),
    }
}

#[test]
fn a_deleted_user_may_share_its_upn_with_a_live_one() {
    let text = "users:
  - { id: 11111111-0000-4000-8000-000000000001, userPrincipalName: ada@contoso.com, state: { onPremisesSyncEnabled: null, deletedDateTime: '2026-11-20T00:00:00Z' } }
  - { id: 11111111-0000-4000-8000-000000000002, userPrincipalName: ada@contoso.com, kind: cloudOnly }
";
    let t = load(text).unwrap();
    assert_eq!(t.deleted_users.len(), 1);
    let live = t.user("ada@contoso.com").unwrap();
    assert_eq!(live.kind, Kind::CloudOnly);
    // And the round trip keeps both.
    let again = build(
        &TenantFile::parse(&serde_json::to_string(&dump(&t)).unwrap()).unwrap(),
        &defaults(),
        now(),
        behaviour(),
    )
    .unwrap();
    assert_eq!(again.deleted_users.len(), 1);
    assert!(again.user("ada@contoso.com").is_some());
}

#[test]
fn privileged_markers_load_and_dump() {
    use crate::emulator::state::{Privilege, RefusalAnswer};
    let text = r#"
users:
  - { userPrincipalName: root@contoso.com, privileged: adminSdHolder }
  - userPrincipalName: plain@contoso.com
groups:
  - { displayName: SG Admins, privileged: restrictedAu }
"#;
    let t = load(text).unwrap();
    let root = t.user("root@contoso.com").unwrap().id.clone();
    let plain = t.user("plain@contoso.com").unwrap().id.clone();
    let marker = t.privilege(&root).unwrap();
    assert_eq!(marker.privilege, Privilege::AdminSdHolder);
    assert_eq!(marker.answer, RefusalAnswer::Forbidden);
    assert!(t.privilege(&plain).is_none());
    let group = t.groups.values().next().unwrap().id.clone();
    assert_eq!(
        t.privilege(&group).unwrap().privilege,
        Privilege::RestrictedAu
    );
    let again = dump(&t);
    let kept: Vec<Option<Privilege>> = again.users.iter().map(|u| u.privileged).collect();
    assert_eq!(kept.iter().flatten().count(), 1);
    assert_eq!(again.groups[0].privileged, Some(Privilege::RestrictedAu));
    assert!(TenantFile::parse("users: [{userPrincipalName: a@b.c, privileged: god}]").is_err());
}
