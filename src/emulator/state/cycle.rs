//! The simulated sync client (Entra Connect Sync) and the tenant's directory synchronisation
//! features.
//!
//! While directory sync is enabled a cycle runs every `sync_interval` of emulated time, lazily
//! (when a request finds the clock past it; a long jump runs one cycle at its time and moves
//! `onPremisesLastSyncDateTime` to the last one, since a cycle changes nothing the previous
//! one left). A cycle, for every object with an AD twin:
//! - skips objects switched to the cloud by SOA (Connect Sync's `blockOnPremisesSync`), even
//!   out of scope;
//! - out of scope and joined: soft-deletes a user, deletes a group for good;
//! - in scope and joined but not synced (an SOA rollback): takes it back, anchor rewritten;
//! - in scope and not joined (a restored user): joins it by hard match on the anchor unless
//!   `blockCloudObjectTakeoverThroughHardMatchEnabled`, else by soft match on the UPN unless
//!   `blockSoftMatchEnabled`; otherwise the export would collide, so it is reported blocked;
//! - a soft-deleted user whose twin is back in scope is recovered (same id) and joined;
//! - a purged or hard-deleted object whose twin is back in scope is created again, new id.
//!
//! Organizational contacts follow the group rules (`contacts.rs`).

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use super::directory::CycleInput;
use super::export;
use super::{Behaviour, ObjectKind, SyncPrint, SyncState, Tenant};
use crate::emulator::clock::add_duration;
use crate::emulator::model::{SyncInfo, Writes};

/// The features of `onPremisesDirectorySynchronization`, in Graph's order, with defaults.
const FEATURES: &[(&str, bool)] = &[
    ("blockCloudObjectTakeoverThroughHardMatchEnabled", true),
    ("blockSoftMatchEnabled", false),
    ("bypassDirSyncOverridesEnabled", false),
    ("cloudPasswordPolicyForPasswordSyncedUsersEnabled", false),
    ("concurrentCredentialUpdateEnabled", false),
    ("concurrentOrgIdProvisioningEnabled", true),
    ("deviceWritebackEnabled", false),
    ("directoryExtensionsEnabled", false),
    ("fopeConflictResolutionEnabled", false),
    ("groupWriteBackEnabled", false),
    ("passwordSyncEnabled", true),
    ("passwordWritebackEnabled", false),
    ("quarantineUponProxyAddressesConflictEnabled", true),
    ("quarantineUponUpnConflictEnabled", true),
    ("softMatchOnUpnEnabled", true),
    ("synchronizeUpnForManagedUsersEnabled", true),
    ("unifiedGroupWritebackEnabled", false),
    ("userForcePasswordChangeOnLogonEnabled", false),
    ("userWritebackEnabled", false),
];

/// `blockCloudObjectTakeoverThroughHardMatchEnabled`.
pub const BLOCK_HARD_MATCH: &str = "blockCloudObjectTakeoverThroughHardMatchEnabled";
const BLOCK_SOFT_MATCH: &str = "blockSoftMatchEnabled";
const SOFT_MATCH_ON_UPN: &str = "softMatchOnUpnEnabled";

/// The directory synchronisation features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    values: Vec<(&'static str, bool)>,
}

impl Features {
    /// The defaults, with the hard-match takeover block as given.
    pub fn new(block_hard_match: bool) -> Self {
        let values = FEATURES
            .iter()
            .map(|(n, v)| {
                (
                    *n,
                    if *n == BLOCK_HARD_MATCH {
                        block_hard_match
                    } else {
                        *v
                    },
                )
            })
            .collect();
        Self { values }
    }

    /// A feature's value (false for an unknown name).
    pub fn get(&self, name: &str) -> bool {
        self.values.iter().any(|(n, v)| *n == name && *v)
    }

    /// Sets a feature; `Err` with the name when Graph knows no such feature.
    pub fn set(&mut self, name: &str, value: bool) -> Result<(), String> {
        let slot = self.values.iter_mut().find(|(n, _)| *n == name);
        let Some(slot) = slot else {
            return Err(name.to_string());
        };
        slot.1 = value;
        Ok(())
    }

    /// Whether `name` is a feature.
    pub fn knows(name: &str) -> bool {
        FEATURES.iter().any(|(n, _)| *n == name)
    }

