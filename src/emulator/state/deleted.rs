//! Soft delete and restore (graph-api.md §4): deleted users and Microsoft 365 groups stay
//! restorable, with the same id, for 30 days of emulated time; other groups are deleted for
//! good. Purged or hard-deleted objects with an AD twin are remembered so the sync client can
//! re-create them if the twin comes back in scope.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::{ObjectKind, Removal, Tenant};
use crate::emulator::clock::{add_duration, rfc3339};
use crate::emulator::switches::ImmutableIdOnRestore;

/// How long a deleted item stays restorable.
pub const RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// A soft-deleted object, with the groups it was a member and an owner of.
#[derive(Debug, Clone)]
pub struct Deleted<T> {
    /// The object as it was.
    pub object: T,
    /// `deletedDateTime`.
    pub at: Timestamp,
    /// Groups it was a member of.
    pub member_of: Vec<String>,
    /// Groups it owned.
    pub owner_of: Vec<String>,
}

impl<T> Deleted<T> {
    /// When it is purged.
    pub fn purge_at(&self) -> Timestamp {
        add_duration(self.at, RETENTION)
    }

    /// The object's JSON with its `deletedDateTime`.
    pub fn with_deleted_time(&self, mut obj: Map<String, Value>) -> Map<String, Value> {
        obj.insert("deletedDateTime".into(), Value::String(rfc3339(self.at)));
        obj
    }
}

/// Why a Graph `DELETE /users/{id}` or `/groups/{id}` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteError {
    /// No such object.
    NotFound,
    /// Directory sync masters the object.
    SyncMastered,
}

/// Options of `POST /directory/deletedItems/{id}/restore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// `newUserPrincipalName` (already checked against the verified domains).
    pub new_user_principal_name: Option<String>,
    /// `autoReconcileProxyConflict`: drop the mail address an active object uses.
    pub auto_reconcile_proxy_conflict: bool,
}

/// Why a restore was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreError {
    /// Not in the deleted items (never deleted, purged, or not restorable).
    NotFound,
    /// An active user has the UPN.
    UpnConflict,
    /// An active object uses the mail address (proxy address).
    ProxyConflict,
}

impl Tenant {
    /// The kind of a deleted item.
    pub fn deleted_kind(&self, id: &str) -> Option<ObjectKind> {
        if self.deleted_users.contains_key(id) {
            Some(ObjectKind::User)
        } else if self.deleted_groups.contains_key(id) {
            Some(ObjectKind::Group)
        } else {
            None
        }
    }

    /// The JSON of a deleted item (every property, `deletedDateTime` set).
    pub fn deleted_json(&self, id: &str) -> Option<(ObjectKind, Map<String, Value>)> {
        if let Some(d) = self.deleted_users.get(id) {
            return Some((ObjectKind::User, d.with_deleted_time(d.object.to_json())));
        }
        let d = self.deleted_groups.get(id)?;
        Some((ObjectKind::Group, d.with_deleted_time(d.object.to_json())))
    }

    /// Soft-deletes a user: it leaves its groups and the UPN index, and is purged in 30 days.
    pub(crate) fn soft_delete_user(&mut self, id: &str, at: Timestamp) -> bool {
        let Some(user) = self.users.remove(id) else {
            return false;
        };
        self.upn_index
            .remove(&user.user_principal_name.to_lowercase());
        let (member_of, owner_of) = self.unlink_everywhere(id, ObjectKind::User);
        self.changes.removed(ObjectKind::User, id, Removal::Changed);
        let entry = Deleted {
            object: user,
            at,
            member_of,
            owner_of,
        };
        self.purges.insert((entry.purge_at(), id.to_string()));
        self.deleted_users.insert(id.to_string(), entry);
        true
    }

    /// Deletes a group: a Microsoft 365 group is soft-deleted, any other is gone for good
    /// (remembered only when it has an AD twin).
    pub(crate) fn delete_group_at(&mut self, id: &str, at: Timestamp) -> bool {
        let Some(group) = self.groups.remove(id) else {
            return false;
        };
        let (member_of, owner_of) = self.unlink_everywhere(id, ObjectKind::Group);
        let removal = if group.is_unified() {
            Removal::Changed
        } else {
            Removal::Deleted
        };
        self.changes.removed(ObjectKind::Group, id, removal);
        if group.is_unified() {
            let entry = Deleted {
                object: group,
                at,
                member_of,
                owner_of,
            };
            self.purges.insert((entry.purge_at(), id.to_string()));
            self.deleted_groups.insert(id.to_string(), entry);
        } else if group.sync.ad_twin.is_some() {
            self.gone_groups.insert(id.to_string(), group);
        }
        true
    }

    /// Graph `DELETE /users/{id}`: refused while directory sync masters the user.
    pub fn delete_user(&mut self, key: &str, now: Timestamp) -> Result<String, DeleteError> {
        let user = self.user(key).ok_or(DeleteError::NotFound)?;
        if user.sync.is_synced() {
            return Err(DeleteError::SyncMastered);
        }
        let id = user.id.clone();
        self.soft_delete_user(&id, now);
        Ok(id)
    }

    /// Graph `DELETE /groups/{id}`: refused while directory sync masters the group.
    pub fn delete_group(&mut self, id: &str, now: Timestamp) -> Result<(), DeleteError> {
        let group = self.groups.get(id).ok_or(DeleteError::NotFound)?;
        if group.sync.is_synced() {
            return Err(DeleteError::SyncMastered);
        }
        self.delete_group_at(id, now);
        Ok(())
    }

