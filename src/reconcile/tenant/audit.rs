//! The tenant's link audit (with `activeDirectory`): every synchronised user of the tenant
//! against the AD users of the synchronised OUs, into `status.linkAudit`. A full read of both
//! sides, so it runs on a spec change and then hourly, not on every guard pass.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::ad::AdClient;
use crate::api::tenant::TenantSyncPolicyStatus;
use crate::reconcile::link_audit::{self, AuditError};
use crate::reconcile::{Context, ReconcileError};

/// How long an audit stays current.
pub const AUDIT_PERIOD: Duration = Duration::from_secs(3600);

/// Whether the status needs a new audit.
fn due(status: &TenantSyncPolicyStatus, fresh: bool, now: jiff::Timestamp) -> bool {
    fresh
        || status
            .link_audit
            .as_ref()
            .and_then(|a| a.audited_at.as_ref())
            .is_none_or(|t| now.duration_since(t.0).unsigned_abs() >= AUDIT_PERIOD || t.0 > now)
}

/// Refresh `status.linkAudit` when due; `Some((reason, message))` when the directory cannot be
/// used (the pass stalls). Without `activeDirectory` the field is cleared.
pub async fn refresh(
    ctx: &Context<'_>,
    status: &mut TenantSyncPolicyStatus,
    fresh: bool,
) -> Result<Option<(&'static str, String)>, ReconcileError> {
    let settings = match ctx.ad {
        None => {
            status.link_audit = None;
            return Ok(None);
        }
        Some(Err(e)) => return Ok(Some((e.category().reason(), e.stall_message()))),
        Some(Ok(s)) => s,
    };
    if !due(status, fresh, ctx.now) {
        return Ok(None);
    }
    let client = match AdClient::connect(settings).await {
        Ok(c) => c,
        Err(e) => return Ok(Some((e.category().reason(), e.stall_message()))),
    };
    let report = match link_audit::run(ctx.graph, &client, None).await {
        Ok(r) => r,
        Err(AuditError::Graph(e)) if e.category().is_retryable() => {
            return Err(ReconcileError::Graph(e));
        }
        Err(AuditError::Graph(e)) => {
            return Ok(Some((
                e.category().reason(),
                format!("link audit: reading the synchronised users failed: {e}"),
            )));
        }
        Err(AuditError::Ad(e)) => {
            return Ok(Some((
                e.category().reason(),
                format!("link audit: {}", e.stall_message()),
            )));
        }
    };
    client.close().await;
    status.link_audit = Some(crate::api::active_directory::LinkAudit {
        audited_at: Some(Time(ctx.now)),
        ..report.summary
    });
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn audits_on_a_new_spec_then_hourly() {
        let now: jiff::Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let mut st = TenantSyncPolicyStatus::default();
        assert!(due(&st, false, now), "never audited");
        st.link_audit = Some(crate::api::active_directory::LinkAudit {
            audited_at: Some(Time("2026-11-22T09:30:00Z".parse().unwrap())),
            ..Default::default()
        });
        assert!(!due(&st, false, now));
        assert!(due(&st, true, now), "a new generation");
        let later: jiff::Timestamp = "2026-11-22T10:31:00Z".parse().unwrap();
        assert!(due(&st, false, later));
    }
}
