//! Fairness between tenants: each kind's controller runs `--workers` passes at once, and the
//! resources of one tenant policy (a TenantSyncPolicy and the conversions naming it, in its
//! namespace) may hold at most all but one of them (one, with two workers). A tenant whose
//! passes are slow (throttled hard, a hostile endpoint) therefore always leaves a worker to the
//! others, whether they share its namespace or not; its own further resources wait their turn
//! (requeued after a few seconds). With `--pass-timeout`, no pass holds a worker for longer
//! than that. A namespace usually holds one tenant's policy, so this is fairness between
//! namespaces too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Passes in flight per (kind, unit), a unit being one tenant policy (`namespace/name`).
pub struct InFlight {
    per_namespace: usize,
    busy: Mutex<HashMap<(String, String), usize>>,
}

/// A pass's place; freed when dropped.
pub struct Slot<'a> {
    owner: &'a InFlight,
    key: (String, String),
}

impl InFlight {
    /// For a controller running `workers` passes of each kind at once.
    pub fn new(workers: usize) -> Self {
        InFlight {
            per_namespace: workers.saturating_sub(1).max(1),
            busy: Mutex::new(HashMap::new()),
        }
    }

    /// How many passes of one kind one unit may run at once.
    pub fn per_namespace(&self) -> usize {
        self.per_namespace
    }

    /// A slot for a pass of `kind` in `unit`, unless its share is taken.
    pub fn try_acquire(&self, kind: &str, unit: &str) -> Option<Slot<'_>> {
        let key = (kind.to_string(), unit.to_string());
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let n = busy.entry(key.clone()).or_insert(0);
        if *n >= self.per_namespace {
            return None;
        }
        *n += 1;
        Some(Slot { owner: self, key })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut busy = self.owner.busy.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = busy.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                busy.remove(&self.key);
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
        assert_eq!(f.per_namespace(), 1);
        let a = f.try_acquire("CloudUserConversion", "team-a").unwrap();
        assert!(f.try_acquire("CloudUserConversion", "team-a").is_none());
        // Other namespaces and other kinds are not held back.
        let b = f.try_acquire("CloudUserConversion", "team-b").unwrap();
        let t = f.try_acquire("TenantSyncPolicy", "team-a").unwrap();
        drop(a);
        assert!(f.try_acquire("CloudUserConversion", "team-a").is_some());
        drop((b, t));
        assert!(f.busy.lock().unwrap().is_empty());
    }

    #[test]
    fn a_slow_tenant_leaves_a_worker_to_the_other_tenants_of_its_namespace() {
        let f = InFlight::new(2);
        let slow = f.try_acquire("TenantSyncPolicy", "msp/tenant-1").unwrap();
        assert!(f.try_acquire("TenantSyncPolicy", "msp/tenant-1").is_none());
        assert!(f.try_acquire("TenantSyncPolicy", "msp/tenant-2").is_some());
        drop(slow);
    }

    #[test]
    fn shares_follow_the_worker_count() {
        assert_eq!(InFlight::new(1).per_namespace(), 1);
        assert_eq!(InFlight::new(8).per_namespace(), 7);
        let f = InFlight::new(4);
        let held: Vec<_> = (0..3).map(|_| f.try_acquire("K", "ns").unwrap()).collect();
        assert!(f.try_acquire("K", "ns").is_none());
        assert_eq!(held.len(), 3);
        let d = busy_retry();
        assert!(d >= Duration::from_secs(2) && d < Duration::from_secs(5));
    }
}
