//! The Source of Authority switch (`onPremisesSyncBehavior.isCloudManaged`, graph-api.md §3).
//!
//! | event | `isCloudManaged` | `onPremisesSyncEnabled` |
//! |---|---|---|
//! | synced from AD | false | true |
//! | switched to the cloud | true | null (writable) |
//! | rolled back, before the next cycle | false | null (still writable) |
//! | taken back by the next cycle | false | true |
//! | cloud-native | false | null |

use super::{ObjectKind, SyncPrint, Tenant};
use crate::emulator::model::SyncInfo;
use crate::emulator::switches::SoaOnCloudObject;

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
    fn sync_info(&self, kind: ObjectKind, key: &str) -> Option<(String, &SyncInfo)> {
        match kind {
            ObjectKind::User => self.user(key).map(|u| (u.id.clone(), &u.sync)),
            ObjectKind::Group => self.groups.get(key).map(|g| (g.id.clone(), &g.sync)),
        }
    }

    /// `isCloudManaged` of a user (id or UPN) or group: its id and the value.
    pub fn cloud_managed(&self, kind: ObjectKind, key: &str) -> Option<(String, bool)> {
        self.sync_info(kind, key)
            .map(|(id, sync)| (id, sync.cloud_managed))
    }

    /// `PATCH …/onPremisesSyncBehavior {"isCloudManaged": value}`: switches the object to the
    /// cloud (`onPremisesSyncEnabled` becomes null and the object writable) or rolls it back
    /// (it stays writable until the next sync cycle takes it back). Setting the current value
    /// again is accepted and changes nothing. Returns the object's id and its value afterwards;
    /// every accepted PATCH counts as an SOA write on the object.
    pub fn set_cloud_managed(
        &mut self,
        kind: ObjectKind,
        key: &str,
        value: bool,
    ) -> Result<(String, bool), SoaError> {
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
        if rollback && kind == ObjectKind::User && self.features.block_hard_match() {
            return Err(SoaError::RollbackBlocked);
        }
        let sync = match kind {
            ObjectKind::User => self.users.get_mut(&id).map(|u| &mut u.sync),
            ObjectKind::Group => self.groups.get_mut(&id).map(|g| &mut g.sync),
        };
        let Some(sync) = sync else {
            return Err(SoaError::NotFound);
        };
        let before = SyncPrint::of(sync);
        if value && !sync.cloud_managed {
            sync.cloud_managed = true;
            sync.enabled = None;
        } else if rollback {
            // Until the sync client's next cycle the object stays cloud-writable, `null`.
            sync.cloud_managed = false;
        }
        let after = SyncPrint::of(sync);
        self.changes.sync_changed(kind, &id, before, after);
        self.count_soa_write(kind, &id);
        Ok((id, value))
    }

    fn count_soa_write(&mut self, kind: ObjectKind, id: &str) {
        let writes = match kind {
            ObjectKind::User => self.users.get_mut(id).map(|u| &mut u.writes),
            ObjectKind::Group => self.groups.get_mut(id).map(|g| &mut g.writes),
        };
        if let Some(w) = writes {
            w.soa += 1;
        }
    }
}

#[cfg(test)]
#[path = "soa_tests.rs"]
mod tests;
