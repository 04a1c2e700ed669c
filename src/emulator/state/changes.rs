//! The directory's change log, which delta queries (`/users/delta`, `/groups/delta`,
//! graph-api.md §6) read.
//!
//! Nothing here copies an object. Every recorded change takes the next sequence number; per
//! object the log keeps the sequence of its last change, of its (re)appearance (a restore or a
//! re-creation) and of each property's last change, a tombstone once the object is removed,
//! and per group a bounded log of member additions and removals. Objects untouched since
//! seeding have no entry (sequence 0). A round "since T" reads the objects whose last change
//! is after T through an index ordered by sequence, so it costs what changed, not the tenant.
//!
//! Tombstones are dropped once older than [`TOKEN_LIFETIME`] (every token that could need
//! them has expired); a group's member log keeps its last [`MEMBER_LOG_LIMIT`] changes, and a
//! round older than that lists the group's members in full again (Graph allows replays).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::ObjectKind;
use crate::emulator::clock::add_duration;

mod props;

pub use props::{MEMBERS, SyncPrint};
use props::{OTHER, SYNC_PROPS, prop_index, renders};

/// How long a delta token stays valid, in emulated time (graph-api.md §6: 7 days for
/// directory objects).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 86_400);

/// Member changes a group's log keeps.
pub const MEMBER_LOG_LIMIT: usize = 1_000;

/// Why an object left its collection (`@removed.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Soft-deleted: restorable (`changed`).
    Changed,
    /// Deleted for good (`deleted`).
    Deleted,
}

impl Removal {
    /// `@removed.reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Removal::Changed => "changed",
            Removal::Deleted => "deleted",
        }
    }
}

/// Where one object stands in the log.
#[derive(Debug, Clone, Default)]
pub struct Version {
    last: u64,
    since: u64,
    props: Vec<(u8, u64)>,
    removed: Option<Removal>,
}

impl Version {
    /// Sequence of the last change.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Set while the object is removed.
    pub fn removed(&self) -> Option<Removal> {
        self.removed
    }

    /// It (re)appeared after `t`: every property is new to a client synced at `t`.
    pub fn appeared_after(&self, t: u64) -> bool {
        self.since > t
    }

    /// `name` (a property or `members`) changed after `t`.
    pub fn changed_after(&self, name: &str, t: u64) -> bool {
        let index = prop_index(name);
        self.appeared_after(t)
            || self
                .props
                .iter()
                .any(|(i, s)| (*i == index || *i == OTHER) && *s > t)
    }

    /// Any property (or `members`) changed after `t`.
    pub fn any_changed_after(&self, t: u64) -> bool {
        self.appeared_after(t) || self.props.iter().any(|(_, s)| *s > t)
    }

    fn set(&mut self, index: u8, seq: u64) {
        match self.props.iter_mut().find(|(i, _)| *i == index) {
            Some(slot) => slot.1 = seq,
            None => self.props.push((index, seq)),
        }
    }
}

#[derive(Debug, Clone)]
struct MemberChange {
    seq: u64,
    member: String,
    kind: ObjectKind,
    added: bool,
}

#[derive(Debug, Clone, Default)]
struct MemberLog {
    /// The log holds every change after this sequence.
    floor: u64,
    entries: VecDeque<MemberChange>,
}

/// A group's member changes after some sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChanges<'a> {
    /// The log no longer reaches back that far: list every member.
    All,
    /// The net change per member id: its kind and whether it was added (else removed).
    Net(BTreeMap<&'a str, (ObjectKind, bool)>),
}

#[derive(Debug, Clone, Default)]
struct Track {
    versions: HashMap<String, Version>,
    /// Sequence of each object's last change → its id.
    touched: BTreeMap<u64, String>,
}

impl Track {
    fn touch(&mut self, id: &str, seq: u64) -> &mut Version {
        let version = self.versions.entry(id.to_string()).or_default();
        // Sequences start at 1: 0 is a new entry, not yet in the index.
        if version.last != 0 {
            self.touched.remove(&version.last);
        }
        version.last = seq;
        self.touched.insert(seq, id.to_string());
        version
    }

