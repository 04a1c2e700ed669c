//! Directory objects as the emulator holds them, and their Graph JSON form.
//!
//! Typed rather than kept as JSON maps: a user costs about a third of the memory, which
//! matters at 100,000 users. The JSON form (`to_json`) carries every property the OData
//! module knows, absent values as `null`, as Graph does.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::clock::rfc3339;

mod contact;

pub use contact::Contact;

/// What an object is, for tests and the control endpoints (not a Graph property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// Synchronised from AD by the sync client.
    Synced,
    /// Created in the cloud.
    CloudOnly,
    /// The directory synchronisation service account (cloud-only).
    SyncServiceAccount,
    /// An emergency-access account (cloud-only).
    BreakGlass,
}

/// The on-premises identity of an object: what AD says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnPremIdentity {
    /// `onPremisesImmutableId` (users): base64 of the AD object's mS-DS-ConsistencyGuid.
    pub immutable_id: Option<String>,
    /// `onPremisesSamAccountName`.
    pub sam_account_name: Option<String>,
    /// `onPremisesDistinguishedName` (users).
    pub distinguished_name: Option<String>,
    /// `onPremisesUserPrincipalName` (users).
    pub user_principal_name: Option<String>,
    /// `onPremisesDomainName`.
    pub domain_name: Option<String>,
    /// `onPremisesNetBiosName` (groups).
    pub net_bios_name: Option<String>,
    /// `onPremisesSecurityIdentifier`.
    pub security_identifier: Option<String>,
}

impl OnPremIdentity {
    /// Clears what a completed tenant-wide disable clears (graph-api.md §1.2): DN, SAM account
    /// name, on-premises UPN, domain and NetBIOS names. The immutable id and SID stay.
    pub fn clear_on_disable(&mut self) {
        self.distinguished_name = None;
        self.sam_account_name = None;
        self.user_principal_name = None;
        self.domain_name = None;
        self.net_bios_name = None;
    }
}

/// Synchronisation status of an object, with the AD twin the sync client re-links it to.
#[derive(Debug, Clone, Default)]
pub struct SyncInfo {
    /// `onPremisesSyncEnabled`: true synced, false formerly synced, null never synced.
    pub enabled: Option<bool>,
    /// `onPremisesLastSyncDateTime`.
    pub last_sync: Option<Timestamp>,
    /// The `onPremises*` values Graph shows.
    pub values: OnPremIdentity,
    /// The original AD object, kept so a re-enabled sync client can re-link (synced objects only).
    pub ad_twin: Option<Box<OnPremIdentity>>,
    /// `onPremisesSyncBehavior.isCloudManaged`: the Source of Authority was switched to the
    /// cloud; the sync client skips the object (Connect Sync's `blockOnPremisesSync`).
    pub cloud_managed: bool,
    /// The AD twin is in the sync client's scope (an OU it synchronises).
    pub in_scope: bool,
    /// The sync client has the object joined to its AD twin. A tenant-wide disable and a
    /// restore from the deleted items break the join; re-enabling sync (or a hard or soft
    /// match in a later cycle) makes it again.
    pub joined: bool,
}

impl SyncInfo {
    /// True while directory sync masters the object.
    pub fn is_synced(&self) -> bool {
        self.enabled == Some(true)
    }

    /// Synchronised from AD as far as the Source of Authority switch is concerned: mastered by
    /// the sync client, switched to the cloud, or rolled back and waiting for the next cycle.
    pub fn is_soa_eligible(&self) -> bool {
        self.is_synced() || self.cloud_managed || (self.joined && self.ad_twin.is_some())
    }

    /// The on-premises values of the AD twin, written back: the object is synced again.
    pub fn relink(&mut self, at: Timestamp) {
        if let Some(twin) = &self.ad_twin {
            self.values = (**twin).clone();
            self.enabled = Some(true);
            self.last_sync = Some(at);
            self.joined = true;
            self.cloud_managed = false;
        }
    }
}

