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
    let (users, immutable_ids) = count_users(graph).await?;
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

async fn count_users(graph: &GraphClient) -> Result<(ObjectCounts, ImmutableIdCounts), GraphError> {
    let mut counts = ObjectCounts::default();
    let mut ids = ImmutableIdCounts::default();
    let mut pager = graph.users(&user_query())?;
    while let Some(page) = pager.next_page().await? {
        for u in page.items {
            if u.is_synced() {
                counts.synced += 1;
            } else if u.is_formerly_synced() {
                counts.converted += 1;
                if u.on_premises_immutable_id.is_some() {
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
