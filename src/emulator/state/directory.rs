//! The sync client's import from a real Active Directory (`emulator::directory` reads it over
//! LDAP; this module only applies what was read, without I/O).
//!
//! Before a cycle, a snapshot of the directory's user objects updates the AD twins the cycle
//! rules of `cycle.rs` act on:
//! - an AD object is joined to its emulated twin by `objectGUID` (remembered from the first
//!   join), else by the anchor (`onPremisesImmutableId` = base64 of `mS-DS-ConsistencyGuid`,
//!   or of `objectGUID` when that is empty). The anchor of a join never changes afterwards,
//!   as in Entra Connect: a consistency GUID rewritten in AD makes a mismatch, not a new user;
//! - its twin takes the AD values and is in scope when its DN is under a synchronised OU;
//! - a synced twin (joined, not switched by SOA) also shows them: on-premises values,
//!   `displayName`, `givenName`, `surname`, `mail`, `accountEnabled` (userAccountControl
//!   bit 2), and the UPN when it is free;
//! - a new AD object in scope provisions a synced cloud user. A cloud-only user with its
//!   anchor or its UPN gets it as its twin instead, and the cycle's hard or soft match joins
//!   it (or reports it blocked). A UPN whose domain the tenant has not verified becomes
//!   `<name>@<initial domain>`, as Entra does;
//! - an AD object seen before and missing now (deleted in AD), like one moved out of the
//!   synchronised OUs, leaves the scope, and the cycle soft-deletes its user.
//!
//! Objects whose twins come from elsewhere (seeded, tenant files) are left alone unless
//! their DN is under the directory's base DN.

mod link;
mod scope;

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

pub(super) use link::CycleInput;
pub use link::{DirectoryLink, DirectoryReport, DirectoryStatus};
pub use scope::{AdUser, DirectoryScope, dn_under, normalize_dn};

use super::{ObjectKind, Tenant};
use crate::emulator::model::{Kind, SyncInfo, User, Writes};

/// Where a twin lives.
#[derive(Clone, Copy)]
enum Place {
    Live,
    Deleted,
    Gone,
}

impl Tenant {
    /// Whether a cycle waits for a read of the directory (linked, sync enabled, cycle due).
    pub fn directory_read_due(&self, now: Timestamp) -> bool {
        self.directory.as_ref().is_some_and(|l| l.staged.is_none())
            && self.next_cycle().is_some_and(|t| t <= now)
    }

    /// Stages a read (or its failure) for the cycle due now; `None` discards one no cycle
    /// used.
    pub fn stage_directory(&mut self, read: Option<Result<Vec<AdUser>, String>>) {
        if let Some(link) = &mut self.directory {
            link.staged = read;
        }
    }

    /// Records a failed read of the linked directory.
    pub fn directory_failed(&mut self, error: String) {
        if let Some(link) = &mut self.directory {
            link.failed(error);
        }
    }

    /// Takes the staged read for a cycle due at `at` and imports it.
    pub(super) fn import_for_cycle(&mut self, at: Timestamp) -> CycleInput {
        let Some(link) = self.directory.as_mut() else {
            return CycleInput::Ready;
        };
        match link.staged.take() {
            None => CycleInput::Wait,
            Some(Err(e)) => {
                link.failed(e);
                link.status.skipped_cycles += 1;
                CycleInput::Failed
            }
            Some(Ok(users)) => {
                self.import_directory(&users, at);
                CycleInput::Ready
            }
        }
    }

    /// Applies a snapshot of the directory to the AD twins (see the module documentation).
    pub fn import_directory(&mut self, users: &[AdUser], at: Timestamp) -> DirectoryReport {
        let Some(link) = self.directory.take() else {
            return DirectoryReport::default();
        };
        let (report, link) = self.import_with(link, users, at);
        self.directory = Some(link);
        report
    }

