//! Resolve a selector to users: the union of the UPNs, group members, filter and domains,
//! minus the exclusions and the directory synchronisation service accounts.

use std::collections::{BTreeMap, BTreeSet};

pub use super::candidate::{Candidate, Candidates};
use crate::api::user::{CloudUserConversionSpec, Exclusion};
use crate::graph::models::User;
use crate::graph::privileged::Privilege;
use crate::graph::{GraphClient, GraphError, ListQuery, Pager};
use crate::guid::IdSet;
use crate::reconcile::rollout::{SelectError, at};

/// The resolved selection.
#[derive(Debug, Default)]
pub struct Selection {
    /// Selected and not excluded, by object id.
    pub candidates: Candidates,
    /// Users the selector matched, exclusions included.
    pub matched: i64,
    /// Excluded users and why.
    pub excluded: Vec<Exclusion>,
    /// UPNs named in the selector that do not exist.
    pub missing: Vec<String>,
    /// Privileged objects the application could not look for, with the permission that
    /// would let it (they then fail alone if Graph refuses them).
    pub unverified: Vec<String>,
}

impl Selection {
    /// Moves the candidates `why` names a reason for into the exclusions (what only a later
    /// read shows, e.g. the AD side of each user).
    pub fn exclude_where(&mut self, why: impl Fn(&Candidate) -> Option<&'static str>) -> usize {
        let mut kept = Vec::with_capacity(self.candidates.len());
        let mut moved = 0;
        for c in std::mem::take(&mut self.candidates.sorted) {
            match why(&c) {
                Some(reason) => {
                    moved += 1;
                    self.excluded.push(Exclusion {
                        user_principal_name: c.upn().to_string(),
                        reason: reason.into(),
                    });
                }
                None => kept.push(c),
            }
        }
        self.candidates = Candidates::from_sorted(kept);
        moved
    }
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

/// Hands every user of `pager` to `take`, one page at a time: a selection of 100,000 users
/// never holds more than a page of Graph's answers.
async fn each(pager: &mut Pager<User>, mut take: impl FnMut(User)) -> Result<(), GraphError> {
    while let Some(page) = pager.next_page().await? {
        page.items.into_iter().for_each(&mut take);
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
            crate::reasons::GROUP_NOT_FOUND,
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

/// Sorts matched users, page by page, into what the selection keeps.
struct Sorter {
    /// The tenant's federated domains (lowercase).
    federated: BTreeSet<String>,
    /// `exclude.userPrincipalNames` (lowercase).
    excluded_upns: BTreeSet<String>,
    /// Members of `exclude.groups`.
    excluded_ids: BTreeSet<String>,
    /// Objects Graph refuses to convert (administrator roles, restricted administrative
    /// units), by lowercase id.
    privileged: BTreeMap<String, Privilege>,
    /// The ids matched so far: a user several criteria match counts once, as first read
    /// (a live user before a deleted one with the same id).
    seen: IdSet,
    /// The users kept, in the order read (sorted once all are read).
    kept: Vec<Candidate>,
    /// The users excluded, in the order read, and why.
    excluded: Vec<Exclusion>,
}

impl Sorter {
    /// Takes one matched user, keeping only what the selection needs of it.
    fn add(&mut self, u: User, deleted: bool) {
        if !self.seen.insert(&u.id) {
            return;
        }
        let upn = u.user_principal_name.as_deref().unwrap_or_default();
        let domain = upn
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        let excluded = if is_sync_service_account(upn, u.display_name.as_deref()) {
            Some("SyncServiceAccount")
        } else if self.federated.contains(&domain) {
            Some("FederatedDomain")
        } else if self.excluded_upns.contains(&upn.to_ascii_lowercase()) {
            Some("ExcludedByName")
        } else if self.excluded_ids.contains(&u.id) {
            Some("ExcludedByGroup")
        } else {
            self.privileged
                .get(&u.id.to_lowercase())
                .map(|p| p.reason())
        };
        match excluded {
            Some(reason) => self.excluded.push(Exclusion {
                user_principal_name: upn.to_string(),
                reason: reason.into(),
            }),
            None => {
                let mut user: Candidate = u.into();
                user.deleted = deleted;
                self.kept.push(user);
            }
        }
    }

    /// The selection: each user once, the kept ones sorted by id in place (no second copy
    /// of the users, and an unstable sort: no scratch copy either; ids are unique).
    fn finish(self, missing: Vec<String>, unverified: Vec<String>) -> Selection {
        let mut kept = self.kept;
        kept.sort_unstable_by(|a, b| a.id().cmp(b.id()));
        Selection {
            matched: (kept.len() + self.excluded.len()) as i64,
            missing,
            unverified,
            excluded: self.excluded,
            candidates: Candidates::from_sorted(kept),
        }
    }
}

/// Resolve `spec`'s selector and exclusions. Exclusions are read first, so that every page
/// of the selector is sorted as it arrives and dropped.
pub async fn select(
    graph: &GraphClient,
    spec: &CloudUserConversionSpec,
) -> Result<Selection, SelectError> {
    let s = &spec.selector;
    // Users of federated (AD FS) domains: Source of Authority is not supported for them, and a
    // cloud user there needs its ImmutableID to sign in; never convert or clear them.
    let federated = graph
        .organization()
        .await
        .map_err(at("selector"))?
        .federated_domains()
        .into_iter()
        .collect();
    let mut excluded_upns: BTreeSet<String> = BTreeSet::new();
    let mut excluded_ids: BTreeSet<String> = BTreeSet::new();
    if let Some(x) = &spec.exclude {
        excluded_upns.extend(
            x.user_principal_names
                .iter()
                .map(|u| u.to_ascii_lowercase()),
        );
        for g in &x.groups {
            let id = resolve_group(graph, g)
                .await
                .map_err(at("exclude.groups"))?;
            let mut pager = graph
                .group_member_users(&id, g.transitive)
                .map_err(at("exclude.groups"))?;
            each(&mut pager, |m| {
                excluded_ids.insert(m.id);
            })
            .await
            .map_err(at("exclude.groups"))?;
        }
    }
    // Objects Graph refuses to convert, excluded before the first write (what the application
    // may not see is said in `unverified`).
    let privileged = graph.privileged().await.map_err(at("selector"))?;
    if !privileged.unverified.is_empty() {
        tracing::warn!(unverified = ?privileged.unverified, "privileged users not looked for");
    }
    let mut sorter = Sorter {
        federated,
        excluded_upns,
        excluded_ids,
        privileged: privileged.objects,
        seen: IdSet::default(),
        kept: Vec::new(),
        excluded: Vec::new(),
    };

    let mut missing = Vec::new();
    for upn in &s.user_principal_names {
        match graph
            .user(upn)
            .await
            .map_err(at("selector.userPrincipalNames"))?
        {
            Some(u) => sorter.add(u, false),
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
        each(&mut pager, |u| sorter.add(u, false))
            .await
            .map_err(at("selector.groups"))?;
    }
    if let Some(f) = s.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        let mut pager = graph
            .users(&advanced(f.to_string()))
            .map_err(at("selector.filter"))?;
        each(&mut pager, |u| sorter.add(u, false))
            .await
            .map_err(at("selector.filter"))?;
    }
    for d in &s.domains {
        // Domains were validated (no quote can break out of the literal).
        let filter = format!("endswith(userPrincipalName,'@{d}')");
        let mut pager = graph
            .users(&advanced(filter))
            .map_err(at("selector.domains"))?;
        each(&mut pager, |u| sorter.add(u, false))
            .await
            .map_err(at("selector.domains"))?;
    }

    // The legacy path restores users Entra soft-deleted when their AD object left sync scope:
    // look for the selected UPNs and domains among the deleted users too (a live user with
    // the same id, read above, wins).
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
        let mut deleted_upns: BTreeSet<String> = BTreeSet::new();
        let mut pager = graph.deleted_users().map_err(at("selector"))?;
        each(&mut pager, |u| {
            let upn = u
                .user_principal_name
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if upns.contains(&upn) || suffixes.iter().any(|d| upn.ends_with(d)) {
                deleted_upns.insert(upn);
                sorter.add(u, true);
            }
        })
        .await
        .map_err(at("selector"))?;
        missing.retain(|m: &String| !deleted_upns.contains(&m.to_ascii_lowercase()));
    }
    Ok(sorter.finish(missing, privileged.unverified))
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

    fn user(id: &str, upn: &str) -> User {
        serde_json::from_value(serde_json::json!({
            "id": id, "userPrincipalName": upn, "onPremisesSyncEnabled": true,
            "onPremisesImmutableId": "x", "onPremisesLastSyncDateTime": "2026-01-01T00:00:00Z"
        }))
        .unwrap_or_else(|e| panic!("user: {e}"))
    }

    #[test]
    fn each_user_counts_once_the_first_match_wins_and_exclusions_keep_their_order() {
        let mut sorter = Sorter {
            federated: BTreeSet::from(["fed.example".to_string()]),
            excluded_upns: BTreeSet::from(["zed@contoso.com".to_string()]),
            excluded_ids: BTreeSet::new(),
            privileged: BTreeMap::from([("p".to_string(), Privilege::DirectoryRole)]),
            seen: IdSet::default(),
            kept: Vec::new(),
            excluded: Vec::new(),
        };
        sorter.add(user("c", "carol@contoso.com"), false);
        sorter.add(user("z", "Zed@contoso.com"), false);
        sorter.add(user("a", "ann@fed.example"), false);
        sorter.add(user("b", "bob@contoso.com"), false);
        // Matched again by another criterion, and among the deleted users: the first stays.
        sorter.add(user("c", "carol@contoso.com"), true);
        sorter.add(user("z", "Zed@contoso.com"), false);
        sorter.add(user("P", "admin@contoso.com"), false);
        let sel = sorter.finish(vec!["gone@contoso.com".into()], vec![]);
        assert_eq!(sel.matched, 5);
        let ids: Vec<&str> = sel.candidates.values().map(|c| c.id()).collect();
        assert_eq!(ids, ["b", "c"], "ordered by id");
        assert!(sel.candidates.get("c").is_some_and(|c| !c.deleted));
        assert!(sel.candidates.get("z").is_none());
        let excluded: Vec<(&str, &str)> = sel
            .excluded
            .iter()
            .map(|x| (x.user_principal_name.as_str(), x.reason.as_str()))
            .collect();
        assert_eq!(
            excluded,
            [
                ("Zed@contoso.com", "ExcludedByName"),
                ("ann@fed.example", "FederatedDomain"),
                ("admin@contoso.com", "DirectoryRole")
            ]
        );
        assert_eq!(sel.missing, ["gone@contoso.com"]);
    }
}
