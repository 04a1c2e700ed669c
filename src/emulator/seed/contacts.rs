//! Seeded organizational contacts: partners' mail contacts kept in an AD `OU=Contacts` and
//! synchronised. They draw from their own RNG (seeded from the tenant seed), so adding them
//! changed no user or group of an existing seed.

use std::collections::HashMap;

use fastrand::Rng;
use jiff::Timestamp;

use super::{FIRST, LAST, guid};
use crate::emulator::clock::add_secs;
use crate::emulator::model::{Contact, Kind, OnPremIdentity, SyncInfo, Writes};

/// Mixed into the tenant seed for the contacts' RNG.
const SALT: u64 = 0x00c0_47ac_7500_0000;

#[rustfmt::skip]
const PARTNERS: &[(&str, &str)] = &[
    ("Fabrikam", "fabrikam.com"), ("Northwind Traders", "northwindtraders.com"),
    ("Tailspin Toys", "tailspintoys.com"), ("Adventure Works", "adventure-works.com"),
    ("Litware", "litwareinc.com"), ("Woodgrove Bank", "woodgrovebank.com"),
    ("Wide World Importers", "wideworldimporters.com"), ("Proseware", "proseware.com"),
];

/// How many contacts a tenant of `users` synced users gets: about one per 50, at least two.
pub fn count(users: usize) -> usize {
    users.div_ceil(50).max(2)
}

/// Synced contacts for a tenant whose AD domain is `domain`, last synced a few minutes before
/// `start`.
pub fn seed(seed: u64, users: usize, domain: &str, start: Timestamp) -> Vec<Contact> {
    let mut rng = Rng::with_seed(seed ^ SALT);
    let dcs: Vec<String> = domain.split('.').map(|p| format!("DC={p}")).collect();
    let mut bases: HashMap<String, u32> = HashMap::new();
    (0..count(users))
        .map(|_| {
            let first = FIRST[rng.usize(..FIRST.len())];
            let last = LAST[rng.usize(..LAST.len())];
            let (company, partner) = PARTNERS[rng.usize(..PARTNERS.len())];
            let base = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
            let n = bases.entry(format!("{base}@{partner}")).or_insert(0);
            *n += 1;
            let suffix = if *n == 1 {
                String::new()
            } else {
                n.to_string()
            };
            let nickname = format!("{base}{suffix}");
            let mail = format!("{nickname}@{partner}");
            let display = format!("{first} {last} ({company})");
            let values = OnPremIdentity {
                distinguished_name: Some(format!(
                    "CN={first} {last}{suffix},OU=Contacts,OU=Corp,{}",
                    dcs.join(",")
                )),
                ..OnPremIdentity::default()
            };
            let last_sync = add_secs(start, -(rng.u64(120..1_800) as f64));
            Contact {
                id: guid(&mut rng),
                display_name: display,
                given_name: Some(first.to_string()),
                surname: Some(last.to_string()),
                proxy_addresses: vec![format!("SMTP:{mail}")],
                mail: Some(mail),
                mail_nickname: Some(nickname),
                company_name: Some(company.to_string()),
                sync: SyncInfo {
                    enabled: Some(true),
                    last_sync: Some(last_sync),
                    ad_twin: Some(Box::new(values.clone())),
                    values,
                    cloud_managed: false,
                    in_scope: true,
                    joined: true,
                },
                kind: Kind::Synced,
                writes: Writes::default(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::emulator::seed::{SeedSpec, seed_tenant};
    use crate::emulator::state::Behaviour;

    fn start() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn about_one_contact_per_fifty_users_at_least_two() {
        assert_eq!([0, 1, 50, 100, 101, 1_000].map(count), [2, 2, 2, 2, 3, 20]);
        let a = seed(42, 1_000, "contoso.com", start());
        let b = seed(42, 1_000, "contoso.com", start());
        assert_eq!(a.len(), 20);
        let ids = |v: &[Contact]| v.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b), "same seed, same contacts");
        assert_ne!(ids(&a), ids(&seed(43, 1_000, "contoso.com", start())));
        let mails: HashSet<_> = a.iter().filter_map(|c| c.mail.clone()).collect();
        assert_eq!(mails.len(), a.len(), "mail addresses are unique");
        for c in &a {
            assert!(c.sync.is_synced() && c.sync.joined && c.sync.in_scope);
            let dn = c
                .sync
                .values
                .distinguished_name
                .as_deref()
                .unwrap_or_default();
            assert!(
                dn.ends_with(",OU=Contacts,OU=Corp,DC=contoso,DC=com"),
                "{dn}"
            );
            assert_eq!(c.proxy_addresses.len(), 1);
        }
    }

    #[test]
    fn contacts_leave_the_users_and_groups_of_a_seed_as_they_were() {
        let spec = SeedSpec {
            tenant_id: "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
            tenant_name: "Contoso",
            domain: "contoso.com",
            users: 100,
            groups: 5,
            seed: 42,
        };
        let t = seed_tenant(&spec, start(), Behaviour::default());
        // What seed 42 gave before contacts existed (the first synced user and group by id): the
        // contacts' own RNG moved nothing.
        let first_user = t.users.values().find(|u| u.kind == Kind::Synced);
        let first_group = t.groups.values().find(|g| g.kind == Kind::Synced);
        assert_eq!(
            (
                first_user.map(|u| u.user_principal_name.as_str()),
                first_group.map(|g| g.display_name.as_str())
            ),
            (
                Some("daniel.allen@contoso.com"),
                Some("DL Marketing Team 002")
            )
        );
        assert_eq!(t.contacts.len(), 2);
        assert!(t.contacts.keys().all(|id| !t.users.contains_key(id)));
    }
}
