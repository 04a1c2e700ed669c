//! The tenant: organization, users, groups and contacts, the directory-sync state machine
//! with its lazily applied per-object flips, and the simulated sync client. No HTTP here.
//!
//! Per-object behaviour lives in submodules: the Source of Authority switch (`soa`), group
//! members and owners (`groups`), soft delete and restore (`deleted`), the sync client's
//! cycles with the directory synchronisation features (`cycle`), and what contacts do in
//! cycles, disables and re-enables (`contacts`).

mod changes;
mod contacts;
mod counts;
mod cycle;
mod deleted;
mod directory;
pub mod export;
mod groups;
pub mod history;
mod privileged;
mod soa;
mod users;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use jiff::Timestamp;

use super::clock::add_secs;
use super::model::{Contact, Group, User, VerifiedDomain};
use super::switches::{
    HardMatchFlagAppOnly, ImmutableIdAfterSoa, ImmutableIdOnRestore, LastOwnerRemoval,
    OwnerAddOnSyncedGroup, SoaOnCloudObject, SoaPatchResponse, UnavailableOwners, UserSoaApi,
    UsersDeltaCost,
};
use super::{AfterDisable, EmulatorConfig};
use history::Lag;

pub use changes::{
    ChangeLog, ChangeStats, MEMBER_LOG_LIMIT, MEMBERS, MemberChanges, Removal, SyncPrint,
    TOKEN_LIFETIME, Version,
};
pub use counts::Counts;
use counts::counts;
pub use cycle::{BLOCK_HARD_MATCH, CycleReport, Features, Recreated, ScopeError, ScopeState};
pub use deleted::{DeleteError, Deleted, RETENTION, RestoreError, RestoreOptions};
pub use directory::{
    AdUser, DirectoryLink, DirectoryReport, DirectoryScope, DirectoryStatus, dn_under, normalize_dn,
};
pub use groups::{GroupChange, GroupUpdateError, MAX_OWNERS, OwnersListing, RefError, Relation};
pub use privileged::{Marker, Privilege, RefusalAnswer};
pub use soa::{SoaError, SoaKind};
pub use users::{TextProp, UpdateError, UserChange};

/// The organization (tenant) object.
#[derive(Debug, Clone)]
pub struct Organization {
    /// Tenant id.
    pub id: String,
    /// `displayName`.
    pub display_name: String,
    /// `createdDateTime`.
    pub created: Timestamp,
    /// `verifiedDomains`.
    pub domains: Vec<VerifiedDomain>,
    /// `onPremisesLastSyncDateTime`.
    pub last_sync: Option<Timestamp>,
}

/// Tenant-wide directory synchronisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// The sync client masters synced objects.
    Enabled,
    /// Disabled by an admin; objects are being converted until `completes`.
    PendingDisable {
        /// When the disable was requested.
        requested: Timestamp,
        /// When the last object will have been converted.
        completes: Timestamp,
    },
    /// Every formerly synced object is cloud-managed.
    Disabled,
}

impl SyncState {
    /// Name used by the control endpoints.
    pub fn name(self) -> &'static str {
        match self {
            SyncState::Enabled => "Enabled",
            SyncState::PendingDisable { .. } => "PendingDisable",
            SyncState::Disabled => "Disabled",
        }
    }
}

