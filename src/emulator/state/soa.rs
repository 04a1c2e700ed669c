//! The Source of Authority switch (`onPremisesSyncBehavior.isCloudManaged`, graph-api.md §3).
//!
//! | event | `isCloudManaged` | `onPremisesSyncEnabled` |
//! |---|---|---|
//! | synced from AD | false | true |
//! | switched to the cloud | true | null (writable) |
//! | rolled back, before the next cycle | false | null (still writable) |
//! | taken back by the next cycle | false | true |
//! | cloud-native | false | null |
//!
//! Users, groups and organizational contacts have the switch ([`SoaKind`]). Contacts are not
//! an [`ObjectKind`]: that one names what delta, the deleted items and group relations hold,
//! none of which serve contacts here, and every match on it would grow an impossible arm.

use super::{ObjectKind, SyncPrint, Tenant};
use crate::emulator::model::{SyncInfo, Writes};
use crate::emulator::switches::SoaOnCloudObject;

/// An object with a Source of Authority switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoaKind {
    /// `/users/{id}/onPremisesSyncBehavior`
    User,
    /// `/groups/{id}/onPremisesSyncBehavior`
    Group,
    /// `/contacts/{id}/onPremisesSyncBehavior`
    Contact,
}

impl SoaKind {
    /// The collection's path segment (`users`, `groups`, `contacts`).
    pub fn segment(self) -> &'static str {
        match self {
            SoaKind::User => "users",
            SoaKind::Group => "groups",
            SoaKind::Contact => "contacts",
        }
    }

    /// The kind delta tracks, if any (contacts have no change log).
    fn tracked(self) -> Option<ObjectKind> {
        match self {
            SoaKind::User => Some(ObjectKind::User),
            SoaKind::Group => Some(ObjectKind::Group),
            SoaKind::Contact => None,
        }
    }
}

impl From<ObjectKind> for SoaKind {
    fn from(kind: ObjectKind) -> Self {
        match kind {
            ObjectKind::User => SoaKind::User,
            ObjectKind::Group => SoaKind::Group,
        }
    }
}

/// Why an SOA PATCH was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoaError {
    /// No such object.
    NotFound,
    /// The object was never synchronised (when `soa_on_cloud_object` refuses).
    NotSynced,
    /// A user rollback while `blockCloudObjectTakeoverThroughHardMatchEnabled` is on.
    RollbackBlocked,
}

impl Tenant {
    fn sync_info(&self, kind: SoaKind, key: &str) -> Option<(String, &SyncInfo)> {
        match kind {
            SoaKind::User => self.user(key).map(|u| (u.id.clone(), &u.sync)),
            SoaKind::Group => self.groups.get(key).map(|g| (g.id.clone(), &g.sync)),
            SoaKind::Contact => self.contacts.get(key).map(|c| (c.id.clone(), &c.sync)),
        }
    }

    fn sync_and_writes(&mut self, kind: SoaKind, id: &str) -> Option<(&mut SyncInfo, &mut Writes)> {
        match kind {
            SoaKind::User => self.users.get_mut(id).map(|u| (&mut u.sync, &mut u.writes)),
            SoaKind::Group => self
                .groups
                .get_mut(id)
                .map(|g| (&mut g.sync, &mut g.writes)),
            SoaKind::Contact => self
                .contacts
                .get_mut(id)
                .map(|c| (&mut c.sync, &mut c.writes)),
        }
    }

    /// `isCloudManaged` of a user (id or UPN), group or contact: its id and the value.
    pub fn cloud_managed(&self, kind: impl Into<SoaKind>, key: &str) -> Option<(String, bool)> {
        self.sync_info(kind.into(), key)
            .map(|(id, sync)| (id, sync.cloud_managed))
    }

    /// `PATCH …/onPremisesSyncBehavior {"isCloudManaged": value}`: switches the object to the
    /// cloud (`onPremisesSyncEnabled` becomes null and the object writable) or rolls it back
    /// (it stays writable until the next sync cycle takes it back). Setting the current value
    /// again is accepted and changes nothing. Returns the object's id and its value afterwards;
    /// every accepted PATCH counts as an SOA write on the object.
    pub fn set_cloud_managed(
        &mut self,
        kind: impl Into<SoaKind>,
        key: &str,
        value: bool,
    ) -> Result<(String, bool), SoaError> {
        let kind = kind.into();
        let (id, sync) = self.sync_info(kind, key).ok_or(SoaError::NotFound)?;
        if !sync.is_soa_eligible() {
            return match self.behaviour.soa_on_cloud_object {
                SoaOnCloudObject::Refuse => Err(SoaError::NotSynced),
                SoaOnCloudObject::Accept => {
                    self.count_soa_write(kind, &id);
                    Ok((id, false))
                }
            };
        }
        let rollback = sync.cloud_managed && !value;
        // The hard-match gate protects users only (contacts and groups have no anchor).
        if rollback && kind == SoaKind::User && self.features.block_hard_match() {
            return Err(SoaError::RollbackBlocked);
        }
        let Some((sync, writes)) = self.sync_and_writes(kind, &id) else {
            return Err(SoaError::NotFound);
        };
        let before = SyncPrint::of(sync);
        if value && !sync.cloud_managed {
            sync.cloud_managed = true;
            sync.enabled = None;
            writes.soa_changes += 1;
        } else if rollback {
            // Until the sync client's next cycle the object stays cloud-writable, `null`.
            sync.cloud_managed = false;
            writes.soa_changes += 1;
        }
        let after = SyncPrint::of(sync);
        writes.soa += 1;
        if let Some(tracked) = kind.tracked() {
            self.changes.sync_changed(tracked, &id, before, after);
        }
        Ok((id, value))
    }

    fn count_soa_write(&mut self, kind: SoaKind, id: &str) {
        if let Some((_, writes)) = self.sync_and_writes(kind, id) {
            writes.soa += 1;
        }
    }
}

#[cfg(test)]
#[path = "soa_tests.rs"]
mod tests;
