//! The Microsoft Graph application permissions each resource needs: the operations its spec
//! leads the reconcilers to call, reduced to the fewest least-privileged permissions that allow
//! them all. The README's permission table is this module's answer for each flow, and
//! `tests/least_privilege.rs` runs every flow against the emulator (which enforces them) with
//! exactly these permissions, and with each one left out.
//!
//! A missing permission stalls the resource with a message that names the permission of its
//! set that allows the refused operation ([`to_grant`]), so one grant fixes it.

use crate::api::common::ConversionMode;
use crate::api::group::CloudGroupConversionSpec;
use crate::api::tenant::{DirectorySyncMode, TenantSyncPolicySpec};
use crate::api::user::{CloudUserConversionSpec, UserConversionMethod};
use crate::graph::Operation;

use Operation as Op;

/// Reads a conversion makes when it may, and does without when refused (`MissingPermission`
/// then means "not checked", said in an Event and in `status.prerequisites`): looking for
/// privileged users before the first write, and reading users' group memberships (what
/// `RestoreDeleted` users lose; groups before members). Their permissions are optional, so no
/// flow's set lists them.
pub const OPTIONAL: &[Operation] = &[
    Op::ListUserMemberOf,
    Op::ListRoleAssignments,
    Op::ListAdministrativeUnits,
    Op::ListAdministrativeUnitMembers,
];

/// The fewest permissions, each the least privileged that can serve, that allow every one of
/// `ops`: each operation's least-privileged permission, then those whose operations the others
/// already allow dropped (`User.Read.All` beside `User.ReadWrite.All`). Sorted by name.
pub fn needed(ops: &[Operation]) -> Vec<&'static str> {
    let ops: Vec<Operation> = ops.iter().copied().filter(|o| *o != Op::Batch).collect();
    let mut chosen: Vec<&'static str> = Vec::new();
    for op in &ops {
        let p = op.required_permission();
        if !chosen.contains(&p) {
            chosen.push(p);
        }
    }
    // Bounded: each round either removes one permission or moves past it.
    let mut i = 0;
    while i < chosen.len() {
        let others: Vec<&str> = chosen
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| *p)
            .collect();
        if ops
            .iter()
            .all(|op| op.granted_by().iter().any(|g| others.contains(g)))
        {
            chosen.remove(i);
        } else {
            i += 1;
        }
    }
    chosen.sort_unstable();
    chosen
}

/// The permission to grant for a refused `op`: the one of `needed` that allows it, else the
/// operation's least-privileged permission.
pub fn to_grant(op: Operation, needed: &[&'static str]) -> &'static str {
    op.granted_by()
        .iter()
        .copied()
        .find(|p| needed.contains(p))
        .unwrap_or(op.required_permission())
}

/// Every permission that allows `op`: [`Operation::granted_by`], and Graph's broad directory
/// permissions, which the operator never asks for but an administrator may have granted
/// instead (graph-api.md §0): `Directory.ReadWrite.All` allows every operation but the Source
/// of Authority ones, `Directory.Read.All` their reads.
pub fn allowed_by(op: Operation) -> Vec<&'static str> {
    let soa = matches!(
        op,
        Op::GetSyncBehavior
            | Op::UpdateSyncBehavior
            | Op::GetGroupSyncBehavior
            | Op::UpdateGroupSyncBehavior
    );
    let directory: &[&'static str] = match op {
        Op::Batch => &[],
        _ if soa => &[],
        _ if op.is_write() => &["Directory.ReadWrite.All"],
        _ => &["Directory.Read.All", "Directory.ReadWrite.All"],
    };
    op.granted_by().iter().chain(directory).copied().collect()
}

/// Whether `granted` (permission names, as a token lists them) allow `op`.
pub fn allows<S: AsRef<str>>(op: Operation, granted: &[S]) -> bool {
    allowed_by(op)
        .iter()
        .any(|p| granted.iter().any(|g| p.eq_ignore_ascii_case(g.as_ref())))
}

/// What a `TenantSyncPolicy` calls: the organization, every user and group (counts), the
/// guard's delta rounds; the tenant-wide switch unless it only observes; the ImmutableID
/// clearing when asked.
pub fn tenant_operations(spec: &TenantSyncPolicySpec) -> Vec<Operation> {
    if spec.suspend {
        return Vec::new();
    }
    let mut ops = vec![
        Op::GetOrganization,
        Op::ListUsers,
        Op::ListGroups,
        Op::UsersDelta,
        Op::GroupsDelta,
    ];
    if spec.directory_sync != DirectorySyncMode::Unmanaged {
        ops.push(Op::UpdateOrganization);
    }
    if spec.clear_immutable_ids {
        // Users it cleared that the lagging listing still shows are read back one by one.
        ops.extend([Op::UpdateUser, Op::GetUser]);
    }
    ops
}

/// The permissions of a `TenantSyncPolicy`.
pub fn tenant(spec: &TenantSyncPolicySpec) -> Vec<&'static str> {
    needed(&tenant_operations(spec))
}