    /// `POST /directory/deletedItems/{id}/restore`: the object comes back with the same id,
    /// its memberships and ownerships (in groups still there), cloud-only
    /// (`onPremisesSyncEnabled` null, not joined to its AD twin), its `onPremises*` values and
    /// `onPremisesLastSyncDateTime` kept, the anchor per `immutable_id_survives_restore`.
    pub fn restore(
        &mut self,
        id: &str,
        options: &RestoreOptions,
    ) -> Result<ObjectKind, RestoreError> {
        if let Some(entry) = self.deleted_users.get(id) {
            let upn = options
                .new_user_principal_name
                .clone()
                .unwrap_or_else(|| entry.object.user_principal_name.clone());
            if self.upn_index.contains_key(&upn.to_lowercase()) {
                return Err(RestoreError::UpnConflict);
            }
            let mail_taken = self.mail_in_use(entry.object.mail.as_deref());
            if mail_taken && !options.auto_reconcile_proxy_conflict {
                return Err(RestoreError::ProxyConflict);
            }
            let Some(entry) = self.deleted_users.remove(id) else {
                return Err(RestoreError::NotFound);
            };
            self.purges.remove(&(entry.purge_at(), id.to_string()));
            let mut user = entry.object;
            if mail_taken {
                user.mail = None;
            }
            user.user_principal_name = upn;
            restored_sync(&mut user.sync, self.behaviour.immutable_id_survives_restore);
            user.writes.restore += 1;
            self.upn_index
                .insert(user.user_principal_name.to_lowercase(), id.to_string());
            self.users.insert(id.to_string(), user);
            self.changes.appeared(ObjectKind::User, id);
            // Memberships in synchronised groups are AD's: a restore brings back the user, not
            // those (graph-api.md §14; the sync client re-adds them only if the AD object comes
            // back in scope). Cloud groups get theirs back.
            let cloud_groups: Vec<String> = entry
                .member_of
                .iter()
                .filter(|g| !self.groups.get(*g).is_some_and(|g| g.sync.is_synced()))
                .cloned()
                .collect();
            self.relink_everywhere(id, ObjectKind::User, &cloud_groups, &entry.owner_of);
            return Ok(ObjectKind::User);
        }
        let entry = self.deleted_groups.get(id).ok_or(RestoreError::NotFound)?;
        let mail_taken = self.mail_in_use(entry.object.mail.as_deref());
        if mail_taken && !options.auto_reconcile_proxy_conflict {
            return Err(RestoreError::ProxyConflict);
        }
        let Some(entry) = self.deleted_groups.remove(id) else {
            return Err(RestoreError::NotFound);
        };
        self.purges.remove(&(entry.purge_at(), id.to_string()));
        let mut group = entry.object;
        if mail_taken {
            group.mail = None;
        }
        group
            .members
            .retain(|m| self.users.contains_key(m) || self.groups.contains_key(m));
        group.owners.retain(|m| self.users.contains_key(m));
        restored_sync(&mut group.sync, ImmutableIdOnRestore::Keep);
        group.writes.restore += 1;
        self.groups.insert(id.to_string(), group);
        self.changes.appeared(ObjectKind::Group, id);
        self.relink_everywhere(id, ObjectKind::Group, &entry.member_of, &entry.owner_of);
        Ok(ObjectKind::Group)
    }

    fn mail_in_use(&self, mail: Option<&str>) -> bool {
        let Some(mail) = mail else {
            return false;
        };
        let same = |m: &Option<String>| m.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(mail));
        self.users.values().any(|u| same(&u.mail)) || self.groups.values().any(|g| same(&g.mail))
    }

    /// `DELETE /directory/deletedItems/{id}`: deletes the item for good.
    pub fn purge(&mut self, id: &str) -> bool {
        if let Some(entry) = self.deleted_users.remove(id) {
            self.purges.remove(&(entry.purge_at(), id.to_string()));
            self.changes.removed(ObjectKind::User, id, Removal::Deleted);
            if entry.object.sync.ad_twin.is_some() {
                self.gone_users.insert(id.to_string(), entry.object);
            }
            return true;
        }
        if let Some(entry) = self.deleted_groups.remove(id) {
            self.purges.remove(&(entry.purge_at(), id.to_string()));
            self.changes
                .removed(ObjectKind::Group, id, Removal::Deleted);
            return true;
        }
        false
    }

    /// Purges the deleted items whose 30 days are over.
    pub(super) fn purge_due(&mut self, now: Timestamp) {
        while self.purges.first().is_some_and(|(at, _)| *at <= now) {
            let Some((_, id)) = self.purges.pop_first() else {
                break;
            };
            self.purge(&id);
        }
    }

    /// Whether `id` names a purged or hard-deleted object the sync client remembers.
    pub fn is_gone(&self, id: &str) -> Option<ObjectKind> {
        if self.gone_users.contains_key(id) {
            Some(ObjectKind::User)
        } else if self.gone_groups.contains_key(id) {
            Some(ObjectKind::Group)
        } else {
            None
        }
    }
}

fn restored_sync(sync: &mut crate::emulator::model::SyncInfo, anchor: ImmutableIdOnRestore) {
    sync.enabled = None;
    sync.cloud_managed = false;
    sync.joined = false;
    if anchor == ImmutableIdOnRestore::Clear {
        sync.values.immutable_id = None;
    }
}

#[cfg(test)]
#[path = "deleted_tests.rs"]
mod tests;
