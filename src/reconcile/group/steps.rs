//! The Graph side of converting one group: read what it is before, switch and verify, add
//! owners. No journal here (`convert.rs` records before and after).

use std::collections::BTreeSet;

use crate::graph::groups::{DirectoryObject, OwnerAdded};
use crate::graph::{GraphClient, GraphError, Pager};
use crate::reconcile::rollout::consistency::{READ_BACK_DELAYS, read_back};

use super::plan::Work;
use super::select::{Candidate, Owner};

/// A group with what it was before the change.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The changes to make.
    pub work: Work,
    /// Its owners before (ids).
    pub owners_before: BTreeSet<String>,
    /// Its members before (ids), when it is to be switched.
    pub members_before: Option<BTreeSet<String>>,
}

impl Prepared {
    /// The owners to add: declared, and not owners already.
    pub fn owners_to_add(&self) -> Vec<Owner> {
        self.work
            .owners
            .iter()
            .filter(|o| !self.owners_before.contains(&o.id))
            .cloned()
            .collect()
    }

    /// The declared owners that already own the group.
    pub fn owners_present(&self) -> Vec<Owner> {
        self.work
            .owners
            .iter()
            .filter(|o| self.owners_before.contains(&o.id))
            .cloned()
            .collect()
    }
}

/// Why a group's step failed.
#[derive(Debug)]
pub enum StepError {
    /// Graph refused or failed.
    Graph(GraphError),
    /// `isCloudManaged` did not read back true.
    NotVerified,
    /// The switch was accepted (its `request-id`) but does not read back yet (eventual
    /// consistency): neither converted nor failed, confirmed on a later pass.
    Unconfirmed(Option<String>),
    /// The members after the switch differ from those before (what differs).
    MembershipChanged(String),
}

async fn ids(mut pager: Pager<DirectoryObject>) -> Result<BTreeSet<String>, GraphError> {
    let mut out = BTreeSet::new();
    while let Some(page) = pager.next_page().await? {
        out.extend(page.items.into_iter().map(|o| o.id));
    }
    Ok(out)
}

/// Whether `e`, the answer to listing `group`'s owners, is Graph saying its owners are not
/// available. Graph's reference says owners "are currently not available" for groups
/// synchronised from on-premises and groups created in Exchange (`group-list-owners`) without
/// saying how; an empty list is reported for mail-enabled groups, and a refusal is the other
/// reading (UNCONFIRMED, so no message is relied on). Only a `400` for such a group counts: a
/// missing permission (403), a missing group (404), throttling and outages still fail.
pub fn owners_unavailable(group: &Candidate, e: &GraphError) -> bool {
    (group.synced || group.exchange_managed) && matches!(e, GraphError::Api { status: 400, .. })
}

/// Read the owners (and, to switch, the members) of `work`'s group. A group whose owners Graph
/// says are not available has no cloud owners: read as none.
pub async fn prepare(graph: GraphClient, work: Work) -> Result<Prepared, (Work, GraphError)> {
    let id = work.group.id.clone();
    let owners = async { ids(graph.group_owner_ids(&id)?).await };
    let owners_before = match owners.await {
        Ok(o) => o,
        Err(e) if owners_unavailable(&work.group, &e) => BTreeSet::new(),
        Err(e) => return Err((work, e)),
    };
    let members_before = if work.switch {
        match async { ids(graph.group_member_ids(&id)?).await }.await {
            Ok(m) => Some(m),
            Err(e) => return Err((work, e)),
        }
    } else {
        None
    };
    Ok(Prepared {
        work,
        owners_before,
        members_before,
    })
}

