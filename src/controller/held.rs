//! What the controller keeps per resource between passes (Graph clients with their cached
//! tokens, journals, failure counts, guard delta links, metric series) and its release when the
//! resource goes: at once on the finalizer path or when a pass sees the deletion, and by the
//! periodic sweep against the watch caches ([`super::roster::sweep`]) for resources deleted
//! without a finalizer, whose going no pass ever sees. A tenant's pacer lives as long as a
//! client uses it (`graph::pacing::shared`), so dropping the client frees it too.

use std::collections::HashSet;

use crate::journal::ResourceKey;

use super::Context;

/// How much the controller keeps, per map: what tests and benches look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Resources the controller has run a pass for and not yet released.
    pub resources: usize,
    /// Graph clients (one per TenantSyncPolicy).
    pub graph_clients: usize,
    /// Journals (one per resource, with the ConfigMap store).
    pub journals: usize,
    /// Resources with failures counted since their last good pass.
    pub failures: usize,
    /// Resources with guard delta links kept.
    pub guard_links: usize,
    /// Resources with metric series.
    pub metric_series: usize,
    /// Pacers alive in the process (every (service, tenant, application) a client uses).
    pub pacers: usize,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Context {
    /// `key` has had a pass: what is kept for it is released when it goes.
    pub(super) fn note(&self, key: &ResourceKey) {
        let mut known = lock(&self.known);
        if !known.contains(key) {
            known.insert(key.clone());
        }
    }

    /// `key` is gone: drop everything kept for it. A TenantSyncPolicy's Graph client goes
    /// (and with it, once no pass in flight still holds it, its pacer and cached token), with
    /// the series of its tenant's quota.
    pub fn release(&self, key: &ResourceKey) {
        let name = key.to_string();
        if let Some(client) = lock(&self.graphs).remove(&name) {
            self.metrics.forget_tenant(&client.tenant_id);
        }
        lock(&self.journals).remove(&name);
        lock(&self.failures).remove(&name);
        lock(&self.known).remove(key);
        self.guard.forget(key);
        self.selections.remove(key);
        self.metrics.forget(&key.kind, &key.namespace, &key.name);
    }

    /// Only the resources of `existing` (the watches' caches) keep what is kept for them.
    pub fn retain(&self, existing: &[ResourceKey]) {
        let existing: HashSet<&ResourceKey> = existing.iter().collect();
        let gone: Vec<ResourceKey> = lock(&self.known)
            .iter()
            .filter(|k| !existing.contains(k))
            .cloned()
            .collect();
        for key in &gone {
            self.release(key);
        }
        if !gone.is_empty() {
            tracing::debug!(
                released = gone.len(),
                "released what was kept for deleted resources"
            );
        }
        // Series of resources this process never passed (a previous term's) go too.
        let existing: Vec<ResourceKey> = existing.into_iter().cloned().collect();
        self.metrics.retain(&existing);
    }

    /// How much is kept now.
    pub fn held(&self) -> Held {
        Held {
            resources: lock(&self.known).len(),
            graph_clients: lock(&self.graphs).len(),
            journals: lock(&self.journals).len(),
            failures: lock(&self.failures).len(),
            guard_links: self.guard.len(),
            metric_series: self.metrics.resources_with_series(),
            pacers: crate::graph::pacing::live(),
        }
    }
}
