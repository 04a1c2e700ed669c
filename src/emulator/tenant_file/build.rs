//! A tenant from a tenant file.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fastrand::Rng;
use jiff::Timestamp;

use super::object::{dc_path, is_guid, object_id, stable_seed, sync_info};
use super::{
    GroupEntry, OnPremEntry, TenantFile, TenantFileError, UserEntry, bad, from_entry, parse_time,
};
use crate::emulator::clock::add_secs;
use crate::emulator::model::{
    Group, Kind, OnPremIdentity, User, VerifiedDomain, Writes, insert_sorted,
};
use crate::emulator::seed::initial_domain;
use crate::emulator::state::{
    Behaviour, Marker, Organization, Privilege, RefusalAnswer, SyncState, Tenant,
};

/// What the file leaves to the emulator's configuration.
#[derive(Debug, Clone)]
pub struct Defaults<'a> {
    /// Tenant id.
    pub tenant_id: &'a str,
    /// Organization name.
    pub tenant_name: &'a str,
    /// Custom domain when the file names none.
    pub domain: &'a str,
}

/// AD values of a synced object: what the file gives, the rest derived from the name (unless
/// the entry has a `state`: a dump, whose values are complete as written).
fn ad_values(
    given: Option<&OnPremEntry>,
    derive: bool,
    name: &str,
    cn: &str,
    domain: &str,
    ou: &str,
    user: bool,
) -> OnPremIdentity {
    let given = given.cloned().unwrap_or_default();
    if !derive {
        return from_entry(&given);
    }
    let mut rng = Rng::with_seed(stable_seed(name) ^ 0x5eed);
    let mut anchor = [0u8; 16];
    rng.fill(&mut anchor);
    let local = name.split('@').next().unwrap_or(name);
    let sam: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(20)
        .collect();
    let sid = format!(
        "S-1-5-21-{}-{}-{}-{}",
        rng.u32(1_000_000_000..4_000_000_000),
        rng.u32(1_000_000_000..4_000_000_000),
        rng.u32(1_000_000_000..4_000_000_000),
        rng.u32(1_103..1_000_000)
    );
    OnPremIdentity {
        immutable_id: given
            .immutable_id
            .or_else(|| user.then(|| STANDARD.encode(anchor))),
        sam_account_name: given.sam_account_name.or(Some(sam)),
        distinguished_name: given
            .distinguished_name
            .or_else(|| Some(format!("CN={cn},OU={ou},{}", dc_path(domain)))),
        user_principal_name: given
            .user_principal_name
            .or_else(|| user.then(|| name.to_string())),
        domain_name: given.domain_name.or_else(|| Some(domain.to_string())),
        net_bios_name: given.net_bios_name.or_else(|| {
            (!user).then(|| {
                domain
                    .split('.')
                    .next()
                    .unwrap_or("CORP")
                    .to_uppercase()
                    .chars()
                    .take(15)
                    .collect()
            })
        }),
        security_identifier: given.security_identifier.or(Some(sid)),
    }
}

fn user(entry: &UserEntry, index: usize, now: Timestamp) -> Result<User, TenantFileError> {
    let upn = entry.user_principal_name.trim();
    let what = format!("users[{index}] ({upn})");
    let Some((local, domain)) = upn
        .split_once('@')
        .filter(|(l, d)| !l.is_empty() && d.contains('.'))
    else {
        return Err(bad(format!(
            "{what}: userPrincipalName must look like name@domain.com"
        )));
    };
    let display = entry
        .display_name
        .clone()
        .unwrap_or_else(|| local.to_string());
    let synced = entry.kind == Kind::Synced;
    let ad = synced.then(|| {
        ad_values(
            entry.on_premises.as_ref(),
            entry.state.is_none(),
            upn,
            &display,
            domain,
            "Users",
            true,
        )
    });
    if !synced && entry.on_premises.is_some() {
        return Err(bad(format!("{what}: onPremises is only for kind synced")));
    }
    Ok(User {
        id: object_id(entry.id.as_deref(), &what, upn)?,
        user_principal_name: upn.to_string(),
        display_name: display,
        given_name: entry.given_name.clone(),
        surname: entry.surname.clone(),
        // A dump (with a state) says what it means: no mail is no mail.
        mail: entry
            .mail
            .clone()
            .or_else(|| entry.state.is_none().then(|| upn.to_string())),
        mail_nickname: Some(local.to_string()),
        job_title: entry.job_title.clone(),
        department: entry.department.clone(),
        office_location: entry.office_location.clone(),
        mobile_phone: None,
        preferred_language: Some("en-US".to_string()),
        business_phones: Vec::new(),
        account_enabled: entry.account_enabled,
        user_type: entry
            .user_type
            .clone()
            .unwrap_or_else(|| "Member".to_string()),
        created: add_secs(now, -365.0 * 86_400.0),
        sync: sync_info(&what, entry.kind, ad, entry.state.as_ref(), now)?,
        kind: entry.kind,
        writes: Writes::default(),
    })
}

