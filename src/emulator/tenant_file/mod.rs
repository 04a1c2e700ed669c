//! Tenant files: a tenant written by hand (YAML or JSON) to seed the emulator with
//! (`--tenant-file`, `POST /_emulator/load`), and the same format written out by
//! `GET /_emulator/dump`, so a rehearsal can be saved and resumed.
//!
//! ```yaml
//! organization: { displayName: Fabrikam, domains: [{ name: fabrikam.com }] }
//! users:
//!   - userPrincipalName: ada@fabrikam.com          # kind: synced (default)
//!     displayName: Ada Lovelace
//!     onPremises: { immutableId: "…" }             # anything missing is derived
//!   - { userPrincipalName: admin@fabrikam.onmicrosoft.com, kind: cloudOnly }
//! groups:
//!   - displayName: SG Finance
//!     members: [ada@fabrikam.com, SG Finance EMEA] # UPNs, group names or ids
//!     owners: [admin@fabrikam.onmicrosoft.com]
//! contacts:
//!   - { displayName: Eric Solomon (Litware), mail: eric@litwareinc.com, companyName: Litware }
//! ```
//!
//! Users and groups take their Graph property names. `kind` is `synced` (the default),
//! `cloudOnly`, `syncServiceAccount` or `breakGlass`. A synced object's AD values
//! (`onPremises`) default to ones derived from its name: an anchor from its UPN, the
//! `sAMAccountName`, a distinguished name under `OU=Users` (groups: `OU=Groups`). `state`
//! (written by dumps) holds what happened since: `onPremisesSyncEnabled` (true, false or
//! null), `isCloudManaged`, `inScope`, `joined`, `lastSync`, the values Graph shows when they
//! differ from AD's, and `deletedDateTime` for soft-deleted objects (with `memberOf`, the
//! groups they come back to on restore). The organization's `directorySync` is `Enabled`,
//! `Disabled`, or `PendingDisable` (loaded as a disable requested at load time).
//!
//! `apps:` registers applications besides the default one (the same entries as
//! `POST /_emulator/apps`: `clientId`, `secrets`, `certificates`, `federatedCredentials`,
//! `permissions`).
//!
//! Organizational contacts (`contacts`) take their Graph names too (`displayName` required,
//! `mail`, `givenName`, `surname`, `mailNickname`, `companyName`, `proxyAddresses`); `kind` is
//! `synced` (default) or `cloudOnly` (an Exchange Online mail contact); a synced contact's
//! `onPremises.distinguishedName` defaults to one under `OU=Contacts`; `state` as for users,
//! without deletion (the emulator keeps no deleted contacts).
//!
//! A dump keeps every object, its state and its relations; it does not keep counters, quotas,
//! tokens, faults, pending flip times, objects already purged or applications (their secrets
//! never leave the emulator).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::apps::AppRegistration;
use super::model::{Kind, OnPremIdentity};
use super::state::Privilege;

/// A whole tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantFile {
    /// The organization.
    #[serde(default)]
    pub organization: OrgEntry,
    /// Users, live and soft-deleted.
    #[serde(default)]
    pub users: Vec<UserEntry>,
    /// Groups, live and soft-deleted.
    #[serde(default)]
    pub groups: Vec<GroupEntry>,
    /// Applications to register besides the default one, as `POST /_emulator/apps` takes them
    /// (secrets, certificates, federated credentials, permissions). Dumps leave them out:
    /// secrets never leave the emulator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppRegistration>,
    /// Organizational contacts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<ContactEntry>,
}

/// The organization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgEntry {
    /// Tenant id (default: the emulator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name (default: the emulator's); gives the initial `.onmicrosoft.com` domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Verified custom domains (the initial one is added); the first is the default.
    #[serde(default)]
    pub domains: Vec<DomainEntry>,
    /// `Enabled` (default), `Disabled` or `PendingDisable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_sync: Option<String>,
    /// `onPremisesLastSyncDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
}

/// A verified domain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DomainEntry {
    /// Domain name.
    pub name: String,
    /// Federated (AD FS) rather than managed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub federated: bool,
}

/// AD values of an object (`onPremises*` in Graph).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnPremEntry {
    /// `onPremisesImmutableId` (users): base64 of the consistency GUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable_id: Option<String>,
    /// `onPremisesSamAccountName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sam_account_name: Option<String>,
    /// `onPremisesDistinguishedName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinguished_name: Option<String>,
    /// `onPremisesUserPrincipalName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    /// `onPremisesDomainName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// `onPremisesNetBiosName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_bios_name: Option<String>,
    /// `onPremisesSecurityIdentifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_identifier: Option<String>,
}

