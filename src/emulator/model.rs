//! Directory objects as the emulator holds them, and their Graph JSON form.
//!
//! Typed rather than kept as JSON maps: a user costs about a third of the memory, which
//! matters at 100,000 users. The JSON form (`to_json`) carries every property the OData
//! module knows, absent values as `null`, as Graph does.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::clock::rfc3339;

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
}

impl SyncInfo {
    /// True while directory sync masters the object.
    pub fn is_synced(&self) -> bool {
        self.enabled == Some(true)
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
    pub writes: u64,
}

/// The map of a JSON object (empty for anything else).
pub fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

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
    /// Member user ids.
    pub members: Vec<String>,
    /// Emulator tag.
    pub kind: Kind,
    /// Accepted writes to this object.
    pub writes: u64,
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
        });
        into_map(obj)
    }
}

/// A verified domain of the organization.
#[derive(Debug, Clone)]
pub struct VerifiedDomain {
    /// Domain name.
    pub name: String,
    /// The default domain for new users.
    pub is_default: bool,
    /// The `*.onmicrosoft.com` domain made with the tenant.
    pub is_initial: bool,
}

impl VerifiedDomain {
    /// Graph's `verifiedDomain` shape.
    pub fn to_json(&self) -> Value {
        json!({
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": self.is_default,
            "isInitial": self.is_initial,
            "name": self.name,
            "type": "Managed",
        })
    }
}