/// The UNCONFIRMED behaviours and the delays (see `EmulatorConfig`).
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// Value converted users and groups report.
    pub user_sync_after_disable: AfterDisable,
    /// Value the organization reports while a disable is pending.
    pub org_sync_during_disable: AfterDisable,
    /// Emulated time a disable takes to reach every object.
    pub propagation: Duration,
    /// Emulated time between sync cycles (zero: only on request).
    pub sync_interval: Duration,
    /// Deletions one export may make before it is stopped (`None`: no limit).
    pub accidental_delete_threshold: Option<u32>,
    /// Initial `blockCloudObjectTakeoverThroughHardMatchEnabled`.
    pub block_hard_match_takeover: bool,
    /// 200 + body or 204 for an SOA PATCH.
    pub soa_patch_response: SoaPatchResponse,
    /// Versions serving the user SOA route.
    pub user_soa_api: UserSoaApi,
    /// SOA PATCH on a never-synced object.
    pub soa_on_cloud_object: SoaOnCloudObject,
    /// Changing the anchor of a user switched by SOA.
    pub immutable_id_after_soa: ImmutableIdAfterSoa,
    /// App-only update of the sync features on v1.0.
    pub hard_match_flag_app_only: HardMatchFlagAppOnly,
    /// The anchor of a restored user.
    pub immutable_id_survives_restore: ImmutableIdOnRestore,
    /// Owner `$ref` writes on a still-synced group.
    pub owner_add_on_synced_group: OwnerAddOnSyncedGroup,
    /// Base cost of `GET /users/delta`.
    pub users_delta_cost: UsersDeltaCost,
    /// Removing a group's last owner.
    pub last_owner_removal: LastOwnerRemoval,
    /// Listing the owners of a synced or Exchange-mastered group.
    pub unavailable_owners: UnavailableOwners,
    /// Read lag of per-object reads and of advanced queries after a write (`lag.rs`).
    pub lag: (Duration, Duration),
}

impl Behaviour {
    /// The behaviour `config` asks for.
    pub fn from_config(config: &EmulatorConfig) -> Self {
        Self {
            user_sync_after_disable: config.user_sync_after_disable,
            org_sync_during_disable: config.org_sync_during_disable,
            propagation: config.propagation,
            sync_interval: config.sync_interval,
            accidental_delete_threshold: config.accidental_delete_threshold,
            block_hard_match_takeover: config.block_hard_match_takeover,
            soa_patch_response: config.soa_patch_response,
            user_soa_api: config.user_soa_api,
            soa_on_cloud_object: config.soa_on_cloud_object,
            immutable_id_after_soa: config.immutable_id_after_soa,
            hard_match_flag_app_only: config.hard_match_flag_app_only,
            immutable_id_survives_restore: config.immutable_id_survives_restore,
            owner_add_on_synced_group: config.owner_add_on_synced_group,
            users_delta_cost: config.users_delta_cost,
            last_owner_removal: config.last_owner_removal,
            unavailable_owners: config.unavailable_owners,
            lag: (config.read_lag, config.index_lag),
        }
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Self::from_config(&EmulatorConfig::default())
    }
}

/// User or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// `microsoft.graph.user`
    User,
    /// `microsoft.graph.group`
    Group,
}

impl ObjectKind {
    /// `#microsoft.graph.user` or `#microsoft.graph.group`.
    pub fn odata_type(self) -> &'static str {
        match self {
            ObjectKind::User => "#microsoft.graph.user",
            ObjectKind::Group => "#microsoft.graph.group",
        }
    }
}

/// Why re-enabling sync was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnableError {
    /// A disable is still propagating; it cannot be cancelled.
    PendingDisable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ObjectRef {
    User(String),
    Group(String),
    Contact(String),
}

/// The emulated tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The organization.
    pub org: Organization,
    /// Users by id (ordered, for keyset paging).
    pub users: BTreeMap<String, User>,
    /// Groups by id.
    pub groups: BTreeMap<String, Group>,
    /// Organizational contacts by id (none unless seeded or loaded).
    pub contacts: BTreeMap<String, Contact>,
    /// Tenant-wide sync state.
    pub sync: SyncState,
    /// Switches and delays.
    pub behaviour: Behaviour,
    /// The directory synchronisation features (`/directory/onPremisesSynchronization`).
    pub features: Features,
    /// Soft-deleted users by id.
    pub deleted_users: BTreeMap<String, Deleted<User>>,
    /// Soft-deleted (Microsoft 365) groups by id.
    pub deleted_groups: BTreeMap<String, Deleted<Group>>,
    /// What changed since seeding, for delta queries (recorded by every mutation here).
    pub changes: ChangeLog,
    upn_index: HashMap<String, String>,
    flips: VecDeque<(Timestamp, ObjectRef)>,
    purges: BTreeSet<(Timestamp, String)>,
    /// Purged or hard-deleted objects with an AD twin by former id (re-created when back).
    gone_users: BTreeMap<String, User>,
    gone_groups: BTreeMap<String, Group>,
    next_cycle: Option<Timestamp>,
    /// The real Active Directory the sync client reads before each cycle (`directory.rs`).
    pub directory: Option<DirectoryLink>,
    /// Objects Graph refuses to write one by one, by id (`privileged.rs`).
    pub privileged: BTreeMap<String, Marker>,
    /// The export accidental-delete prevention stopped, while it stays stopped (`export.rs`).
    pub export_stopped: Option<export::ExportStopped>,
    /// An administrator let the next export through whatever it deletes (once).
    pub allow_deletes_once: bool,
    /// Eventual consistency: reads lag behind writes (`lag.rs`).
    pub lag: Lag,
}

