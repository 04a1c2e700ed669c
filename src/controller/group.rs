//! The `CloudGroupConversion` controller: find the tenant policy it names, use its
//! credentials, run the Kubernetes-free reconciler, publish Events, apply the status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use crate::api::common::OnDelete;
use crate::api::conditions as cond;
use crate::api::{CloudGroupConversion, TenantSyncPolicy};
use crate::journal::ResourceKey;
use crate::reconcile::group::revert;
use crate::reconcile::group::{self as rec, Input, validate};
use crate::reconcile::tenant::INVALID_SPEC;
use crate::reconcile::user::revert::RevertOutcome;
use crate::reconcile::{EventType, ReconcileEvent};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};

use super::credentials::CredentialProblem;
use super::tenant::{patch_status, publish, requeue_after_error, result_label};
use super::user::FINALIZER;
use super::{Context, Error};

const KIND: &str = rec::KIND;

/// Reconcile one `CloudGroupConversion`: with `onDelete: Revert`, through the same finalizer
/// as user conversions, whose cleanup undoes the conversion from the journal.
pub async fn reconcile(obj: Arc<CloudGroupConversion>, ctx: Arc<Context>) -> Result<Action, Error> {
    let revert =
        obj.spec.on_delete == OnDelete::Revert || obj.finalizers().iter().any(|f| f == FINALIZER);
    if !revert {
        if obj.meta().deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        return apply(obj, ctx).await;
    }
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let api: Api<CloudGroupConversion> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply(o, ctx.clone()).await,
            FinalizerEvent::Cleanup(o) => cleanup(o, ctx.clone()).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Undo the conversion before the resource goes (see the user controller's cleanup: without
/// the tenant policy or its credentials, the deletion proceeds with a Warning).
async fn cleanup(obj: Arc<CloudGroupConversion>, ctx: Arc<Context>) -> Result<Action, Error> {
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
    let event = |type_, reason: &str, note: String| ReconcileEvent {
        type_,
        reason: reason.into(),
        action: "Revert".into(),
        note,
    };
    let tenants: Api<TenantSyncPolicy> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(tenant) = tenants.get_opt(&obj.spec.tenant_ref.name).await? else {
        let note = format!(
            "TenantSyncPolicy {ns}/{} is gone; nothing was reverted: the journal keeps every prior value",
            obj.spec.tenant_ref.name
        );
        publish(
            &ctx,
            &oref,
            &key,
            &[event(EventType::Warning, "RevertSkipped", note)],
        )
        .await;
        return Ok(Action::await_change());
    };
    let graph = match ctx.graph_for(&tenant).await {
        Ok(g) => g,
        Err(CredentialProblem::Transient(e)) => return Err(Error::Kube(e)),
        Err(CredentialProblem::Stall(_, msg)) => {
            let note = format!("{msg}; nothing was reverted: the journal keeps every prior value");
            publish(
                &ctx,
                &oref,
                &key,
                &[event(EventType::Warning, "RevertSkipped", note)],
            )
            .await;
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
            let note = format!(
                "{n} groups switched back to AD and the owners this resource added removed"
            );
            publish(
                &ctx,
                &oref,
                &key,
                &[event(EventType::Normal, "Reverted", note)],
            )
            .await;
            Ok(Action::await_change())
        }
        RevertOutcome::Blocked(msg) | RevertOutcome::Failed(msg) => {
            publish(
                &ctx,
                &oref,
                &key,
                &[event(EventType::Warning, "RevertIncomplete", msg.clone())],
            )
            .await;
            Err(Error::Revert(msg))
        }
    }
}

async fn apply(obj: Arc<CloudGroupConversion>, ctx: Arc<Context>) -> Result<Action, Error> {
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
        patch_status::<CloudGroupConversion>(&ctx, &ns, &name, &outcome.status).await?;
    }
    ctx.reset_failures(&key.to_string()).await;
    Ok(match outcome.requeue_after {
        Some(d) => Action::requeue(ctx.clock.real(d)),
        None => Action::await_change(),
    })
}

async fn finish_stalled(
    obj: &CloudGroupConversion,
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
        patch_status::<CloudGroupConversion>(ctx, &key.namespace, &key.name, &outcome.status)
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
    old: &CloudGroupConversion,
    new: &crate::api::CloudGroupConversionStatus,
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
pub fn error_policy(obj: Arc<CloudGroupConversion>, err: &Error, ctx: Arc<Context>) -> Action {
    requeue_after_error(obj.as_ref(), err, &ctx)
}