    fn import_with(
        &mut self,
        mut link: DirectoryLink,
        users: &[AdUser],
        at: Timestamp,
    ) -> (DirectoryReport, DirectoryLink) {
        let mut report = DirectoryReport {
            read: users.len(),
            ..DirectoryReport::default()
        };
        let twins = self.twins_by_anchor();
        let known: HashSet<String> = link.joins.values().cloned().collect();
        let mut seen: HashSet<String> = HashSet::new();
        for ad in users {
            let in_scope = link.scope.in_scope(&ad.distinguished_name);
            report.in_scope += usize::from(in_scope);
            let anchor = link
                .joins
                .get(&ad.object_guid)
                .filter(|a| twins.contains_key(*a))
                .cloned()
                .unwrap_or_else(|| ad.anchor.clone());
            if let Some(&(place, ref id)) = twins.get(&anchor) {
                link.joins.insert(ad.object_guid.clone(), anchor.clone());
                seen.insert(anchor.clone());
                if self.update_twin(place, id, ad, &anchor, in_scope, at) {
                    report.updated.push(id.clone());
                }
            } else if in_scope {
                match self.provision(ad, at) {
                    Provisioned::Created(id) => report.created.push(id),
                    Provisioned::Matched(id) => report.matched.push(id),
                    Provisioned::Conflict => {
                        report.conflicts.push(ad.distinguished_name.clone());
                        continue;
                    }
                }
                link.joins.insert(ad.object_guid.clone(), ad.anchor.clone());
                seen.insert(ad.anchor.clone());
            }
        }
        // Twins of this directory that were not read: deleted in AD.
        for (anchor, (place, id)) in &twins {
            if seen.contains(anchor) {
                continue;
            }
            let ours = known.contains(anchor)
                || self
                    .sync_of(*place, id)
                    .and_then(|s| s.ad_twin.as_ref())
                    .and_then(|t| t.distinguished_name.as_deref())
                    .is_some_and(|dn| dn_under(dn, &link.scope.base_dn));
            if let Some(sync) = self.sync_mut(*place, id).filter(|_| ours)
                && sync.in_scope
            {
                sync.in_scope = false;
                report.left_scope.push(id.clone());
            }
        }
        link.status.reads += 1;
        link.status.last_error = None;
        link.status.last_read_at = Some(at);
        link.status.last_import = Some(report.clone());
        (report, link)
    }

    /// Every user's AD twin by its anchor: live, deleted and remembered users.
    fn twins_by_anchor(&self) -> HashMap<String, (Place, String)> {
        let live = self.users.values().map(|u| (Place::Live, u));
        let deleted = self
            .deleted_users
            .values()
            .map(|d| (Place::Deleted, &d.object));
        let gone = self.gone_users.values().map(|u| (Place::Gone, u));
        live.chain(deleted)
            .chain(gone)
            .filter_map(|(place, u)| {
                let anchor = u.sync.ad_twin.as_ref()?.immutable_id.clone()?;
                Some((anchor, (place, u.id.clone())))
            })
            .collect()
    }

    fn sync_of(&self, place: Place, id: &str) -> Option<&SyncInfo> {
        match place {
            Place::Live => self.users.get(id).map(|u| &u.sync),
            Place::Deleted => self.deleted_users.get(id).map(|d| &d.object.sync),
            Place::Gone => self.gone_users.get(id).map(|u| &u.sync),
        }
    }

    fn sync_mut(&mut self, place: Place, id: &str) -> Option<&mut SyncInfo> {
        match place {
            Place::Live => self.users.get_mut(id).map(|u| &mut u.sync),
            Place::Deleted => self.deleted_users.get_mut(id).map(|d| &mut d.object.sync),
            Place::Gone => self.gone_users.get_mut(id).map(|u| &mut u.sync),
        }
    }

