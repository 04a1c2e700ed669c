//! The on-premises side of a user conversion, when the tenant has `activeDirectory`: connect
//! and bind (a bad password or an unreachable DC stalls the resource before any write), then
//! audit the AD ↔ Entra link of the selected users into `status.linkAudit`.

use std::collections::BTreeSet;

use crate::ad::AdClient;
use crate::api::active_directory::AfterConversion;
use crate::api::user::{CloudUserConversionSpec, CloudUserConversionStatus};
use crate::reconcile::link_audit::{self, AuditError, AuditReport};
use crate::reconcile::{Context, ReconcileError, ReconcileEvent, Stall};

use super::select::Selection;

/// A bound directory and what the audit joined.
pub struct Directory {
    /// The bound connection.
    pub client: AdClient,
    /// The audit of this pass (each selected synchronised user's AD object in `joined`).
    pub audit: AuditReport,
}

/// What the pass does about the directory.
pub enum Prepared {
    /// The tenant has no `activeDirectory`: the cloud half only, as before.
    Absent,
    /// Connected, bound and audited.
    Ready(Box<Directory>),
    /// Stall: the connection or its Secret needs a human.
    Stall(Stall),
}

/// Connect, bind and audit. Reads only, on both sides.
pub async fn prepare(
    ctx: &Context<'_>,
    spec: &CloudUserConversionSpec,
    selection: &Selection,
    status: &mut CloudUserConversionStatus,
    events: &mut Vec<ReconcileEvent>,
) -> Result<Prepared, ReconcileError> {
    let settings = match ctx.ad {
        None => {
            status.link_audit = None;
            if spec.after_conversion != AfterConversion::Keep {
                return Ok(Prepared::Stall(Stall::invalid_spec(format!(
                    "spec.afterConversion: {:?} acts on the AD objects, but TenantSyncPolicy {} has no spec.activeDirectory; add the connection there or set afterConversion: Keep",
                    spec.after_conversion, spec.tenant_ref.name
                ))));
            }
            return Ok(Prepared::Absent);
        }
        Some(Err(e)) => {
            return Ok(Prepared::Stall(Stall::fixable(
                e.category().reason(),
                e.stall_message(),
            )));
        }
        Some(Ok(s)) => s,
    };
    let client = match AdClient::connect(settings).await {
        Ok(c) => c,
        Err(e) => {
            return Ok(Prepared::Stall(Stall::fixable(
                e.category().reason(),
                e.stall_message(),
            )));
        }
    };
    let scope: BTreeSet<String> = selection
        .candidates
        .values()
        .map(|c| c.id().to_string())
        .collect();
    let audit = match link_audit::run(ctx.graph, &client, Some(&scope)).await {
        Ok(a) => a,
        Err(AuditError::Graph(e)) if e.category().is_retryable() => {
            return Err(ReconcileError::Graph(e));
        }
        Err(AuditError::Graph(e)) => {
            return Ok(Prepared::Stall(Stall::fixable(
                e.category().reason(),
                format!("link audit: reading the synchronised users failed: {e}"),
            )));
        }
        Err(AuditError::Ad(e)) => {
            return Ok(Prepared::Stall(Stall::fixable(
                e.category().reason(),
                format!("link audit: {}", e.stall_message()),
            )));
        }
    };
    let before = status.link_audit.as_ref().map(|a| a.mismatched);
    if audit.summary.mismatched > 0 && before != Some(audit.summary.mismatched) {
        events.push(ReconcileEvent::warning(
            crate::reasons::LINK_MISMATCH,
            "AuditLinks",
            format!(
                "{}; first: {}",
                audit.summary.describe(),
                audit
                    .summary
                    .findings
                    .first()
                    .and_then(|f| f.user_principal_name.clone())
                    .unwrap_or_default()
            ),
        ));
    }
    status.link_audit = Some(crate::api::active_directory::LinkAudit {
        audited_at: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            ctx.now,
        )),
        ..audit.summary.clone()
    });
    Ok(Prepared::Ready(Box::new(Directory { client, audit })))
}
