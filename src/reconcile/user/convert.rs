//! Convert one wave: journal every intended change with its prior values (one durable group),
//! then switch, verify by reading back and clear, a few users at a time.

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use crate::api::tenant::ObjectFailure;
use crate::api::user::{CloudUserConversionSpec, UserConversionMethod};
use crate::graph::{ErrorCategory, GraphClient, GraphError};
use crate::journal::{Action, JournalError, Phase, Record, ResourceKey};
use crate::reconcile::Context;

use super::select::Candidate;

/// What a wave did.
#[derive(Debug, Default)]
pub struct WaveReport {
    /// Users fully converted.
    pub converted: i64,
    /// Users that failed, with why.
    pub failures: Vec<ObjectFailure>,
    /// A failure that stopped the wave: missing permission or refused credentials.
    pub fatal: Option<GraphError>,
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
    if clear && u.immutable_id.is_some() {
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
        _ => json!({"onPremisesImmutableId": u.immutable_id}),
    };
    Record {
        resource: resource.clone(),
        tenant_id: tenant.to_string(),
        object_type: "user".into(),
        object_id: u.id.clone(),
        object_name: Some(u.upn.clone()),
        action,
        phase,
        prior,
        request_id: None,
        error: None,
    }
}

/// Why a user failed: the Graph error, or a switch that did not read back.
enum StepError {
    Graph(GraphError),
    NotVerified,
}

async fn convert_one(
    graph: GraphClient,
    u: Candidate,
    actions: Vec<Action>,
) -> Vec<(Action, Result<Option<String>, StepError>)> {
    let mut done = Vec::new();
    for action in actions {
        let result = match action {
            Action::SwitchToCloud => match graph.set_user_cloud_managed(&u.id, true).await {
                Ok(receipt) => match graph.user_cloud_managed(&u.id).await {
                    Ok(true) => Ok(receipt.request_id),
                    Ok(false) => Err(StepError::NotVerified),
                    Err(e) => Err(StepError::Graph(e)),
                },
                Err(e) => Err(StepError::Graph(e)),
            },
            Action::RestoreUser => match graph.restore_deleted_user(&u.id).await {
                // Verified by the read that follows: the same id is back, not synchronised.
                Ok(receipt) => match graph.user(&u.id).await {
                    Ok(Some(back)) if !back.is_synced() => Ok(receipt.request_id),
                    Ok(_) => Err(StepError::NotVerified),
                    Err(e) => Err(StepError::Graph(e)),
                },
                Err(e) => Err(StepError::Graph(e)),
            },
            _ => graph
                .clear_immutable_id(&u.id)
                .await
                .map(|r| r.request_id)
                .map_err(StepError::Graph),
        };
        let failed = result.is_err();
        done.push((action, result));
        if failed {
            break;
        }
    }
    done
}

/// Convert `users`.
pub async fn run_wave(
    ctx: &Context<'_>,
    spec: &CloudUserConversionSpec,
    tenant_id: &str,
    users: &[Candidate],
) -> Result<WaveReport, JournalError> {
    let plans: Vec<(Candidate, Vec<Action>)> =
        users.iter().map(|u| (u.clone(), steps(spec, u))).collect();
    let intents: Vec<Record> = plans
        .iter()
        .flat_map(|(u, acts)| {
            acts.iter()
                .map(move |a| record(&ctx.resource, tenant_id, u, *a, Phase::Intent))
        })
        .collect();
    ctx.journal.append(&intents).await?;

    let requests: Vec<_> = plans
        .iter()
        .map(|(u, acts)| convert_one(ctx.graph.clone(), u.clone(), acts.clone()))
        .collect();
    let results: Vec<_> = futures::stream::iter(requests)
        .buffered(ctx.concurrency.max(1))
        .collect()
        .await;

    let mut report = WaveReport::default();
    let mut outcomes = Vec::new();
    for ((u, acts), done) in plans.iter().zip(results) {
        let complete = done.len() == acts.len() && done.iter().all(|(_, r)| r.is_ok());
        for (action, result) in done {
            let mut r = record(&ctx.resource, tenant_id, u, action, Phase::Applied);
            match result {
                Ok(request_id) => r.request_id = request_id,
                Err(e) => {
                    r.phase = Phase::Failed;
                    let (code, message, fatal) = match e {
                        StepError::NotVerified => (
                            "VerifyFailed".to_string(),
                            match action {
                                Action::RestoreUser => "the restored user did not read back as a cloud-only user".to_string(),
                                _ => "onPremisesSyncBehavior.isCloudManaged did not read back true after the switch".to_string(),
                            },
                            None,
                        ),
                        StepError::Graph(e) => {
                            let cat = e.category();
                            let code = e.code().unwrap_or(cat.reason()).to_string();
                            let fatal = matches!(
                                cat,
                                ErrorCategory::MissingPermission | ErrorCategory::InvalidCredentials | ErrorCategory::TenantNotFound
                            );
                            (code, e.to_string(), fatal.then_some(e))
                        }
                    };
                    r.error = Some(message.clone());
                    if let Some(f) = fatal {
                        report.fatal.get_or_insert(f);
                    } else {
                        report.failures.push(ObjectFailure {
                            object_id: u.id.clone(),
                            name: Some(u.upn.clone()),
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
