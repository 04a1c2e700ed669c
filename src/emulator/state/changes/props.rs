//! What the change log records per property: the property table (a change is kept as a
//! position in it, not a name) and the print of an object's `onPremises*` values.

use crate::emulator::model::SyncInfo;
use crate::emulator::state::ObjectKind;

/// Every property users and groups render (`User::to_json`, `Group::to_json`), and the
/// `members` relationship; a change is recorded by position in this table.
pub(super) const PROPS: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "mailNickname",
    "jobTitle",
    "department",
    "officeLocation",
    "mobilePhone",
    "businessPhones",
    "preferredLanguage",
    "accountEnabled",
    "userType",
    "createdDateTime",
    "proxyAddresses",
    "otherMails",
    "onPremisesSyncEnabled",
    "onPremisesImmutableId",
    "onPremisesLastSyncDateTime",
    "onPremisesDistinguishedName",
    "onPremisesSamAccountName",
    "onPremisesUserPrincipalName",
    "onPremisesDomainName",
    "onPremisesSecurityIdentifier",
    "onPremisesObjectIdentifier",
    "onPremisesNetBiosName",
    "onPremisesProvisioningErrors",
    "deletedDateTime",
    "description",
    "mailEnabled",
    "securityEnabled",
    "groupTypes",
    MEMBERS,
];

/// The group relationship delta tracks.
pub const MEMBERS: &str = "members";

/// Position recorded for a property missing from [`PROPS`]: changed for any tracked property.
pub(super) const OTHER: u8 = u8::MAX;

pub(super) fn prop_index(name: &str) -> u8 {
    PROPS
        .iter()
        .position(|p| *p == name)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(OTHER)
}

/// The `onPremises*` values of an object, hashed per property, so a sync-side change (flip,
/// relink, SOA switch) is recorded without rendering or cloning the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPrint(pub(super) [u64; SYNC_PROPS.len()]);

/// The properties [`SyncPrint`] covers, in its order.
pub(super) const SYNC_PROPS: [&str; 9] = [
    "onPremisesSyncEnabled",
    "onPremisesLastSyncDateTime",
    "onPremisesImmutableId",
    "onPremisesDistinguishedName",
    "onPremisesUserPrincipalName",
    "onPremisesSamAccountName",
    "onPremisesDomainName",
    "onPremisesNetBiosName",
    "onPremisesSecurityIdentifier",
];

/// FNV-1a of an optional text (0 for none): cheap, and a collision only hides a change.
fn text_print(value: Option<&str>) -> u64 {
    value.map_or(0, |text| {
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    })
}

impl SyncPrint {
    /// The print of `sync`.
    pub fn of(sync: &SyncInfo) -> Self {
        let v = &sync.values;
        Self([
            sync.enabled.map_or(0, |e| 1 + u64::from(e)),
            // Truncated and never 0 (none): a collision only hides a nanosecond's change.
            sync.last_sync.map_or(0, |t| t.as_nanosecond() as u64 | 1),
            text_print(v.immutable_id.as_deref()),
            text_print(v.distinguished_name.as_deref()),
            text_print(v.user_principal_name.as_deref()),
            text_print(v.sam_account_name.as_deref()),
            text_print(v.domain_name.as_deref()),
            text_print(v.net_bios_name.as_deref()),
            text_print(v.security_identifier.as_deref()),
        ])
    }
}

/// Whether `kind` renders the on-premises property `name`.
pub(super) fn renders(kind: ObjectKind, name: &str) -> bool {
    match kind {
        ObjectKind::User => name != "onPremisesNetBiosName",
        ObjectKind::Group => !matches!(
            name,
            "onPremisesImmutableId" | "onPremisesDistinguishedName" | "onPremisesUserPrincipalName"
        ),
    }
}
