//! Which objects each conversion selects, shared by every pass of one process (the controller,
//! or one `apply` run), so that two conversions of the same kind and tenant never switch the
//! same object: the later one stalls with `SelectionOverlap` before it writes, naming the
//! earlier, which goes on (`rollout::overlap`). Later means created later (ties by
//! namespace/name); in the CLI, listed later. Only sorted object ids are kept: at most
//! `rollout.maxObjects` of each resource.
//!
//! After a start nothing is known of what the earlier resources select: a resource waits until
//! each earlier resource of its tenant and kind that the process knows exists (its [`Roster`])
//! has finished a pass, so a restart cannot let a later resource slip a wave in.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::guid::IdSet;
use crate::journal::ResourceKey;

/// How many shared objects a [`Verdict::Overlap`] names.
pub const EXAMPLES: usize = 3;

/// Where a resource stands among those of its kind: the lower, the earlier; ties by
/// namespace/name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rank {
    /// Creation time in nanoseconds since the epoch, or the position among the manifests.
    position: i128,
    /// `namespace/name`.
    name: String,
}

impl Rank {
    /// A resource created at `created` (`metadata.creationTimestamp`); without one, after
    /// every resource that has one.
    pub fn created(created: Option<jiff::Timestamp>, key: &ResourceKey) -> Self {
        Rank {
            position: created.map_or(i128::MAX, |t| t.as_nanosecond()),
            name: format!("{}/{}", key.namespace, key.name),
        }
    }

    /// The `index`th resource of its kind among the manifests.
    pub fn listed(index: usize, key: &ResourceKey) -> Self {
        Rank {
            position: i128::try_from(index).unwrap_or(i128::MAX),
            name: format!("{}/{}", key.namespace, key.name),
        }
    }
}

/// A resource the process knows exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its kind, namespace and name.
    pub key: ResourceKey,
    /// Where it stands among those of its kind.
    pub rank: Rank,
    /// The tenant id of the policy it names; `None` when that policy is unknown (it cannot
    /// write, so nobody waits for it).
    pub tenant_id: Option<String>,
}

/// The resources a process knows exist.
pub trait Roster: Send + Sync {
    /// Every resource of `kind` known to exist; `None` while the process does not know them
    /// all yet (the controller before its first list).
    fn members(&self, kind: &str) -> Option<Vec<Member>>;
}

/// A roster known in full at the start: the manifests of a CLI run.
pub struct Listed(pub Vec<Member>);

impl Roster for Listed {
    fn members(&self, kind: &str) -> Option<Vec<Member>> {
        Some(
            self.0
                .iter()
                .filter(|m| m.key.kind == kind)
                .cloned()
                .collect(),
        )
    }
}

/// What a resource showed since the start: the tenant and the sorted ids of its last
/// selection (none: its passes ended before selecting, so it selects nothing yet).
struct Shown {
    tenant_id: Option<String>,
    ids: IdSet,
}

#[derive(Default)]
struct State {
    roster: Option<Arc<dyn Roster>>,
    shown: HashMap<ResourceKey, Shown>,
}

/// The selections of one process: one registry for all its passes. A default one has no
/// [`Roster`] yet, so every verdict waits until [`Selections::restart`] gives it one (the
/// controller, as each leadership term starts its watches).
#[derive(Default)]
pub struct Selections {
    state: Mutex<State>,
}

/// Whether a resource may write, given the earlier resources of its tenant and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No earlier resource selects any of its objects.
    Clear,
    /// These earlier resources have not finished a pass since the start (empty: the process
    /// does not know yet which resources exist, or not this one).
    Wait(Vec<ResourceKey>),
    /// `other`, earlier, selects `shared` of the same objects, first of them `examples`.
    Overlap {
        /// The earliest resource it overlaps.
        other: ResourceKey,
        /// How many objects both select.
        shared: i64,
        /// The first [`EXAMPLES`] of them, by object id.
        examples: Vec<String>,
    },
}

impl Selections {
    /// A registry over the resources `roster` knows.
    pub fn new(roster: Arc<dyn Roster>) -> Self {
        let s = Selections::default();
        s.restart(roster);
        s
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start over with `roster` (a new leadership term): what was shown is forgotten, since
    /// resources may have changed or gone while the process did not watch.
    pub fn restart(&self, roster: Arc<dyn Roster>) {
        let mut state = self.lock();
        state.roster = Some(roster);
        state.shown.clear();
    }

    /// The pass of `key` selected `ids` in tenant `tenant_id`.
    pub fn register(&self, key: &ResourceKey, tenant_id: &str, ids: IdSet) {
        let shown = Shown {
            tenant_id: Some(tenant_id.to_ascii_lowercase()),
            ids,
        };
        self.lock().shown.insert(key.clone(), shown);
    }

    /// A pass of `key` finished, whether or not it selected: its last selection stands, or,
    /// without one, it selects nothing so far.
    pub fn passed(&self, key: &ResourceKey) {
        self.lock().shown.entry(key.clone()).or_insert(Shown {
            tenant_id: None,
            ids: IdSet::default(),
        });
    }

    /// `key` is gone: forget it.
    pub fn remove(&self, key: &ResourceKey) {
        self.lock().shown.remove(key);
    }

    /// Whether `me`, of tenant `tenant_id`, may write with the selection it registered: the
    /// earliest earlier resource of its tenant and kind whose selection shares objects with
    /// its own, else those that have not shown theirs yet, else clear.
    pub fn verdict(&self, me: &ResourceKey, tenant_id: &str) -> Verdict {
        let mut state = self.lock();
        let Some(mut members) = state.roster.as_ref().and_then(|r| r.members(&me.kind)) else {
            return Verdict::Wait(Vec::new());
        };
        // Resources deleted without a pass seeing it (no finalizer) are gone from the roster.
        let known: HashSet<&ResourceKey> = members.iter().map(|m| &m.key).collect();
        state
            .shown
            .retain(|k, _| k.kind != me.kind || known.contains(k));
        let Some(mine) = members
            .iter()
            .find(|m| &m.key == me)
            .map(|m| m.rank.clone())
        else {
            return Verdict::Wait(Vec::new());
        };
        members.retain(|m| m.rank < mine);
        members.sort_by(|a, b| a.rank.cmp(&b.rank));
        let same = |t: Option<&str>| t.is_some_and(|t| t.eq_ignore_ascii_case(tenant_id));
        let none = IdSet::default();
        let own = state.shown.get(me).map_or(&none, |s| &s.ids);
        let mut waiting = Vec::new();
        for m in members {
            match state.shown.get(&m.key) {
                Some(s) if same(s.tenant_id.as_deref()) => {
                    let (shared, examples) = own.shared(&s.ids, EXAMPLES);
                    if shared > 0 {
                        return Verdict::Overlap {
                            other: m.key,
                            shared,
                            examples,
                        };
                    }
                }
                Some(_) => {}
                None if same(m.tenant_id.as_deref()) => waiting.push(m.key),
                None => {}
            }
        }
        if waiting.is_empty() {
            Verdict::Clear
        } else {
            Verdict::Wait(waiting)
        }
    }
}

#[cfg(test)]
#[path = "selections_tests.rs"]
mod tests;
