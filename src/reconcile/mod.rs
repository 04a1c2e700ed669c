//! The reconcilers: one module per resource kind. Each reads the resource's spec and last
//! status plus Graph, and returns the new status, the Events to emit and when to look again.
//! They know nothing of Kubernetes; the controller and the local runner are thin shells.

pub mod group;
pub mod health;
pub mod link_audit;
pub mod permissions;
pub mod settle;
pub mod tenant;
pub mod user;

use std::time::Duration;

use crate::graph::{GraphClient, GraphError};
use crate::journal::{Journal, JournalError, ResourceKey};

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

/// What the pass works with.
pub struct Context<'a> {
    /// Graph for this tenant.
    pub graph: &'a GraphClient,
    /// Where changes are recorded before they are made.
    pub journal: &'a dyn Journal,
    /// The resource, for journal records.
    pub resource: ResourceKey,
    /// Graph requests in flight at once: JSON batches when the client batches.
    pub concurrency: usize,
    /// The time to stamp on conditions and timestamps.
    pub now: jiff::Timestamp,
    /// What the tenant guard keeps between passes (its delta links, `tenant::guard`): the
    /// controller and the local runner each hold one for all their resources; the other
    /// reconcilers leave it alone.
    pub guard: &'a tenant::guard::GuardCache,
    /// The tenant's on-premises Active Directory (`spec.activeDirectory`) as the shell
    /// resolved it (settings, or why they are unusable); `None` when the tenant has none.
    pub ad: Option<&'a DirectoryConnection>,
}

/// The LDAP settings of a tenant's Active Directory, or why its Secrets make them unusable.
pub type DirectoryConnection = Result<crate::ad::AdSettings, crate::ad::AdError>;