    /// `blockCloudObjectTakeoverThroughHardMatchEnabled`.
    pub fn block_hard_match(&self) -> bool {
        self.get(BLOCK_HARD_MATCH)
    }

    fn soft_match_allowed(&self) -> bool {
        !self.get(BLOCK_SOFT_MATCH) && self.get(SOFT_MATCH_ON_UPN)
    }

    /// The `features` object.
    pub fn to_json(&self) -> Value {
        let map: Map<String, Value> = self
            .values
            .iter()
            .map(|(n, v)| ((*n).to_string(), Value::Bool(*v)))
            .collect();
        Value::Object(map)
    }
}

/// An object created again from a remembered AD twin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recreated {
    /// The id the object had.
    pub from: String,
    /// Its new id.
    pub id: String,
}

/// What one sync cycle did (object ids).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleReport {
    /// Taken back or joined: synced again, anchor rewritten.
    pub relinked: Vec<String>,
    /// Users out of scope, now in the deleted items.
    pub soft_deleted: Vec<String>,
    /// Groups and contacts out of scope, deleted for good.
    pub hard_deleted: Vec<String>,
    /// Soft-deleted users whose twin came back in scope, recovered with the same id.
    pub recovered: Vec<String>,
    /// Purged or hard-deleted objects created again.
    pub recreated: Vec<Recreated>,
    /// Not joined: hard match blocked, no soft match, or the UPN taken.
    pub blocked: Vec<String>,
    /// Switched to the cloud by SOA, left alone.
    pub skipped_cloud_managed: Vec<String>,
    /// The import from the linked Active Directory before the cycle (none without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<super::DirectoryReport>,
    /// Set when accidental-delete prevention stopped the export: nothing above happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_stopped: Option<export::ExportStopped>,
}

/// Where an object with an AD twin is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeState {
    /// A live object.
    Active,
    /// In the deleted items.
    SoftDeleted,
    /// Purged or hard-deleted; remembered for the sync client.
    Gone,
}

impl ScopeState {
    /// Name used by the control endpoints.
    pub fn name(self) -> &'static str {
        match self {
            ScopeState::Active => "active",
            ScopeState::SoftDeleted => "softDeleted",
            ScopeState::Gone => "gone",
        }
    }
}

/// Why the scope of an object could not be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeError {
    /// No such object (live, deleted or remembered).
    NotFound,
    /// A cloud-only object: no AD twin to move.
    NoAdObject,
}

/// `t` plus the sync interval, unless cycles only run on request.
pub fn after_interval(t: Timestamp, behaviour: &Behaviour) -> Option<Timestamp> {
    (!behaviour.sync_interval.is_zero()).then(|| add_duration(t, behaviour.sync_interval))
}

/// What a cycle does to one object.
pub(super) enum Action {
    Relink,
    Delete,
    Blocked,
    Skip,
    None,
}

/// What a cycle does to an object with this sync state (users: anchor and UPN to match on).
pub(super) fn plan(
    sync: &SyncInfo,
    anchor: Option<&str>,
    upn: Option<&str>,
    features: &Features,
) -> Action {
    let Some(twin) = &sync.ad_twin else {
        return Action::None;
    };
    if sync.cloud_managed {
        return Action::Skip;
    }
    if !sync.in_scope {
        return if sync.joined {
            Action::Delete
        } else {
            Action::None
        };
    }
    if sync.joined {
        return if sync.is_synced() {
            Action::None
        } else {
            Action::Relink
        };
    }
    let hard = anchor.is_some() && anchor == twin.immutable_id.as_deref();
    if hard {
        return if features.block_hard_match() {
            Action::Blocked
        } else {
            Action::Relink
        };
    }
    let soft = upn.is_some_and(|u| {
        twin.user_principal_name
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(u))
    });
    if soft && features.soft_match_allowed() {
        Action::Relink
    } else {
        Action::Blocked
    }
}

impl Tenant {
    /// When the next automatic cycle runs (none while sync is not enabled or cycles only run
    /// on request).
    pub fn next_cycle(&self) -> Option<Timestamp> {
        self.next_cycle.filter(|_| self.sync == SyncState::Enabled)
    }

