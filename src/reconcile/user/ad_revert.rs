//! `onDelete: Revert` on the AD side: after the Graph side is undone, every AD object this
//! resource moved goes back to its journaled place and every account it disabled gets its
//! journaled `userAccountControl` back. Without an AD connection there is nothing to do here
//! (and a journal that shows AD changes says so).

use crate::ad::AdClient;
use crate::journal::{Action, Phase};
use crate::reconcile::revert_trust::{self, Refusals};
use crate::reconcile::{Context, ReconcileError};

use crate::reconcile::RevertOutcome;

/// Undo the AD changes; `graph_done` objects were reverted on the Graph side already.
pub async fn revert(
    ctx: &Context<'_>,
    tenant_id: &str,
    graph_done: i64,
    refused: &mut Refusals,
) -> Result<RevertOutcome, ReconcileError> {
    // Streamed: the entries about AD objects (and those the key does not prove) are kept.
    let all = super::ad_move::ad_entries(ctx).await?;
    let (entries, untrusted) = revert_trust::split(all.clone());
    refused.extend(untrusted);
    let touched_ad = all.iter().any(|e| {
        e.record.phase == Phase::Applied
            && matches!(
                e.record.action,
                Action::MoveAdObject | Action::DisableAdAccount
            )
    });
    if !touched_ad {
        return Ok(RevertOutcome::Done(graph_done));
    }
    let settings = match ctx.ad {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Ok(RevertOutcome::Failed(e.stall_message())),
        None => {
            return Ok(RevertOutcome::Failed(
                "the journal shows AD objects this resource moved or disabled, but the TenantSyncPolicy has no spec.activeDirectory any more; add it back so they can be restored".into(),
            ));
        }
    };
    let ad = match AdClient::connect(settings).await {
        Ok(c) => c,
        Err(e) => return Ok(RevertOutcome::Failed(e.stall_message())),
    };
    let moved = match super::ad_move::move_back(ctx, &ad, tenant_id, &entries, refused).await? {
        Ok(n) => n,
        Err(m) => return Ok(RevertOutcome::Failed(m)),
    };
    let enabled = match super::ad_after::enable_back(ctx, &ad, tenant_id, refused).await? {
        Ok(n) => n,
        Err(m) => return Ok(RevertOutcome::Failed(m)),
    };
    ad.close().await;
    Ok(RevertOutcome::Done(graph_done.max(moved + enabled)))
}
