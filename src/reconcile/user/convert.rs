//! Convert one wave: journal every intended change with its prior values (one durable group),
//! then switch, verify by reading back and clear, step by step over a part of the wave,
//! several batches at a time. With a batching client each step of twenty users is one JSON
//! batch (three round trips for twenty users instead of sixty); without, one request a user.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use crate::api::common::ObjectFailure;
use crate::api::user::{CloudUserConversionSpec, UserConversionMethod};
use crate::graph::{GraphClient, GraphError};
use crate::journal::{Action, JournalError, Object, Phase, Record, ResourceKey};
use crate::reconcile::Context;
use crate::reconcile::rollout::consistency::read_back;

use super::memberships::GroupRef;
use super::select::Candidate;

/// What a wave did.
#[derive(Debug, Default)]
pub struct WaveReport {
    /// Users fully converted.
    pub converted: i64,
    /// Users that failed, with why.
    pub failures: Vec<ObjectFailure>,
    /// A failure that stopped the wave: missing permission or refused credentials. A 403
    /// after the same step was accepted for another user is that user's failure instead
    /// ([`GraphError::is_fatal`]).
    pub fatal: Option<GraphError>,
    /// Users whose switch Graph accepted but that did not read back within the pass
    /// (eventual consistency): neither converted nor failed, confirmed on a later pass.
    pub unconfirmed: Vec<String>,
    /// Restored users not back in every cloud group recorded before they left sync scope.
    pub memberships_not_restored: i64,
}

/// The changes one user needs, in order.
fn steps(spec: &CloudUserConversionSpec, u: &Candidate) -> Vec<Action> {
    let mut s = Vec::new();
    if spec.method == UserConversionMethod::RestoreDeleted && u.deleted {
        s.push(Action::RestoreUser);
    }
    if spec.method == UserConversionMethod::SourceOfAuthority && (u.synced || u.rolled_back) {
        s.push(Action::SwitchToCloud);
    }
    let clear = match spec.method {
        UserConversionMethod::SourceOfAuthority => spec.clear_immutable_id,
        _ => true,
    };
    if clear && u.immutable_id().is_some() {
        s.push(Action::ClearImmutableId);
    }
    s
}

fn record(
    resource: &ResourceKey,
    tenant: &str,
    u: &Candidate,
    action: Action,
    phase: Phase,
) -> Record {
    let prior = match action {
        Action::SwitchToCloud => {
            json!({"isCloudManaged": false, "onPremisesSyncEnabled": u.synced})
        }
        _ => json!({"onPremisesImmutableId": u.immutable_id()}),
    };
    let user = Object::user(u.id(), Some(u.upn().to_string()));
    Record::new(resource, tenant, user, action, phase, prior)
}

/// Why a user did not get through a step: the Graph error, a restore that did not read back,
/// or an accepted switch that does not read back yet (with the switch's `request-id`).
enum StepError {
    Graph(GraphError),
    NotVerified,
    Unconfirmed(Option<String>),
}

/// What one step of one user came to: the accepted write's request-id, or why it failed.
type StepResult = Result<Option<String>, StepError>;

/// Carries out the steps of the users of `plans`, step kind by step kind, in the order of
/// [`steps`], `in_flight` batches (or, without batching, requests) at a time; a user whose
/// step failed goes no further. Answers per user, in the order given.
async fn convert_group(
    graph: &GraphClient,
    plans: &[(Candidate, Vec<Action>)],
    in_flight: usize,
) -> Vec<Vec<(Action, StepResult)>> {
    let mut done: Vec<Vec<(Action, StepResult)>> = plans.iter().map(|_| Vec::new()).collect();
    for action in [
        Action::RestoreUser,
        Action::SwitchToCloud,
        Action::ClearImmutableId,
    ] {
        let who: Vec<usize> = (0..plans.len())
            .filter(|&i| plans[i].1.contains(&action) && done[i].iter().all(|(_, r)| r.is_ok()))
            .collect();
        if who.is_empty() {
            continue;
        }
        let ids: Vec<String> = who.iter().map(|&i| plans[i].0.id().to_string()).collect();
        let results = match action {
            Action::RestoreUser => restore(graph, &ids, in_flight).await,
            Action::SwitchToCloud => switch(graph, &ids, in_flight).await,
            _ => graph
                .clear_immutable_ids(&ids, in_flight)
                .await
                .into_iter()
                .map(|r| {
                    r.map(|receipt| receipt.request_id)
                        .map_err(StepError::Graph)
                })
                .collect(),
        };
        for (i, result) in who.into_iter().zip(results) {
            done[i].push((action, result));
        }
    }
    done
}