    /// Runs the cycles due at `now` (see the module documentation).
    pub(super) fn run_due_cycles(&mut self, now: Timestamp) {
        if self.sync != SyncState::Enabled {
            return;
        }
        let Some(next) = self.next_cycle.filter(|t| *t <= now) else {
            return;
        };
        // With a real directory linked, a cycle imports it first: it waits for the read, and
        // a failed read makes it change nothing (Connect's run fails at the import step).
        let ran = match self.import_for_cycle(next) {
            CycleInput::Wait => return,
            CycleInput::Failed => false,
            // An export stopped by accidental-delete prevention reaches nothing: the last sync
            // time stays.
            CycleInput::Ready => self.run_cycle(next).export_stopped.is_none(),
        };
        let interval = self.behaviour.sync_interval.as_secs_f64();
        if interval <= 0.0 {
            self.next_cycle = None;
            return;
        }
        let periods = (now.duration_since(next).as_secs_f64() / interval).floor();
        let last = crate::emulator::clock::add_secs(next, periods * interval);
        if ran {
            self.org.last_sync = Some(last);
        }
        self.next_cycle = after_interval(last, &self.behaviour);
    }

    /// Moves an object's AD twin into or out of the sync scope (what moving it to a synced or
    /// unsynced OU does); the next cycle acts on it. Works on live, deleted and remembered
    /// objects.
    pub fn set_scope(
        &mut self,
        kind: ObjectKind,
        id: &str,
        in_scope: bool,
    ) -> Result<ScopeState, ScopeError> {
        let (state, sync) = match kind {
            ObjectKind::User => {
                if let Some(u) = self.users.get_mut(id) {
                    (ScopeState::Active, &mut u.sync)
                } else if let Some(d) = self.deleted_users.get_mut(id) {
                    (ScopeState::SoftDeleted, &mut d.object.sync)
                } else if let Some(u) = self.gone_users.get_mut(id) {
                    (ScopeState::Gone, &mut u.sync)
                } else {
                    return Err(ScopeError::NotFound);
                }
            }
            ObjectKind::Group => {
                if let Some(g) = self.groups.get_mut(id) {
                    (ScopeState::Active, &mut g.sync)
                } else if let Some(d) = self.deleted_groups.get_mut(id) {
                    (ScopeState::SoftDeleted, &mut d.object.sync)
                } else if let Some(g) = self.gone_groups.get_mut(id) {
                    (ScopeState::Gone, &mut g.sync)
                } else {
                    return Err(ScopeError::NotFound);
                }
            }
        };
        if sync.ad_twin.is_none() {
            return Err(ScopeError::NoAdObject);
        }
        sync.in_scope = in_scope;
        Ok(state)
    }

    /// Runs one sync cycle at `at` (see the module documentation).
    pub fn run_cycle(&mut self, at: Timestamp) -> CycleReport {
        let mut report = CycleReport::default();
        let (mut user_deletes, mut user_relinks) = (Vec::new(), Vec::new());
        for u in self.users.values() {
            let anchor = u.sync.values.immutable_id.as_deref();
            let upn = Some(u.user_principal_name.as_str());
            let action = plan(&u.sync, anchor, upn, &self.features);
            sort(
                action,
                &u.id,
                &mut user_relinks,
                &mut user_deletes,
                &mut report,
            );
        }
        let (mut deletes, mut relinks) = (Vec::new(), Vec::new());
        for g in self.groups.values() {
            let action = plan(&g.sync, None, None, &self.features);
            sort(action, &g.id, &mut relinks, &mut deletes, &mut report);
        }
        let planned = user_deletes.len() + deletes.len();
        let threshold = self.behaviour.accidental_delete_threshold;
        if let Some(stopped) = export::stopped(planned, threshold, self.allow_deletes_once) {
            tracing::warn!(deletes = planned, "export stopped: deletion threshold");
            self.export_stopped = Some(stopped);
            return CycleReport {
                export_stopped: Some(stopped),
                ..CycleReport::default()
            };
        }
        (self.export_stopped, self.allow_deletes_once) = (None, false);
        for id in user_deletes {
            self.soft_delete_user(&id, at);
            report.soft_deleted.push(id);
        }
        for id in user_relinks {
            if let Some(u) = self.users.get_mut(&id) {
                let before = SyncPrint::of(&u.sync);
                u.sync.relink(at);
                let after = SyncPrint::of(&u.sync);
                self.changes
                    .sync_changed(ObjectKind::User, &id, before, after);
            }
            report.relinked.push(id);
        }
        for id in deletes {
            self.delete_group_at(&id, at);
            report.hard_deleted.push(id);
        }
        for id in relinks {
            if let Some(g) = self.groups.get_mut(&id) {
                let before = SyncPrint::of(&g.sync);
                g.sync.relink(at);
                let after = SyncPrint::of(&g.sync);
                self.changes
                    .sync_changed(ObjectKind::Group, &id, before, after);
            }
            report.relinked.push(id);
        }
        self.cycle_contacts(at, &mut report);
        self.recover_deleted(at, &mut report);
        self.recreate_gone(at, &mut report);
        self.org.last_sync = Some(at);
        report
    }

