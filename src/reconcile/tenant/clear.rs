//! Clear `onPremisesImmutableId` on every formerly synchronised user, journaling each prior
//! value before the write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use crate::api::common::ObjectFailure;
use crate::graph::models::User;
use crate::graph::{ErrorCategory, GraphClient, GraphError};
use crate::journal::{Action, Journal, JournalError, Phase, Record, ResourceKey};
use crate::reconcile::ReconcileError;

use super::observe::user_query;

/// Users journaled and written as one group: one fsync per group. Large enough that the
/// wait for a group's slowest batch is a small share of its time at the write quota.
const CHUNK: usize = 400;

/// What a clearing pass did.
#[derive(Debug, Default)]
pub struct ClearReport {
    /// ImmutableIDs Graph accepted to clear.
    pub cleared: i64,
    /// Users whose clearing failed (permanent or transient).
    pub failures: Vec<ObjectFailure>,
    /// Of those, failures worth retrying unchanged (throttling, 5xx).
    pub transient: i64,
    /// A failure that stopped the pass: missing permission or refused credentials. Writing
    /// on would only repeat it.
    pub fatal: Option<GraphError>,
}

/// Where the records go and on whose behalf.
pub struct ClearContext<'a> {
    /// Graph.
    pub graph: &'a GraphClient,
    /// The journal.
    pub journal: &'a dyn Journal,
    /// The resource.
    pub resource: &'a ResourceKey,
    /// The tenant.
    pub tenant_id: &'a str,
    /// Batches (or, without batching, writes) in flight at once.
    pub concurrency: usize,
    /// Time stamped on failures.
    pub now: jiff::Timestamp,
}

/// One pass over all users. Listing failures end the pass with an error; write failures are
/// collected per user.
pub async fn clear_immutable_ids(ctx: &ClearContext<'_>) -> Result<ClearReport, ReconcileError> {
    let mut report = ClearReport::default();
    let federated = ctx.graph.organization().await?.federated_domains();
    let mut pager = ctx.graph.users(&user_query())?;
    while let Some(page) = pager.next_page().await? {
        let targets: Vec<User> = page
            .items
            .into_iter()
            .filter(|u| {
                u.is_formerly_synced()
                    && u.on_premises_immutable_id.is_some()
                    && !super::observe::in_federated_domain(u, &federated)
            })
            .collect();
        for chunk in targets.chunks(CHUNK) {
            clear_chunk(ctx, chunk, &mut report).await?;
            if report.fatal.is_some() {
                return Ok(report);
            }
        }
    }
    Ok(report)
}

async fn clear_chunk(
    ctx: &ClearContext<'_>,
    users: &[User],
    report: &mut ClearReport,
) -> Result<(), JournalError> {
    let intents: Vec<Record> = users
        .iter()
        .map(|u| record(ctx, u, Phase::Intent, None, None))
        .collect();
    ctx.journal.append(&intents).await?;

    // JSON batches of up to 20 (or one request per user when the client does not batch),
    // `concurrency` at a time; one answer per user, in order.
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let answers = ctx.graph.clear_immutable_ids(&ids, ctx.concurrency).await;
    let results = users.iter().zip(answers);

    let mut outcomes = Vec::with_capacity(users.len());
    for (user, result) in results {
        match result {
            Ok(receipt) => {
                report.cleared += 1;
                outcomes.push(record(ctx, user, Phase::Applied, receipt.request_id, None));
            }
            Err(err) => {
                let category = err.category();
                outcomes.push(record(
                    ctx,
                    user,
                    Phase::Failed,
                    None,
                    Some(err.to_string()),
                ));
                if matches!(
                    category,
                    ErrorCategory::MissingPermission
                        | ErrorCategory::InvalidCredentials
                        | ErrorCategory::TenantNotFound
                ) {
                    if report.fatal.is_none() {
                        report.fatal = Some(err);
                    }
                    continue;
                }
                if category.is_retryable() {
                    report.transient += 1;
                }
                report.failures.push(ObjectFailure {
                    object_id: user.id.clone(),
                    name: user.user_principal_name.clone(),
                    action: "ClearImmutableId".into(),
                    code: err.code().unwrap_or(category.reason()).to_string(),
                    message: err.to_string(),
                    time: Time(ctx.now),
                });
            }
        }
    }
    ctx.journal.append(&outcomes).await
}

fn record(
    ctx: &ClearContext<'_>,
    user: &User,
    phase: Phase,
    request_id: Option<String>,
    error: Option<String>,
) -> Record {
    Record {
        resource: ctx.resource.clone(),
        tenant_id: ctx.tenant_id.to_string(),
        object_type: "user".into(),
        object_id: user.id.clone(),
        object_name: user.user_principal_name.clone(),
        action: Action::ClearImmutableId,
        phase,
        prior: json!({ "onPremisesImmutableId": user.on_premises_immutable_id }),
        request_id,
        error,
        note: None,
    }
}
