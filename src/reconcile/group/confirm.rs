//! What the selection says of the groups this resource switched, confirmed before it counts
//! (Graph is eventually consistent, `rollout::consistency`): a switched group that reads as
//! synchronised is read through its own `onPremisesSyncBehavior`, and one that still reads
//! `false` within the consistency window after the last wave is waiting, not drift.

use std::collections::BTreeSet;

use futures::StreamExt;

use crate::graph::GraphError;
use crate::reconcile::Context;

use super::select::Selection;

/// Reads the switch of every selected group this resource switched (`switched`) that reads as
/// synchronised: those that read `true` are converted; those that read `false` are drift,
/// unless `within` the window. A read that still fails transiently gives no verdict: the group
/// counts as the journal says (converted) until a later pass reads it. Returns the groups that
/// wait (not read back yet, within the window); a refusal is returned.
pub(super) async fn waiting(
    ctx: &Context<'_>,
    sel: &mut Selection,
    switched: &BTreeSet<String>,
    within: bool,
) -> Result<BTreeSet<String>, GraphError> {
    let suspects: Vec<String> = sel
        .candidates
        .values()
        .filter(|g| g.synced && switched.contains(&g.id))
        .map(|g| g.id.clone())
        .collect();
    let reads: Vec<(String, Result<bool, GraphError>)> = futures::stream::iter(suspects)
        .map(|id| async move {
            let r = ctx.graph.group_cloud_managed(&id).await;
            (id, r)
        })
        .buffered(ctx.concurrency.max(1))
        .collect()
        .await;
    let mut out = BTreeSet::new();
    for (id, result) in reads {
        match result {
            Ok(true) => {
                if let Some(g) = sel.candidates.get_mut(&id) {
                    g.synced = false;
                    g.formerly_synced = true;
                }
            }
            Ok(false) if within => {
                out.insert(id);
            }
            Ok(false) => {}
            Err(e) if e.category().is_retryable() => {
                if let Some(g) = sel.candidates.get_mut(&id) {
                    g.synced = false;
                    g.formerly_synced = true;
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
