//! Entra Connect's accidental-delete prevention in the simulated sync client: an export that
//! would delete more objects than the threshold (Connect's default 500) is stopped, nothing
//! exported, until an administrator lets one export through (entra-docs
//! `how-to-connect-sync-feature-prevent-accidental-deletes.md`; graph-api.md §14).

use serde::Serialize;

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

/// The stop of an export that would make `deletes` deletions, past `threshold` (none: no
/// prevention), unless an administrator let it through (`allowed`).
pub fn stopped(deletes: usize, threshold: Option<u32>, allowed: bool) -> Option<ExportStopped> {
    let threshold = threshold?;
    (!allowed && deletes > threshold as usize).then_some(ExportStopped { deletes, threshold })
}
