//! Reading back the Source of Authority switch of the users this resource converted, to see at
//! once a user someone switched back to AD (before the next sync cycle takes it over).

use crate::guid::IdSet;

use tracing::warn;

use crate::graph::GraphError;
use crate::reconcile::Context;

use super::select::Selection;

/// Users read back per part.
const PART: usize = 2_000;

/// Reads the switch of every selected user that looks converted and that this resource
/// switched (`applied`), in JSON batches when the client batches; marks those that read
/// `false` as rolled back. Returns how many were. A read that still fails transiently after
/// the client's retries only skips that user until the next pass: at thousands of users, one
/// unlucky request must not throw the whole pass away (a refusal, e.g. a missing permission,
/// is returned).
pub(super) async fn read_switches(
    ctx: &Context<'_>,
    selection: &mut Selection,
    applied: &IdSet,
) -> Result<usize, GraphError> {
    let to_check = super::confirm::positions(selection, |c| {
        !c.synced && c.formerly_synced && applied.contains(c.id())
    });
    let (mut rolled_back, mut unread) = (0, 0);
    // In parts: the ids and answers of one part are held at a time, however many users were
    // converted.
    for part in to_check.chunks(PART) {
        let part = super::confirm::ids_at(selection, part);
        let results = ctx.graph.users_cloud_managed(&part, ctx.concurrency).await;
        for (id, result) in part.iter().zip(results) {
            let cloud_managed = match result {
                Ok(v) => v,
                Err(e) if e.category().is_retryable() => {
                    unread += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if !cloud_managed && let Some(c) = selection.candidates.get_mut(id) {
                c.rolled_back = true;
                rolled_back += 1;
            }
        }
    }
    if unread > 0 {
        warn!(
            unread,
            "could not read back the switch of some converted users; they are read again next pass"
        );
    }
    Ok(rolled_back)
}
