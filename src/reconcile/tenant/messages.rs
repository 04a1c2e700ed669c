//! The words of the tenant reconciler: drift, stall messages that name the fix, and the
//! recognition of Entra's refusals.

use crate::graph::GraphError;

use super::plan::Drift;

pub(super) fn drift_text(drift: Drift) -> &'static str {
    match drift {
        Drift::SyncReEnabled => "directory synchronisation was re-enabled outside the operator",
        Drift::SyncDisabled => "directory synchronisation was disabled outside the operator",
    }
}

pub(super) fn first_message(failures: &[crate::api::tenant::ObjectFailure]) -> String {
    failures
        .first()
        .map(|f| f.message.clone())
        .unwrap_or_default()
}

/// Entra's refusal while a tenant-wide disable runs (wording from the sync client; Graph's
/// exact text is unconfirmed, so match its gist).
pub(super) fn is_pending_disable(e: &GraphError) -> bool {
    matches!(e, GraphError::Api { status: 400, message, .. } if message.to_ascii_lowercase().contains("pending disable"))
}
