//! Resolve a selector to users: the union of the UPNs, group members, filter and domains,
//! minus the exclusions and the directory synchronisation service accounts.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::user::{CloudUserConversionSpec, Exclusion};
use crate::graph::models::User;
use crate::graph::{GraphClient, GraphError, ListQuery, Pager};

/// A selected user, with what the plan needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Object id.
    pub id: String,
    /// UPN.
    pub upn: String,
    /// Currently synchronised from AD.
    pub synced: bool,
    /// Synchronised once, no longer (cloud-managed).
    pub formerly_synced: bool,
    /// The ImmutableID.
    pub immutable_id: Option<String>,
    /// Soft-deleted (in `directory/deletedItems`), e.g. after its AD object left sync scope.
    pub deleted: bool,
    /// Switched back to AD (`isCloudManaged: false`) but not yet re-synchronised.
    pub rolled_back: bool,
}

impl From<User> for Candidate {
    fn from(u: User) -> Self {
        Candidate {
            synced: u.is_synced(),
            formerly_synced: u.is_formerly_synced(),
            upn: u.user_principal_name.clone().unwrap_or_default(),
            immutable_id: u.on_premises_immutable_id,
            id: u.id,
            deleted: false,
            rolled_back: false,
        }
    }
}

/// The resolved selection.
#[derive(Debug, Default)]
pub struct Selection {
    /// Selected and not excluded, by object id (ordered: waves are deterministic).
    pub candidates: BTreeMap<String, Candidate>,
    /// Users the selector matched, exclusions included.
    pub matched: i64,
    /// Excluded users and why.
    pub excluded: Vec<Exclusion>,
    /// UPNs named in the selector that do not exist.
    pub missing: Vec<String>,
}

/// Where a selection failed, for a message naming the field.
#[derive(Debug)]
pub struct SelectError {
    /// The spec field, e.g. `selector.filter`.
    pub field: &'static str,
    /// The Graph error.
    pub error: GraphError,
}

fn at(field: &'static str) -> impl Fn(GraphError) -> SelectError {
    move |error| SelectError { field, error }
}

/// Whether `u` is a directory synchronisation service account (Entra Connect's
/// `Sync_<server>_<id>@…`, Cloud Sync's `ADToAADSyncServiceAccount@…`, or so named).
pub fn is_sync_service_account(upn: &str, display_name: Option<&str>) -> bool {
    let upn = upn.to_ascii_lowercase();
    upn.starts_with("sync_")
        || upn.starts_with("adtoaadsyncserviceaccount@")
        || display_name.is_some_and(|d| {
            d.eq_ignore_ascii_case("On-Premises Directory Synchronization Service Account")
        })
}

async fn drain(pager: &mut Pager<User>, out: &mut Vec<User>) -> Result<(), GraphError> {
    while let Some(page) = pager.next_page().await? {
        out.extend(page.items);
    }
    Ok(())
}

/// The object id of a group named by id or by display name (exactly one group must carry it).
async fn resolve_group(
    graph: &GraphClient,
    g: &crate::api::common::GroupRef,
) -> Result<String, GraphError> {
    if let Some(id) = &g.id {
        return Ok(id.clone());
    }
    let name = g.display_name.clone().unwrap_or_default();
    // OData string literal: a quote is escaped by doubling it.
    let filter = format!("displayName eq '{}'", name.replace('\'', "''"));
    let mut pager = graph.groups_matching(&filter)?;
    let mut ids = Vec::new();
    while let Some(page) = pager.next_page().await? {
        ids.extend(page.items.into_iter().map(|d| d.id));
    }
    let problem = |status: u16, code: &str, message: String| GraphError::Api {
        operation: crate::graph::Operation::ListGroups,
        status,
        code: code.into(),
        message,
        request_id: None,
        retry_after: None,
    };
    match ids.len() {
        1 => Ok(ids.remove(0)),
        0 => Err(problem(
            404,
            "GroupNotFound",
            format!("no group is named {name:?}"),
        )),
        n => Err(problem(
            400,
            "AmbiguousGroup",
            format!("{n} groups are named {name:?}; name the group by its id instead"),
        )),
    }
}

fn advanced(filter: String) -> ListQuery {
    ListQuery {
        select: User::SELECT.iter().map(|s| s.to_string()).collect(),
        filter: Some(filter),
        top: Some(999),
        advanced: true,
    }
}

