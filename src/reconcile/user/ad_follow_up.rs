//! The AD work that follows a pass's decision, with `activeDirectory` and in `Apply`: settle
//! what a stop left open by reading the directory back, move the next wave's AD objects out
//! of sync scope (`RestoreDeleted`), and disable or move the AD objects of converted users
//! (`afterConversion`).

use crate::journal::Action;
use crate::reconcile::ReconcileError;

use super::ad_move::{move_waiting, settle};
use super::ad_scan::AdScan;
use super::directory::Directory;
use super::select::Selection;

/// The follow-up of a pass that acts (a wave runs, users wait for their soft delete, or all
/// is converted), in `Apply`: with `RestoreDeleted`, move the next wave's AD objects (`size`
/// of the `waiting` users) out of sync scope; with `afterConversion`, disable or move the AD
/// objects of converted users. Returns how many AD changes failed.
pub async fn after_decide(
    cx: &crate::reconcile::rollout::Cx<'_, crate::api::user::CloudUserConversionSpec>,
    dir: &Directory,
    selection: &Selection,
    waiting: &[String],
    (size, recorded): (usize, Option<&crate::guid::IdSet>),
    pass: &mut crate::reconcile::health::Pass<crate::api::user::CloudUserConversionStatus>,
) -> Result<usize, ReconcileError> {
    use crate::api::active_directory::AfterConversion;
    let (ctx, spec, tenant_id) = (cx.ctx, cx.spec.spec, cx.tenant.tenant_id.as_str());
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    // What the journal says of each user (kept between passes: a steady pass reads what is
    // new). Changes a stop left without an outcome are settled first by reading the directory
    // back.
    let mut journal = AdScan::read(ctx).await?;
    let mut settled = 0;
    for action in [Action::MoveAdObject, Action::DisableAdAccount] {
        let open = journal.open(action).cloned().collect();
        settled += settle(ctx, &dir.client, open, action).await?;
    }
    if settled > 0 {
        journal = AdScan::read(ctx).await?;
    }
    let mut failures = Vec::new();
    if spec.method == crate::api::user::UserConversionMethod::RestoreDeleted && !waiting.is_empty()
    {
        let per_cycle = spec.soft_deletes_per_sync_cycle();
        let m = move_waiting(
            ctx,
            tenant_id,
            dir,
            selection,
            (waiting, recorded),
            &journal,
            (size, per_cycle),
        )
        .await?;
        if m.moved > 0 {
            pass.events.push(crate::reconcile::ReconcileEvent::normal(
                crate::reasons::MOVED_OUT_OF_SYNC_SCOPE,
                "MoveAdObject",
                format!(
                    "moved {} AD objects to {} (previous DNs journaled); waiting for Entra to soft-delete their users",
                    m.moved,
                    dir.client.settings().unsynced_ou
                ),
            ));
        }
        failures.extend(m.failures);
    }
    if spec.after_conversion != AfterConversion::Keep {
        let (n, f) =
            super::ad_after::apply(ctx, spec, tenant_id, &dir.client, selection, &journal, size)
                .await?;
        if n > 0 {
            pass.events.push(crate::reconcile::ReconcileEvent::normal(
                "AfterConversion",
                &format!("{:?}", spec.after_conversion),
                format!(
                    "afterConversion {:?}: {n} AD objects changed (prior values journaled)",
                    spec.after_conversion
                ),
            ));
        }
        failures.extend(f);
    }
    let failed = failures.len();
    if let Some(first) = failures.first() {
        pass.events.push(crate::reconcile::ReconcileEvent::warning(
            crate::reasons::DIRECTORY_CHANGE_FAILED,
            "ActiveDirectory",
            format!(
                "{failed} AD changes failed (first: {}: {}); see status.recentFailures and the journal",
                first.name.clone().unwrap_or_else(|| first.object_id.clone()),
                first.message
            ),
        ));
        pass.status.failed += failed as i64;
        pass.status.recent_failures = failures.into_iter().take(10).collect();
    }
    Ok(failed)
}
