//! What the listing says of the ImmutableIDs this resource already cleared, confirmed before
//! anything is written again.
//!
//! The users are listed with an advanced query (`ConsistencyLevel: eventual`), read from an
//! index that lags behind writes (graph-api.md §14): a user cleared a moment ago still shows
//! its ImmutableID there, and clearing it again would be a redundant write (and a redundant
//! journal intent). So a user this resource cleared (an `Applied` clear in its journal) that
//! the listing still shows with one is read through its own `GET /users/{id}`, with backoff
//! (`rollout::consistency::read_back`, batched where the client batches):
//!
//! - reads cleared (or gone): the accepted write stands, nothing is written;
//! - still set within the consistency window after the clearing began: waiting (the replica
//!   lags too), neither failed nor written;
//! - still set after the window: someone (or AD) set it again, so it is cleared once more,
//!   and said so;
//! - the read fails: no verdict, the journal's word stands until a later pass; a refusal
//!   (permission, credentials, tenant) stops the pass as a write would.
//!
//! Nothing is declared failed from the lagging listing alone.

use tracing::warn;

use crate::graph::{ErrorCategory, GraphClient, GraphError};
use crate::reconcile::rollout::consistency::read_back;

/// What becomes of a user the listing still shows with the ImmutableID this resource cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Reads cleared (or the user is gone): counted as cleared, not written.
    Cleared,
    /// Still reads set within the window: not written; read again next pass.
    Waiting,
    /// The read failed: not written; read again next pass.
    Unread,
    /// Still reads set after the window: set again outside the operator; cleared once more.
    SetAgain,
}

/// The verdict on one per-object read, `within` the consistency window or not.
pub fn verdict(read: &Result<bool, GraphError>, within: bool) -> Verdict {
    match read {
        Ok(true) => Verdict::Cleared,
        Ok(false) if within => Verdict::Waiting,
        Ok(false) => Verdict::SetAgain,
        Err(_) => Verdict::Unread,
    }
}

/// Whether `e` refuses every request alike: writing (or reading) on would only repeat it.
pub fn is_refusal(e: &GraphError) -> bool {
    matches!(
        e.category(),
        ErrorCategory::MissingPermission
            | ErrorCategory::InvalidCredentials
            | ErrorCategory::TenantNotFound
    )
}

/// Reads each of the users `ids` back (one verdict each, in order). A refusal is returned.
pub async fn confirm(
    graph: &GraphClient,
    concurrency: usize,
    ids: &[String],
    within: bool,
) -> Result<Vec<Verdict>, GraphError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let reads = read_back(ids, |part| async move {
        graph.immutable_ids_cleared(&part, concurrency).await
    })
    .await;
    let mut verdicts = Vec::with_capacity(reads.len());
    let mut unread = 0usize;
    for read in reads {
        match read {
            Err(e) if is_refusal(&e) => return Err(e),
            read => {
                unread += usize::from(read.is_err());
                verdicts.push(verdict(&read, within));
            }
        }
    }
    if unread > 0 {
        warn!(
            unread,
            "could not read back some ImmutableIDs this resource cleared that the listing still shows; they are read again next pass, not written"
        );
    }
    Ok(verdicts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn failed() -> Result<bool, GraphError> {
        Err(GraphError::Transport {
            operation: crate::graph::Operation::GetUser,
            detail: "reset".into(),
        })
    }

    #[test]
    fn only_a_read_that_still_shows_it_after_the_window_is_written_again() {
        assert_eq!(verdict(&Ok(true), true), Verdict::Cleared);
        assert_eq!(verdict(&Ok(true), false), Verdict::Cleared);
        assert_eq!(verdict(&Ok(false), true), Verdict::Waiting);
        assert_eq!(verdict(&Ok(false), false), Verdict::SetAgain);
        // A failed read is never a reason to write (nor a failure): read again later.
        assert_eq!(verdict(&failed(), true), Verdict::Unread);
        assert_eq!(verdict(&failed(), false), Verdict::Unread);
    }

    #[test]
    fn a_transport_failure_is_not_a_refusal() {
        assert!(!is_refusal(&failed().unwrap_err()));
    }
}
