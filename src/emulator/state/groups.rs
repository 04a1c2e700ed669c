//! Group members and owners (direct and transitive), their `$ref` writes, and group updates.
//!
//! Members are users and groups (nesting), owners are users. A still-synced group refuses
//! member writes (AD masters them) and, by default, owner writes (`owner_add_on_synced_group`);
//! a mail-enabled group that is not synchronised (a distribution list or mail-enabled security
//! group after its SOA switch) is Exchange Online's, so updates and member writes are refused.
//! A group's last owner cannot be removed (`last_owner_removal`), and the owners of a synced
//! or Exchange-mastered group are "not available" (`unavailable_owners`, see `owners_listing`).

use std::collections::BTreeSet;

use super::{ObjectKind, Tenant};
use crate::emulator::model::{Group, insert_sorted, remove_sorted};
use crate::emulator::switches::{LastOwnerRemoval, OwnerAddOnSyncedGroup, UnavailableOwners};

/// Owners a group can have (graph-api.md §5).
pub const MAX_OWNERS: usize = 100;

/// A group's reference collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `members`
    Members,
    /// `owners`
    Owners,
}

impl Relation {
    /// The property name Graph uses in messages.
    pub fn name(self) -> &'static str {
        match self {
            Relation::Members => "members",
            Relation::Owners => "owners",
        }
    }
}

/// Why a `$ref` write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefError {
    /// No such group.
    GroupNotFound,
    /// The referenced object does not exist (or is not in the relation, for a removal).
    TargetNotFound,
    /// Directory sync masters the group.
    SyncMastered,
    /// Exchange Online masters the group.
    ExchangeManaged,
    /// Already in the relation.
    Exists,
    /// The object cannot be in this relation (a group as owner, a group in a Microsoft 365
    /// group, a group in itself).
    InvalidTarget(ObjectKind),
    /// The group has the maximum number of owners.
    OwnerLimit,
    /// The owner to remove is the group's last.
    LastOwner,
}

/// What `GET /groups/{id}/owners` gives for a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnersListing<'a> {
    /// Its owners (sorted ids).
    Listed(&'a [String]),
    /// Owners are not available for this group: an empty list.
    Empty,
    /// Owners are not available for this group: refused.
    Refused,
}

/// One validated change of a group PATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChange {
    /// `displayName`
    DisplayName(String),
    /// `description`
    Description(Option<String>),
}

/// Why a group update was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupUpdateError {
    /// No such group.
    NotFound,
    /// Directory sync masters the group.
    SyncMastered,
    /// Exchange Online masters the group.
    ExchangeManaged,
}

fn list(group: &Group, relation: Relation) -> &Vec<String> {
    match relation {
        Relation::Members => &group.members,
        Relation::Owners => &group.owners,
    }
}

impl Tenant {
    /// Direct members or owners of a group (sorted ids).
    pub fn direct(&self, group: &str, relation: Relation) -> Option<&[String]> {
        self.groups.get(group).map(|g| list(g, relation).as_slice())
    }

