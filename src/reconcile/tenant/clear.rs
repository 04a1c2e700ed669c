//! Clear `onPremisesImmutableId` on every formerly synchronised user, journaling each prior
//! value before the write. Users this resource already cleared that the (lagging) listing
//! still shows with one are read back first (`confirm.rs`), not written again.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use crate::api::common::ObjectFailure;
use crate::graph::models::User;
use crate::graph::{GraphClient, GraphError};
use crate::guid::IdSet;
use crate::journal::{Action, Journal, JournalError, Phase, Record, ResourceKey};
use crate::reconcile::ReconcileError;

use super::confirm::{self, Verdict};
use super::observe::user_query;

/// Users journaled and written as one group: one fsync per group. Large enough that the
/// wait for a group's slowest batch is a small share of its time at the write quota.
const CHUNK: usize = 400;

/// What a clearing pass did.
#[derive(Debug, Default)]
pub struct ClearReport {
    /// ImmutableIDs Graph accepted to clear.
    pub cleared: i64,
    /// Users this resource had cleared that the listing still showed with an ImmutableID and
    /// that read back cleared: counted as cleared, not written again.
    pub confirmed: i64,
    /// Of those, users that still read set within the consistency window, or could not be
    /// read: not written, read again next pass.
    pub waiting: i64,
    /// Users this resource had cleared that still read set after the window: set again
    /// outside the operator, and cleared once more (counted in `cleared` when accepted).
    pub set_again: i64,
    /// The first of those (UPN, else id), for the Event.
    pub first_set_again: Option<String>,
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
    /// Users whose ImmutableID this resource cleared before (an `Applied` clear in its
    /// journal).
    pub cleared_before: &'a IdSet,
    /// Whether the pass is within the consistency window after the last clearing.
    pub within: bool,
}

/// The note on the records of a user cleared once more.
const SET_AGAIN_NOTE: &str = "set again after this resource cleared it (read back after the consistency window): cleared once more";

/// One pass over all users, page by page. Listing failures end the pass with an error; write
/// failures are collected per user.
pub async fn clear_immutable_ids(ctx: &ClearContext<'_>) -> Result<ClearReport, ReconcileError> {
    let mut report = ClearReport::default();
    let federated = ctx.graph.organization().await?.federated_domains();
    let mut pager = ctx.graph.users(&user_query())?;
    while let Some(page) = pager.next_page().await? {
        let (before, fresh): (Vec<User>, Vec<User>) = page
            .items
            .into_iter()
            .filter(|u| {
                u.is_formerly_synced()
                    && u.on_premises_immutable_id.is_some()
                    && !super::observe::in_federated_domain(u, &federated)
            })
            .partition(|u| ctx.cleared_before.contains(&u.id));
        let again = match confirm_page(ctx, before, &mut report).await {
            Ok(again) => again,
            Err(e) => {
                report.fatal = Some(e);
                return Ok(report);
            }
        };
        for (targets, note) in [(fresh, None), (again, Some(SET_AGAIN_NOTE))] {
            for chunk in targets.chunks(CHUNK) {
                clear_chunk(ctx, chunk, note, &mut report).await?;
                if report.fatal.is_some() {
                    return Ok(report);
                }
            }
        }
    }
    Ok(report)
}

/// Reads back the users of a page this resource already cleared (`before`); returns those to
/// clear once more (set again after the window). A refusal is returned.
async fn confirm_page(
    ctx: &ClearContext<'_>,
    before: Vec<User>,
    report: &mut ClearReport,
) -> Result<Vec<User>, GraphError> {
    let ids: Vec<String> = before.iter().map(|u| u.id.clone()).collect();
    let verdicts = confirm::confirm(ctx.graph, ctx.concurrency, &ids, ctx.within).await?;
    let mut again = Vec::new();
    for (user, v) in before.into_iter().zip(verdicts) {
        match v {
            Verdict::Cleared => report.confirmed += 1,
            Verdict::Waiting | Verdict::Unread => report.waiting += 1,
            Verdict::SetAgain => {
                report.set_again += 1;
                if report.first_set_again.is_none() {
                    report.first_set_again =
                        Some(user.user_principal_name.clone().unwrap_or(user.id.clone()));
                }
                tracing::warn!(
                    user = %user.id,
                    "an ImmutableID this resource cleared reads set again after the consistency window: clearing it once more"
                );
                again.push(user);
            }
        }
    }
    Ok(again)
}

async fn clear_chunk(
    ctx: &ClearContext<'_>,
    users: &[User],
    note: Option<&str>,
    report: &mut ClearReport,
) -> Result<(), JournalError> {
    let with_note = |mut r: Record| {
        r.note = note.map(str::to_string);
        r
    };
    let intents: Vec<Record> = users
        .iter()
        .map(|u| with_note(record(ctx, u, Phase::Intent, None, None)))
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
                outcomes.push(with_note(record(
                    ctx,
                    user,
                    Phase::Applied,
                    receipt.request_id,
                    None,
                )));
            }
            Err(err) => {
                let category = err.category();
                outcomes.push(with_note(record(
                    ctx,
                    user,
                    Phase::Failed,
                    None,
                    Some(err.to_string()),
                )));
                if confirm::is_refusal(&err) {
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
