//! Read the tenant: the organization, then every user and group page by page (only counts
//! are kept, so memory does not grow with the tenant). After convergence the guard
//! (`guard.rs`) follows delta queries instead, with the same tallies.

use crate::api::tenant::{ImmutableIdCounts, ObjectCounts};
use crate::graph::models::{Group, User};
use crate::graph::{GraphClient, GraphError, ListQuery};

use super::approval::Fingerprint;
use super::plan::Observation;

/// `$top` that keeps a list read at one resource unit per page.
pub const PAGE_SIZE: u32 = 999;

/// Read the organization, users and groups.
pub async fn observe(graph: &GraphClient) -> Result<Observation, GraphError> {
    let organization = graph.organization().await?;
    let federated = organization.federated_domains();
    let users = count_users(graph, &federated).await?;
    let groups = count_groups(graph).await?;
    Ok(Observation {
        organization,
        users: users.counts,
        groups: groups.counts,
        immutable_ids: users.immutable_ids,
        affected: Some(users.synced_set.merge(groups.synced_set)),
    })
}

/// The `$select`ed list of users, 999 per page.
pub fn user_query() -> ListQuery {
    ListQuery {
        select: User::SELECT.iter().map(|s| s.to_string()).collect(),
        top: Some(PAGE_SIZE),
        ..Default::default()
    }
}

/// Whether the user's UPN is in one of `federated` (lowercase domain names). Their
/// ImmutableID is what federated sign-in matches on: it is never cleared.
pub fn in_federated_domain(user: &User, federated: &[String]) -> bool {
    user.user_principal_name
        .as_deref()
        .and_then(|u| u.rsplit_once('@'))
        .is_some_and(|(_, d)| federated.iter().any(|f| f.eq_ignore_ascii_case(d)))
}

/// Users counted by sync state, one at a time, so a count never holds the users themselves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserTally {
    /// Users by sync state.
    pub counts: ObjectCounts,
    /// ImmutableIDs of formerly synchronised users (`failed` is always 0 here).
    pub immutable_ids: ImmutableIdCounts,
    /// The synchronised users, as a disable's plan fingerprints them.
    pub synced_set: Fingerprint,
}

impl UserTally {
    /// Count `u`; `federated` are the tenant's federated domains (lowercase).
    pub fn add(&mut self, u: &User, federated: &[String]) {
        if u.is_synced() {
            self.counts.synced += 1;
            self.synced_set.add(&u.id);
        } else if u.is_formerly_synced() {
            self.counts.converted += 1;
            if u.on_premises_immutable_id.is_some() && in_federated_domain(u, federated) {
                // Kept on purpose: not "remaining".
            } else if u.on_premises_immutable_id.is_some() {
                self.immutable_ids.remaining += 1;
            } else {
                self.immutable_ids.cleared += 1;
            }
        } else {
            self.counts.cloud_only += 1;
        }
    }
}

/// Groups counted by sync state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupTally {
    /// Groups by sync state.
    pub counts: ObjectCounts,
    /// The synchronised groups, as a disable's plan fingerprints them.
    pub synced_set: Fingerprint,
}

impl GroupTally {
    /// Count `g`.
    pub fn add(&mut self, g: &Group) {
        if g.is_synced() {
            self.counts.synced += 1;
            self.synced_set.add(&g.id);
        } else if g.is_formerly_synced() {
            self.counts.converted += 1;
        } else {
            self.counts.cloud_only += 1;
        }
    }
}

/// Every user, page by page (999 a page, one resource unit each).
pub async fn count_users(
    graph: &GraphClient,
    federated: &[String],
) -> Result<UserTally, GraphError> {
    let mut tally = UserTally::default();
    let mut pager = graph.users(&user_query())?;
    while let Some(page) = pager.next_page().await? {
        for u in &page.items {
            tally.add(u, federated);
        }
    }
    Ok(tally)
}

/// Every group, page by page.
pub async fn count_groups(graph: &GraphClient) -> Result<GroupTally, GraphError> {
    let mut tally = GroupTally::default();
    let query = ListQuery {
        select: Group::SELECT.iter().map(|s| s.to_string()).collect(),
        top: Some(PAGE_SIZE),
        ..Default::default()
    };
    let mut pager = graph.groups(&query)?;
    while let Some(page) = pager.next_page().await? {
        for g in &page.items {
            tally.add(g);
        }
    }
    Ok(tally)
}
