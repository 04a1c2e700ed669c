//! Read the tenant: the organization, then every user and group page by page (only counts
//! are kept, so memory does not grow with the tenant).

use crate::api::tenant::{ImmutableIdCounts, ObjectCounts};
use crate::graph::{GraphClient, GraphError, ListQuery};

use super::plan::Observation;

/// `$top` that keeps a list read at one resource unit per page.
pub const PAGE_SIZE: u32 = 999;

/// Read the organization, users and groups.
pub async fn observe(graph: &GraphClient) -> Result<Observation, GraphError> {
    let organization = graph.organization().await?;
    let federated = organization.federated_domains();
    let (users, immutable_ids) = count_users(graph, &federated).await?;
    let groups = count_groups(graph).await?;
    Ok(Observation {
        organization,
        users,
        groups,
        immutable_ids,
    })
}

/// The `$select`ed list of users, 999 per page.
pub fn user_query() -> ListQuery {
    ListQuery {
        select: crate::graph::models::User::SELECT
            .iter()
            .map(|s| s.to_string())
            .collect(),
        top: Some(PAGE_SIZE),
        ..Default::default()
    }
}

/// Whether the user's UPN is in one of `federated` (lowercase domain names). Their
/// ImmutableID is what federated sign-in matches on: it is never cleared.
pub fn in_federated_domain(user: &crate::graph::models::User, federated: &[String]) -> bool {
    user.user_principal_name
        .as_deref()
        .and_then(|u| u.rsplit_once('@'))
        .is_some_and(|(_, d)| federated.iter().any(|f| f.eq_ignore_ascii_case(d)))
}

async fn count_users(
    graph: &GraphClient,
    federated: &[String],
) -> Result<(ObjectCounts, ImmutableIdCounts), GraphError> {
    let mut counts = ObjectCounts::default();
    let mut ids = ImmutableIdCounts::default();
    let mut pager = graph.users(&user_query())?;
    while let Some(page) = pager.next_page().await? {
        for u in page.items {
            if u.is_synced() {
                counts.synced += 1;
            } else if u.is_formerly_synced() {
                counts.converted += 1;
                if u.on_premises_immutable_id.is_some() && in_federated_domain(&u, federated) {
                    // Kept on purpose: not "remaining".
                } else if u.on_premises_immutable_id.is_some() {
                    ids.remaining += 1;
                } else {
                    ids.cleared += 1;
                }
            } else {
                counts.cloud_only += 1;
            }
        }
    }
    Ok((counts, ids))
}

async fn count_groups(graph: &GraphClient) -> Result<ObjectCounts, GraphError> {
    let mut counts = ObjectCounts::default();
    let query = ListQuery {
        select: crate::graph::models::Group::SELECT
            .iter()
            .map(|s| s.to_string())
            .collect(),
        top: Some(PAGE_SIZE),
        ..Default::default()
    };
    let mut pager = graph.groups(&query)?;
    while let Some(page) = pager.next_page().await? {
        for g in page.items {
            if g.is_synced() {
                counts.synced += 1;
            } else if g.is_formerly_synced() {
                counts.converted += 1;
            } else {
                counts.cloud_only += 1;
            }
        }
    }
    Ok(counts)
}
