//! The tenant: organization, users and groups, the directory-sync state machine with its
//! lazily applied per-object flips, and the simulated sync client. No HTTP here.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use jiff::Timestamp;

use super::AfterDisable;
use super::clock::add_secs;
use super::model::{Group, User, VerifiedDomain};

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

/// The UNCONFIRMED behaviours and the propagation delay (see `EmulatorConfig`).
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// Value converted users and groups report.
    pub user_sync_after_disable: AfterDisable,
    /// Value the organization reports while a disable is pending.
    pub org_sync_during_disable: AfterDisable,
    /// Emulated time a disable takes to reach every object.
    pub propagation: Duration,
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
}

/// A user property holding an optional string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProp {
    /// `givenName`
    GivenName,
    /// `surname`
    Surname,
    /// `mail`
    Mail,
    /// `mailNickname`
    MailNickname,
    /// `jobTitle`
    JobTitle,
    /// `department`
    Department,
    /// `officeLocation`
    OfficeLocation,
    /// `mobilePhone`
    MobilePhone,
    /// `preferredLanguage`
    PreferredLanguage,
    /// `onPremisesImmutableId`
    ImmutableId,
    /// `onPremisesDistinguishedName` (beta, cloud-managed users only)
    OnPremDistinguishedName,
    /// `onPremisesSamAccountName` (beta, cloud-managed users only)
    OnPremSamAccountName,
    /// `onPremisesUserPrincipalName` (beta, cloud-managed users only)
    OnPremUserPrincipalName,
    /// `onPremisesDomainName` (beta, cloud-managed users only)
    OnPremDomainName,
    /// `onPremisesSecurityIdentifier` (beta, cloud-managed users only)
    OnPremSecurityIdentifier,
}

/// One validated change of a user PATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    /// An optional string property.
    Text(TextProp, Option<String>),
    /// `displayName`
    DisplayName(String),
    /// `accountEnabled`
    AccountEnabled(bool),
    /// `userType`
    UserType(String),
    /// `businessPhones`
    BusinessPhones(Vec<String>),
    /// `userPrincipalName` (already checked against the verified domains)
    UserPrincipalName(String),
}

/// Why a user update was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateError {
    /// No such user.
    NotFound,
    /// The user is mastered by directory sync.
    SyncMastered,
    /// Another user already has this UPN.
    UpnConflict,
}