/// What differs between two member sets, in words.
pub fn membership_change(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Option<String> {
    if before == after {
        return None;
    }
    let added = after.difference(before).count();
    let removed = before.difference(after).count();
    Some(format!(
        "the members changed during the switch: {} before, {} after ({added} added, {removed} removed); check the group's membership in Entra",
        before.len(),
        after.len()
    ))
}

/// Switch the group to the cloud, read the switch back, check its members are unchanged.
/// Returns the switch's `request-id`. Graph is eventually consistent: the switch is read back
/// with backoff (`rollout::consistency::read_back`), and members that differ are read again
/// the same way before the group fails (a read may lag behind a recent membership change).
pub async fn switch(
    graph: GraphClient,
    p: Prepared,
) -> (Prepared, Result<Option<String>, StepError>) {
    let id = p.work.group.id.clone();
    let receipt = match graph.set_group_cloud_managed(&id, true).await {
        Ok(r) => r,
        Err(e) => return (p, Err(StepError::Graph(e))),
    };
    let read = read_back(std::slice::from_ref(&id), |ids| {
        let graph = graph.clone();
        async move {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.push(graph.group_cloud_managed(&id).await);
            }
            out
        }
    })
    .await;
    let confirmed = match read.into_iter().next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return (p, Err(StepError::Graph(e))),
        None => false,
    };
    let result = match &p.members_before {
        None => Ok(receipt.request_id.clone()),
        Some(before) => match same_members(&graph, &id, before).await {
            Err(e) => Err(StepError::Graph(e)),
            Ok(Some(what)) => Err(StepError::MembershipChanged(what)),
            Ok(None) => Ok(receipt.request_id.clone()),
        },
    };
    let result = match result {
        Ok(_) if !confirmed => Err(StepError::Unconfirmed(receipt.request_id)),
        other => other,
    };
    (p, result)
}

/// Reads `id`'s members until they are `before`, with the read-back's backoff: `Some(what
/// differs)` when they still differ after the last read.
async fn same_members(
    graph: &GraphClient,
    id: &str,
    before: &BTreeSet<String>,
) -> Result<Option<String>, GraphError> {
    let mut delays = READ_BACK_DELAYS.iter();
    loop {
        let after = ids(graph.group_member_ids(id)?).await?;
        let change = membership_change(before, &after);
        match (change, delays.next()) {
            (None, _) => return Ok(None),
            (Some(what), None) => return Ok(Some(what)),
            (Some(_), Some(delay)) => tokio::time::sleep(*delay).await,
        }
    }
}

/// One owner add's outcome: the `request-id`, or `None` when the user already was an owner.
pub type OwnerResult = Result<Option<String>, GraphError>;

/// Add `owners` to the group one by one, stopping at the first failure.
pub async fn add_owners(
    graph: GraphClient,
    p: Prepared,
    owners: Vec<Owner>,
) -> (Prepared, Vec<(Owner, OwnerResult)>) {
    let mut done = Vec::new();
    for o in owners {
        let r = match graph.add_group_owner(&p.work.group.id, &o.id).await {
            Ok(OwnerAdded::Added(receipt)) => Ok(receipt.request_id),
            Ok(OwnerAdded::AlreadyOwner) => Ok(None),
            Err(e) => Err(e),
        };
        let failed = r.is_err();
        done.push((o, r));
        if failed {
            break;
        }
    }
    (p, done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Operation;

    #[test]
    fn only_a_refusal_for_a_synced_or_exchange_group_means_no_owners() {
        let group = |synced, exchange_managed| Candidate {
            id: "g".into(),
            name: "G".into(),
            synced,
            formerly_synced: !synced,
            exchange_managed,
        };
        let api = |status| GraphError::Api {
            operation: Operation::ListGroupOwners,
            status,
            code: "Request_BadRequest".into(),
            message: "not available".into(),
            request_id: None,
            retry_after: None,
        };
        assert!(owners_unavailable(&group(true, false), &api(400)));
        assert!(owners_unavailable(&group(false, true), &api(400)));
        assert!(!owners_unavailable(&group(false, false), &api(400)));
        for status in [401, 403, 404, 429, 500, 503] {
            assert!(
                !owners_unavailable(&group(true, true), &api(status)),
                "{status}"
            );
        }
        let transport = GraphError::Transport {
            operation: Operation::ListGroupOwners,
            detail: "connection reset".into(),
        };
        assert!(!owners_unavailable(&group(true, false), &transport));
    }

    #[test]
    fn membership_changes_are_described() {
        let set = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            membership_change(&set(&["a", "b"]), &set(&["b", "a"])),
            None
        );
        let m = membership_change(&set(&["a", "b"]), &set(&["b", "c", "d"])).unwrap_or_default();
        assert!(m.contains("2 before, 3 after (2 added, 1 removed)"), "{m}");
    }
}