/// What a `CloudUserConversion` calls: its selection (the organization's federated domains
/// always), then, in `Apply`, its method's writes and read-backs.
pub fn user_operations(spec: &CloudUserConversionSpec) -> Vec<Operation> {
    if spec.suspend {
        return Vec::new();
    }
    let s = &spec.selector;
    let mut ops = vec![Op::GetOrganization];
    if !s.user_principal_names.is_empty() {
        ops.push(Op::GetUser);
    }
    if s.filter.as_deref().is_some_and(|f| !f.trim().is_empty()) || !s.domains.is_empty() {
        ops.push(Op::ListUsers);
    }
    let groups = s
        .groups
        .iter()
        .chain(spec.exclude.iter().flat_map(|x| x.groups.iter()));
    let (mut by_group, mut by_name) = (false, false);
    for g in groups {
        by_group = true;
        by_name |= g.id.is_none();
    }
    if by_group {
        // Graph answers members a caller may not read as users with their id only: the
        // members' properties need the user read permission too.
        ops.extend([Op::ListGroupMembers, Op::GetUser]);
    }
    if by_name {
        ops.push(Op::ListGroups);
    }
    if spec.method == UserConversionMethod::RestoreDeleted {
        ops.push(Op::ListDeletedUsers);
    }
    if spec.mode == ConversionMode::Apply {
        match spec.method {
            UserConversionMethod::SourceOfAuthority => {
                ops.extend([Op::UpdateSyncBehavior, Op::GetSyncBehavior]);
                if spec.clear_immutable_id {
                    ops.push(Op::UpdateUser);
                }
            }
            UserConversionMethod::ClearImmutableId => ops.push(Op::UpdateUser),
            UserConversionMethod::RestoreDeleted => {
                ops.extend([Op::RestoreDeletedUser, Op::GetUser, Op::UpdateUser]);
            }
        }
    }
    ops
}

/// The permissions of a `CloudUserConversion`.
pub fn users(spec: &CloudUserConversionSpec) -> Vec<&'static str> {
    needed(&user_operations(spec))
}

/// What undoing a user conversion calls (`onDelete: Revert`, from the journal): the switch
/// back, and the ImmutableIDs put back when it cleared some (each user read first). Turning off the tenant's
/// hard-match block is a Global Administrator's step, not the operator's.
pub fn user_revert_operations(restores_immutable_ids: bool) -> Vec<Operation> {
    let mut ops = vec![Op::UpdateSyncBehavior];
    if restores_immutable_ids {
        // Each user is read first: an ImmutableID someone set since the clear is kept.
        ops.extend([Op::GetUser, Op::UpdateUser]);
    }
    ops
}