/// What happened to an object since it was synchronised (dumps write it; hand-written files
/// usually leave it out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateEntry {
    /// `onPremisesSyncEnabled`: true, false, or null (written as `null`).
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    /// Source of Authority switched to the cloud.
    #[serde(default)]
    pub is_cloud_managed: bool,
    /// In the sync client's scope.
    #[serde(default = "yes")]
    pub in_scope: bool,
    /// Joined to its AD object by the sync client.
    #[serde(default = "yes")]
    pub joined: bool,
    /// `onPremisesLastSyncDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
    /// The `onPremises*` values Graph shows (default: the AD values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown: Option<OnPremEntry>,
    /// Soft-deleted at this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_date_time: Option<String>,
    /// Groups a soft-deleted object returns to on restore (ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_of: Vec<String>,
    /// Groups a soft-deleted object owned (ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_of: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserEntry {
    /// Object id (default: generated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `userPrincipalName` (required).
    pub user_principal_name: String,
    /// `displayName` (default: from the UPN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `givenName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// `surname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// `mail` (default: the UPN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// `jobTitle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// `department`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// `officeLocation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_location: Option<String>,
    /// `accountEnabled` (default true).
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// `userType` (default `Member`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// What the user is (default `synced`).
    #[serde(default = "synced")]
    pub kind: Kind,
    /// AD values of a synced user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises: Option<OnPremEntry>,
    /// What happened since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateEntry>,
    /// Why Graph refuses writes to this user although the application holds the permission
    /// (`adminRole`, `adminSdHolder`, `restrictedAu`; graph-api.md §14). Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<Privilege>,
}

fn synced() -> Kind {
    Kind::Synced
}

/// A group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupEntry {
    /// Object id (default: generated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `displayName` (required).
    pub display_name: String,
    /// `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `mail` (mail-enabled groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// `mailEnabled`.
    #[serde(default)]
    pub mail_enabled: bool,
    /// `mailNickname` (default: from the name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    /// `securityEnabled` (default: not mail-enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_enabled: Option<bool>,
    /// `groupTypes` (`Unified` for Microsoft 365 groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_types: Vec<String>,
    /// What the group is (default `synced`).
    #[serde(default = "synced")]
    pub kind: Kind,
    /// Members: UPNs, group display names or object ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Owners: UPNs or object ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
    /// AD values of a synced group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises: Option<OnPremEntry>,
    /// What happened since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateEntry>,
    /// Why Graph refuses writes to this group although the application holds the permission
    /// (`adminRole`, `adminSdHolder`, `restrictedAu`; graph-api.md §14). Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<Privilege>,
}

/// A tenant file that cannot be loaded: the message names the entry and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant file: {0}")]
pub struct TenantFileError(pub String);

fn bad(message: impl Into<String>) -> TenantFileError {
    TenantFileError(message.into())
}

impl TenantFile {
    /// Parses YAML or JSON (JSON is YAML).
    pub fn parse(text: &str) -> Result<TenantFile, TenantFileError> {
        // No source snippet in errors: a file's `apps` hold client secrets, and a parse error
        // goes back to whoever posted it.
        let options = serde_saphyr::options! { with_snippet: false };
        serde_saphyr::from_str_with_options(text, options).map_err(|e| bad(e.to_string()))
    }
}

mod build;
mod contacts;
mod dump;
mod object;

pub use build::{Defaults, build};
pub use contacts::ContactEntry;
pub use dump::dump;

/// Shared by both directions.
fn parse_time(field: &str, text: &str) -> Result<Timestamp, TenantFileError> {
    text.parse::<Timestamp>()
        .map_err(|e| bad(format!("{field}: '{text}' is not an RFC 3339 time ({e})")))
}

fn from_entry(e: &OnPremEntry) -> OnPremIdentity {
    OnPremIdentity {
        immutable_id: e.immutable_id.clone(),
        sam_account_name: e.sam_account_name.clone(),
        distinguished_name: e.distinguished_name.clone(),
        user_principal_name: e.user_principal_name.clone(),
        domain_name: e.domain_name.clone(),
        net_bios_name: e.net_bios_name.clone(),
        security_identifier: e.security_identifier.clone(),
    }
}

fn to_entry(v: &OnPremIdentity) -> OnPremEntry {
    OnPremEntry {
        immutable_id: v.immutable_id.clone(),
        sam_account_name: v.sam_account_name.clone(),
        distinguished_name: v.distinguished_name.clone(),
        user_principal_name: v.user_principal_name.clone(),
        domain_name: v.domain_name.clone(),
        net_bios_name: v.net_bios_name.clone(),
        security_identifier: v.security_identifier.clone(),
    }
}

#[cfg(test)]
mod tests;
