//! What the selection says of the users this resource changed, confirmed before it counts.
//!
//! The selection is an advanced query (`ConsistencyLevel: eventual`), read from an index that
//! lags behind writes: a user switched a moment ago still reads as synchronised there, and a
//! user whose ImmutableID was just cleared still shows it. So a switched user that the
//! selection shows synchronised is read through its own `onPremisesSyncBehavior` (never drift
//! from the selection alone), and one that still reads `false` within the consistency window
//! after the last wave is waiting to read back, not drift (`rollout::consistency`).

use crate::graph::GraphError;
use crate::guid::IdSet;
use crate::reconcile::Context;

use super::select::Selection;

/// Users read per part.
const PART: usize = 2_000;

/// Reads the switch of every selected user this resource switched (`applied`) that the
/// selection shows synchronised: those that read `true` are converted (the index lags), those
/// that read `false` stay as the selection says. Returns the users whose read failed
/// transiently: no verdict without a read, they are read again next pass. A refusal is
/// returned.
pub(super) async fn switched(
    ctx: &Context<'_>,
    selection: &mut Selection,
    applied: &IdSet,
) -> Result<IdSet, GraphError> {
    let suspects: Vec<String> = selection
        .candidates
        .values()
        .filter(|c| c.synced && applied.contains(&c.id))
        .map(|c| c.id.clone())
        .collect();
    let mut unread = IdSet::default();
    for part in suspects.chunks(PART) {
        let results = ctx.graph.users_cloud_managed(part, ctx.concurrency).await;
        for (id, result) in part.iter().zip(results) {
            match result {
                Ok(true) => {
                    if let Some(c) = selection.candidates.get_mut(id) {
                        c.synced = false;
                        c.formerly_synced = true;
                        c.rolled_back = false;
                    }
                }
                Ok(false) => {}
                Err(e) if e.category().is_retryable() => unread.insert(id),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(unread)
}

/// The users to hold as waiting: those read but not confirmed (`unread`), and, while `within`
/// the consistency window after the last wave, every user this resource switched that reads
/// as synchronised or switched back. Outside the window those are drift.
pub(super) fn waiting(
    selection: &Selection,
    applied: &IdSet,
    unread: IdSet,
    within: bool,
) -> IdSet {
    let mut out = unread;
    if within {
        for c in selection.candidates.values() {
            if (c.synced || c.rolled_back) && applied.contains(&c.id) {
                out.insert(&c.id);
            }
        }
    }
    out
}

/// While `within` the window, a user whose ImmutableID this resource cleared (`cleared`, an
/// accepted write) is taken as cleared even if the selection still shows it: the index
/// catches up, and a second clear would be a redundant write.
pub(super) fn cleared(selection: &mut Selection, cleared: &IdSet, within: bool) {
    if !within || cleared.is_empty() {
        return;
    }
    let ids: Vec<String> = selection
        .candidates
        .values()
        .filter(|c| c.immutable_id.is_some() && !c.deleted && cleared.contains(&c.id))
        .map(|c| c.id.clone())
        .collect();
    for id in ids {
        if let Some(c) = selection.candidates.get_mut(&id) {
            c.immutable_id = None;
        }
    }
}
