//! The words of the tenant reconciler: drift, stall messages that name the fix, and the
//! recognition of Entra's refusals.

use crate::api::tenant::TenantSyncPolicySpec;
use crate::graph::{ErrorCategory, GraphError};

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

fn client_id(spec: &TenantSyncPolicySpec) -> String {
    let c = &spec.credentials;
    c.client_secret
        .as_ref()
        .map(|s| s.client_id.clone())
        .or_else(|| c.certificate.as_ref().map(|s| s.client_id.clone()))
        .or_else(|| {
            c.workload_identity
                .as_ref()
                .and_then(|s| s.client_id.clone())
        })
        .unwrap_or_else(|| "(AZURE_CLIENT_ID)".into())
}

fn credentials_fix(spec: &TenantSyncPolicySpec, namespace: &str) -> String {
    let c = &spec.credentials;
    if let Some(cs) = &c.client_secret {
        format!(
            "check that Secret {}/{} key {:?} holds a current client secret value (not the secret's id) of application {} registered in tenant {}",
            namespace, cs.secret_ref.name, cs.secret_ref.key, cs.client_id, spec.tenant_id
        )
    } else if let Some(cert) = &c.certificate {
        format!(
            "check that Secret {}/{} holds the certificate registered on application {} and its private key",
            namespace, cert.secret_ref.name, cert.client_id
        )
    } else {
        format!(
            "check the federated credential of application {} (issuer, subject and audience must match the pod's service account token)",
            client_id(spec)
        )
    }
}

/// The message of a resource stalled by `e` (not retryable): what failed and the fix, naming
/// the Secret, permission or field to change. Shared by every resource of the tenant;
/// `needed` is the resource's application permissions (`reconcile::permissions`), of which a
/// missing one is named.
pub fn stall_message(
    e: &GraphError,
    spec: &TenantSyncPolicySpec,
    namespace: &str,
    needed: &[&'static str],
) -> String {
    let fix = match e.category() {
        ErrorCategory::InvalidCredentials => credentials_fix(spec, namespace),
        ErrorCategory::TenantNotFound => format!(
            "check spec.tenantId ({}) and spec.cloud ({:?}) of the TenantSyncPolicy",
            spec.tenant_id, spec.cloud
        ),
        ErrorCategory::MissingPermission => format!(
            "grant the application permission {} to application {} and grant admin consent{}",
            e.operation()
                .map(|o| crate::reconcile::permissions::to_grant(o, needed))
                .unwrap_or("required"),
            client_id(spec),
            if needed.is_empty() {
                String::new()
            } else {
                format!(" (this resource needs {})", needed.join(", "))
            }
        ),
        _ => "see the message; the operator retries every 5 minutes".to_string(),
    };
    format!("{e}. Fix: {fix}")
}

/// Entra's refusal while a tenant-wide disable runs (wording from the sync client; Graph's
/// exact text is unconfirmed, so match its gist).
pub(super) fn is_pending_disable(e: &GraphError) -> bool {
    matches!(e, GraphError::Api { status: 400, message, .. } if message.to_ascii_lowercase().contains("pending disable"))
}
