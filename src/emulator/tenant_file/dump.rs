//! A tenant file from a tenant: everything `build` needs to make the same tenant again.

use super::object::state;
use super::{DomainEntry, GroupEntry, OrgEntry, TenantFile, UserEntry, to_entry};
use crate::emulator::clock::rfc3339;
use crate::emulator::model::{Group, User};
use crate::emulator::state::Tenant;
use crate::emulator::state::{Deleted, Privilege};

fn user(u: &User, deleted: Option<&Deleted<User>>, privileged: Option<Privilege>) -> UserEntry {
    let at = deleted.map(|d| rfc3339(d.at));
    UserEntry {
        id: Some(u.id.clone()),
        user_principal_name: u.user_principal_name.clone(),
        display_name: Some(u.display_name.clone()),
        given_name: u.given_name.clone(),
        surname: u.surname.clone(),
        mail: u.mail.clone(),
        job_title: u.job_title.clone(),
        department: u.department.clone(),
        office_location: u.office_location.clone(),
        account_enabled: u.account_enabled,
        user_type: Some(u.user_type.clone()),
        kind: u.kind,
        on_premises: u.sync.ad_twin.as_deref().map(to_entry),
        state: state(
            &u.sync,
            deleted
                .zip(at.as_deref())
                .map(|(d, at)| (at, d.member_of.as_slice(), d.owner_of.as_slice())),
        ),
        privileged,
    }
}

fn group(g: &Group, deleted: Option<&Deleted<Group>>, privileged: Option<Privilege>) -> GroupEntry {
    let at = deleted.map(|d| rfc3339(d.at));
    GroupEntry {
        id: Some(g.id.clone()),
        display_name: g.display_name.clone(),
        description: g.description.clone(),
        mail: g.mail.clone(),
        mail_enabled: g.mail_enabled,
        mail_nickname: Some(g.mail_nickname.clone()),
        security_enabled: Some(g.security_enabled),
        group_types: g.group_types.clone(),
        kind: g.kind,
        members: g.members.clone(),
        owners: g.owners.clone(),
        on_premises: g.sync.ad_twin.as_deref().map(to_entry),
        state: state(
            &g.sync,
            deleted
                .zip(at.as_deref())
                .map(|(d, at)| (at, d.member_of.as_slice(), d.owner_of.as_slice())),
        ),
        privileged,
    }
}

/// The tenant as a tenant file (objects in id order, deleted ones after the live ones).
pub fn dump(tenant: &Tenant) -> TenantFile {
    let marker = |id: &str| tenant.privilege(id).map(|m| m.privilege);
    let org = &tenant.org;
    let mut domains: Vec<DomainEntry> = org
        .domains
        .iter()
        .filter(|d| !d.is_initial)
        .map(|d| DomainEntry {
            name: d.name.clone(),
            federated: d.federated,
        })
        .collect();
    // The default domain first: `build` makes the first one the default.
    domains.sort_by_key(|d| !org.domains.iter().any(|v| v.is_default && v.name == d.name));
    TenantFile {
        organization: OrgEntry {
            id: Some(org.id.clone()),
            display_name: Some(org.display_name.clone()),
            domains,
            directory_sync: Some(tenant.sync.name().to_string()),
            last_sync: org.last_sync.map(rfc3339),
        },
        users: tenant
            .users
            .values()
            .map(|u| user(u, None, marker(u.id.as_str())))
            .chain(
                tenant
                    .deleted_users
                    .values()
                    .map(|d| user(&d.object, Some(d), marker(d.object.id.as_str()))),
            )
            .collect(),
        groups: tenant
            .groups
            .values()
            .map(|g| group(g, None, marker(g.id.as_str())))
            .chain(
                tenant
                    .deleted_groups
                    .values()
                    .map(|d| group(&d.object, Some(d), marker(d.object.id.as_str()))),
            )
            .collect(),
        apps: Vec::new(),
        contacts: tenant
            .contacts
            .values()
            .map(super::contacts::dump)
            .collect(),
    }
}
