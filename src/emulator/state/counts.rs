//! Object counts for the control endpoint.

use crate::emulator::model::SyncInfo;

/// Object counts for the control endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// All objects.
    pub total: usize,
    /// `onPremisesSyncEnabled == true`.
    pub synced: usize,
    /// Not synced now, but with an `onPremisesLastSyncDateTime`.
    pub formerly_synced: usize,
    /// Never synced.
    pub cloud_only: usize,
    /// Users with an `onPremisesImmutableId`.
    pub with_immutable_id: usize,
    /// `isCloudManaged == true`.
    pub cloud_managed: usize,
}

/// Counts of the objects with these sync states.
pub(super) fn counts<'a>(syncs: impl Iterator<Item = &'a SyncInfo>) -> Counts {
    let mut c = Counts::default();
    for s in syncs {
        c.total += 1;
        c.cloud_managed += usize::from(s.cloud_managed);
        if s.is_synced() {
            c.synced += 1;
        } else if s.last_sync.is_some() {
            c.formerly_synced += 1;
        } else {
            c.cloud_only += 1;
        }
    }
    c
}
