//! The reconcilers: one module per resource kind. Each reads the resource's spec and last
//! status plus Graph, and returns the new status, the Events to emit and when to look again.
//! They know nothing of Kubernetes; the controller and the local runner are thin shells.

pub mod group;
pub mod health;
pub mod kinds;
pub mod link_audit;
pub mod outcome;
pub mod permissions;
pub mod preflight;
pub mod remedy;
pub mod resource;
pub mod revert_trust;
pub mod rollout;
pub mod selections;
pub mod settle;
pub mod tenant;
pub mod user;
pub mod validate;

pub use outcome::{
    EventType, GUARD_INTERVAL, Outcome, ReconcileError, ReconcileEvent, Retry, RevertOutcome, Stall,
};
pub use validate::SpecError;

use crate::graph::GraphClient;
use crate::journal::{Journal, ResourceKey};

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
    /// What the conversions of this process select, so that the later of two never writes an
    /// object the earlier selects (`rollout::overlap`); `None`: the pass is on its own (tests,
    /// `plan`'s previews, reverts).
    pub selections: Option<&'a selections::Selections>,
}

/// The LDAP settings of a tenant's Active Directory, or why its Secrets make them unusable.
pub type DirectoryConnection = Result<crate::ad::AdSettings, crate::ad::AdError>;
