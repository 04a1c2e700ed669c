//! The link audit for `plan`: reads only, on both sides; every finding kept.

use std::collections::BTreeSet;

use crate::ad::AdClient;
use crate::api::active_directory::LinkAudit;
use crate::graph::GraphClient;
use crate::reconcile::DirectoryConnection;
use crate::reconcile::link_audit::{self, AuditError};

/// Bind and audit; the error is the plan's problem, naming what to fix.
pub async fn plan_audit(
    graph: &GraphClient,
    ad: DirectoryConnection,
    scope: Option<&BTreeSet<String>>,
) -> Result<LinkAudit, String> {
    let settings = ad.map_err(|e| e.stall_message())?;
    let client = AdClient::connect(&settings)
        .await
        .map_err(|e| e.stall_message())?;
    let report = link_audit::run(graph, &client, scope)
        .await
        .map_err(|e| match e {
            AuditError::Ad(e) => format!("link audit: {}", e.stall_message()),
            AuditError::Graph(e) => format!("link audit: {e}"),
        })?;
    client.close().await;
    Ok(LinkAudit {
        findings: report.findings,
        ..report.summary
    })
}
