//! The guard: once the tenant has converged, drift is watched through delta queries
//! (graph-api.md §6), so a pass costs what changed, not the size of the tenant.
//!
//! A pass of a converged resource ([`watching`]: `Ready` for the same generation, with reason
//! `Converged`, or `Observing` under `directorySync: Unmanaged`) reads the organization, then
//! one round of `users/delta` and one of `groups/delta` from the previous pass's deltaLinks:
//! three requests when nothing changed.
//!
//! - No link yet (the first pass after convergence, or after a restart of the operator or a
//!   change of leader), or a link Graph no longer honours (`410 Gone`, expired after 7 days):
//!   the round is a full one, which gives the link; each collection is then counted by
//!   listing it, since Graph may return an object more than once in a round.
//! - Counts: a delta answer says what an object *is*, not what it *was*, so keeping exact
//!   counts from it alone would need the previous state of every object, memory that grows
//!   with the tenant. The guard keeps the counts of the last full count instead, and counts a
//!   collection again (listing it, 999 objects a page, where a delta round gives about 200)
//!   when its round surfaced any object: added, removed, or changed in a tracked property.
//!   Counts stay exact; a pass costs a read of a collection only when that collection
//!   changed. Only the properties the counts depend on are tracked ([`USER_TRACKED`],
//!   [`GROUP_TRACKED`]), so renames, job titles and phone numbers surface nobody. A change of
//!   the organization's federated domains (which decide whose ImmutableID is kept) counts the
//!   users again too.
//! - Drift is decided by `plan::decide` from the same [`Observation`] a full read gives, so it
//!   is detected as before: the organization's sync flag is read every pass, and an object
//!   taken back by AD or given an ImmutableID again surfaces in its delta round.
//!
//! Where the links live: in a [`GuardCache`] held by the controller and by the local runner,
//! keyed by resource, not in status. Each round hands out a new link, so a link in status
//! would mean a status write on every pass though nothing changed (the controller skips
//! no-op writes), and hundreds of opaque characters in `kubectl get -o yaml`. What keeping
//! them in memory costs: one full round after a restart. A link carries no secret, and the
//! client sends it only to Graph's own origin. Per resource the cache holds two links, the
//! counters and the federated domain names: nothing that grows with the tenant.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use tracing::debug;

use crate::api::conditions::{self as cond, TRUE};
use crate::api::tenant::{TenantSyncPolicySpec, TenantSyncPolicyStatus};
use crate::graph::models::{Group, User};
use crate::graph::{DeltaFrom, DeltaRound, GraphError, Operation};
use crate::journal::ResourceKey;

use super::Context;
use super::observe::{GroupTally, UserTally, count_groups, count_users};
use super::plan::Observation;

/// The user properties the guard tracks: those the counts and the drift depend on.
pub const USER_TRACKED: &[&str] = &[
    "id",
    "userPrincipalName",
    "onPremisesSyncEnabled",
    "onPremisesImmutableId",
    "onPremisesLastSyncDateTime",
];

/// The group properties the guard tracks.
pub const GROUP_TRACKED: &[&str] = &["id", "onPremisesSyncEnabled", "onPremisesLastSyncDateTime"];

/// `Ready` reasons after which passes follow delta queries.
const WATCHED: &[&str] = &[crate::reasons::CONVERGED, crate::reasons::OBSERVING];

/// What the guard keeps between passes, per resource (see the module documentation).
#[derive(Debug, Default)]
pub struct GuardCache {
    entries: Mutex<HashMap<String, Entry>>,
}

/// One resource's links and the counts they continue from.
#[derive(Clone, Debug)]
struct Entry {
    generation: Option<i64>,
    tenant_id: String,
    users_link: String,
    groups_link: String,
    users: UserTally,
    groups: GroupTally,
    /// Sorted, lowercase.
    federated: Vec<String>,
}

impl GuardCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drop what is kept for `resource`: its next guarded pass starts with a full round.
    pub fn forget(&self, resource: &ResourceKey) {
        self.lock().remove(&resource.to_string());
    }

    /// Whether deltaLinks are kept for `resource`.
    pub fn holds(&self, resource: &ResourceKey) -> bool {
        self.lock().contains_key(&resource.to_string())
    }

    /// How many resources have deltaLinks kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no resource has deltaLinks kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether this pass only guards: the last status, for this generation, says converged.
pub fn watching(prev: Option<&TenantSyncPolicyStatus>, fresh: bool) -> bool {
    !fresh
        && prev
            .and_then(|s| cond::get(&s.conditions, cond::READY))
            .is_some_and(|c| c.status == TRUE && WATCHED.contains(&c.reason.as_str()))
}

