//! What a pass returns: the new status with its Events and when to look again, a stall and
//! when it is retried, or a failure the shell retries with backoff.

use std::time::Duration;

use crate::graph::GraphError;
use crate::journal::JournalError;

/// Kubernetes Event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Normal progress.
    Normal,
    /// Something a human should look at.
    Warning,
}

/// An Event to publish about the resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconcileEvent {
    /// Normal or Warning.
    pub type_: EventType,
    /// CamelCase reason, e.g. `DisableRequested`.
    pub reason: String,
    /// What the operator did or observed, e.g. `DisableDirectorySync`.
    pub action: String,
    /// Human-readable detail.
    pub note: String,
}

impl ReconcileEvent {
    pub(crate) fn normal(reason: &str, action: &str, note: impl Into<String>) -> Self {
        ReconcileEvent {
            type_: EventType::Normal,
            reason: reason.into(),
            action: action.into(),
            note: note.into(),
        }
    }

    pub(crate) fn warning(reason: &str, action: &str, note: impl Into<String>) -> Self {
        ReconcileEvent {
            type_: EventType::Warning,
            reason: reason.into(),
            action: action.into(),
            note: note.into(),
        }
    }
}

/// The result of one reconcile pass.
#[derive(Clone, Debug)]
pub struct Outcome<S> {
    /// The new status.
    pub status: S,
    /// Events to publish, in order.
    pub events: Vec<ReconcileEvent>,
    /// When to reconcile again, in tenant time (the local runner may scale it down for
    /// rehearsals against an emulator running faster than real time).
    pub requeue_after: Option<Duration>,
}

/// A failure that the next pass may not repeat: the shell retries with backoff. Everything
/// that needs a human ends the pass normally, with `Stalled` in the status.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Graph failed transiently (5xx, connection, throttling) even after the client's retries.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The journal could not be written; no change was sent.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl ReconcileError {
    /// How long Graph asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ReconcileError::Graph(GraphError::Api { retry_after, .. }) => *retry_after,
            _ => None,
        }
    }
}

/// How often a converged resource is looked at again (the guard), and a stalled one that can
/// be fixed without touching it (a Secret, a permission).
pub const GUARD_INTERVAL: Duration = Duration::from_secs(300);

/// When a stalled resource is looked at again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Only when its spec changes: looking again unchanged cannot help (an invalid spec, a
    /// rollout halted on failures).
    OnSpecChange,
    /// After this long: the cause can be fixed outside the resource (a Secret, a permission,
    /// the tenant), so the operator looks again.
    After(Duration),
}

/// A pass that cannot go on without a human: the `Stalled` reason, the message naming the
/// fix, and when to look again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    /// CamelCase reason (`crate::reasons`).
    pub reason: &'static str,
    /// What is wrong and the fix.
    pub message: String,
    /// When to look again.
    pub retry: Retry,
}

impl Stall {
    /// An invalid spec: looked at again when the spec changes.
    pub fn invalid_spec(message: impl Into<String>) -> Self {
        Stall {
            reason: crate::reasons::INVALID_SPEC,
            message: message.into(),
            retry: Retry::OnSpecChange,
        }
    }

    /// A cause that can be fixed outside the resource: looked at again every [`GUARD_INTERVAL`].
    pub fn fixable(reason: &'static str, message: impl Into<String>) -> Self {
        Stall {
            reason,
            message: message.into(),
            retry: Retry::After(GUARD_INTERVAL),
        }
    }

    /// Looked at again only when the spec changes.
    pub fn until_spec_change(reason: &'static str, message: impl Into<String>) -> Self {
        Stall {
            reason,
            message: message.into(),
            retry: Retry::OnSpecChange,
        }
    }

    /// The requeue delay of the pass.
    pub fn requeue_after(&self) -> Option<Duration> {
        match self.retry {
            Retry::OnSpecChange => None,
            Retry::After(d) => Some(d),
        }
    }
}

/// The result of a revert pass.
#[derive(Debug, PartialEq, Eq)]
pub enum RevertOutcome {
    /// Everything undone (`n` objects changed in this pass).
    Done(i64),
    /// Everything undone that Graph lets undo (`n` objects changed in this pass); the message
    /// says what was kept and why (a group's last owner). Done: nothing is left to retry.
    Kept(i64, String),
    /// Entra refuses to hand users back while the tenant blocks hard-match takeover.
    Blocked(String),
    /// Some objects failed; try again later.
    Failed(String),
    /// Graph refused for lack of an application permission: the message names it.
    MissingPermission(String),
}

impl RevertOutcome {
    /// The `Stalled` reason and message of a revert that did not finish.
    pub fn stall(self) -> Stall {
        match self {
            RevertOutcome::Done(n) => {
                Stall::fixable(crate::reasons::REVERTED, format!("{n} objects reverted"))
            }
            RevertOutcome::Kept(n, kept) => Stall::fixable(
                crate::reasons::REVERTED,
                format!("{n} objects reverted; {kept}"),
            ),
            RevertOutcome::MissingPermission(m) => {
                Stall::fixable(crate::reasons::MISSING_PERMISSION, m)
            }
            RevertOutcome::Blocked(m) | RevertOutcome::Failed(m) => {
                Stall::fixable(crate::reasons::REVERT_INCOMPLETE, m)
            }
        }
    }
}

/// A change the next passes would make, for `plan`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    /// The Graph request, e.g. `PATCH /organization/{id} onPremisesSyncEnabled=false`.
    pub request: String,
    /// How many objects it touches.
    pub objects: i64,
    /// What it means.
    pub detail: String,
}

/// One selected object in `plan -o json`, and what `apply` would do to it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedObject {
    /// Object id.
    pub id: String,
    /// User principal name or display name.
    pub name: String,
    /// `convert`, `add owners`, `drifted`, `wait`, `read back` or `none`.
    pub action: &'static str,
}

impl PlannedChange {
    /// Objects `plan` shows and `apply` leaves alone, and why (`excluded`, `not found`, …).
    pub fn none(why: &str, objects: i64, detail: String) -> Self {
        PlannedChange {
            request: format!("none ({why})"),
            objects,
            detail,
        }
    }

    /// Whether `apply` would send this request: every row but [`PlannedChange::none`]'s.
    pub fn is_request(&self) -> bool {
        !self.request.starts_with("none (")
    }

    /// A row of `plan` for one of Microsoft's prerequisites, as `status.prerequisites` has it.
    pub fn prerequisite(p: &crate::api::common::Prerequisite) -> Self {
        PlannedChange::none(
            "prerequisite",
            0,
            format!("{} ({}): {}", p.name, p.state, p.message),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revert_that_kept_owners_is_reverted_and_says_what_it_kept() {
        let kept = RevertOutcome::Kept(3, "the owner added to 2 group(s) was kept".into()).stall();
        assert_eq!(kept.reason, crate::reasons::REVERTED);
        assert_eq!(
            kept.message,
            "3 objects reverted; the owner added to 2 group(s) was kept"
        );
        let done = RevertOutcome::Done(3).stall();
        assert_eq!(
            (done.reason, done.message.as_str()),
            (crate::reasons::REVERTED, "3 objects reverted")
        );
    }
}