    /// `GET /groups/{id}/owners`: Graph's reference says owners "are currently not available"
    /// for groups synchronised from on-premises and groups created in Exchange (distribution
    /// lists, mail-enabled security groups); `unavailable_owners` says how that shows. `None`:
    /// no such group.
    pub fn owners_listing(&self, group: &str) -> Option<OwnersListing<'_>> {
        let g = self.groups.get(group)?;
        let unavailable = g.sync.is_synced() || g.is_exchange_managed();
        Some(match self.behaviour.unavailable_owners {
            UnavailableOwners::Refuse if unavailable => OwnersListing::Refused,
            UnavailableOwners::Empty if unavailable => OwnersListing::Empty,
            _ => OwnersListing::Listed(g.owners.as_slice()),
        })
    }

    /// Every member of a group, through nested groups (the nested groups included, the group
    /// itself not), as sorted ids. Safe against membership cycles.
    pub fn transitive_members(&self, group: &str) -> Option<BTreeSet<String>> {
        let root = self.groups.get(group)?;
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<&Group> = vec![root];
        while let Some(g) = stack.pop() {
            for id in &g.members {
                if id == group || !seen.insert(id.clone()) {
                    continue;
                }
                if let Some(nested) = self.groups.get(id) {
                    stack.push(nested);
                }
            }
        }
        Some(seen)
    }

    fn check_writable(&self, group: &Group, relation: Relation) -> Result<(), RefError> {
        if group.sync.is_synced() {
            let owners_allowed = relation == Relation::Owners
                && self.behaviour.owner_add_on_synced_group == OwnerAddOnSyncedGroup::Allow;
            if !owners_allowed {
                return Err(RefError::SyncMastered);
            }
        } else if relation == Relation::Members && group.is_exchange_managed() {
            return Err(RefError::ExchangeManaged);
        }
        Ok(())
    }

    /// `POST /groups/{id}/{members|owners}/$ref`: adds a live object. Counts the write on
    /// the group.
    pub fn add_ref(
        &mut self,
        group: &str,
        relation: Relation,
        target: &str,
    ) -> Result<(), RefError> {
        let g = self.groups.get(group).ok_or(RefError::GroupNotFound)?;
        let kind = self.object_kind(target).ok_or(RefError::TargetNotFound)?;
        self.check_writable(g, relation)?;
        let invalid = match relation {
            Relation::Owners => kind != ObjectKind::User,
            Relation::Members => kind == ObjectKind::Group && (g.is_unified() || target == group),
        };
        if invalid {
            return Err(RefError::InvalidTarget(kind));
        }
        if list(g, relation)
            .binary_search_by(|x| x.as_str().cmp(target))
            .is_ok()
        {
            return Err(RefError::Exists);
        }
        if relation == Relation::Owners && g.owners.len() >= MAX_OWNERS {
            return Err(RefError::OwnerLimit);
        }
        let g = self.groups.get_mut(group).ok_or(RefError::GroupNotFound)?;
        match relation {
            Relation::Members => {
                insert_sorted(&mut g.members, target);
                g.writes.members_added += 1;
                self.changes.member(group, target, kind, true);
            }
            Relation::Owners => {
                insert_sorted(&mut g.owners, target);
                g.writes.owners_added += 1;
            }
        }
        Ok(())
    }

    /// `DELETE /groups/{id}/{members|owners}/{target}/$ref`. Counts the write on the group.
    pub fn remove_ref(
        &mut self,
        group: &str,
        relation: Relation,
        target: &str,
    ) -> Result<(), RefError> {
        let g = self.groups.get(group).ok_or(RefError::GroupNotFound)?;
        self.check_writable(g, relation)?;
        let kind = self.object_kind(target).unwrap_or(ObjectKind::User);
        if relation == Relation::Owners
            && self.behaviour.last_owner_removal == LastOwnerRemoval::Refuse
            && g.owners.len() == 1
            && g.owners.first().is_some_and(|o| o == target)
        {
            return Err(RefError::LastOwner);
        }
        let g = self.groups.get_mut(group).ok_or(RefError::GroupNotFound)?;
        let removed = match relation {
            Relation::Members => remove_sorted(&mut g.members, target),
            Relation::Owners => remove_sorted(&mut g.owners, target),
        };
        if !removed {
            return Err(RefError::TargetNotFound);
        }
        match relation {
            Relation::Members => {
                g.writes.members_removed += 1;
                self.changes.member(group, target, kind, false);
            }
            Relation::Owners => g.writes.owners_removed += 1,
        }
        Ok(())
    }

    /// Applies a validated group PATCH. Counts the write on the group.
    pub fn update_group(
        &mut self,
        id: &str,
        changes: Vec<GroupChange>,
    ) -> Result<(), GroupUpdateError> {
        let g = self.groups.get_mut(id).ok_or(GroupUpdateError::NotFound)?;
        if g.sync.is_synced() {
            return Err(GroupUpdateError::SyncMastered);
        }
        if g.is_exchange_managed() {
            return Err(GroupUpdateError::ExchangeManaged);
        }
        let before = g.to_json();
        for change in changes {
            match change {
                GroupChange::DisplayName(v) => g.display_name = v,
                GroupChange::Description(v) => g.description = v,
            }
        }
        g.writes.patch += 1;
        self.changes
            .diff(ObjectKind::Group, id, &before, &g.to_json());
        Ok(())
    }

    /// Removes `id` (of `kind`) from every group's members and owners; returns the groups it
    /// was a member of and those it owned (to restore them).
    pub(super) fn unlink_everywhere(
        &mut self,
        id: &str,
        kind: ObjectKind,
    ) -> (Vec<String>, Vec<String>) {
        let mut member_of = Vec::new();
        let mut owner_of = Vec::new();
        for g in self.groups.values_mut() {
            if remove_sorted(&mut g.members, id) {
                member_of.push(g.id.clone());
                self.changes.member(&g.id, id, kind, false);
            }
            if remove_sorted(&mut g.owners, id) {
                owner_of.push(g.id.clone());
            }
        }
        (member_of, owner_of)
    }

    /// Puts `id` (of `kind`) back into the groups (still there) it was a member or owner of.
    pub(super) fn relink_everywhere(
        &mut self,
        id: &str,
        kind: ObjectKind,
        member_of: &[String],
        owner_of: &[String],
    ) {
        for gid in member_of {
            if let Some(g) = self.groups.get_mut(gid)
                && insert_sorted(&mut g.members, id)
            {
                self.changes.member(gid, id, kind, true);
            }
        }
        for gid in owner_of {
            if let Some(g) = self.groups.get_mut(gid) {
                insert_sorted(&mut g.owners, id);
            }
        }
    }
}

#[cfg(test)]
#[path = "groups_tests.rs"]
mod tests;
