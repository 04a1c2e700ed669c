//! The checks between a pass's decision and its first write. A pass that would act (a wave,
//! or the follow-up work of the kind) first asks each gate; the first that refuses ends the
//! pass `Stalled` with nothing written, not even the journal. Each gate is its own function
//! below, in the order they run.

use super::plan::Classified;
use super::{ConversionSpec, Cx, Rollout, SpecOf};
use crate::reconcile::{ReconcileError, Stall, preflight};

/// Whether the pass may write. `Ok(Err(stall))`: a gate refused; `Err`: a gate could not
/// tell (Graph failed), which fails the pass like any read.
pub(super) async fn check<K: Rollout>(
    cx: &Cx<'_, SpecOf<K>>,
    world: &K::World,
    classified: &Classified<K::Item>,
) -> Result<Result<(), Stall>, ReconcileError> {
    // Another resource's objects first: approving a plan that overlaps would not help.
    if let Err(stall) = super::overlap::check::<K>(cx) {
        return Ok(Err(stall));
    }
    if let Err(stall) = approval::<K>(cx, world, classified) {
        return Ok(Err(stall));
    }
    if let Err(stall) = permissions::<K>(cx).await? {
        return Ok(Err(stall));
    }
    Ok(Ok(()))
}

/// Under `spec.requireApproval`, a pass with objects to convert (or to take out of sync
/// scope) writes only while the selection matches the approved plan. A converged rollout
/// has nothing left that needs approving.
fn approval<K: Rollout>(
    cx: &Cx<'_, SpecOf<K>>,
    world: &K::World,
    classified: &Classified<K::Item>,
) -> Result<(), Stall> {
    if classified.pending_count() == 0 && classified.waiting.is_empty() {
        return Ok(());
    }
    let now = super::digest::<K>(cx, world);
    match super::approval::refusal(&cx.spec.approval(), &now) {
        Some(stall) => Err(stall),
        None => Ok(()),
    }
}

/// The permission preflight (`reconcile::preflight`): every permission the resource's flow
/// needs, its later steps' included, granted before the first write.
async fn permissions<K: Rollout>(
    cx: &Cx<'_, SpecOf<K>>,
) -> Result<Result<(), Stall>, ReconcileError> {
    let ops = cx.spec.spec.operations();
    preflight::gate(cx.ctx.graph, &ops, cx.tenant, &cx.ctx.resource.namespace).await
}
