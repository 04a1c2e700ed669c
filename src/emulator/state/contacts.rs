//! Organizational contacts in the directory-sync state machine: Connect Sync (2.5.79.0 and
//! later) synchronises mail contacts and honours their Source of Authority like a group's.
//!
//! - a sync cycle skips contacts switched to the cloud, takes back rolled-back ones (in scope
//!   and joined, not synced), and deletes for good the joined ones whose AD contact left the
//!   scope (the emulator keeps no deleted items for contacts);
//! - a tenant-wide disable flips synced contacts at the same per-object times as users and
//!   groups, to the value `user_sync_after_disable` says;
//! - a re-enable re-links every contact still in scope that SOA did not switch.
//!
//! Contacts have no change log: delta is not served for them.

use jiff::Timestamp;

use super::cycle::{Action, CycleReport, plan};
use super::{ScopeError, ScopeState, Tenant};

impl Tenant {
    /// Applies a disable's flip to one contact (if it is still synced when its time comes).
    pub(super) fn flip_contact(&mut self, id: &str, value: Option<bool>) {
        if let Some(sync) = self
            .contacts
            .get_mut(id)
            .map(|c| &mut c.sync)
            .filter(|s| s.is_synced())
        {
            sync.enabled = value;
            sync.joined = false;
            sync.values.clear_on_disable();
        }
    }

    /// Sync is enabled again: contacts in scope and not cloud-managed are synced again.
    pub(super) fn relink_contacts(&mut self, now: Timestamp) {
        for c in self.contacts.values_mut() {
            if !c.sync.cloud_managed && c.sync.in_scope {
                c.sync.relink(now);
            }
        }
    }

    /// The contacts' part of a sync cycle at `at` (see the module documentation).
    pub(super) fn cycle_contacts(&mut self, at: Timestamp, report: &mut CycleReport) {
        let mut deletes = Vec::new();
        for c in self.contacts.values_mut() {
            match plan(&c.sync, None, None, &self.features) {
                Action::Relink => {
                    c.sync.relink(at);
                    report.relinked.push(c.id.clone());
                }
                Action::Delete => deletes.push(c.id.clone()),
                Action::Skip => report.skipped_cloud_managed.push(c.id.clone()),
                // In scope but not joined (a file said so): contacts have no anchor or UPN
                // to match on.
                Action::Blocked => report.blocked.push(c.id.clone()),
                Action::None => {}
            }
        }
        for id in deletes {
            self.contacts.remove(&id);
            report.hard_deleted.push(id);
        }
    }

    /// Moves a contact's AD object into or out of the sync scope; the next cycle acts on it.
    pub fn set_contact_scope(
        &mut self,
        id: &str,
        in_scope: bool,
    ) -> Result<ScopeState, ScopeError> {
        let contact = self.contacts.get_mut(id).ok_or(ScopeError::NotFound)?;
        if contact.sync.ad_twin.is_none() {
            return Err(ScopeError::NoAdObject);
        }
        contact.sync.in_scope = in_scope;
        Ok(ScopeState::Active)
    }
}

#[cfg(test)]
#[path = "contacts_tests.rs"]
mod tests;