/// Switch, then verify through each user's own `onPremisesSyncBehavior`: a switch counts once
/// it reads back `true`. Graph is eventually consistent, so what reads `false` is read again
/// with backoff (`rollout::consistency::read_back`); what still does is unconfirmed, not
/// failed: a later pass reads it again within the consistency window.
async fn switch(graph: &GraphClient, ids: &[String], in_flight: usize) -> Vec<StepResult> {
    let writes = graph.set_users_cloud_managed(ids, true, in_flight).await;
    let accepted: Vec<String> = ids
        .iter()
        .zip(&writes)
        .filter(|(_, w)| w.is_ok())
        .map(|(id, _)| id.clone())
        .collect();
    let reads = read_back(&accepted, |part| async move {
        graph.users_cloud_managed(&part, in_flight).await
    })
    .await;
    let mut reads = reads.into_iter();
    writes
        .into_iter()
        .map(|w| {
            let receipt = w.map_err(StepError::Graph)?;
            match reads.next() {
                Some(Ok(true)) => Ok(receipt.request_id),
                Some(Ok(false)) | None => Err(StepError::Unconfirmed(receipt.request_id)),
                Some(Err(e)) => Err(StepError::Graph(e)),
            }
        })
        .collect()
}

/// Restore, verified by the read that follows: the same id is back, not synchronised. One
/// request per user (restores are not batched), `in_flight` users at a time.
async fn restore(graph: &GraphClient, ids: &[String], in_flight: usize) -> Vec<StepResult> {
    futures::stream::iter(ids.to_vec())
        .map(|id| {
            let graph = graph.clone();
            async move { restore_one(&graph, &id).await }
        })
        .buffered(in_flight.max(1))
        .collect()
        .await
}

async fn restore_one(graph: &GraphClient, id: &str) -> StepResult {
    match graph.restore_deleted_user(id).await {
        Ok(receipt) => match graph.user(id).await {
            Ok(Some(back)) if !back.is_synced() => Ok(receipt.request_id),
            Ok(_) => Err(StepError::NotVerified),
            Err(e) => Err(StepError::Graph(e)),
        },
        Err(e) => Err(StepError::Graph(e)),
    }
}

/// The failure code of a restored user not back in every cloud group it was in.
pub const MEMBERSHIPS_NOT_RESTORED: &str = "MembershipsNotRestored";

/// For the users of `plans` whose restore went through and whose cloud-group memberships were
/// recorded: the groups that do not read back (empty: every one is back).
async fn memberships_back(
    ctx: &Context<'_>,
    plans: &[(Candidate, Vec<Action>)],
    results: &[Vec<(Action, StepResult)>],
    cloud: &CloudMemberships,
) -> BTreeMap<String, Result<Vec<String>, GraphError>> {
    let expected: Vec<(String, Vec<GroupRef>)> = plans
        .iter()
        .zip(results)
        .filter(|(_, done)| {
            done.iter()
                .any(|(a, r)| *a == Action::RestoreUser && r.is_ok())
        })
        .filter_map(|((u, _), _)| Some((u.id().to_string(), cloud.get(u.id())?.clone())))
        .filter(|(_, groups)| !groups.is_empty())
        .collect();
    if expected.is_empty() {
        return BTreeMap::new();
    }
    let answers = super::memberships::missing_after_restore(ctx.graph, &expected).await;
    expected
        .into_iter()
        .map(|(id, _)| id)
        .zip(answers)
        .collect()
}

