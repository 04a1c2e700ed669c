//! What the sync client reads from Active Directory, and which part of it is in scope.

use crate::emulator::model::OnPremIdentity;

/// One user object as read from Active Directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdUser {
    /// `objectGUID` as a GUID string (lowercase).
    pub object_guid: String,
    /// base64 of `mS-DS-ConsistencyGuid`, or of `objectGUID` when that is empty.
    pub anchor: String,
    /// `distinguishedName`.
    pub distinguished_name: String,
    /// `sAMAccountName`.
    pub sam_account_name: Option<String>,
    /// `userPrincipalName`.
    pub user_principal_name: Option<String>,
    /// `objectSid` in `S-1-5-…` form.
    pub security_identifier: Option<String>,
    /// The DNS domain of the DN's `DC=` components.
    pub domain_name: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `givenName`.
    pub given_name: Option<String>,
    /// `sn`.
    pub surname: Option<String>,
    /// `mail`.
    pub mail: Option<String>,
    /// Not disabled (userAccountControl bit 2, ACCOUNTDISABLE, clear).
    pub account_enabled: bool,
}

impl AdUser {
    /// The on-premises identity Graph shows for this object (anchor given: a join keeps its
    /// first one).
    pub(super) fn identity(&self, anchor: &str) -> OnPremIdentity {
        OnPremIdentity {
            immutable_id: Some(anchor.to_string()),
            sam_account_name: self.sam_account_name.clone(),
            distinguished_name: Some(self.distinguished_name.clone()),
            user_principal_name: self.user_principal_name.clone(),
            domain_name: self.domain_name.clone(),
            net_bios_name: None,
            security_identifier: self.security_identifier.clone(),
        }
    }
}

/// Which part of the directory the sync client reads and which OUs it synchronises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryScope {
    /// Where the search starts.
    pub base_dn: String,
    /// The OUs whose users (subtree) are synchronised.
    pub synced_ous: Vec<String>,
}

/// A DN for comparisons: lowercase, no blanks around separators (DNs compare
/// case-insensitively).
pub fn normalize_dn(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let (mut escaped, mut after_separator) = (false, false);
    for c in dn.trim().chars() {
        if !escaped && (c == ',' || c == '=') {
            while out.ends_with(' ') && !out.ends_with("\\ ") {
                out.pop();
            }
            out.push(c);
            after_separator = true;
            continue;
        }
        if after_separator && c == ' ' {
            continue;
        }
        after_separator = false;
        escaped = !escaped && c == '\\';
        out.extend(c.to_lowercase());
    }
    out
}

/// Whether `dn` is `parent` or under it.
pub fn dn_under(dn: &str, parent: &str) -> bool {
    let (dn, parent) = (normalize_dn(dn), normalize_dn(parent));
    !parent.is_empty() && (dn == parent || dn.ends_with(&format!(",{parent}")))
}

impl DirectoryScope {
    /// Under one of the synchronised OUs.
    pub fn in_scope(&self, dn: &str) -> bool {
        self.synced_ous.iter().any(|ou| dn_under(dn, ou))
    }
}
