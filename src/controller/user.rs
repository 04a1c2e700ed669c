//! The `CloudUserConversion` controller: find the tenant policy it names, use its
//! credentials, run the Kubernetes-free reconciler, publish Events, apply the status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use crate::api::common::OnDelete;
use crate::api::conditions as cond;
use crate::api::{CloudUserConversion, TenantSyncPolicy};
use crate::journal::ResourceKey;
use crate::reconcile::tenant::INVALID_SPEC;
use crate::reconcile::user::revert::{self, RevertOutcome};
use crate::reconcile::user::{self as rec, Input, validate};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};

use super::credentials::CredentialProblem;
use super::tenant::{patch_status, publish, requeue_after_error, result_label};
use super::{Context, Error};

const KIND: &str = rec::KIND;

/// The finalizer of resources with `onDelete: Revert`.
pub const FINALIZER: &str = "cloudidentity.dev/revert";

/// Reconcile one `CloudUserConversion`: with `onDelete: Revert`, through a finalizer whose
/// cleanup undoes the conversion from the journal.
pub async fn reconcile(obj: Arc<CloudUserConversion>, ctx: Arc<Context>) -> Result<Action, Error> {
    let revert =
        obj.spec.on_delete == OnDelete::Revert || obj.finalizers().iter().any(|f| f == FINALIZER);
    if !revert {
        if obj.meta().deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        return apply(obj, ctx).await;
    }
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let api: Api<CloudUserConversion> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply(o, ctx.clone()).await,
            FinalizerEvent::Cleanup(o) => cleanup(o, ctx.clone()).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Undo the conversion before the resource goes. Without its tenant policy or credentials
/// (deleted together, say), nothing can be undone from here: the deletion proceeds with a
/// Warning, and the journal keeps every prior value for a manual revert.
async fn cleanup(obj: Arc<CloudUserConversion>, ctx: Arc<Context>) -> Result<Action, Error> {
    if obj.spec.on_delete != OnDelete::Revert {
        return Ok(Action::await_change());
    }
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let key = ResourceKey {
        kind: KIND.into(),
        namespace: ns.clone(),
        name: obj.name_any(),
    };
    let oref = obj.object_ref(&());
    let warn_skip = |why: String| crate::reconcile::ReconcileEvent {
        type_: crate::reconcile::EventType::Warning,
        reason: "RevertSkipped".into(),
        action: "Revert".into(),
        note: format!("{why}; nothing was reverted: the journal keeps every prior value"),
    };
    let tenants: Api<TenantSyncPolicy> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(tenant) = tenants.get_opt(&obj.spec.tenant_ref.name).await? else {
        let e = warn_skip(format!(
            "TenantSyncPolicy {ns}/{} is gone",
            obj.spec.tenant_ref.name
        ));
        publish(&ctx, &oref, &key, &[e]).await;
        return Ok(Action::await_change());
    };
    let graph = match ctx.graph_for(&tenant).await {
        Ok(g) => g,
        Err(CredentialProblem::Transient(e)) => return Err(Error::Kube(e)),
        Err(CredentialProblem::Stall(_, msg)) => {
            publish(&ctx, &oref, &key, &[warn_skip(msg)]).await;
            return Ok(Action::await_change());
        }
    };
    let journal = ctx.journal_for(&key).await;
    let rctx = crate::reconcile::Context {
        graph: &graph,
        journal: journal.as_ref(),
        resource: key.clone(),
        concurrency: ctx.options.concurrency,
        now: ctx.clock.now(),
    };
    match revert::revert(&rctx, &tenant.spec.tenant_id).await? {
        RevertOutcome::Done(n) => {
            let e = crate::reconcile::ReconcileEvent {
                type_: crate::reconcile::EventType::Normal,
                reason: "Reverted".into(),
                action: "Revert".into(),
                note: format!("{n} users switched back to AD and their ImmutableIDs restored"),
            };
            publish(&ctx, &oref, &key, &[e]).await;
            Ok(Action::await_change())
        }
        RevertOutcome::Blocked(msg) | RevertOutcome::Failed(msg) => {
            let input = Input {
                spec: &obj.spec,
                generation: obj.metadata.generation,
                status: obj.status.as_ref(),
                tenant: &tenant.spec,
            };
            let outcome = rec::stall(input, ctx.clock.now(), "RevertIncomplete", msg.clone());
            publish(&ctx, &oref, &key, &outcome.events).await;
            if obj.status.as_ref() != Some(&outcome.status) {
                patch_status::<CloudUserConversion>(&ctx, &ns, &key.name, &outcome.status).await?;
            }
            Err(Error::Revert(msg))
        }
    }
}

async fn apply(obj: Arc<CloudUserConversion>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let name = obj.name_any();
    let key = ResourceKey {
        kind: KIND.into(),
        namespace: ns.clone(),
        name: name.clone(),
    };
    let tenants: Api<TenantSyncPolicy> = Api::namespaced(ctx.client.clone(), &ns);
    let tenant = match tenants.get_opt(&obj.spec.tenant_ref.name).await? {
        Some(t) => t,
        None => {
            let msg = format!(
                "spec.tenantRef.name: TenantSyncPolicy {ns}/{} does not exist; create it or fix the name",
                obj.spec.tenant_ref.name
            );
            return finish_stalled(&obj, &ctx, &key, "TenantNotFound", msg, started).await;
        }
    };
    let input = Input {
        spec: &obj.spec,
        generation: obj.metadata.generation,
        status: obj.status.as_ref(),
        tenant: &tenant.spec,
    };
    let now = ctx.clock.now();
    let outcome = if let Err(e) = validate::validate(&obj.spec) {
        rec::stall(input, now, INVALID_SPEC, e.to_string())
    } else {
        match ctx.graph_for(&tenant).await {
            Err(CredentialProblem::Stall(reason, msg)) => rec::stall(
                input,
                now,
                reason,
                format!("TenantSyncPolicy {ns}/{}: {msg}", obj.spec.tenant_ref.name),
            ),
            Err(CredentialProblem::Transient(e)) => return Err(Error::Kube(e)),
            Ok(graph) => {
                let journal = ctx.journal_for(&key).await;
                let rctx = crate::reconcile::Context {
                    graph: &graph,
                    journal: journal.as_ref(),
                    resource: key.clone(),
                    concurrency: ctx.options.concurrency,
                    now,
                };
                rec::reconcile(input, &rctx).await?
            }
        }
    };
    publish(&ctx, &obj.object_ref(&()), &key, &outcome.events).await;
    record(&ctx, &ns, &name, &obj, &outcome.status, started.elapsed());
    if obj.status.as_ref() != Some(&outcome.status) {
        patch_status::<CloudUserConversion>(&ctx, &ns, &name, &outcome.status).await?;
    }
    ctx.reset_failures(&key.to_string()).await;
    Ok(match outcome.requeue_after {
        Some(d) => Action::requeue(ctx.clock.real(d)),
        None => Action::await_change(),
    })
}

async fn finish_stalled(
    obj: &CloudUserConversion,
    ctx: &Context,
    key: &ResourceKey,
    reason: &'static str,
    msg: String,
    started: Instant,
) -> Result<Action, Error> {
    let fallback = crate::api::TenantSyncPolicySpec::default();
    let input = Input {
        spec: &obj.spec,
        generation: obj.metadata.generation,
        status: obj.status.as_ref(),
        tenant: &fallback,
    };
    let outcome = rec::stall(input, ctx.clock.now(), reason, msg);
    publish(ctx, &obj.object_ref(&()), key, &outcome.events).await;
    record(
        ctx,
        &key.namespace,
        &key.name,
        obj,
        &outcome.status,
        started.elapsed(),
    );
    if obj.status.as_ref() != Some(&outcome.status) {
        patch_status::<CloudUserConversion>(ctx, &key.namespace, &key.name, &outcome.status)
            .await?;
    }
    Ok(Action::requeue(
        ctx.clock.real(crate::reconcile::tenant::GUARD_INTERVAL),
    ))
}

fn record(
    ctx: &Context,
    ns: &str,
    name: &str,
    old: &CloudUserConversion,
    new: &crate::api::CloudUserConversionStatus,
    took: Duration,
) {
    let c = &new.conditions;
    ctx.metrics.reconciled(KIND, result_label(c), took);
    let before = old.status.as_ref().map(|s| s.converted).unwrap_or(0);
    ctx.metrics.objects(
        KIND,
        (new.converted - before).max(0) as u64,
        new.failed.max(0) as u64,
    );
    ctx.metrics
        .drift(ns, name, cond::is_true(c, cond::DRIFT_DETECTED));
}

/// After a failed pass: Graph's Retry-After, else exponential backoff per resource.
pub fn error_policy(obj: Arc<CloudUserConversion>, err: &Error, ctx: Arc<Context>) -> Action {
    requeue_after_error(obj.as_ref(), err, &ctx)
}