/// The note of an accepted switch that did not read back within its pass.
const UNCONFIRMED_NOTE: &str = "accepted; not read back yet (Graph is eventually consistent): confirmed by a later pass within the consistency window";

/// Users journaled and converted together: a wave of 100,000 goes through in parts of this
/// many, so what is held at once (journal records, requests in flight, answers) stays small
/// whatever the wave's size. Large enough that the pause between parts is a few batches' time.
const PART: usize = 2_000;

/// What earlier waves of the resource proved: steps Graph accepted with this token, and
/// users it refused one at a time. A 403 on such a step, or again on such a user, is the
/// refused user's alone (the last wave may hold nobody else).
#[derive(Debug, Default)]
pub struct Earlier {
    accepted: BTreeSet<Action>,
    refused: BTreeSet<(String, String)>,
}

impl Earlier {
    /// From the resource's status: `converted` users (counted once the resource has run a
    /// wave) went through every step of the method (bar an ImmutableID clear, which not every
    /// user needs); `recent` are the failures kept.
    pub fn new(spec: &CloudUserConversionSpec, converted: i64, recent: &[ObjectFailure]) -> Self {
        let accepted = match spec.method {
            _ if converted <= 0 => BTreeSet::new(),
            UserConversionMethod::SourceOfAuthority => [Action::SwitchToCloud].into(),
            UserConversionMethod::RestoreDeleted => {
                [Action::RestoreUser, Action::ClearImmutableId].into()
            }
            UserConversionMethod::ClearImmutableId => [Action::ClearImmutableId].into(),
        };
        let refused = recent
            .iter()
            .filter(|f| f.code == crate::graph::error::REQUEST_DENIED)
            .map(|f| (f.object_id.clone(), f.action.clone()))
            .collect();
        Earlier { accepted, refused }
    }

    /// Whether a 403 on `action` for `id` is that user's alone.
    fn per_object(&self, id: &str, action: Action) -> bool {
        self.accepted.contains(&action)
            || self
                .refused
                .contains(&(id.to_string(), format!("{action:?}")))
    }
}

/// The cloud-group memberships recorded before each user left sync scope (`RestoreDeleted`),
/// read back after its restore.
pub type CloudMemberships = BTreeMap<String, Vec<GroupRef>>;

/// Convert `users`, in parts of [`PART`]: each part's intents are journaled (durably) before
/// any of its requests leaves, its outcomes after they all answered.
pub async fn run_wave(
    ctx: &Context<'_>,
    spec: &CloudUserConversionSpec,
    tenant_id: &str,
    users: &[&Candidate],
    (earlier, cloud): (Earlier, &CloudMemberships),
) -> Result<WaveReport, JournalError> {
    let mut report = WaveReport::default();
    // The steps Graph accepted for some user (earlier or in this wave): a 403 on one of them
    // is the refused user's alone, not a missing permission.
    let mut earlier = earlier;
    for part in users.chunks(PART) {
        let done = run_part(ctx, spec, tenant_id, part, (&mut earlier, cloud)).await?;
        report.converted += done.converted;
        report.memberships_not_restored += done.memberships_not_restored;
        report.failures.extend(done.failures);
        report.unconfirmed.extend(done.unconfirmed);
        if let Some(fatal) = done.fatal {
            // Missing permission or refused credentials: the next parts would fail alike.
            report.fatal.get_or_insert(fatal);
            break;
        }
    }
    Ok(report)
}

