//! The process-wide pacers, one per (Graph service, tenant, application).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::{Pacer, Quota};

type Key = (String, String, String);

fn registry() -> &'static Mutex<HashMap<Key, Arc<Pacer>>> {
    static PACERS: OnceLock<Mutex<HashMap<Key, Arc<Pacer>>>> = OnceLock::new();
    PACERS.get_or_init(Mutex::default)
}

/// The pacer of (`service`, `tenant`, `client_id`) in this process, made for `quota` on first
/// use; a later client with another quota changes it for all (the last configured applies).
/// `service` is Graph's origin: national clouds (and emulators) keep quotas of their own.
/// Pacers live as long as the process: one per tenant and application.
pub fn shared(service: &str, tenant: &str, client_id: &str, quota: Quota) -> Arc<Pacer> {
    let key = (
        service.to_ascii_lowercase(),
        tenant.to_ascii_lowercase(),
        client_id.to_ascii_lowercase(),
    );
    let mut pacers = registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let pacer = pacers
        .entry(key)
        .or_insert_with(|| Arc::new(Pacer::new(quota)));
    pacer.set_quota(quota);
    Arc::clone(pacer)
}
