//! The Graph operations the operator performs: names for logs and metrics, the
//! least-privileged application permission each needs, and what each costs against the quota.

use std::fmt;

use super::pacing::Cost;

/// One Graph operation the operator performs. Names label logs and metrics; each knows the
/// least-privileged application permission it needs, so a 403 can say what to grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GET /organization`
    GetOrganization,
    /// `PATCH /organization/{id}` (`onPremisesSyncEnabled`)
    UpdateOrganization,
    /// `GET /users`
    ListUsers,
    /// `PATCH /users/{id}`
    UpdateUser,
    /// `GET /groups`
    ListGroups,
    /// `GET /users/{id or UPN}`
    GetUser,
    /// `GET /groups/{id}/members` or `/transitiveMembers`
    ListGroupMembers,
    /// `GET /users/{id}/memberOf`: the groups (and roles, units) a user is a direct member of
    ListUserMemberOf,
    /// `GET /users/{id}/onPremisesSyncBehavior`
    GetSyncBehavior,
    /// `PATCH /users/{id}/onPremisesSyncBehavior`
    UpdateSyncBehavior,
    /// `GET /directory/deletedItems/microsoft.graph.user`
    ListDeletedUsers,
    /// `POST /directory/deletedItems/{id}/restore`
    RestoreDeletedUser,
    /// `GET /groups/{id}`
    GetGroup,
    /// `GET /groups/{id}/owners`
    ListGroupOwners,
    /// `GET /groups/{id}/onPremisesSyncBehavior`
    GetGroupSyncBehavior,
    /// `PATCH /groups/{id}/onPremisesSyncBehavior`
    UpdateGroupSyncBehavior,
    /// `POST /groups/{id}/owners/$ref`
    AddGroupOwner,
    /// `DELETE /groups/{id}/owners/{id}/$ref`
    RemoveGroupOwner,
    /// `GET /users/delta`: a round of changes (or every user) and a deltaLink
    UsersDelta,
    /// `GET /groups/delta`: a round of changes (or every group) and a deltaLink
    GroupsDelta,
    /// `GET /roleManagement/directory/roleAssignments`: who holds an administrator role
    ListRoleAssignments,
    /// `GET /directory/administrativeUnits`
    ListAdministrativeUnits,
    /// `GET /directory/administrativeUnits/{id}/members`
    ListAdministrativeUnitMembers,
    /// `POST /$batch`: the envelope only; each request in it counts as its own operation.
    Batch,
}

