//! Entra Connect's accidental-delete prevention in the simulated sync client: an export that
//! would delete more objects than the threshold (Connect's default 500) is stopped, nothing
//! exported, until an administrator lets one export through (entra-docs
//! `how-to-connect-sync-feature-prevent-accidental-deletes.md`; graph-api.md §14).

use serde::Serialize;

use super::Tenant;
use super::cycle::{CycleReport, plan, sort};

/// An export Entra Connect's accidental-delete prevention stopped: it would have deleted
/// `deletes` objects, more than `threshold` (the Synchronization Service shows the export run
/// as `stopped-deletion-threshold-exceeded`; nothing reaches Entra, and
/// `onPremisesLastSyncDateTime` stops advancing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportStopped {
    /// Deletions the export held.
    pub deletes: usize,
    /// The threshold.
    pub threshold: u32,
}

impl Tenant {
    /// The stop, when this cycle's export would delete more users and groups than the
    /// accidental-delete threshold allows (and no administrator let it through).
    pub(super) fn deletions_over_threshold(&self) -> Option<ExportStopped> {
        let threshold = self.behaviour.accidental_delete_threshold?;
        if self.allow_deletes_once {
            return None;
        }
        let mut probe = CycleReport::default();
        let (mut deletes, mut relinks) = (Vec::new(), Vec::new());
        for u in self.users.values() {
            let anchor = u.sync.values.immutable_id.as_deref();
            let action = plan(
                &u.sync,
                anchor,
                Some(&u.user_principal_name),
                &self.features,
            );
            sort(action, &u.id, &mut relinks, &mut deletes, &mut probe);
        }
        for g in self.groups.values() {
            let action = plan(&g.sync, None, None, &self.features);
            sort(action, &g.id, &mut relinks, &mut deletes, &mut probe);
        }
        (deletes.len() > threshold as usize).then_some(ExportStopped {
            deletes: deletes.len(),
            threshold,
        })
    }
}