fn group(
    entry: &GroupEntry,
    index: usize,
    rank: usize,
    domain: &str,
    now: Timestamp,
) -> Result<Group, TenantFileError> {
    let name = entry.display_name.trim();
    let what = format!("groups[{index}] ({name})");
    if name.is_empty() {
        return Err(bad(format!("groups[{index}]: displayName is empty")));
    }
    let nickname = entry
        .mail_nickname
        .clone()
        .unwrap_or_else(|| name.chars().filter(char::is_ascii_alphanumeric).collect());
    let synced = entry.kind == Kind::Synced;
    if !matches!(entry.kind, Kind::Synced | Kind::CloudOnly) {
        return Err(bad(format!(
            "{what}: a group's kind is synced or cloudOnly"
        )));
    }
    if !synced && entry.on_premises.is_some() {
        return Err(bad(format!("{what}: onPremises is only for kind synced")));
    }
    let ad = synced.then(|| {
        ad_values(
            entry.on_premises.as_ref(),
            entry.state.is_none(),
            &nickname,
            name,
            domain,
            "Groups",
            false,
        )
    });
    Ok(Group {
        id: object_id(entry.id.as_deref(), &what, &format!("group:{name}#{rank}"))?,
        display_name: name.to_string(),
        description: entry.description.clone(),
        mail: entry.mail.clone(),
        mail_enabled: entry.mail_enabled,
        mail_nickname: nickname,
        security_enabled: entry.security_enabled.unwrap_or(!entry.mail_enabled),
        group_types: entry.group_types.clone(),
        created: add_secs(now, -365.0 * 86_400.0),
        sync: sync_info(&what, entry.kind, ad, entry.state.as_ref(), now)?,
        members: Vec::new(),
        owners: Vec::new(),
        kind: entry.kind,
        writes: Writes::default(),
    })
}

fn organization(
    file: &TenantFile,
    defaults: &Defaults<'_>,
    now: Timestamp,
) -> Result<Organization, TenantFileError> {
    let o = &file.organization;
    let id = o.id.as_deref().unwrap_or(defaults.tenant_id).to_lowercase();
    if !is_guid(&id) {
        return Err(bad(format!("organization.id: '{id}' is not a GUID")));
    }
    // Tokens, discovery and throttling answer for the emulator's own tenant id.
    if !id.eq_ignore_ascii_case(defaults.tenant_id) {
        return Err(bad(format!(
            "organization.id: '{id}' is not this emulator's tenant ({}); start it with --tenant-id {id}, or leave the id out",
            defaults.tenant_id
        )));
    }
    let name = o.display_name.as_deref().unwrap_or(defaults.tenant_name);
    let initial = initial_domain(name);
    let mut domains: Vec<VerifiedDomain> = o
        .domains
        .iter()
        .filter(|d| !d.name.eq_ignore_ascii_case(&initial))
        .enumerate()
        .map(|(i, d)| VerifiedDomain {
            name: d.name.to_lowercase(),
            is_default: i == 0,
            is_initial: false,
            federated: d.federated,
        })
        .collect();
    if domains.is_empty() {
        domains.push(VerifiedDomain {
            name: defaults.domain.to_string(),
            is_default: true,
            is_initial: false,
            federated: false,
        });
    }
    domains.push(VerifiedDomain {
        name: initial,
        is_default: false,
        is_initial: true,
        federated: false,
    });
    let last_sync = match &o.last_sync {
        Some(t) => Some(parse_time("organization.lastSync", t)?),
        None => Some(add_secs(now, -120.0)),
    };
    Ok(Organization {
        id,
        display_name: name.to_string(),
        created: add_secs(now, -3.0 * 365.0 * 86_400.0),
        domains,
        last_sync,
    })
}

