//! What the selection says of the users this resource changed, confirmed before it counts.
//!
//! The selection is an advanced query (`ConsistencyLevel: eventual`), read from an index that
//! lags behind writes: a user switched a moment ago still reads as synchronised there, and a
//! user whose ImmutableID was just cleared still shows it. So a switched user that the
//! selection shows synchronised is read through its own `onPremisesSyncBehavior` (never drift
//! from the selection alone), and one that still reads `false` within the consistency window
//! after the last wave is waiting to read back, not drift (`rollout::consistency`).

use crate::graph::GraphError;
use futures::StreamExt;
use tracing::warn;

use crate::guid::IdSet;
use crate::reconcile::Context;
use crate::reconcile::rollout::consistency::read_back;

use super::select::{Candidate, Selection};

/// Users read per part.
const PART: usize = 2_000;

/// Reads the switch of every selected user this resource switched (`applied`) that the
/// selection shows synchronised: those that read `true` are converted (the index lags), those
/// that read `false` stay as the selection says. A read that still fails transiently after the
/// client's retries gives no verdict: the user counts as the journal says (converted) until a
/// later pass reads it, as `drift::read_switches` does. Returns how many were not read; a
/// refusal is returned.
pub(super) async fn switched(
    ctx: &Context<'_>,
    selection: &mut Selection,
    applied: &IdSet,
) -> Result<usize, GraphError> {
    let suspects = positions(selection, |c| c.synced && applied.contains(c.id()));
    let mut unread = 0;
    for part in suspects.chunks(PART) {
        let part = ids_at(selection, part);
        let results = ctx.graph.users_cloud_managed(&part, ctx.concurrency).await;
        for (id, result) in part.iter().zip(results) {
            let converted = match result {
                Ok(v) => v,
                Err(e) if e.category().is_retryable() => {
                    unread += 1;
                    true
                }
                Err(e) => return Err(e),
            };
            if converted && let Some(c) = selection.candidates.get_mut(id) {
                c.synced = false;
                c.formerly_synced = true;
                c.rolled_back = false;
            }
        }
    }
    if unread > 0 {
        warn!(
            unread,
            "could not read back the switch of some users the selection shows synchronised; they are read again next pass"
        );
    }
    Ok(unread)
}

/// The positions (in id order) of the selected users `pick` chooses: reads in parts hold the
/// ids of one part at a time ([`ids_at`]), not a copy of every user's id.
pub(super) fn positions(selection: &Selection, pick: impl Fn(&Candidate) -> bool) -> Vec<usize> {
    let users = selection.candidates.values().enumerate();
    users.filter(|(_, c)| pick(c)).map(|(i, _)| i).collect()
}

/// The ids of the selected users at `part`'s positions.
pub(super) fn ids_at(selection: &Selection, part: &[usize]) -> Vec<String> {
    let users = part.iter().filter_map(|&i| selection.candidates.at(i));
    users.map(|c| c.id().to_string()).collect()
}

/// While `within` the consistency window after the last wave, every user this resource
/// switched that reads as synchronised or switched back: waiting, not drift. Outside the
/// window those are drift.
pub(super) fn waiting(selection: &Selection, applied: &IdSet, within: bool) -> IdSet {
    let mut out = IdSet::default();
    if within {
        for c in selection.candidates.values() {
            if (c.synced || c.rolled_back) && applied.contains(c.id()) {
                out.insert(c.id());
            }
        }
    }
    out
}

/// A user whose ImmutableID this resource cleared (`cleared`, an accepted write) that the
/// selection still shows with one: `within` the consistency window after the last wave, the
/// accepted write stands (the index catches up; a second clear would be a redundant write);
/// after it (or with no wave in this status, e.g. after a restart) the user itself is read,
/// with backoff (`rollout::consistency::read_back`): cleared, it counts as cleared; still
/// set, it is cleared again (AD wrote it back). A read that fails gives no verdict: the
/// journal's word stands until a later pass.
pub(super) async fn cleared(
    ctx: &Context<'_>,
    selection: &mut Selection,
    cleared: &IdSet,
    within: bool,
) {
    if cleared.is_empty() {
        return;
    }
    let suspects: Vec<String> = selection
        .candidates
        .values()
        .filter(|c| c.immutable_id().is_some() && !c.deleted && cleared.contains(c.id()))
        .map(|c| c.id().to_string())
        .collect();
    if within {
        for id in &suspects {
            if let Some(c) = selection.candidates.get_mut(id) {
                c.clear_immutable_id();
            }
        }
        return;
    }
    let reads = read_back(&suspects, |part| async move {
        futures::stream::iter(part)
            .map(|id| async move {
                match ctx.graph.user(&id).await {
                    Ok(Some(u)) => Ok(u.on_premises_immutable_id.is_none()),
                    Ok(None) => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .buffered(ctx.concurrency.max(1))
            .collect::<Vec<_>>()
            .await
    })
    .await;
    for (id, read) in suspects.iter().zip(reads) {
        if matches!(read, Ok(true) | Err(_))
            && let Some(c) = selection.candidates.get_mut(id)
        {
            c.clear_immutable_id();
        }
    }
}