async fn run_part(
    ctx: &Context<'_>,
    spec: &CloudUserConversionSpec,
    tenant_id: &str,
    users: &[&Candidate],
    (earlier, cloud): (&mut Earlier, &CloudMemberships),
) -> Result<WaveReport, JournalError> {
    let plans: Vec<(Candidate, Vec<Action>)> = users
        .iter()
        .map(|u| ((*u).clone(), steps(spec, u)))
        .collect();
    let intents: Vec<Record> = plans
        .iter()
        .flat_map(|(u, acts)| {
            acts.iter()
                .map(move |a| record(&ctx.resource, tenant_id, u, *a, Phase::Intent))
        })
        .collect();
    ctx.journal.append(&intents).await?;
    // Durable: not held while the part's requests and outcomes are.
    drop(intents);

    // The part goes through each step together, `ctx.concurrency` batches (or requests) in
    // flight: every switch, then every read-back, then every clear. A switch is read back
    // after the part's switches, not right after its own batch, so Graph's replication lag
    // is waited out once, not by every batch holding its place in the pipeline, while the
    // client's pacer keeps the whole at the tenant's quota.
    let results = convert_group(ctx.graph, &plans, ctx.concurrency.max(1)).await;

    // A switch that did not read back was accepted all the same.
    earlier
        .accepted
        .extend(results.iter().flatten().filter_map(|(action, r)| {
            matches!(
                r,
                Ok(_) | Err(StepError::NotVerified | StepError::Unconfirmed(_))
            )
            .then_some(*action)
        }));
    let missing = memberships_back(ctx, &plans, &results, cloud).await;
    let mut report = WaveReport::default();
    let mut outcomes = Vec::new();
    for ((u, acts), done) in plans.iter().zip(results) {
        let mut complete = done.len() == acts.len() && done.iter().all(|(_, r)| r.is_ok());
        for (action, result) in done {
            let mut r = record(&ctx.resource, tenant_id, u, action, Phase::Applied);
            match result {
                Ok(request_id) if action == Action::RestoreUser => {
                    r.request_id = request_id;
                    match missing.get(u.id()) {
                        Some(Ok(gone)) if !gone.is_empty() => {
                            complete = false;
                            report.memberships_not_restored += 1;
                            let message = format!(
                                "restored, but not back in {} cloud groups it was in before it left sync scope: {}; add it again",
                                gone.len(),
                                gone.join(", ")
                            );
                            r.note = Some(message.clone());
                            report.failures.push(ObjectFailure {
                                object_id: u.id().to_string(),
                                name: Some(u.upn().to_string()),
                                action: format!("{action:?}"),
                                code: MEMBERSHIPS_NOT_RESTORED.into(),
                                message,
                                time: Time(ctx.now),
                            });
                        }
                        Some(Err(e)) => {
                            r.note = Some(format!("cloud-group memberships not read back: {e}"));
                        }
                        _ => {}
                    }
                }
                Ok(request_id) => r.request_id = request_id,
                Err(StepError::Unconfirmed(request_id)) => {
                    // Accepted: the journal says so (a later pass must not switch it again).
                    r.request_id = request_id;
                    r.note = Some(UNCONFIRMED_NOTE.into());
                    report.unconfirmed.push(u.upn().to_string());
                }
                Err(e) => {
                    r.phase = Phase::Failed;
                    let (code, message, fatal) = match e {
                        StepError::NotVerified | StepError::Unconfirmed(_) => (
                            "VerifyFailed".to_string(),
                            match action {
                                Action::RestoreUser => "the restored user did not read back as a cloud-only user".to_string(),
                                _ => "onPremisesSyncBehavior.isCloudManaged did not read back true after the switch".to_string(),
                            },
                            None,
                        ),
                        StepError::Graph(e) => {
                            let code = e.code().unwrap_or(e.category().reason()).to_string();
                            let fatal = e.is_fatal(earlier.per_object(u.id(), action));
                            (code, e.to_string(), fatal.then_some(e))
                        }
                    };
                    r.error = Some(message.clone());
                    if let Some(f) = fatal {
                        report.fatal.get_or_insert(f);
                    } else {
                        report.failures.push(ObjectFailure {
                            object_id: u.id().to_string(),
                            name: Some(u.upn().to_string()),
                            action: format!("{action:?}"),
                            code,
                            message,
                            time: Time(ctx.now),
                        });
                    }
                }
            }
            outcomes.push(r);
        }
        if complete {
            report.converted += 1;
        }
    }
    ctx.journal.append(&outcomes).await?;
    Ok(report)
}
