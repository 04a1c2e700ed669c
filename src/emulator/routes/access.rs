//! The permission table: every route's permission class and the application permissions that
//! grant it, in one place (graph-api.md §0).

/// Permission classes, each satisfied by any of several application permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read the organization.
    ReadOrg,
    /// Update the organization.
    WriteOrg,
    /// Read users (and deleted users).
    ReadUsers,
    /// Update users.
    WriteUsers,
    /// Delete, restore and purge users.
    DeleteRestoreUsers,
    /// Read groups (and deleted groups).
    ReadGroups,
    /// Update, delete, restore and purge groups.
    WriteGroups,
    /// Read members and owners.
    ReadMembers,
    /// Add and remove members.
    WriteMembers,
    /// Add and remove owners.
    WriteOwners,
    /// Read and switch a user's Source of Authority (`Directory.ReadWrite.All` is not enough).
    UserSoa,
    /// Read and switch a group's Source of Authority.
    GroupSoa,
    /// Read organizational contacts.
    ReadContacts,
    /// Read and switch a contact's Source of Authority.
    ContactSoa,
    /// Read the directory synchronisation features.
    ReadSyncFeatures,
    /// Update the directory synchronisation features.
    WriteSyncFeatures,
    /// Read directory role assignments.
    ReadRoleAssignments,
    /// Read administrative units and their members.
    ReadAdminUnits,
}

impl Access {
    /// The application permissions that grant it.
    pub fn granted_by(self) -> &'static [&'static str] {
        match self {
            Access::ReadOrg => &[
                "Organization.Read.All",
                "Organization.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
            Access::WriteOrg => &["Organization.ReadWrite.All", "Directory.ReadWrite.All"],
            Access::ReadUsers => &[
                "User.Read.All",
                "User.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
            Access::WriteUsers => &["User.ReadWrite.All", "Directory.ReadWrite.All"],
            Access::DeleteRestoreUsers => &[
                "User.DeleteRestore.All",
                "User.ReadWrite.All",
                "Directory.ReadWrite.All",
            ],
            Access::ReadGroups => &[
                "Group.Read.All",
                "GroupMember.Read.All",
                "Group.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
            Access::WriteGroups => &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
            Access::ReadMembers => &[
                "GroupMember.Read.All",
                "GroupMember.ReadWrite.All",
                "Group.Read.All",
                "Group.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
            Access::WriteMembers => &[
                "GroupMember.ReadWrite.All",
                "Group.ReadWrite.All",
                "Directory.ReadWrite.All",
            ],
            Access::WriteOwners => &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
            Access::UserSoa => &["User-OnPremisesSyncBehavior.ReadWrite.All"],
            Access::GroupSoa => &["Group-OnPremisesSyncBehavior.ReadWrite.All"],
            Access::ReadContacts => &[
                "OrgContact.Read.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
            Access::ContactSoa => &["Contacts-OnPremisesSyncBehavior.ReadWrite.All"],
            Access::ReadSyncFeatures => &[
                "OnPremDirectorySynchronization.Read.All",
                "OnPremDirectorySynchronization.ReadWrite.All",
            ],
            Access::WriteSyncFeatures => &["OnPremDirectorySynchronization.ReadWrite.All"],
            // graph docs `rbacapplication-list-roleassignments` (directory provider).
            Access::ReadRoleAssignments => &[
                "RoleManagement.Read.Directory",
                "RoleManagement.Read.All",
                "RoleManagement.ReadWrite.Directory",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
            // graph docs `directory-list-administrativeunits`, `administrativeunit-list-members`.
            Access::ReadAdminUnits => &[
                "AdministrativeUnit.Read.All",
                "AdministrativeUnit.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
        }
    }

    /// Whether `permissions` (the app's current grants) include one that grants it.
    pub fn allowed(self, permissions: &[String]) -> bool {
        let granted = self.granted_by();
        permissions
            .iter()
            .any(|p| granted.iter().any(|g| g.eq_ignore_ascii_case(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operator's own table (`Operation::granted_by`, from which the README's permission
    /// list is derived) is this one, `Directory.*` aside.
    #[test]
    fn the_operators_table_is_the_emulators() {
        use crate::graph::Operation as Op;
        for &op in Op::ALL {
            let access = match op {
                Op::GetOrganization => Access::ReadOrg,
                Op::UpdateOrganization => Access::WriteOrg,
                Op::ListUsers | Op::GetUser | Op::ListDeletedUsers | Op::UsersDelta => {
                    Access::ReadUsers
                }
                Op::UpdateUser => Access::WriteUsers,
                Op::RestoreDeletedUser => Access::DeleteRestoreUsers,
                Op::ListGroups | Op::GetGroup | Op::GroupsDelta => Access::ReadGroups,
                Op::ListGroupMembers | Op::ListGroupOwners | Op::ListUserMemberOf => {
                    Access::ReadMembers
                }
                Op::GetSyncBehavior | Op::UpdateSyncBehavior => Access::UserSoa,
                Op::GetGroupSyncBehavior | Op::UpdateGroupSyncBehavior => Access::GroupSoa,
                Op::AddGroupOwner | Op::RemoveGroupOwner => Access::WriteOwners,
                Op::ListRoleAssignments => Access::ReadRoleAssignments,
                Op::ListAdministrativeUnits | Op::ListAdministrativeUnitMembers => {
                    Access::ReadAdminUnits
                }
                Op::Batch => continue,
            };
            let mut emulator: Vec<&str> = access
                .granted_by()
                .iter()
                .copied()
                .filter(|p| !p.starts_with("Directory."))
                .collect();
            let mut operator = op.granted_by().to_vec();
            emulator.sort_unstable();
            operator.sort_unstable();
            assert_eq!(operator, emulator, "{op}");
        }
    }

    #[test]
    fn soa_needs_its_own_permission() {
        let directory = vec!["Directory.ReadWrite.All".to_string()];
        assert!(!Access::UserSoa.allowed(&directory));
        assert!(!Access::GroupSoa.allowed(&directory));
        assert!(!Access::WriteSyncFeatures.allowed(&directory));
        assert!(Access::WriteGroups.allowed(&directory));
        let user_soa = vec!["user-onpremisessyncbehavior.readwrite.all".to_string()];
        assert!(Access::UserSoa.allowed(&user_soa));
        assert!(!Access::GroupSoa.allowed(&user_soa));
        assert!(!Access::ContactSoa.allowed(&directory));
        assert!(!Access::ContactSoa.allowed(&user_soa));
        let contacts = vec!["OrgContact.Read.All".to_string()];
        assert!(Access::ReadContacts.allowed(&contacts));
        assert!(Access::ReadContacts.allowed(&directory));
        assert!(!Access::ContactSoa.allowed(&contacts));
        let contact_soa = vec!["Contacts-OnPremisesSyncBehavior.ReadWrite.All".to_string()];
        assert!(Access::ContactSoa.allowed(&contact_soa));
        assert!(!Access::ReadContacts.allowed(&contact_soa));
        let members = vec!["GroupMember.ReadWrite.All".to_string()];
        assert!(Access::WriteMembers.allowed(&members));
        assert!(!Access::WriteOwners.allowed(&members));
        let restore = vec!["User.DeleteRestore.All".to_string()];
        assert!(Access::DeleteRestoreUsers.allowed(&restore));
        assert!(!Access::ReadUsers.allowed(&restore));
    }
}