    fn recover_deleted(&mut self, at: Timestamp, report: &mut CycleReport) {
        let back: Vec<String> = self
            .deleted_users
            .values()
            .filter(|d| back_in_scope(&d.object.sync))
            .map(|d| d.object.id.clone())
            .collect();
        for id in back {
            let Some(entry) = self.deleted_users.get(&id) else {
                continue;
            };
            let upn = entry.object.user_principal_name.to_lowercase();
            if self.upn_index.contains_key(&upn) {
                report.blocked.push(id);
                continue;
            }
            let Some(entry) = self.deleted_users.remove(&id) else {
                continue;
            };
            self.purges.remove(&(entry.purge_at(), id.clone()));
            let mut user = entry.object;
            user.sync.relink(at);
            self.upn_index.insert(upn, id.clone());
            self.users.insert(id.clone(), user);
            self.changes.appeared(ObjectKind::User, &id);
            self.relink_everywhere(&id, ObjectKind::User, &entry.member_of, &entry.owner_of);
            report.recovered.push(id);
        }
    }

    fn recreate_gone(&mut self, at: Timestamp, report: &mut CycleReport) {
        let users: Vec<String> = ids_back(self.gone_users.values().map(|u| (&u.id, &u.sync)));
        for from in users {
            let taken = self.gone_users.get(&from).is_some_and(|u| {
                self.upn_index
                    .contains_key(&u.user_principal_name.to_lowercase())
            });
            if taken {
                report.blocked.push(from);
                continue;
            }
            let Some(mut user) = self.gone_users.remove(&from) else {
                continue;
            };
            let id = crate::guid::random();
            user.id = id.clone();
            user.writes = Writes::default();
            user.created = at;
            user.sync.relink(at);
            self.upn_index
                .insert(user.user_principal_name.to_lowercase(), id.clone());
            self.users.insert(id.clone(), user);
            self.changes.appeared(ObjectKind::User, &id);
            report.recreated.push(Recreated { from, id });
        }
        let groups: Vec<String> = ids_back(self.gone_groups.values().map(|g| (&g.id, &g.sync)));
        for from in groups {
            let Some(mut group) = self.gone_groups.remove(&from) else {
                continue;
            };
            let id = crate::guid::random();
            group.id = id.clone();
            group.writes = Writes::default();
            group.created = at;
            group.owners.clear();
            group
                .members
                .retain(|m| self.users.contains_key(m) || self.groups.contains_key(m));
            group.sync.relink(at);
            self.groups.insert(id.clone(), group);
            self.changes.appeared(ObjectKind::Group, &id);
            report.recreated.push(Recreated { from, id });
        }
    }
}

fn back_in_scope(sync: &SyncInfo) -> bool {
    sync.ad_twin.is_some() && sync.in_scope && !sync.cloud_managed
}

fn ids_back<'a>(items: impl Iterator<Item = (&'a String, &'a SyncInfo)>) -> Vec<String> {
    items
        .filter(|(_, s)| back_in_scope(s))
        .map(|(id, _)| id.clone())
        .collect()
}

fn sort(
    action: Action,
    id: &str,
    relinks: &mut Vec<String>,
    deletes: &mut Vec<String>,
    report: &mut CycleReport,
) {
    match action {
        Action::Relink => relinks.push(id.to_string()),
        Action::Delete => deletes.push(id.to_string()),
        Action::Blocked => report.blocked.push(id.to_string()),
        Action::Skip => report.skipped_cloud_managed.push(id.to_string()),
        Action::None => {}
    }
}

#[cfg(test)]
#[path = "cycle_tests.rs"]
mod tests;
