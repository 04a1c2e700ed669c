//! Fairness between namespaces and between tenants: each kind's controller runs `--workers`
//! passes at once; the resources of one namespace may hold at most all but one of them (one,
//! with two workers), and those of one tenant policy (a TenantSyncPolicy and the conversions
//! naming it) at most all but one of their namespace's share. A namespace whose passes are
//! slow or face a hostile endpoint therefore always leaves a worker to the other namespaces,
//! and, with three workers or more, a tenant throttled hard leaves one to the other tenants of
//! its namespace (a managed service provider's policies, one per customer tenant, in one
//! namespace). Their further resources wait their turn (requeued after a few seconds). With
//! `--pass-timeout`, no pass holds a worker for longer than that.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Passes in flight per (kind, namespace) and per (kind, namespace/policy).
pub struct InFlight {
    per_namespace: usize,
    per_policy: usize,
    busy: Mutex<HashMap<(String, String), usize>>,
}

/// A pass's place; freed when dropped.
pub struct Slot<'a> {
    owner: &'a InFlight,
    keys: [(String, String); 2],
}

impl InFlight {
    /// For a controller running `workers` passes of each kind at once.
    pub fn new(workers: usize) -> Self {
        let per_namespace = workers.saturating_sub(1).max(1);
        InFlight {
            per_namespace,
            per_policy: per_namespace.saturating_sub(1).max(1),
            busy: Mutex::new(HashMap::new()),
        }
    }

    /// How many passes of one kind one namespace may run at once.
    pub fn per_namespace(&self) -> usize {
        self.per_namespace
    }

    /// How many passes of one kind one tenant policy may run at once.
    pub fn per_policy(&self) -> usize {
        self.per_policy
    }

    /// A slot for a pass of `kind` in `namespace` for tenant policy `policy`, unless the
    /// namespace's or the policy's share is taken.
    pub fn try_acquire(&self, kind: &str, namespace: &str, policy: &str) -> Option<Slot<'_>> {
        let ns = (kind.to_string(), namespace.to_string());
        let unit = (kind.to_string(), format!("{namespace}/{policy}"));
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let held = |k: &(String, String)| busy.get(k).copied().unwrap_or(0);
        if held(&ns) >= self.per_namespace || held(&unit) >= self.per_policy {
            return None;
        }
        *busy.entry(ns.clone()).or_insert(0) += 1;
        *busy.entry(unit.clone()).or_insert(0) += 1;
        Some(Slot {
            owner: self,
            keys: [ns, unit],
        })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut busy = self.owner.busy.lock().unwrap_or_else(|p| p.into_inner());
        for key in &self.keys {
            if let Some(n) = busy.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    busy.remove(key);
                }
            }
        }
    }
}

/// When a resource whose tenant had no free slot is looked at again: 2 to 5 seconds, so
/// waiting resources do not all come back at once.
pub fn busy_retry() -> Duration {
    Duration::from_millis(2_000 + fastrand::u64(..3_000))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_namespace_leaves_a_worker_to_the_others() {
        let f = InFlight::new(2);
        assert_eq!((f.per_namespace(), f.per_policy()), (1, 1));
        let a = f
            .try_acquire("CloudUserConversion", "team-a", "t1")
            .unwrap();
        assert!(
            f.try_acquire("CloudUserConversion", "team-a", "t1")
                .is_none()
        );
        // Another policy of the same namespace does not get the last worker either.
        assert!(
            f.try_acquire("CloudUserConversion", "team-a", "t2")
                .is_none()
        );
        // Other namespaces and other kinds are not held back.
        let b = f
            .try_acquire("CloudUserConversion", "team-b", "t1")
            .unwrap();
        let t = f.try_acquire("TenantSyncPolicy", "team-a", "t1").unwrap();
        drop(a);
        assert!(
            f.try_acquire("CloudUserConversion", "team-a", "t2")
                .is_some()
        );
        drop((b, t));
        assert!(f.busy.lock().unwrap().is_empty());
    }

    #[test]
    fn with_three_workers_a_slow_tenant_leaves_one_to_the_other_tenants_of_its_namespace() {
        let f = InFlight::new(3);
        assert_eq!((f.per_namespace(), f.per_policy()), (2, 1));
        let slow = f
            .try_acquire("TenantSyncPolicy", "msp", "tenant-1")
            .unwrap();
        assert!(
            f.try_acquire("TenantSyncPolicy", "msp", "tenant-1")
                .is_none()
        );
        let other = f
            .try_acquire("TenantSyncPolicy", "msp", "tenant-2")
            .unwrap();
        // The namespace's share is taken: the third worker stays with the other namespaces.
        assert!(
            f.try_acquire("TenantSyncPolicy", "msp", "tenant-3")
                .is_none()
        );
        assert!(f.try_acquire("TenantSyncPolicy", "team-b", "t1").is_some());
        drop((slow, other));
    }

    #[test]
    fn shares_follow_the_worker_count() {
        assert_eq!(InFlight::new(1).per_namespace(), 1);
        assert_eq!(InFlight::new(1).per_policy(), 1);
        assert_eq!(InFlight::new(8).per_namespace(), 7);
        assert_eq!(InFlight::new(8).per_policy(), 6);
        let f = InFlight::new(4);
        let held: Vec<_> = (0..2)
            .map(|_| f.try_acquire("K", "ns", "p").unwrap())
            .collect();
        assert!(f.try_acquire("K", "ns", "p").is_none());
        let third = f.try_acquire("K", "ns", "q").unwrap();
        assert!(f.try_acquire("K", "ns", "r").is_none());
        assert_eq!(held.len(), 2);
        drop(third);
        let d = busy_retry();
        assert!(d >= Duration::from_secs(2) && d < Duration::from_secs(5));
    }
}