impl Operation {
    /// Stable name for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Operation::GetOrganization => "organization.get",
            Operation::UpdateOrganization => "organization.update",
            Operation::ListUsers => "users.list",
            Operation::UpdateUser => "users.update",
            Operation::ListGroups => "groups.list",
            Operation::GetUser => "users.get",
            Operation::ListGroupMembers => "groups.members.list",
            Operation::ListUserMemberOf => "users.memberOf.list",
            Operation::GetSyncBehavior => "users.syncBehavior.get",
            Operation::UpdateSyncBehavior => "users.syncBehavior.update",
            Operation::ListDeletedUsers => "deletedItems.users.list",
            Operation::RestoreDeletedUser => "deletedItems.restore",
            Operation::GetGroup => "groups.get",
            Operation::ListGroupOwners => "groups.owners.list",
            Operation::GetGroupSyncBehavior => "groups.syncBehavior.get",
            Operation::UpdateGroupSyncBehavior => "groups.syncBehavior.update",
            Operation::AddGroupOwner => "groups.owners.add",
            Operation::RemoveGroupOwner => "groups.owners.remove",
            Operation::UsersDelta => "users.delta",
            Operation::GroupsDelta => "groups.delta",
            Operation::ListRoleAssignments => "roleAssignments.list",
            Operation::ListAdministrativeUnits => "administrativeUnits.list",
            Operation::ListAdministrativeUnitMembers => "administrativeUnits.members.list",
            Operation::Batch => "batch",
        }
    }

    /// What it costs against the quotas (graph-api.md §8), as the client sends it: lists with
    /// `$select` (−1 RU); group members counted as transitive members, the dearer of the two;
    /// delta pages (always with `$select`) 1 RU, whether or not `users/delta` carries the list's
    /// base cost of 2 (UNCONFIRMED: 2 − 1 = 1 either way).
    pub fn cost(self) -> Cost {
        let read = |ru| Cost { ru, write: false };
        match self {
            // Graph charges each request of a batch, not the batch (graph-api.md §7).
            Operation::Batch => read(0),
            Operation::ListGroupMembers => read(4),
            // `users/{id}/memberOf` costs what `me/memberOf` does: 2, −1 with `$select`.
            Operation::ListUserMemberOf => read(1),
            Operation::GetOrganization
            | Operation::ListUsers
            | Operation::ListGroups
            | Operation::GetUser
            | Operation::GetSyncBehavior
            | Operation::ListDeletedUsers
            | Operation::GetGroup
            | Operation::ListGroupOwners
            | Operation::GetGroupSyncBehavior
            | Operation::UsersDelta
            | Operation::GroupsDelta
            | Operation::ListRoleAssignments
            | Operation::ListAdministrativeUnits
            | Operation::ListAdministrativeUnitMembers => read(1),
            Operation::UpdateOrganization
            | Operation::UpdateUser
            | Operation::UpdateSyncBehavior
            | Operation::RestoreDeletedUser
            | Operation::UpdateGroupSyncBehavior
            | Operation::AddGroupOwner
            | Operation::RemoveGroupOwner => Cost { ru: 1, write: true },
        }
    }

    /// The least-privileged application permission that allows this operation.
    pub fn required_permission(self) -> &'static str {
        match self {
            Operation::GetOrganization => "Organization.Read.All",
            Operation::UpdateOrganization => "Organization.ReadWrite.All",
            Operation::ListUsers => "User.Read.All",
            Operation::UpdateUser => "User.ReadWrite.All",
            Operation::ListGroups => "GroupMember.Read.All",
            Operation::GetUser => "User.Read.All",
            Operation::ListGroupMembers => "GroupMember.Read.All",
            Operation::ListUserMemberOf => "GroupMember.Read.All",
            Operation::GetSyncBehavior | Operation::UpdateSyncBehavior => {
                "User-OnPremisesSyncBehavior.ReadWrite.All"
            }
            Operation::ListDeletedUsers => "User.Read.All",
            Operation::RestoreDeletedUser => "User.DeleteRestore.All",
            Operation::GetGroup => "GroupMember.Read.All",
            Operation::ListGroupOwners => "GroupMember.Read.All",
            Operation::GetGroupSyncBehavior | Operation::UpdateGroupSyncBehavior => {
                "Group-OnPremisesSyncBehavior.ReadWrite.All"
            }
            Operation::AddGroupOwner => "Group.ReadWrite.All",
            Operation::RemoveGroupOwner => "Group.ReadWrite.All",
            Operation::UsersDelta => "User.Read.All",
            Operation::GroupsDelta => "GroupMember.Read.All",
            Operation::ListRoleAssignments => "RoleManagement.Read.Directory",
            Operation::ListAdministrativeUnits | Operation::ListAdministrativeUnitMembers => {
                "AdministrativeUnit.Read.All"
            }
            Operation::Batch => "(none: each request of a batch needs its own)",
        }
    }

    /// Every application permission that allows this operation, least privileged first
    /// (`Directory.*` left out: the operator never needs them). Graph's permission tables
    /// (graph-api.md §0), as the emulator enforces them (`emulator::routes::access`).
    pub fn granted_by(self) -> &'static [&'static str] {
        const READ_USERS: &[&str] = &["User.Read.All", "User.ReadWrite.All"];
        const READ_GROUPS: &[&str] = &[
            "GroupMember.Read.All",
            "Group.Read.All",
            "Group.ReadWrite.All",
        ];
        match self {
            Operation::GetOrganization => &["Organization.Read.All", "Organization.ReadWrite.All"],
            Operation::UpdateOrganization => &["Organization.ReadWrite.All"],
            Operation::ListUsers
            | Operation::GetUser
            | Operation::ListDeletedUsers
            | Operation::UsersDelta => READ_USERS,
            Operation::UpdateUser => &["User.ReadWrite.All"],
            Operation::RestoreDeletedUser => &["User.DeleteRestore.All", "User.ReadWrite.All"],
            Operation::ListGroups | Operation::GetGroup | Operation::GroupsDelta => READ_GROUPS,
            Operation::ListGroupMembers
            | Operation::ListGroupOwners
            | Operation::ListUserMemberOf => &[
                "GroupMember.Read.All",
                "GroupMember.ReadWrite.All",
                "Group.Read.All",
                "Group.ReadWrite.All",
            ],
            Operation::GetSyncBehavior | Operation::UpdateSyncBehavior => {
                &["User-OnPremisesSyncBehavior.ReadWrite.All"]
            }
            Operation::GetGroupSyncBehavior | Operation::UpdateGroupSyncBehavior => {
                &["Group-OnPremisesSyncBehavior.ReadWrite.All"]
            }
            Operation::AddGroupOwner | Operation::RemoveGroupOwner => &["Group.ReadWrite.All"],
            Operation::ListRoleAssignments => &[
                "RoleManagement.Read.Directory",
                "RoleManagement.Read.All",
                "RoleManagement.ReadWrite.Directory",
            ],
            Operation::ListAdministrativeUnits | Operation::ListAdministrativeUnitMembers => &[
                "AdministrativeUnit.Read.All",
                "AdministrativeUnit.ReadWrite.All",
            ],
            Operation::Batch => &[],
        }
    }

    /// Every operation, for tables and tests.
    pub const ALL: &'static [Operation] = &[
        Operation::GetOrganization,
        Operation::UpdateOrganization,
        Operation::ListUsers,
        Operation::UpdateUser,
        Operation::ListGroups,
        Operation::GetUser,
        Operation::ListGroupMembers,
        Operation::ListUserMemberOf,
        Operation::GetSyncBehavior,
        Operation::UpdateSyncBehavior,
        Operation::ListDeletedUsers,
        Operation::RestoreDeletedUser,
        Operation::GetGroup,
        Operation::ListGroupOwners,
        Operation::GetGroupSyncBehavior,
        Operation::UpdateGroupSyncBehavior,
        Operation::AddGroupOwner,
        Operation::RemoveGroupOwner,
        Operation::UsersDelta,
        Operation::GroupsDelta,
        Operation::ListRoleAssignments,
        Operation::ListAdministrativeUnits,
        Operation::ListAdministrativeUnitMembers,
        Operation::Batch,
    ];

    /// Whether the operation changes the directory.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Operation::UpdateOrganization
                | Operation::UpdateUser
                | Operation::UpdateSyncBehavior
                | Operation::RestoreDeletedUser
                | Operation::UpdateGroupSyncBehavior
                | Operation::AddGroupOwner
                | Operation::RemoveGroupOwner
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