/// Accepted writes to one object, by kind (what `/_emulator/users`, `/groups` and `/contacts`
/// report, so tests can assert "exactly once" and "never written").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Writes {
    /// `PATCH /users/{id}`, `PATCH /groups/{id}`.
    pub patch: u32,
    /// `PATCH …/onPremisesSyncBehavior`.
    pub soa: u32,
    /// Those of the `soa` writes that changed `isCloudManaged` (a switch or a rollback; a
    /// repeated PATCH of the current value changes nothing). Not counted again in the total.
    pub soa_changes: u32,
    /// `POST /directory/deletedItems/{id}/restore`.
    pub restore: u32,
    /// `POST /groups/{id}/owners/$ref`.
    pub owners_added: u32,
    /// `DELETE /groups/{id}/owners/{id}/$ref`.
    pub owners_removed: u32,
    /// `POST /groups/{id}/members/$ref`.
    pub members_added: u32,
    /// `DELETE /groups/{id}/members/{id}/$ref`.
    pub members_removed: u32,
}

impl Writes {
    /// Every accepted write.
    pub fn total(&self) -> u64 {
        [
            self.patch,
            self.soa,
            self.restore,
            self.owners_added,
            self.owners_removed,
            self.members_added,
            self.members_removed,
        ]
        .iter()
        .map(|n| u64::from(*n))
        .sum()
    }
}

/// A user.
#[derive(Debug, Clone)]
pub struct User {
    /// Object id (lowercase GUID).
    pub id: String,
    /// `userPrincipalName`.
    pub user_principal_name: String,
    /// `displayName`.
    pub display_name: String,
    /// `givenName`.
    pub given_name: Option<String>,
    /// `surname`.
    pub surname: Option<String>,
    /// `mail`.
    pub mail: Option<String>,
    /// `mailNickname`.
    pub mail_nickname: Option<String>,
    /// `jobTitle`.
    pub job_title: Option<String>,
    /// `department`.
    pub department: Option<String>,
    /// `officeLocation`.
    pub office_location: Option<String>,
    /// `mobilePhone`.
    pub mobile_phone: Option<String>,
    /// `preferredLanguage`.
    pub preferred_language: Option<String>,
    /// `businessPhones`.
    pub business_phones: Vec<String>,
    /// `accountEnabled`.
    pub account_enabled: bool,
    /// `userType` (`Member` or `Guest`).
    pub user_type: String,
    /// `createdDateTime`.
    pub created: Timestamp,
    /// Synchronisation status and on-premises values.
    pub sync: SyncInfo,
    /// Emulator tag.
    pub kind: Kind,
    /// Accepted writes to this object.
    pub writes: Writes,
}

/// The map of a JSON object (empty for anything else).
pub fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// An optional time as Graph writes it (`null` when absent).
fn ts(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

impl User {
    /// Every Graph property of the user.
    pub fn to_json(&self) -> Map<String, Value> {
        let on = &self.sync.values;
        let proxy: Vec<String> = self.mail.iter().map(|m| format!("SMTP:{m}")).collect();
        let obj = json!({
            "id": self.id,
            "userPrincipalName": self.user_principal_name,
            "displayName": self.display_name,
            "givenName": self.given_name,
            "surname": self.surname,
            "mail": self.mail,
            "mailNickname": self.mail_nickname,
            "jobTitle": self.job_title,
            "department": self.department,
            "officeLocation": self.office_location,
            "mobilePhone": self.mobile_phone,
            "businessPhones": self.business_phones,
            "preferredLanguage": self.preferred_language,
            "accountEnabled": self.account_enabled,
            "userType": self.user_type,
            "createdDateTime": rfc3339(self.created),
            "proxyAddresses": proxy,
            "otherMails": [],
            "onPremisesSyncEnabled": self.sync.enabled,
            "onPremisesImmutableId": on.immutable_id,
            "onPremisesLastSyncDateTime": ts(self.sync.last_sync),
            "onPremisesDistinguishedName": on.distinguished_name,
            "onPremisesSamAccountName": on.sam_account_name,
            "onPremisesUserPrincipalName": on.user_principal_name,
            "onPremisesDomainName": on.domain_name,
            "onPremisesSecurityIdentifier": on.security_identifier,
            "onPremisesObjectIdentifier": Value::Null,
            "deletedDateTime": Value::Null,
        });
        into_map(obj)
    }
}

/// A group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Object id (lowercase GUID).
    pub id: String,
    /// `displayName`.
    pub display_name: String,
    /// `description`.
    pub description: Option<String>,
    /// `mail` (distribution groups).
    pub mail: Option<String>,
    /// `mailEnabled`.
    pub mail_enabled: bool,
    /// `mailNickname`.
    pub mail_nickname: String,
    /// `securityEnabled`.
    pub security_enabled: bool,
    /// `groupTypes` (`Unified` for Microsoft 365 groups).
    pub group_types: Vec<String>,
    /// `createdDateTime`.
    pub created: Timestamp,
    /// Synchronisation status and on-premises values.
    pub sync: SyncInfo,
    /// Member ids (users and groups), sorted.
    pub members: Vec<String>,
    /// Owner (user) ids, sorted.
    pub owners: Vec<String>,
    /// Emulator tag.
    pub kind: Kind,
    /// Accepted writes to this object.
    pub writes: Writes,
}