/// A fraction in [0, 1) derived from an object id (FNV-1a), so flip times are deterministic.
fn id_fraction(id: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl Tenant {
    /// A tenant with directory sync enabled.
    pub fn new(
        org: Organization,
        users: Vec<User>,
        groups: Vec<Group>,
        behaviour: Behaviour,
    ) -> Self {
        let upn_index = users
            .iter()
            .map(|u| (u.user_principal_name.to_lowercase(), u.id.clone()))
            .collect();
        let next_cycle = org
            .last_sync
            .and_then(|t| cycle::after_interval(t, &behaviour));
        Self {
            org,
            users: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
            groups: groups.into_iter().map(|g| (g.id.clone(), g)).collect(),
            contacts: BTreeMap::new(),
            sync: SyncState::Enabled,
            features: Features::new(behaviour.block_hard_match_takeover),
            lag: Lag::new(behaviour.lag.0, behaviour.lag.1),
            behaviour,
            deleted_users: BTreeMap::new(),
            deleted_groups: BTreeMap::new(),
            changes: ChangeLog::new(),
            upn_index,
            flips: VecDeque::new(),
            purges: BTreeSet::new(),
            gone_users: BTreeMap::new(),
            gone_groups: BTreeMap::new(),
            next_cycle,
            directory: None,
            privileged: BTreeMap::new(),
            export_stopped: None,
            allow_deletes_once: false,
        }
    }

    /// Rebuilds the UPN index from the live users (after loading soft-deleted users that
    /// share a UPN with a live one).
    pub(crate) fn reindex_upns(&mut self) {
        self.upn_index = self
            .users
            .values()
            .map(|u| (u.user_principal_name.to_lowercase(), u.id.clone()))
            .collect();
    }

    /// Whether `id` is a user or a group (live objects only).
    pub fn object_kind(&self, id: &str) -> Option<ObjectKind> {
        if self.users.contains_key(id) {
            Some(ObjectKind::User)
        } else if self.groups.contains_key(id) {
            Some(ObjectKind::Group)
        } else {
            None
        }
    }

    /// The organization's `onPremisesSyncEnabled` as Graph reports it now.
    pub fn org_sync_enabled(&self) -> Option<bool> {
        match self.sync {
            SyncState::Enabled => Some(true),
            SyncState::PendingDisable { .. } => after(self.behaviour.org_sync_during_disable),
            SyncState::Disabled => Some(false),
        }
    }

    /// The user with this id or user principal name (case-insensitive).
    pub fn user(&self, key: &str) -> Option<&User> {
        self.users.get(key).or_else(|| {
            let id = self.upn_index.get(&key.to_lowercase())?;
            self.users.get(id)
        })
    }

    /// Applies every per-object flip due at `now`, completes the disable when its time has
    /// come, runs the sync cycles that fell due and purges deleted items older than 30 days.
    /// Cheap when nothing is due.
    pub fn apply_due(&mut self, now: Timestamp) {
        self.changes.set_now(now);
        self.apply_flips(now);
        self.run_due_cycles(now);
        self.purge_due(now);
    }

    fn apply_flips(&mut self, now: Timestamp) {
        let value = after(self.behaviour.user_sync_after_disable);
        while self.flips.front().is_some_and(|(at, _)| *at <= now) {
            let Some((_, object)) = self.flips.pop_front() else {
                break;
            };
            let (kind, sync) = match &object {
                ObjectRef::User(id) => (
                    ObjectKind::User,
                    self.users.get_mut(id).map(|u| &mut u.sync),
                ),
                ObjectRef::Group(id) => (
                    ObjectKind::Group,
                    self.groups.get_mut(id).map(|g| &mut g.sync),
                ),
                ObjectRef::Contact(id) => {
                    self.flip_contact(id, value);
                    continue;
                }
            };
            if let Some(sync) = sync.filter(|s| s.is_synced()) {
                let before = SyncPrint::of(sync);
                sync.enabled = value;
                sync.joined = false;
                sync.values.clear_on_disable();
                let after = SyncPrint::of(sync);
                let (ObjectRef::User(id) | ObjectRef::Group(id) | ObjectRef::Contact(id)) = &object;
                self.changes.sync_changed(kind, id, before, after);
            }
        }
        if let SyncState::PendingDisable { completes, .. } = self.sync
            && completes <= now
            && self.flips.is_empty()
        {
            self.sync = SyncState::Disabled;
        }
    }

    /// An admin turns directory sync off: starts the disable unless one was already made
    /// (then a no-op). Returns whether a disable started.
    pub fn disable(&mut self, now: Timestamp) -> bool {
        if self.sync != SyncState::Enabled {
            return false;
        }
        let window = self.behaviour.propagation.as_secs_f64();
        let mut flips: Vec<(Timestamp, ObjectRef)> = self
            .users
            .values()
            .filter(|u| u.sync.is_synced())
            .map(|u| (&u.id, ObjectRef::User(u.id.clone())))
            .chain(
                self.groups
                    .values()
                    .filter(|g| g.sync.is_synced())
                    .map(|g| (&g.id, ObjectRef::Group(g.id.clone()))),
            )
            .chain(
                self.contacts
                    .values()
                    .filter(|c| c.sync.is_synced())
                    .map(|c| (&c.id, ObjectRef::Contact(c.id.clone()))),
            )
            .map(|(id, object)| (add_secs(now, window * id_fraction(id)), object))
            .collect();
        flips.sort_by_key(|(at, _)| *at);
        self.flips = flips.into();
        self.sync = SyncState::PendingDisable {
            requested: now,
            completes: add_secs(now, window),
        };
        true
    }

    /// An admin turns directory sync back on: refused while a disable is pending, a no-op
    /// while enabled; once disabled, the sync client re-links every object that still has an
    /// AD twin in scope (its on-premises values written back, the anchor included), except
    /// objects switched to the cloud by SOA. Sync cycles resume.
    pub fn enable(&mut self, now: Timestamp) -> Result<(), EnableError> {
        match self.sync {
            SyncState::Enabled => Ok(()),
            SyncState::PendingDisable { .. } => Err(EnableError::PendingDisable),
            SyncState::Disabled => {
                let syncs = self
                    .users
                    .values_mut()
                    .map(|u| (ObjectKind::User, &u.id, &mut u.sync))
                    .chain(
                        self.groups
                            .values_mut()
                            .map(|g| (ObjectKind::Group, &g.id, &mut g.sync)),
                    );
                for (kind, id, sync) in syncs.filter(|(_, _, s)| !s.cloud_managed && s.in_scope) {
                    let before = SyncPrint::of(sync);
                    sync.relink(now);
                    self.changes
                        .sync_changed(kind, id, before, SyncPrint::of(sync));
                }
                self.relink_contacts(now);
                self.org.last_sync = Some(now);
                self.sync = SyncState::Enabled;
                self.next_cycle = cycle::after_interval(now, &self.behaviour);
                Ok(())
            }
        }
    }

    /// User counts.
    pub fn user_counts(&self) -> Counts {
        let mut c = counts(self.users.values().map(|u| &u.sync));
        c.with_immutable_id = self
            .users
            .values()
            .filter(|u| u.sync.values.immutable_id.is_some())
            .count();
        c
    }

    /// Group counts (`with_immutable_id` stays 0).
    pub fn group_counts(&self) -> Counts {
        counts(self.groups.values().map(|g| &g.sync))
    }

    /// Contact counts (`with_immutable_id` stays 0).
    pub fn contact_counts(&self) -> Counts {
        counts(self.contacts.values().map(|c| &c.sync))
    }
}

fn after(value: AfterDisable) -> Option<bool> {
    match value {
        AfterDisable::False => Some(false),
        AfterDisable::Null => None,
    }
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
