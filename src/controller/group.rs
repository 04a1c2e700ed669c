//! The `CloudGroupConversion` controller: find the tenant policy it names, use its
//! credentials, run the Kubernetes-free reconciler, publish Events, apply the status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use crate::api::conditions as cond;
use crate::api::{CloudGroupConversion, TenantSyncPolicy};
use crate::journal::ResourceKey;
use crate::reconcile::group::{self as rec, Input, validate};
use crate::reconcile::tenant::INVALID_SPEC;

use super::credentials::CredentialProblem;
use super::tenant::{patch_status, publish, requeue_after_error, result_label};
use super::{Context, Error};

const KIND: &str = rec::KIND;

/// Reconcile one `CloudGroupConversion`.
pub async fn reconcile(obj: Arc<CloudGroupConversion>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let name = obj.name_any();
    if obj.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
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
