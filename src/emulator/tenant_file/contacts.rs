//! The `contacts:` list of a tenant file, both ways.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::object::{dc_path, object_id, state, sync_info};
use super::{OnPremEntry, StateEntry, TenantFileError, bad, from_entry, to_entry};
use crate::emulator::model::{Contact, Kind, OnPremIdentity, Writes};
use crate::emulator::state::Tenant;

/// An organizational contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactEntry {
    /// Object id (default: generated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `displayName` (required).
    pub display_name: String,
    /// `givenName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// `surname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// `mail`: the external address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// `mailNickname` (default: the local part of `mail`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    /// `companyName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// `proxyAddresses` (default: `SMTP:` and `mail`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxy_addresses: Vec<String>,
    /// `synced` (default) or `cloudOnly` (an Exchange Online mail contact).
    #[serde(default = "synced")]
    pub kind: Kind,
    /// AD values of a synced contact (its `distinguishedName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises: Option<OnPremEntry>,
    /// What happened since (no deletion: the emulator keeps no deleted contacts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateEntry>,
}

fn synced() -> Kind {
    Kind::Synced
}

/// The AD values of a synced contact: as given, the distinguished name derived when missing
/// (unless the entry has a state: a dump, complete as written).
fn ad_values(
    given: Option<&OnPremEntry>,
    derive: bool,
    name: &str,
    domain: &str,
) -> OnPremIdentity {
    let mut values = given.map(from_entry).unwrap_or_default();
    if derive && values.distinguished_name.is_none() {
        let cn = name.replace(',', "\\,");
        values.distinguished_name = Some(format!("CN={cn},OU=Contacts,{}", dc_path(domain)));
    }
    values
}

fn contact(
    entry: &ContactEntry,
    index: usize,
    rank: usize,
    domain: &str,
    now: Timestamp,
) -> Result<Contact, TenantFileError> {
    let name = entry.display_name.trim();
    if name.is_empty() {
        return Err(bad(format!("contacts[{index}]: displayName is empty")));
    }
    let what = format!("contacts[{index}] ({name})");
    if !matches!(entry.kind, Kind::Synced | Kind::CloudOnly) {
        return Err(bad(format!(
            "{what}: a contact's kind is synced or cloudOnly"
        )));
    }
    if let Some(s) = &entry.state
        && (s.deleted_date_time.is_some() || !s.member_of.is_empty() || !s.owner_of.is_empty())
    {
        return Err(bad(format!(
            "{what}: contacts cannot be soft-deleted (leave out deletedDateTime, memberOf, ownerOf)"
        )));
    }
    let derive = entry.state.is_none();
    let ad = (entry.kind == Kind::Synced)
        .then(|| ad_values(entry.on_premises.as_ref(), derive, name, domain));
    let ad = match (ad, &entry.on_premises) {
        (None, Some(_)) => return Err(bad(format!("{what}: onPremises is only for kind synced"))),
        (ad, _) => ad,
    };
    let mail = entry.mail.clone();
    let local = mail.as_deref().and_then(|m| m.split('@').next());
    let mail_nickname = entry
        .mail_nickname
        .clone()
        .or_else(|| local.filter(|_| derive).map(str::to_string));
    let proxy_addresses = match (&mail, entry.proxy_addresses.is_empty() && derive) {
        (Some(m), true) => vec![format!("SMTP:{m}")],
        _ => entry.proxy_addresses.clone(),
    };
    Ok(Contact {
        id: object_id(
            entry.id.as_deref(),
            &what,
            &format!("contact:{name}#{rank}"),
        )?,
        display_name: name.to_string(),
        given_name: entry.given_name.clone(),
        surname: entry.surname.clone(),
        mail,
        mail_nickname,
        company_name: entry.company_name.clone(),
        proxy_addresses,
        sync: sync_info(&what, entry.kind, ad, entry.state.as_ref(), now)?,
        kind: entry.kind,
        writes: Writes::default(),
    })
}

/// The contacts a file lists, checked against the tenant's users and groups for id clashes.
pub(super) fn build(
    entries: &[ContactEntry],
    tenant: &Tenant,
    domain: &str,
    now: Timestamp,
) -> Result<BTreeMap<String, Contact>, TenantFileError> {
    let mut namesakes: HashMap<String, usize> = HashMap::new();
    let mut contacts = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let rank = namesakes
            .entry(entry.display_name.trim().to_lowercase())
            .or_insert(0);
        *rank += 1;
        let c = contact(entry, i, *rank, domain, now)?;
        if tenant.object_kind(&c.id).is_some() || contacts.contains_key(&c.id) {
            return Err(bad(format!(
                "contact {}: id {} is used twice",
                c.display_name, c.id
            )));
        }
        contacts.insert(c.id.clone(), c);
    }
    Ok(contacts)
}

/// A contact as a tenant file entry (with its state, so nothing is derived on load).
pub(super) fn dump(c: &Contact) -> ContactEntry {
    ContactEntry {
        id: Some(c.id.clone()),
        display_name: c.display_name.clone(),
        given_name: c.given_name.clone(),
        surname: c.surname.clone(),
        mail: c.mail.clone(),
        mail_nickname: c.mail_nickname.clone(),
        company_name: c.company_name.clone(),
        proxy_addresses: c.proxy_addresses.clone(),
        kind: c.kind,
        on_premises: c.sync.ad_twin.as_deref().map(to_entry),
        state: state(&c.sync, None),
    }
}

#[cfg(test)]
#[path = "contacts_tests.rs"]
mod tests;
