//! User updates (graph-api.md §2.4): validated changes, applied unless directory sync masters
//! the user.

use super::{ObjectKind, Tenant};
use crate::emulator::model::User;
use crate::emulator::switches::ImmutableIdAfterSoa;

/// A user property holding an optional string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProp {
    /// `givenName`
    GivenName,
    /// `surname`
    Surname,
    /// `mail`
    Mail,
    /// `mailNickname`
    MailNickname,
    /// `jobTitle`
    JobTitle,
    /// `department`
    Department,
    /// `officeLocation`
    OfficeLocation,
    /// `mobilePhone`
    MobilePhone,
    /// `preferredLanguage`
    PreferredLanguage,
    /// `onPremisesImmutableId`
    ImmutableId,
    /// `onPremisesDistinguishedName` (beta, cloud-managed users only)
    OnPremDistinguishedName,
    /// `onPremisesSamAccountName` (beta, cloud-managed users only)
    OnPremSamAccountName,
    /// `onPremisesUserPrincipalName` (beta, cloud-managed users only)
    OnPremUserPrincipalName,
    /// `onPremisesDomainName` (beta, cloud-managed users only)
    OnPremDomainName,
    /// `onPremisesSecurityIdentifier` (beta, cloud-managed users only)
    OnPremSecurityIdentifier,
}

/// One validated change of a user PATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    /// An optional string property.
    Text(TextProp, Option<String>),
    /// `displayName`
    DisplayName(String),
    /// `accountEnabled`
    AccountEnabled(bool),
    /// `userType`
    UserType(String),
    /// `businessPhones`
    BusinessPhones(Vec<String>),
    /// `userPrincipalName` (already checked against the verified domains)
    UserPrincipalName(String),
}

/// Why a user update was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateError {
    /// No such user.
    NotFound,
    /// The user is mastered by directory sync.
    SyncMastered,
    /// Another user already has this UPN.
    UpnConflict,
    /// The anchor of a user switched by SOA (when `immutable_id_after_soa` refuses).
    AnchorAfterSoa,
}

impl Tenant {
    /// Applies a validated PATCH to a user: refused for sync-mastered users; a new UPN must
    /// be free. Counts the accepted write on the user.
    pub fn update_user(&mut self, id: &str, changes: Vec<UserChange>) -> Result<(), UpdateError> {
        let user = self.users.get(id).ok_or(UpdateError::NotFound)?;
        if user.sync.is_synced() {
            return Err(UpdateError::SyncMastered);
        }
        let anchor_change = changes
            .iter()
            .any(|c| matches!(c, UserChange::Text(TextProp::ImmutableId, _)));
        if anchor_change
            && user.sync.cloud_managed
            && self.behaviour.immutable_id_after_soa == ImmutableIdAfterSoa::Refuse
        {
            return Err(UpdateError::AnchorAfterSoa);
        }
        let old_upn = user.user_principal_name.to_lowercase();
        for change in &changes {
            if let UserChange::UserPrincipalName(upn) = change {
                let key = upn.to_lowercase();
                if key != old_upn && self.upn_index.contains_key(&key) {
                    return Err(UpdateError::UpnConflict);
                }
            }
        }
        let user = self.users.get_mut(id).ok_or(UpdateError::NotFound)?;
        let before = user.to_json();
        for change in changes {
            match change {
                UserChange::Text(prop, value) => *text_slot(user, prop) = value,
                UserChange::DisplayName(v) => user.display_name = v,
                UserChange::AccountEnabled(v) => user.account_enabled = v,
                UserChange::UserType(v) => user.user_type = v,
                UserChange::BusinessPhones(v) => user.business_phones = v,
                UserChange::UserPrincipalName(upn) => {
                    self.upn_index
                        .remove(&user.user_principal_name.to_lowercase());
                    self.upn_index.insert(upn.to_lowercase(), user.id.clone());
                    user.user_principal_name = upn;
                }
            }
        }
        user.writes.patch += 1;
        self.changes
            .diff(ObjectKind::User, id, &before, &user.to_json());
        Ok(())
    }
}

fn text_slot(user: &mut User, prop: TextProp) -> &mut Option<String> {
    let on = &mut user.sync.values;
    match prop {
        TextProp::GivenName => &mut user.given_name,
        TextProp::Surname => &mut user.surname,
        TextProp::Mail => &mut user.mail,
        TextProp::MailNickname => &mut user.mail_nickname,
        TextProp::JobTitle => &mut user.job_title,
        TextProp::Department => &mut user.department,
        TextProp::OfficeLocation => &mut user.office_location,
        TextProp::MobilePhone => &mut user.mobile_phone,
        TextProp::PreferredLanguage => &mut user.preferred_language,
        TextProp::ImmutableId => &mut on.immutable_id,
        TextProp::OnPremDistinguishedName => &mut on.distinguished_name,
        TextProp::OnPremSamAccountName => &mut on.sam_account_name,
        TextProp::OnPremUserPrincipalName => &mut on.user_principal_name,
        TextProp::OnPremDomainName => &mut on.domain_name,
        TextProp::OnPremSecurityIdentifier => &mut on.security_identifier,
    }
}