    /// New AD values on a twin; a synced user shows them. True when the user changed.
    fn update_twin(
        &mut self,
        place: Place,
        id: &str,
        ad: &AdUser,
        anchor: &str,
        in_scope: bool,
        at: Timestamp,
    ) -> bool {
        let Some(sync) = self.sync_mut(place, id) else {
            return false;
        };
        sync.ad_twin = Some(Box::new(ad.identity(anchor)));
        sync.in_scope = in_scope;
        let mastered = sync.is_synced() && sync.joined && !sync.cloud_managed;
        if !matches!(place, Place::Live) || !mastered || !in_scope {
            return false;
        }
        let upn = self.cloud_upn(ad);
        let upn_free = upn.as_ref().is_some_and(|u| {
            self.upn_index
                .get(&u.to_lowercase())
                .is_none_or(|owner| owner == id)
        });
        let Some(user) = self.users.get_mut(id) else {
            return false;
        };
        let before = user.to_json();
        let last_sync = user.sync.last_sync;
        user.sync.relink(at);
        // onPremisesLastSyncDateTime moves only when the export changed something.
        user.sync.last_sync = last_sync;
        apply_attributes(user, ad);
        if let (true, Some(upn)) = (upn_free, upn)
            && upn != user.user_principal_name
        {
            self.upn_index
                .remove(&user.user_principal_name.to_lowercase());
            self.upn_index.insert(upn.to_lowercase(), id.to_string());
            user.user_principal_name = upn;
        }
        if before == user.to_json() {
            return false;
        }
        user.sync.last_sync = Some(at);
        let after = user.to_json();
        self.changes.diff(ObjectKind::User, id, &before, &after);
        true
    }

    /// The cloud UPN of an AD object: its own when the tenant verified its domain, else
    /// `<name>@<initial domain>`.
    fn cloud_upn(&self, ad: &AdUser) -> Option<String> {
        let upn = ad.user_principal_name.as_deref()?;
        let (name, domain) = upn.rsplit_once('@')?;
        let verified = self
            .org
            .domains
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(domain));
        if verified {
            return Some(upn.to_string());
        }
        let initial = self.org.domains.iter().find(|d| d.is_initial)?;
        Some(format!("{name}@{}", initial.name))
    }

    fn provision(&mut self, ad: &AdUser, at: Timestamp) -> Provisioned {
        let twin = ad.identity(&ad.anchor);
        let Some(upn) = self.cloud_upn(ad) else {
            return Provisioned::Conflict;
        };
        // A cloud-only user with the anchor (hard match) or the UPN (soft match): the cycle
        // decides whether the join is allowed.
        let candidate = self
            .users
            .values()
            .find(|u| {
                u.sync.ad_twin.is_none()
                    && u.sync.values.immutable_id.as_deref() == Some(ad.anchor.as_str())
            })
            .map(|u| u.id.clone())
            .or_else(|| self.upn_index.get(&upn.to_lowercase()).cloned());
        if let Some(id) = candidate {
            let Some(user) = self.users.get_mut(&id).filter(|u| u.sync.ad_twin.is_none()) else {
                return Provisioned::Conflict;
            };
            user.sync.ad_twin = Some(Box::new(twin));
            user.sync.in_scope = true;
            return Provisioned::Matched(id);
        }
        let id = crate::guid::random();
        let mut user = User {
            id: id.clone(),
            user_principal_name: upn.clone(),
            display_name: String::new(),
            given_name: None,
            surname: None,
            mail: None,
            mail_nickname: ad.sam_account_name.clone(),
            job_title: None,
            department: None,
            office_location: None,
            mobile_phone: None,
            preferred_language: None,
            business_phones: Vec::new(),
            account_enabled: true,
            user_type: "Member".to_string(),
            created: at,
            sync: SyncInfo {
                ad_twin: Some(Box::new(twin)),
                in_scope: true,
                ..SyncInfo::default()
            },
            kind: Kind::Synced,
            writes: Writes::default(),
        };
        user.sync.relink(at);
        apply_attributes(&mut user, ad);
        self.upn_index.insert(upn.to_lowercase(), id.clone());
        self.users.insert(id.clone(), user);
        self.changes.appeared(ObjectKind::User, &id);
        Provisioned::Created(id)
    }
}

enum Provisioned {
    Created(String),
    Matched(String),
    Conflict,
}

/// The attributes the sync client exports besides the on-premises values.
fn apply_attributes(user: &mut User, ad: &AdUser) {
    let fallback = || {
        ad.sam_account_name
            .clone()
            .unwrap_or_else(|| ad.distinguished_name.clone())
    };
    user.display_name = ad.display_name.clone().unwrap_or_else(fallback);
    user.given_name = ad.given_name.clone();
    user.surname = ad.surname.clone();
    user.mail = ad.mail.clone();
    user.account_enabled = ad.account_enabled;
}

#[cfg(test)]
#[path = "directory_tests.rs"]
mod tests;
