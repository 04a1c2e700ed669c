//! The process-wide pacers, one per (Graph service, tenant, application) in use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::{Pacer, Quota};

type Key = (String, String, String);

/// Weak: a pacer lives while a client uses it, so a tenant no longer served (its policy
/// deleted, its client dropped) leaves nothing behind.
fn registry() -> &'static Mutex<HashMap<Key, Weak<Pacer>>> {
    static PACERS: OnceLock<Mutex<HashMap<Key, Weak<Pacer>>>> = OnceLock::new();
    PACERS.get_or_init(Mutex::default)
}

/// The pacer of (`service`, `tenant`, `client_id`) in this process, made for `quota` when no
/// client uses one; a later client with another quota changes it for all (the last configured
/// applies). `service` is Graph's origin: national clouds (and emulators) keep quotas of their
/// own. Each tenant's pacer is its own: one tenant's 429s never slow another.
pub fn shared(service: &str, tenant: &str, client_id: &str, quota: Quota) -> Arc<Pacer> {
    let key = (
        service.to_ascii_lowercase(),
        tenant.to_ascii_lowercase(),
        client_id.to_ascii_lowercase(),
    );
    let mut pacers = registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(pacer) = pacers.get(&key).and_then(Weak::upgrade) {
        pacer.set_quota(quota);
        return pacer;
    }
    // Entries of pacers no client uses any more go as new ones come.
    pacers.retain(|_, p| p.strong_count() > 0);
    let pacer = Arc::new(Pacer::new(quota));
    pacers.insert(key, Arc::downgrade(&pacer));
    pacer
}

/// How many pacers clients use now.
pub fn live() -> usize {
    registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .values()
        .filter(|p| p.strong_count() > 0)
        .count()
}

/// How many pacers clients of Graph service `service` (an origin, e.g. `https://host:port`) use
/// now.
pub fn live_for(service: &str) -> usize {
    let service = service.trim_end_matches('/').to_ascii_lowercase();
    registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|((s, _, _), p)| *s == service && p.strong_count() > 0)
        .count()
}