/// What a `CloudGroupConversion` calls: its selection (groups by id or filter, the nesting,
/// the owners to add), then, in `Apply`, owners and members read before and after the switch,
/// the switch and its read-back, the owners added.
pub fn group_operations(spec: &CloudGroupConversionSpec) -> Vec<Operation> {
    if spec.suspend {
        return Vec::new();
    }
    let s = &spec.selector;
    let mut ops = vec![Op::ListGroupMembers];
    if !s.group_ids.is_empty() {
        ops.push(Op::GetGroup);
    }
    if s.filter.as_deref().is_some_and(|f| !f.trim().is_empty()) {
        ops.push(Op::ListGroups);
    }
    if !spec.owners.is_empty() {
        ops.push(Op::GetUser);
    }
    if spec.mode == ConversionMode::Apply {
        ops.extend([
            Op::ListGroupOwners,
            Op::UpdateGroupSyncBehavior,
            Op::GetGroupSyncBehavior,
        ]);
        if !spec.owners.is_empty() {
            ops.push(Op::AddGroupOwner);
        }
    }
    ops
}

/// The permissions of a `CloudGroupConversion`.
pub fn groups(spec: &CloudGroupConversionSpec) -> Vec<&'static str> {
    needed(&group_operations(spec))
}

/// What undoing a group conversion calls: the owners it added removed, the switch back.
pub fn group_revert_operations(removes_owners: bool) -> Vec<Operation> {
    let mut ops = vec![Op::UpdateGroupSyncBehavior];
    if removes_owners {
        ops.push(Op::RemoveGroupOwner);
    }
    ops
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_write_permission_absorbs_its_read() {
        assert_eq!(
            needed(&[Op::ListUsers, Op::UpdateUser, Op::GetOrganization]),
            ["Organization.Read.All", "User.ReadWrite.All"]
        );
        // The restore alone needs User.DeleteRestore.All; with the ImmutableID to clear,
        // User.ReadWrite.All allows both.
        assert_eq!(
            needed(&[Op::ListDeletedUsers, Op::RestoreDeletedUser]),
            ["User.DeleteRestore.All", "User.Read.All"]
        );
        assert_eq!(
            needed(&[Op::ListDeletedUsers, Op::RestoreDeletedUser, Op::UpdateUser]),
            ["User.ReadWrite.All"]
        );
        // Group.ReadWrite.All (owners) reads groups and members too.
        assert_eq!(
            needed(&[Op::ListGroups, Op::ListGroupMembers, Op::AddGroupOwner]),
            ["Group.ReadWrite.All"]
        );
        assert!(needed(&[Op::Batch]).is_empty());
    }

    #[test]
    fn the_permission_to_grant_is_the_one_of_the_set() {
        let set = needed(&[Op::ListUsers, Op::UpdateUser]);
        assert_eq!(to_grant(Op::ListUsers, &set), "User.ReadWrite.All");
        assert_eq!(to_grant(Op::ListUsers, &[]), "User.Read.All");
        assert_eq!(
            to_grant(Op::GetOrganization, &["Organization.ReadWrite.All"]),
            "Organization.ReadWrite.All"
        );
    }

    #[test]
    fn directory_permissions_allow_all_but_the_source_of_authority() {
        let write = ["Directory.ReadWrite.All"];
        let read = ["directory.read.all"];
        assert!(allows(Op::AddGroupOwner, &write) && allows(Op::UpdateOrganization, &write));
        assert!(allows(Op::ListUsers, &read) && !allows(Op::UpdateUser, &read));
        for soa in [Op::UpdateSyncBehavior, Op::GetGroupSyncBehavior] {
            assert!(!allows(soa, &write), "{soa}");
        }
        assert!(allows(Op::GetUser, &["User.ReadWrite.All".to_string()]));
        assert!(!allows(Op::Batch, &write));
    }

    #[test]
    fn tenant_flows() {
        let spec = |sync: &str, clear: bool| -> TenantSyncPolicySpec {
            serde_json::from_value(serde_json::json!({
                "tenantId": "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
                "credentials": {"workloadIdentity": {}},
                "directorySync": sync, "clearImmutableIds": clear
            }))
            .unwrap()
        };
        assert_eq!(
            tenant(&spec("Unmanaged", false)),
            [
                "GroupMember.Read.All",
                "Organization.Read.All",
                "User.Read.All"
            ]
        );
        assert_eq!(
            tenant(&spec("Disabled", true)),
            [
                "GroupMember.Read.All",
                "Organization.ReadWrite.All",
                "User.ReadWrite.All"
            ]
        );
    }
}