    fn forget(&mut self, id: &str, seq: u64) {
        if self.versions.get(id).is_some_and(|v| v.last == seq) {
            self.versions.remove(id);
            self.touched.remove(&seq);
        }
    }
}

/// Counters of the log, for the control endpoint and the memory tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeStats {
    /// The last sequence number given.
    pub seq: u64,
    /// Tokens taken before this sequence answer `410 Gone`.
    pub resync_from: u64,
    /// Users with an entry (changed since seeding, or removed).
    pub users: usize,
    /// Groups with an entry.
    pub groups: usize,
    /// Per-property sequences held, over every entry.
    pub properties: usize,
    /// Removed objects remembered.
    pub tombstones: usize,
    /// Member changes held, over every group.
    pub member_changes: usize,
}

/// The change log of a tenant (see the module documentation).
#[derive(Debug, Clone)]
pub struct ChangeLog {
    epoch: u64,
    seq: u64,
    resync_from: u64,
    now: Option<Timestamp>,
    users: Track,
    groups: Track,
    members: HashMap<String, MemberLog>,
    /// Removals in order: when, what, and the sequence of the removal.
    tombstones: VecDeque<(Timestamp, ObjectKind, u64, String)>,
}

impl Default for ChangeLog {
    fn default() -> Self {
        Self::new()
    }
}

impl ChangeLog {
    /// An empty log with a random epoch (tokens of another tenant are told apart).
    pub fn new() -> Self {
        Self {
            epoch: fastrand::u64(..),
            seq: 0,
            resync_from: 0,
            now: None,
            users: Track::default(),
            groups: Track::default(),
            members: HashMap::new(),
            tombstones: VecDeque::new(),
        }
    }

    /// Identifies this tenant's log.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The last sequence number given (0: nothing changed since seeding).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Tokens whose state was taken before this sequence must start over (`410 Gone`).
    pub fn resync_from(&self) -> u64 {
        self.resync_from
    }

    /// Tenant maintenance: every token issued so far answers `410 Gone`. Returns the new
    /// [`ChangeLog::resync_from`].
    pub fn require_resync(&mut self) -> u64 {
        self.seq += 1;
        self.resync_from = self.seq;
        self.resync_from
    }