/// Read the organization and follow the users and groups delta rounds from the kept links.
/// The kept links and counts are replaced only once both rounds succeeded, so a pass that
/// fails goes round again from the same links.
pub async fn observe(
    ctx: &Context<'_>,
    spec: &TenantSyncPolicySpec,
    generation: Option<i64>,
) -> Result<Observation, GraphError> {
    let graph = ctx.graph;
    let key = ctx.resource.to_string();
    let organization = graph.organization().await?;
    let mut federated = organization.federated_domains();
    federated.sort();
    let kept = ctx.guard.lock().get(&key).cloned().filter(|e| {
        e.generation == generation && e.tenant_id.eq_ignore_ascii_case(&spec.tenant_id)
    });
    let kept = kept.as_ref();

    let from = |link: Option<&String>| link.map_or(DeltaFrom::Full, |l| DeltaFrom::Link(l.clone()));
    let round = graph.users_delta(from(kept.map(|e| &e.users_link)), USER_TRACKED)?;
    let users = follow::<User>(round, Operation::UsersDelta).await?;
    let users_tally = match kept {
        Some(e) if !users.full && users.surfaced == 0 && e.federated == federated => e.users,
        _ => {
            debug!(
                surfaced = users.surfaced,
                "users changed: counting them again"
            );
            count_users(graph, &federated).await?
        }
    };

    let round = graph.groups_delta(from(kept.map(|e| &e.groups_link)), GROUP_TRACKED)?;
    let groups = follow::<Group>(round, Operation::GroupsDelta).await?;
    let groups_tally = match kept {
        Some(e) if !groups.full && groups.surfaced == 0 => e.groups,
        _ => {
            debug!(
                surfaced = groups.surfaced,
                "groups changed: counting them again"
            );
            count_groups(graph).await?
        }
    };

    let observation = Observation {
        organization,
        users: users_tally.counts,
        groups: groups_tally.counts,
        immutable_ids: users_tally.immutable_ids,
        affected: None,
    };
    ctx.guard.lock().insert(
        key,
        Entry {
            generation,
            tenant_id: spec.tenant_id.clone(),
            users_link: users.link,
            groups_link: groups.link,
            users: users_tally,
            groups: groups_tally,
            federated,
        },
    );
    Ok(observation)
}

/// What a round told the guard.
struct Followed {
    /// The link the next round starts from.
    link: String,
    /// The round enumerated everything (first round, or one that started over).
    full: bool,
    /// Objects in the round (removals included).
    surfaced: u64,
}

/// Read a round to its deltaLink, page by page, keeping nothing but how many objects it
/// surfaced. Counts are never tallied from a delta round: Graph may return an object more than
/// once in a round, so a full round is followed by a list read (which does not repeat).
async fn follow<T: DeserializeOwned>(
    mut round: DeltaRound<T>,
    operation: Operation,
) -> Result<Followed, GraphError> {
    let mut surfaced = 0u64;
    while let Some(page) = round.next_page().await? {
        if page.restarted {
            surfaced = 0;
        }
        surfaced += page.items.len() as u64;
    }
    let full = round.is_full();
    let link = round.into_delta_link().ok_or_else(|| GraphError::Decode {
        operation,
        detail: "the round ended without an @odata.deltaLink".into(),
    })?;
    Ok(Followed {
        link,
        full,
        surfaced,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::conditions::FALSE;

    fn status(ready: &str, reason: &str) -> TenantSyncPolicyStatus {
        let mut s = TenantSyncPolicyStatus::default();
        cond::set(
            &mut s.conditions,
            cond::READY,
            ready,
            reason,
            "m",
            Some(1),
            jiff::Timestamp::UNIX_EPOCH,
        );
        s
    }

    #[test]
    fn only_converged_or_observing_resources_are_guarded() {
        assert!(watching(Some(&status(TRUE, "Converged")), false));
        assert!(watching(Some(&status(TRUE, "Observing")), false));
        // A new generation is a new instruction: read everything.
        assert!(!watching(Some(&status(TRUE, "Converged")), true));
        assert!(!watching(Some(&status(FALSE, "Propagating")), false));
        assert!(!watching(Some(&status(FALSE, "DriftDetected")), false));
        assert!(!watching(Some(&status(FALSE, "Converged")), false));
        assert!(!watching(Some(&TenantSyncPolicyStatus::default()), false));
        assert!(!watching(None, false));
    }

    #[test]
    fn the_cache_forgets_per_resource() {
        let cache = GuardCache::default();
        let key = |name: &str| ResourceKey {
            kind: "TenantSyncPolicy".into(),
            namespace: "identity".into(),
            name: name.into(),
        };
        let entry = Entry {
            generation: Some(1),
            tenant_id: "t".into(),
            users_link: "u".into(),
            groups_link: "g".into(),
            users: UserTally::default(),
            groups: GroupTally::default(),
            federated: vec![],
        };
        cache.lock().insert(key("a").to_string(), entry.clone());
        cache.lock().insert(key("b").to_string(), entry);
        assert!(cache.holds(&key("a")) && cache.len() == 2);
        cache.forget(&key("a"));
        assert!(!cache.holds(&key("a")) && cache.holds(&key("b")));
        cache.forget(&key("b"));
        assert!(cache.is_empty());
    }
}
