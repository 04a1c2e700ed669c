#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::Timestamp;

use super::super::{Defaults, TenantFile, build as build_tenant, dump as dump_tenant};
use crate::emulator::model::Kind;
use crate::emulator::seed::{SeedSpec, seed_tenant};
use crate::emulator::state::{Behaviour, SoaKind, Tenant};
use crate::emulator::{DEFAULT_TENANT_ID, EmulatorConfig};

const FILE: &str = r#"
organization: { displayName: Fabrikam, domains: [{ name: fabrikam.com }] }
users:
  - userPrincipalName: ada@fabrikam.com
contacts:
  - displayName: Eric Solomon (Litware)
    mail: eric@litwareinc.com
    companyName: Litware
  - displayName: Nicole Wagner
    mail: nicole@proseware.com
    onPremises: { distinguishedName: "CN=Nicole,OU=Partners,DC=fabrikam,DC=com" }
  - { displayName: Exchange Only, mail: ex@contoso.net, kind: cloudOnly }
"#;

fn now() -> Timestamp {
    "2026-11-22T00:00:00Z".parse().unwrap()
}

fn load(text: &str) -> Result<Tenant, super::TenantFileError> {
    let defaults = Defaults {
        tenant_id: DEFAULT_TENANT_ID,
        tenant_name: "Contoso",
        domain: "contoso.com",
    };
    let behaviour = Behaviour::from_config(&EmulatorConfig::default());
    build_tenant(&TenantFile::parse(text)?, &defaults, now(), behaviour)
}

fn by_name<'a>(t: &'a Tenant, name: &str) -> &'a crate::emulator::model::Contact {
    t.contacts
        .values()
        .find(|c| c.display_name == name)
        .unwrap()
}

#[test]
fn a_hand_written_contact_list_gives_synced_and_cloud_contacts() {
    let t = load(FILE).unwrap();
    assert_eq!(t.contacts.len(), 3);
    let eric = by_name(&t, "Eric Solomon (Litware)");
    assert_eq!(eric.kind, Kind::Synced);
    assert!(eric.sync.is_synced() && eric.sync.joined && eric.sync.in_scope);
    assert_eq!(
        eric.sync.values.distinguished_name.as_deref(),
        Some("CN=Eric Solomon (Litware),OU=Contacts,DC=fabrikam,DC=com")
    );
    assert_eq!(eric.mail_nickname.as_deref(), Some("eric"));
    assert_eq!(eric.proxy_addresses, vec!["SMTP:eric@litwareinc.com"]);
    assert_eq!(eric.company_name.as_deref(), Some("Litware"));
    let nicole = by_name(&t, "Nicole Wagner");
    assert_eq!(
        nicole.sync.values.distinguished_name.as_deref(),
        Some("CN=Nicole,OU=Partners,DC=fabrikam,DC=com")
    );
    let cloud = by_name(&t, "Exchange Only");
    assert_eq!((cloud.kind, cloud.sync.enabled), (Kind::CloudOnly, None));
    assert!(cloud.sync.ad_twin.is_none());
    // Ids are derived from the name: stable from load to load.
    let again = load(FILE).unwrap();
    assert_eq!(by_name(&again, "Eric Solomon (Litware)").id, eric.id);
    let counts = t.contact_counts();
    assert_eq!((counts.total, counts.synced, counts.cloud_only), (3, 2, 1));
}

#[test]
fn contact_mistakes_are_named_with_their_fix() {
    let cases = [
        (
            "contacts: [{ displayName: ' ' }]",
            "contacts[0]: displayName is empty",
        ),
        (
            "contacts: [{ displayName: X, kind: breakGlass }]",
            "contacts[0] (X): a contact's kind is synced or cloudOnly",
        ),
        (
            "contacts: [{ displayName: X, kind: cloudOnly, onPremises: { distinguishedName: d } }]",
            "contacts[0] (X): onPremises is only for kind synced",
        ),
        (
            "contacts: [{ displayName: X, state: { deletedDateTime: '2026-11-01T00:00:00Z' } }]",
            "contacts cannot be soft-deleted",
        ),
        (
            "contacts: [{ displayName: X, id: 0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e }, { displayName: Y, id: 0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e }]",
            "contact Y: id 0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e is used twice",
        ),
        (
            "contacts: [{ displayName: X, id: nope }]",
            "contacts[0] (X): id 'nope' is not a GUID",
        ),
        ("contacts: [{ displayName: X, colour: red }]", "colour"),
    ];
    for (text, needle) in cases {
        let err = load(text).err().unwrap_or_else(|| panic!("{text} loaded"));
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
}

#[test]
fn contacts_round_trip_through_a_dump() {
    let spec = SeedSpec {
        tenant_id: DEFAULT_TENANT_ID,
        tenant_name: "Contoso",
        domain: "contoso.com",
        users: 120,
        groups: 3,
        seed: 9,
    };
    let mut t = seed_tenant(&spec, now(), Behaviour::default());
    let ids: Vec<String> = t.contacts.keys().cloned().collect();
    assert_eq!(ids.len(), 3);
    // One switched to the cloud, one rolled back and not yet taken back.
    assert!(t.set_cloud_managed(SoaKind::Contact, &ids[0], true).is_ok());
    assert!(t.set_cloud_managed(SoaKind::Contact, &ids[1], true).is_ok());
    assert!(
        t.set_cloud_managed(SoaKind::Contact, &ids[1], false)
            .is_ok()
    );
    let first = dump_tenant(&t);
    assert_eq!(first.contacts.len(), 3);
    let text = serde_json::to_string(&first).unwrap();
    let loaded = load(&text).unwrap();
    assert_eq!(
        serde_json::to_value(dump_tenant(&loaded)).unwrap(),
        serde_json::to_value(&first).unwrap()
    );
    let switched = &loaded.contacts[&ids[0]];
    assert!(switched.sync.cloud_managed && switched.sync.enabled.is_none());
    let rolled_back = &loaded.contacts[&ids[1]];
    assert!(!rolled_back.sync.cloud_managed && rolled_back.sync.enabled.is_none());
    assert!(rolled_back.sync.joined && rolled_back.sync.ad_twin.is_some());
    assert!(loaded.contacts[&ids[2]].sync.is_synced());
    for (a, b) in t.contacts.values().zip(loaded.contacts.values()) {
        assert_eq!(
            (
                &a.display_name,
                &a.mail,
                &a.proxy_addresses,
                a.sync.last_sync
            ),
            (
                &b.display_name,
                &b.mail,
                &b.proxy_addresses,
                b.sync.last_sync
            )
        );
    }
    // A tenant without contacts writes no `contacts:` at all.
    let empty = load("users: [{ userPrincipalName: a@x.com }]").unwrap();
    let text = serde_json::to_string(&dump_tenant(&empty)).unwrap();
    assert!(!text.contains("contacts"), "{text}");
}