/// Resolve `spec`'s selector and exclusions.
pub async fn select(
    graph: &GraphClient,
    spec: &CloudUserConversionSpec,
) -> Result<Selection, SelectError> {
    let s = &spec.selector;
    let mut found: Vec<User> = Vec::new();
    let mut missing = Vec::new();
    for upn in &s.user_principal_names {
        match graph
            .user(upn)
            .await
            .map_err(at("selector.userPrincipalNames"))?
        {
            Some(u) => found.push(u),
            None => missing.push(upn.clone()),
        }
    }
    for g in &s.groups {
        let id = resolve_group(graph, g)
            .await
            .map_err(at("selector.groups"))?;
        let mut pager = graph
            .group_member_users(&id, g.transitive)
            .map_err(at("selector.groups"))?;
        drain(&mut pager, &mut found)
            .await
            .map_err(at("selector.groups"))?;
    }
    if let Some(f) = s.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        let mut pager = graph
            .users(&advanced(f.to_string()))
            .map_err(at("selector.filter"))?;
        drain(&mut pager, &mut found)
            .await
            .map_err(at("selector.filter"))?;
    }
    for d in &s.domains {
        // Domains were validated (no quote can break out of the literal).
        let filter = format!("endswith(userPrincipalName,'@{d}')");
        let mut pager = graph
            .users(&advanced(filter))
            .map_err(at("selector.domains"))?;
        drain(&mut pager, &mut found)
            .await
            .map_err(at("selector.domains"))?;
    }

    // The legacy path restores users Entra soft-deleted when their AD object left sync scope:
    // look for the selected UPNs and domains among the deleted users too.
    let mut deleted_found: Vec<User> = Vec::new();
    if spec.method == crate::api::user::UserConversionMethod::RestoreDeleted {
        let upns: BTreeSet<String> = s
            .user_principal_names
            .iter()
            .map(|u| u.to_ascii_lowercase())
            .collect();
        let suffixes: Vec<String> = s
            .domains
            .iter()
            .map(|d| format!("@{}", d.to_ascii_lowercase()))
            .collect();
        let mut pager = graph.deleted_users().map_err(at("selector"))?;
        let mut all = Vec::new();
        drain(&mut pager, &mut all).await.map_err(at("selector"))?;
        for u in all {
            let upn = u
                .user_principal_name
                .clone()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if upns.contains(&upn) || suffixes.iter().any(|d| upn.ends_with(d)) {
                deleted_found.push(u);
            }
        }
        missing.retain(|m: &String| {
            !deleted_found.iter().any(|d| {
                d.user_principal_name
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(m))
            })
        });
    }

    // Users of federated (AD FS) domains: Source of Authority is not supported for them, and a
    // cloud user there needs its ImmutableID to sign in; never convert or clear them.
    let federated = graph
        .organization()
        .await
        .map_err(at("selector"))?
        .federated_domains();

    let mut excluded_upns: BTreeSet<String> = BTreeSet::new();
    let mut excluded_ids: BTreeSet<String> = BTreeSet::new();
    if let Some(x) = &spec.exclude {
        excluded_upns.extend(
            x.user_principal_names
                .iter()
                .map(|u| u.to_ascii_lowercase()),
        );
        for g in &x.groups {
            let mut members = Vec::new();
            let id = resolve_group(graph, g)
                .await
                .map_err(at("exclude.groups"))?;
            let mut pager = graph
                .group_member_users(&id, g.transitive)
                .map_err(at("exclude.groups"))?;
            drain(&mut pager, &mut members)
                .await
                .map_err(at("exclude.groups"))?;
            excluded_ids.extend(members.into_iter().map(|m| m.id));
        }
    }

    let mut sel = Selection {
        missing,
        ..Default::default()
    };
    let mut seen = BTreeSet::new();
    let tagged = found
        .into_iter()
        .map(|u| (u, false))
        .chain(deleted_found.into_iter().map(|u| (u, true)));
    for (u, deleted) in tagged {
        if !seen.insert(u.id.clone()) {
            continue;
        }
        sel.matched += 1;
        let upn = u.user_principal_name.clone().unwrap_or_default();
        let domain = upn
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        let reason = if is_sync_service_account(&upn, u.display_name.as_deref()) {
            Some("SyncServiceAccount")
        } else if federated.contains(&domain) {
            Some("FederatedDomain")
        } else if excluded_upns.contains(&upn.to_ascii_lowercase()) {
            Some("ExcludedByName")
        } else if excluded_ids.contains(&u.id) {
            Some("ExcludedByGroup")
        } else {
            None
        };
        match reason {
            Some(r) => sel.excluded.push(Exclusion {
                user_principal_name: upn,
                reason: r.into(),
            }),
            None => {
                let mut c: Candidate = u.into();
                c.deleted = deleted;
                sel.candidates.insert(c.id.clone(), c);
            }
        }
    }
    Ok(sel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_accounts_are_recognised() {
        assert!(is_sync_service_account(
            "Sync_DC01_1a2b3c4d5e6f@contoso.onmicrosoft.com",
            None
        ));
        assert!(is_sync_service_account(
            "ADToAADSyncServiceAccount@contoso.onmicrosoft.com",
            None
        ));
        assert!(is_sync_service_account(
            "x@contoso.com",
            Some("On-Premises Directory Synchronization Service Account")
        ));
        assert!(!is_sync_service_account("syncope@contoso.com", None));
        assert!(!is_sync_service_account(
            "jane.doe@contoso.com",
            Some("Jane Doe")
        ));
    }
}