    /// The emulated time of the changes recorded next; drops tombstones no valid token can
    /// need any more.
    pub fn set_now(&mut self, now: Timestamp) {
        self.now = Some(now);
        while let Some((at, kind, seq, id)) = self.tombstones.front() {
            if add_duration(*at, TOKEN_LIFETIME) >= now {
                break;
            }
            let (kind, seq, id) = (*kind, *seq, id.clone());
            self.tombstones.pop_front();
            self.track_mut(kind).forget(&id, seq);
        }
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn track(&self, kind: ObjectKind) -> &Track {
        match kind {
            ObjectKind::User => &self.users,
            ObjectKind::Group => &self.groups,
        }
    }

    fn track_mut(&mut self, kind: ObjectKind) -> &mut Track {
        match kind {
            ObjectKind::User => &mut self.users,
            ObjectKind::Group => &mut self.groups,
        }
    }

    fn props_changed(&mut self, kind: ObjectKind, id: &str, indexes: &[u8]) {
        if indexes.is_empty() {
            return;
        }
        let seq = self.next();
        let version = self.track_mut(kind).touch(id, seq);
        for index in indexes {
            version.set(*index, seq);
        }
    }

    /// Records the properties that differ between two renderings of a live object.
    pub fn diff(
        &mut self,
        kind: ObjectKind,
        id: &str,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
    ) {
        let changed: Vec<u8> = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, _)| k.as_str())
            .chain(
                before
                    .keys()
                    .map(String::as_str)
                    .filter(|k| !after.contains_key(*k)),
            )
            .map(prop_index)
            .collect();
        self.props_changed(kind, id, &changed);
    }

    /// Records the `onPremises*` properties that differ between two prints of a live object.
    pub fn sync_changed(
        &mut self,
        kind: ObjectKind,
        id: &str,
        before: SyncPrint,
        after: SyncPrint,
    ) {
        let changed: Vec<u8> = SYNC_PROPS
            .iter()
            .zip(before.0.iter().zip(after.0.iter()))
            .filter(|(name, (b, a))| b != a && renders(kind, name))
            .map(|(name, _)| prop_index(name))
            .collect();
        self.props_changed(kind, id, &changed);
    }

    /// A live object (re)appeared: created, restored or recovered. Every property is new.
    pub fn appeared(&mut self, kind: ObjectKind, id: &str) {
        let seq = self.next();
        let version = self.track_mut(kind).touch(id, seq);
        version.since = seq;
        version.props.clear();
        version.removed = None;
        if kind == ObjectKind::Group {
            self.members.remove(id);
        }
    }

    /// An object left its collection (soft-deleted, or deleted for good).
    pub fn removed(&mut self, kind: ObjectKind, id: &str, removal: Removal) {
        let seq = self.next();
        let version = self.track_mut(kind).touch(id, seq);
        version.props.clear();
        version.removed = Some(removal);
        if kind == ObjectKind::Group {
            self.members.remove(id);
        }
        if let Some(now) = self.now {
            self.tombstones.push_back((now, kind, seq, id.to_string()));
        }
    }

    /// `member` (of `kind`) joined (`added`) or left a group.
    pub fn member(&mut self, group: &str, member: &str, kind: ObjectKind, added: bool) {
        let seq = self.next();
        let log = self.members.entry(group.to_string()).or_default();
        log.entries.push_back(MemberChange {
            seq,
            member: member.to_string(),
            kind,
            added,
        });
        while log.entries.len() > MEMBER_LOG_LIMIT {
            if let Some(dropped) = log.entries.pop_front() {
                log.floor = dropped.seq;
            }
        }
        let index = prop_index(MEMBERS);
        self.groups.touch(group, seq).set(index, seq);
    }

    /// Where an object stands (`None`: untouched since seeding).
    pub fn version(&self, kind: ObjectKind, id: &str) -> Option<&Version> {
        self.track(kind).versions.get(id)
    }

    /// Objects of `kind` whose last change is after `seq`, in sequence order.
    pub fn touched_after(
        &self,
        kind: ObjectKind,
        seq: u64,
    ) -> impl Iterator<Item = (u64, &str, &Version)> + '_ {
        let track = self.track(kind);
        track
            .touched
            .range((Bound::Excluded(seq), Bound::Unbounded))
            .filter_map(move |(s, id)| track.versions.get(id).map(|v| (*s, id.as_str(), v)))
    }

    /// A group's member changes after `seq`.
    pub fn member_changes(&self, group: &str, seq: u64) -> MemberChanges<'_> {
        let Some(log) = self.members.get(group) else {
            return MemberChanges::Net(BTreeMap::new());
        };
        if log.floor > seq {
            return MemberChanges::All;
        }
        let net = log
            .entries
            .iter()
            .filter(|c| c.seq > seq)
            .map(|c| (c.member.as_str(), (c.kind, c.added)))
            .collect();
        MemberChanges::Net(net)
    }

    /// The counters.
    pub fn stats(&self) -> ChangeStats {
        let tracks = [&self.users, &self.groups];
        ChangeStats {
            seq: self.seq,
            resync_from: self.resync_from,
            users: self.users.versions.len(),
            groups: self.groups.versions.len(),
            properties: tracks
                .iter()
                .flat_map(|t| t.versions.values())
                .map(|v| v.props.len())
                .sum(),
            tombstones: tracks
                .iter()
                .flat_map(|t| t.versions.values())
                .filter(|v| v.removed.is_some())
                .count(),
            member_changes: self.members.values().map(|l| l.entries.len()).sum(),
        }
    }
}

#[cfg(test)]
#[path = "changes_tests.rs"]
mod tests;
