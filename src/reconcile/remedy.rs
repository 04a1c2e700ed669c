//! The remedy a stalled resource's message names: the Secret, permission or field to change,
//! for a Graph failure that retrying cannot cure. Shared by every kind of the tenant.

use crate::api::tenant::TenantSyncPolicySpec;
use crate::graph::{ErrorCategory, GraphError};

use super::RevertOutcome;
use super::permissions::to_grant;

/// The application (client) id of the tenant's credentials.
pub(crate) fn client_id(spec: &TenantSyncPolicySpec) -> String {
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
                .map(|o| to_grant(o, needed))
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

/// A revert Graph refused for a missing permission, naming the one of `needed` to grant.
pub(crate) fn missing_permission(e: &GraphError, needed: &[&'static str]) -> Option<RevertOutcome> {
    if e.category() != ErrorCategory::MissingPermission {
        return None;
    }
    let grant = e.operation().map_or("required", |o| to_grant(o, needed));
    Some(RevertOutcome::MissingPermission(format!(
        "{e}. Fix: grant the application permission {grant} and grant admin consent (undoing this resource needs {}); the operator retries every 5 minutes",
        needed.join(", ")
    )))
}