/// Resolves member and owner references to ids.
struct Index {
    ids: HashSet<String>,
    upns: HashMap<String, String>,
    group_names: HashMap<String, Vec<String>>,
}

impl Index {
    fn resolve(&self, what: &str, reference: &str) -> Result<String, TenantFileError> {
        let r = reference.trim();
        let lower = r.to_lowercase();
        if self.ids.contains(&lower) {
            return Ok(lower);
        }
        if let Some(id) = self.upns.get(&lower) {
            return Ok(id.clone());
        }
        match self.group_names.get(&lower).map(Vec::as_slice) {
            Some([id]) => Ok(id.clone()),
            Some(_) => Err(bad(format!(
                "{what}: more than one group is named '{r}'; refer to it by id"
            ))),
            None => Err(bad(format!(
                "{what}: '{r}' is no user (UPN), group (display name) or id in the file"
            ))),
        }
    }
}

/// Builds the tenant a file describes, at emulated time `now`.
pub fn build(
    file: &TenantFile,
    defaults: &Defaults<'_>,
    now: Timestamp,
    behaviour: Behaviour,
) -> Result<Tenant, TenantFileError> {
    let org = organization(file, defaults, now)?;
    let default_domain = org
        .domains
        .first()
        .map(|d| d.name.clone())
        .unwrap_or_else(|| defaults.domain.to_string());
    let users = file
        .users
        .iter()
        .enumerate()
        .map(|(i, e)| user(e, i, now))
        .collect::<Result<Vec<_>, _>>()?;
    // Groups of the same name get distinct derived ids (by their rank among namesakes).
    let mut namesakes: HashMap<String, usize> = HashMap::new();
    let mut groups = file
        .groups
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let rank = namesakes
                .entry(e.display_name.trim().to_lowercase())
                .or_insert(0);
            *rank += 1;
            group(e, i, *rank, &default_domain, now)
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut index = Index {
        ids: HashSet::new(),
        upns: HashMap::new(),
        group_names: HashMap::new(),
    };
    for (entry, u) in file.users.iter().zip(&users) {
        if !index.ids.insert(u.id.clone()) {
            return Err(bad(format!(
                "user {}: id {} is used twice",
                u.user_principal_name, u.id
            )));
        }
        // A soft-deleted user's UPN may be taken by a live one (a restore then conflicts).
        if entry
            .state
            .as_ref()
            .is_some_and(|s| s.deleted_date_time.is_some())
        {
            continue;
        }
        let upn = u.user_principal_name.to_lowercase();
        if index.upns.insert(upn, u.id.clone()).is_some() {
            return Err(bad(format!(
                "userPrincipalName {} is used twice",
                u.user_principal_name
            )));
        }
    }
    for g in &groups {
        if !index.ids.insert(g.id.clone()) {
            return Err(bad(format!(
                "group {}: id {} is used twice",
                g.display_name, g.id
            )));
        }
        index
            .group_names
            .entry(g.display_name.to_lowercase())
            .or_default()
            .push(g.id.clone());
    }
    let group_ids: HashSet<String> = groups.iter().map(|g| g.id.clone()).collect();
    let user_ids: HashSet<String> = users.iter().map(|u| u.id.clone()).collect();
    // Relations as written, then the ones deleted objects come back to.
    let mut relations: Vec<(String, String, bool)> = Vec::new();
    for (i, (entry, g)) in file.groups.iter().zip(&groups).enumerate() {
        let what = format!("groups[{i}] ({})", g.display_name);
        for m in &entry.members {
            let id = index.resolve(&format!("{what}.members"), m)?;
            if id == g.id {
                return Err(bad(format!("{what}: a group cannot be its own member")));
            }
            relations.push((g.id.clone(), id, false));
        }
        for o in &entry.owners {
            let id = index.resolve(&format!("{what}.owners"), o)?;
            if !user_ids.contains(&id) {
                return Err(bad(format!("{what}.owners: '{o}' is not a user")));
            }
            relations.push((g.id.clone(), id, true));
        }
    }
    let mut deleted: Vec<(String, Timestamp, bool)> = Vec::new();
    let states = file
        .users
        .iter()
        .zip(users.iter().map(|u| (u.id.clone(), true)))
        .map(|(e, id)| (e.state.as_ref(), id, e.user_principal_name.clone()))
        .chain(
            file.groups
                .iter()
                .zip(groups.iter().map(|g| (g.id.clone(), false)))
                .map(|(e, id)| (e.state.as_ref(), id, e.display_name.clone())),
        );
    for (state, (id, is_user), name) in states {
        let Some(state) = state else { continue };
        let Some(at) = &state.deleted_date_time else {
            if !state.member_of.is_empty() || !state.owner_of.is_empty() {
                return Err(bad(format!(
                    "{name}: memberOf and ownerOf are for deleted objects; list live relations under the group"
                )));
            }
            continue;
        };
        let at = parse_time(&format!("{name}: state.deletedDateTime"), at)?;
        for (list, owner) in [(&state.member_of, false), (&state.owner_of, true)] {
            for g in list {
                let g = g.to_lowercase();
                if !group_ids.contains(&g) {
                    return Err(bad(format!(
                        "{name}: group {g} of memberOf/ownerOf is not in the file"
                    )));
                }
                relations.push((g, id.clone(), owner));
            }
        }
        deleted.push((id, at, is_user));
    }
    let by_id: HashMap<String, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.id.clone(), i))
        .collect();
    for (group_id, member, owner) in relations {
        if let Some(g) = by_id.get(&group_id).and_then(|i| groups.get_mut(*i)) {
            let list = if owner { &mut g.owners } else { &mut g.members };
            insert_sorted(list, &member);
        }
    }
    for (id, _, is_user) in &deleted {
        if !is_user
            && let Some(g) = by_id.get(id).and_then(|i| groups.get(*i))
            && !g.is_unified()
        {
            return Err(bad(format!(
                "group {}: only Microsoft 365 groups (groupTypes: [Unified]) can be soft-deleted",
                g.display_name
            )));
        }
    }

    let marked: Vec<(String, Privilege)> = users
        .iter()
        .zip(&file.users)
        .filter_map(|(u, e)| e.privileged.map(|p| (u.id.clone(), p)))
        .chain(
            groups
                .iter()
                .zip(&file.groups)
                .filter_map(|(g, e)| e.privileged.map(|p| (g.id.clone(), p))),
        )
        .collect();
    let mut tenant = Tenant::new(org, users, groups, behaviour);
    tenant.contacts = super::contacts::build(&file.contacts, &tenant, &default_domain, now)?;
    for (id, at, is_user) in deleted {
        if is_user {
            tenant.soft_delete_user(&id, at);
        } else {
            tenant.delete_group_at(&id, at);
        }
    }
    tenant.reindex_upns();
    for (id, privilege) in marked {
        let answer = RefusalAnswer::default();
        tenant.set_privilege(&id, Some(Marker { privilege, answer }));
    }
    match file.organization.directory_sync.as_deref() {
        None | Some("Enabled") => {}
        Some("Disabled") => tenant.sync = SyncState::Disabled,
        Some("PendingDisable") => {
            tenant.disable(now);
        }
        Some(other) => {
            return Err(bad(format!(
                "organization.directorySync: '{other}' is not Enabled, Disabled or PendingDisable"
            )));
        }
    }
    Ok(tenant)
}
