//! Resolve a selector to groups: the groups named and those the filter matches, with the groups
//! nested in them (`includeNested`), minus the exclusions; the nesting between them (for the
//! bottom-up order); and the owners to add, resolved to user ids.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::api::group::{CloudGroupConversionSpec, GroupExclusion, MailEnabledGroups};
use crate::graph::groups::GroupDetail;
use crate::graph::{GraphClient, GraphError, Pager};
use crate::reconcile::rollout::{SelectError, at};

use super::order::Nesting;

/// The exclusion reason of a mail-enabled group left synchronised
/// (`mailEnabledGroups: Exclude`).
pub const MAIL_ENABLED: &str = "MailEnabled";

/// A selected group, with what the plan needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Object id.
    pub id: String,
    /// Display name (the id when it has none).
    pub name: String,
    /// Currently synchronised from AD.
    pub synced: bool,
    /// Synchronised once, no longer (cloud-managed).
    pub formerly_synced: bool,
    /// Mail-enabled (not a Microsoft 365 group): Exchange Online's once cloud-managed.
    pub exchange_managed: bool,
}

impl From<&GroupDetail> for Candidate {
    fn from(g: &GroupDetail) -> Self {
        Candidate {
            id: g.id.clone(),
            name: g.name(),
            synced: g.is_synced(),
            formerly_synced: g.is_formerly_synced(),
            exchange_managed: g.is_exchange_managed(),
        }
    }
}

/// A user to add as owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Object id.
    pub id: String,
    /// UPN (or the id, when named by id and without one).
    pub name: String,
}

/// The resolved selection.
#[derive(Debug, Default)]
pub struct Selection {
    /// Selected and not excluded, by object id (ordered: waves are deterministic).
    pub candidates: BTreeMap<String, Candidate>,
    /// Which groups each selected group contains.
    pub nesting: Nesting,
    /// Groups the selector matched, nested groups and exclusions included.
    pub matched: i64,
    /// Excluded groups.
    pub excluded: Vec<GroupExclusion>,
    /// Ids named in `selector.groupIds` that do not exist.
    pub missing: Vec<String>,
    /// The owners, resolved, without duplicates.
    pub owners: Vec<Owner>,
    /// Owners named in the spec that do not exist.
    pub missing_owners: Vec<String>,
    /// Walking nested groups stopped early: more convertible groups than `maxObjects`.
    pub truncated: bool,
}

async fn drain(pager: &mut Pager<GroupDetail>) -> Result<Vec<GroupDetail>, GraphError> {
    let mut out = Vec::new();
    while let Some(page) = pager.next_page().await? {
        out.extend(page.items);
    }
    Ok(out)
}

fn convertible(g: &GroupDetail) -> bool {
    g.is_synced() || g.is_formerly_synced()
}

/// Resolve `spec`'s selector, exclusions and owners.
pub async fn select(
    graph: &GraphClient,
    spec: &CloudGroupConversionSpec,
) -> Result<Selection, SelectError> {
    let s = &spec.selector;
    let excluded: BTreeSet<String> = spec
        .exclude
        .iter()
        .flat_map(|x| x.group_ids.iter().map(|id| id.to_ascii_lowercase()))
        .collect();
    let is_excluded = |id: &str| excluded.contains(&id.to_ascii_lowercase());
    let mut found: BTreeMap<String, GroupDetail> = BTreeMap::new();
    let mut sel = Selection::default();
    for id in &s.group_ids {
        match graph
            .group_detail(id)
            .await
            .map_err(at("selector.groupIds"))?
        {
            Some(g) => {
                found.insert(g.id.clone(), g);
            }
            None => sel.missing.push(id.clone()),
        }
    }
    if let Some(f) = s.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        let mut pager = graph.groups_matching(f).map_err(at("selector.filter"))?;
        for g in drain(&mut pager).await.map_err(at("selector.filter"))? {
            found.insert(g.id.clone(), g);
        }
    }

    // Walk down the nesting, breadth first. Excluded groups are not entered; without
    // includeNested only the edges between selected groups are kept (for the order).
    let limit = usize::try_from(spec.rollout.max_objects).unwrap_or(usize::MAX);
    let mut count = found
        .values()
        .filter(|g| convertible(g) && !is_excluded(&g.id))
        .count();
    let mut queue: VecDeque<String> = found
        .keys()
        .filter(|id| !is_excluded(id))
        .cloned()
        .collect();
    while let Some(id) = queue.pop_front() {
        if s.include_nested && count > limit {
            sel.truncated = true;
            break;
        }
        let synced = found.get(&id).is_some_and(GroupDetail::is_synced);
        if !s.include_nested && !synced {
            continue;
        }
        let mut pager = graph.nested_groups(&id).map_err(at("selector"))?;
        let children = drain(&mut pager).await.map_err(at("selector"))?;
        let ids = sel.nesting.entry(id.clone()).or_default();
        for child in children {
            ids.insert(child.id.clone());
            if s.include_nested && !found.contains_key(&child.id) {
                if !is_excluded(&child.id) {
                    count += usize::from(convertible(&child));
                    queue.push_back(child.id.clone());
                }
                found.insert(child.id.clone(), child);
            }
        }
    }

    sel.matched = found.len() as i64;
    // Mail-enabled groups still synchronised stay so unless the spec converts them (Exchange
    // Online manages them once converted; their members' mailboxes must be there first).
    let keep_mail = spec.mail_enabled_groups == MailEnabledGroups::Exclude;
    for (id, g) in &found {
        let reason = if is_excluded(id) {
            Some("ExcludedById")
        } else if keep_mail && g.is_synced() && g.is_exchange_managed() {
            Some(MAIL_ENABLED)
        } else {
            None
        };
        if let Some(reason) = reason {
            sel.excluded.push(GroupExclusion {
                id: id.clone(),
                display_name: g.display_name.clone(),
                reason: reason.into(),
            });
        } else {
            sel.candidates.insert(id.clone(), Candidate::from(g));
        }
    }

    let mut seen = BTreeSet::new();
    for o in &spec.owners {
        match graph.user(o).await.map_err(at("owners"))? {
            Some(u) => {
                if seen.insert(u.id.clone()) {
                    sel.owners.push(Owner {
                        name: u.user_principal_name.clone().unwrap_or_else(|| o.clone()),
                        id: u.id,
                    });
                }
            }
            None => sel.missing_owners.push(o.clone()),
        }
    }
    Ok(sel)
}