impl Group {
    /// Every Graph property of the group.
    pub fn to_json(&self) -> Map<String, Value> {
        let on = &self.sync.values;
        let proxy: Vec<String> = self.mail.iter().map(|m| format!("SMTP:{m}")).collect();
        let obj = json!({
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "mail": self.mail,
            "mailEnabled": self.mail_enabled,
            "mailNickname": self.mail_nickname,
            "securityEnabled": self.security_enabled,
            "groupTypes": self.group_types,
            "createdDateTime": rfc3339(self.created),
            "proxyAddresses": proxy,
            "onPremisesSyncEnabled": self.sync.enabled,
            "onPremisesLastSyncDateTime": ts(self.sync.last_sync),
            "onPremisesSecurityIdentifier": on.security_identifier,
            "onPremisesSamAccountName": on.sam_account_name,
            "onPremisesDomainName": on.domain_name,
            "onPremisesNetBiosName": on.net_bios_name,
            "onPremisesProvisioningErrors": [],
            "deletedDateTime": Value::Null,
        });
        into_map(obj)
    }

    /// A Microsoft 365 group (`groupTypes` contains `Unified`): restorable after deletion,
    /// users only as members.
    pub fn is_unified(&self) -> bool {
        self.group_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("Unified"))
    }

    /// A distribution list or mail-enabled security group: Exchange Online masters it once
    /// it is no longer synchronised (graph-api.md §3).
    pub fn is_exchange_managed(&self) -> bool {
        self.mail_enabled && !self.is_unified()
    }
}

/// Inserts `id` into a sorted id list; false when it was already there.
pub fn insert_sorted(list: &mut Vec<String>, id: &str) -> bool {
    match list.binary_search_by(|x| x.as_str().cmp(id)) {
        Ok(_) => false,
        Err(at) => {
            list.insert(at, id.to_string());
            true
        }
    }
}

/// Removes `id` from a sorted id list; false when it was not there.
pub fn remove_sorted(list: &mut Vec<String>, id: &str) -> bool {
    match list.binary_search_by(|x| x.as_str().cmp(id)) {
        Ok(at) => {
            list.remove(at);
            true
        }
        Err(_) => false,
    }
}

/// A verified domain of the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDomain {
    /// Domain name.
    pub name: String,
    /// The default domain for new users.
    pub is_default: bool,
    /// The `*.onmicrosoft.com` domain made with the tenant.
    pub is_initial: bool,
    /// Authentication federated to an identity provider such as AD FS (`type: Federated`).
    pub federated: bool,
}

impl VerifiedDomain {
    /// Graph's `verifiedDomain` shape.
    pub fn to_json(&self) -> Value {
        json!({
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": self.is_default,
            "isInitial": self.is_initial,
            "name": self.name,
            "type": if self.federated { "Federated" } else { "Managed" },
        })
    }
}