/// Object counts for the control endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// All objects.
    pub total: usize,
    /// `onPremisesSyncEnabled == true`.
    pub synced: usize,
    /// Not synced now, but with an `onPremisesLastSyncDateTime`.
    pub formerly_synced: usize,
    /// Never synced.
    pub cloud_only: usize,
    /// Users with an `onPremisesImmutableId`.
    pub with_immutable_id: usize,
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
    /// Tenant-wide sync state.
    pub sync: SyncState,
    /// Switches and delays.
    pub behaviour: Behaviour,
    upn_index: HashMap<String, String>,
    flips: VecDeque<(Timestamp, ObjectRef)>,
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
        Self {
            org,
            users: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
            groups: groups.into_iter().map(|g| (g.id.clone(), g)).collect(),
            sync: SyncState::Enabled,
            behaviour,
            upn_index,
            flips: VecDeque::new(),
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

    /// Applies every per-object flip due at `now`, and completes the disable when its time
    /// has come. Cheap when nothing is due.
    pub fn apply_due(&mut self, now: Timestamp) {
        let value = after(self.behaviour.user_sync_after_disable);
        while self.flips.front().is_some_and(|(at, _)| *at <= now) {
            let Some((_, object)) = self.flips.pop_front() else {
                break;
            };
            let sync = match &object {
                ObjectRef::User(id) => self.users.get_mut(id).map(|u| &mut u.sync),
                ObjectRef::Group(id) => self.groups.get_mut(id).map(|g| &mut g.sync),
            };
            if let Some(sync) = sync.filter(|s| s.is_synced()) {
                sync.enabled = value;
                sync.values.clear_on_disable();
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
    /// AD twin (its on-premises values written back, the anchor included).
    pub fn enable(&mut self, now: Timestamp) -> Result<(), EnableError> {
        match self.sync {
            SyncState::Enabled => Ok(()),
            SyncState::PendingDisable { .. } => Err(EnableError::PendingDisable),
            SyncState::Disabled => {
                let syncs = self
                    .users
                    .values_mut()
                    .map(|u| &mut u.sync)
                    .chain(self.groups.values_mut().map(|g| &mut g.sync));
                for sync in syncs {
                    if let Some(twin) = &sync.ad_twin {
                        sync.values = (**twin).clone();
                        sync.enabled = Some(true);
                        sync.last_sync = Some(now);
                    }
                }
                self.org.last_sync = Some(now);
                self.sync = SyncState::Enabled;
                Ok(())
            }
        }
    }

    /// Applies a validated PATCH to a user: refused for sync-mastered users; a new UPN must
    /// be free. Counts the accepted write on the user.
    pub fn update_user(&mut self, id: &str, changes: Vec<UserChange>) -> Result<(), UpdateError> {
        let user = self.users.get(id).ok_or(UpdateError::NotFound)?;
        if user.sync.is_synced() {
            return Err(UpdateError::SyncMastered);
        }
        let old_upn = user.user_principal_name.to_lowercase();
        for change in &changes {
            if let UserChange::UserPrincipalName(upn) = change {
                let key = upn.to_lowercase();
                if key != old_upn && self.upn_index.contains_key(&key) {
                    return Err(UpdateError::UpnConflict);
                }
            }
        }
        let user = self.users.get_mut(id).ok_or(UpdateError::NotFound)?;
        for change in changes {
            match change {
                UserChange::Text(prop, value) => *text_slot(user, prop) = value,
                UserChange::DisplayName(v) => user.display_name = v,
                UserChange::AccountEnabled(v) => user.account_enabled = v,
                UserChange::UserType(v) => user.user_type = v,
                UserChange::BusinessPhones(v) => user.business_phones = v,
                UserChange::UserPrincipalName(upn) => {
                    self.upn_index
                        .remove(&user.user_principal_name.to_lowercase());
                    self.upn_index.insert(upn.to_lowercase(), user.id.clone());
                    user.user_principal_name = upn;
                }
            }
        }
        user.writes += 1;
        Ok(())
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
}

fn after(value: AfterDisable) -> Option<bool> {
    match value {
        AfterDisable::False => Some(false),
        AfterDisable::Null => None,
    }
}

fn text_slot(user: &mut User, prop: TextProp) -> &mut Option<String> {
    let on = &mut user.sync.values;
    match prop {
        TextProp::GivenName => &mut user.given_name,
        TextProp::Surname => &mut user.surname,
        TextProp::Mail => &mut user.mail,
        TextProp::MailNickname => &mut user.mail_nickname,
        TextProp::JobTitle => &mut user.job_title,
        TextProp::Department => &mut user.department,
        TextProp::OfficeLocation => &mut user.office_location,
        TextProp::MobilePhone => &mut user.mobile_phone,
        TextProp::PreferredLanguage => &mut user.preferred_language,
        TextProp::ImmutableId => &mut on.immutable_id,
        TextProp::OnPremDistinguishedName => &mut on.distinguished_name,
        TextProp::OnPremSamAccountName => &mut on.sam_account_name,
        TextProp::OnPremUserPrincipalName => &mut on.user_principal_name,
        TextProp::OnPremDomainName => &mut on.domain_name,
        TextProp::OnPremSecurityIdentifier => &mut on.security_identifier,
    }
}

fn counts<'a>(syncs: impl Iterator<Item = &'a super::model::SyncInfo>) -> Counts {
    let mut c = Counts::default();
    for s in syncs {
        c.total += 1;
        if s.is_synced() {
            c.synced += 1;
        } else if s.last_sync.is_some() {
            c.formerly_synced += 1;
        } else {
            c.cloud_only += 1;
        }
    }
    c
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
