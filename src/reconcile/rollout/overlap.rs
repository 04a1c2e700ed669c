//! An object two conversions select, refused before the first write: every pass registers
//! what it selected ([`register`]) in the process's registry
//! ([`crate::reconcile::selections`]); before a pass writes, it waits while an earlier
//! resource of its tenant and kind has not shown its selection since the start
//! ([`waiting`]), and the gate ([`check`]) stalls it with `SelectionOverlap` when an earlier
//! one selects some of the same objects. The earlier resource goes on; the later resumes by
//! itself on a pass after the overlap is gone (a selector narrowed, an exclusion, a
//! resource deleted).

use std::time::Duration;

use super::{Cx, Rollout, SpecOf};
use crate::reasons;
use crate::reconcile::Stall;
use crate::reconcile::health::Health;
use crate::reconcile::selections::Verdict;

/// How soon (tenant time) a pass that waits for the earlier resources' selections looks again.
pub(super) const RECHECK: Duration = Duration::from_secs(5);

/// Register what this pass selected (with a registry: the controller, `apply`).
pub(super) fn register<K: Rollout>(cx: &Cx<'_, SpecOf<K>>, world: &K::World) {
    if let Some(s) = cx.ctx.selections {
        s.register(
            &cx.ctx.resource,
            &cx.tenant.tenant_id,
            K::selected(world).collect(),
        );
    }
}

fn verdict<S>(cx: &Cx<'_, S>) -> Verdict {
    match cx.ctx.selections {
        Some(s) => s.verdict(&cx.ctx.resource, &cx.tenant.tenant_id),
        None => Verdict::Clear,
    }
}

/// `Progressing` while an earlier resource of the same tenant and kind has not finished a pass
/// since the start: what it selects is unknown, so nothing is written yet.
pub(super) fn waiting<K: Rollout>(cx: &Cx<'_, SpecOf<K>>) -> Option<Health> {
    let Verdict::Wait(earlier) = verdict(cx) else {
        return None;
    };
    let words = K::WORDS;
    let whom = if earlier.is_empty() {
        format!(
            "the TenantSyncPolicy and {} resources to be listed",
            words.kind
        )
    } else {
        let names: Vec<String> = earlier
            .iter()
            .map(|k| format!("{}/{}", k.namespace, k.name))
            .collect();
        format!(
            "the earlier {} {} of this tenant to show which {} they select",
            words.kind,
            names.join(", "),
            words.objects
        )
    };
    Some(Health::Progressing(
        reasons::WAITING_FOR_SELECTIONS,
        format!(
            "waiting for {whom} since the operator started, so that no object is switched by two conversions; nothing written yet, looked at again in {}s",
            RECHECK.as_secs()
        ),
    ))
}

/// The gate: `Stalled` (`SelectionOverlap`) when an earlier resource of the same tenant and
/// kind selects some of the objects this one selects.
pub(super) fn check<K: Rollout>(cx: &Cx<'_, SpecOf<K>>) -> Result<(), Stall> {
    let Verdict::Overlap {
        other,
        shared,
        examples,
    } = verdict(cx)
    else {
        return Ok(());
    };
    let (kind, objects) = (K::WORDS.kind, K::WORDS.objects);
    let (ns, name) = (&other.namespace, &other.name);
    Err(Stall::fixable(
        reasons::SELECTION_OVERLAP,
        format!(
            "{kind} {ns}/{name}, which comes first (created earlier, or listed earlier in the manifests), selects {shared} of the same {objects} in this tenant (object ids, e.g. {}): two conversions must not switch (or revert) one object, so this one writes nothing while they overlap; narrow one selector, exclude them from one with spec.exclude, or delete one; this resource goes on by itself once they share none (with `apply -f`, on its next run)",
            examples.join(", ")
        ),
    ))
}
