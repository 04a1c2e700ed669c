//! How the controller runs: its options, leader election, where journals go, and what a
//! cluster administrator allowed it.

use std::sync::Arc;

use crate::journal::Journal;

use super::grants;

/// Leader election settings.
#[derive(Clone, Debug)]
pub struct LeaseOptions {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// Seconds a lease stays valid without renewal.
    pub duration_s: u64,
}

/// Where journals go.
#[derive(Clone)]
pub enum JournalStore {
    /// ConfigMaps in this namespace (the default in a cluster).
    ConfigMaps(String),
    /// One shared journal (tests, local rehearsals).
    Shared(Arc<dyn Journal>),
}

/// How the controller runs.
#[derive(Clone)]
pub struct ControllerOptions {
    /// Namespaces to watch; empty = all.
    pub namespaces: Vec<String>,
    /// Where journals are kept.
    pub journal: JournalStore,
    /// With [`JournalStore::ConfigMaps`]: the Secret (in the journal namespace) holding the
    /// journal key and heads, created at start when absent.
    pub journal_key_secret: String,
    /// Graph requests (JSON batches, when batching) in flight at once per resource.
    pub concurrency: usize,
    /// Resources reconciled at once.
    pub workers: u16,
    /// Tenant seconds per real second (rehearsals against a fast emulator).
    pub time_scale: f64,
    /// Leader election; `None` runs without (a single replica).
    pub lease: Option<LeaseOptions>,
    /// Reported as the Events' reporting instance.
    pub instance: Option<String>,
    /// Where the operator's own identity may act, and whether endpoints may be overridden.
    pub security: Security,
}

/// What a cluster administrator allowed the operator to do for the namespaces it watches.
#[derive(Clone, Debug)]
pub struct Security {
    /// Credential grants for the operator's own (workload) identity.
    pub grants: Arc<grants::Grants>,
    /// Honour `spec.endpoints` naming other hosts than Microsoft's (the emulator, a proxy).
    pub allow_endpoint_override: bool,
    /// The longest a pass may run before it is cut (its journal intents are settled by the
    /// next pass, as after a restart).
    pub pass_timeout: std::time::Duration,
}

impl Default for Security {
    /// Nothing granted, no overrides, passes cut after 30 minutes.
    fn default() -> Self {
        Security {
            grants: Arc::new(grants::Grants::default()),
            allow_endpoint_override: false,
            pass_timeout: std::time::Duration::from_secs(30 * 60),
        }
    }
}
