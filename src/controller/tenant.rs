//! The `TenantSyncPolicy` controller: resolve credentials, run the Kubernetes-free reconciler,
//! publish its Events, write its status by server-side apply, requeue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType as KubeEventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::api::conditions as cond;
use crate::api::tenant::TenantSyncPolicyStatus;
use crate::api::{API_VERSION, TenantSyncPolicy};
use crate::journal::ResourceKey;
use crate::reconcile::tenant::{self as rec, Input, validate};
use crate::reconcile::{EventType, Stall};

use super::credentials::CredentialProblem;
use super::{Context, Error, FIELD_MANAGER};

const KIND: &str = rec::KIND;

/// Reconcile one `TenantSyncPolicy`.
pub async fn reconcile(obj: Arc<TenantSyncPolicy>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let name = obj.name_any();
    let key = ResourceKey {
        kind: KIND.into(),
        namespace: ns.clone(),
        name: name.clone(),
    };
    if obj.meta().deletion_timestamp.is_some() {
        // Nothing to undo for a tenant policy: the journal stays, the tenant stays as it is.
        ctx.guard.forget(&key);
        return Ok(Action::await_change());
    }
    let input = Input {
        spec: &obj.spec,
        generation: obj.metadata.generation,
        status: obj.status.as_ref(),
    };
    let now = ctx.clock.now();
    let outcome = if let Err(e) = validate::validate(&obj.spec) {
        rec::stall(input, now, Stall::invalid_spec(e.to_string()))
    } else {
        match ctx.graph_for(&obj).await {
            Err(CredentialProblem::Stall(s)) => rec::stall(input, now, s),
            Err(CredentialProblem::Transient(e)) => return Err(Error::Kube(e)),
            Ok(graph) => {
                let journal = ctx.journal_for(&key).await;
                let ad = super::directory::active_directory(&ctx.client, &obj).await?;
                let rctx = rec::Context {
                    graph: &graph,
                    journal: journal.as_ref(),
                    resource: key.clone(),
                    concurrency: ctx.options.concurrency,
                    now,
                    guard: &ctx.guard,
                    ad: ad.as_ref(),
                };
                rec::reconcile(input, &rctx).await?
            }
        }
    };

    publish(&ctx, &obj.object_ref(&()), &key, &outcome.events).await;

    let old = obj.status.clone().unwrap_or_default();
    record_metrics(&ctx, &ns, &name, &old, &outcome.status, started.elapsed());
    if obj.status.as_ref() != Some(&outcome.status) {
        patch_status::<TenantSyncPolicy>(&ctx, &ns, &name, &outcome.status).await?;
    }
    ctx.reset_failures(&key.to_string()).await;
    Ok(match outcome.requeue_after {
        Some(d) => Action::requeue(ctx.clock.real(d)),
        None => Action::await_change(),
    })
}

/// Publish the pass's Events about `oref` (failures to publish are logged, not fatal).
pub async fn publish(
    ctx: &Context,
    oref: &k8s_openapi::api::core::v1::ObjectReference,
    key: &ResourceKey,
    events: &[crate::reconcile::ReconcileEvent],
) {
    for e in events {
        let ev = Event {
            type_: match e.type_ {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: e.reason.clone(),
            note: Some(truncate(&e.note, 1000)),
            action: e.action.clone(),
            secondary: None,
        };
        if let Err(err) = ctx.recorder.publish(&ev, oref).await {
            warn!(resource = %key, reason = %e.reason, error = %err, "could not publish event");
        }
    }
}

/// Write the status by server-side apply on the status subresource, one field manager.
pub async fn patch_status<K>(
    ctx: &Context,
    ns: &str,
    name: &str,
    status: &impl serde::Serialize,
) -> Result<(), Error>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let patch = json!({
        "apiVersion": API_VERSION,
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    info!(namespace = ns, name, kind = %K::kind(&()), "status written");
    Ok(())
}

/// The metric label of a status: ready, stalled or progressing.
pub fn result_label(
    c: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> &'static str {
    if cond::is_true(c, cond::READY) {
        "ready"
    } else if cond::is_true(c, cond::STALLED) {
        "stalled"
    } else {
        "progressing"
    }
}

fn record_metrics(
    ctx: &Context,
    ns: &str,
    name: &str,
    old: &TenantSyncPolicyStatus,
    new: &TenantSyncPolicyStatus,
    took: Duration,
) {
    let c = &new.conditions;
    ctx.metrics.reconciled(KIND, result_label(c), took);
    let cleared = |s: &TenantSyncPolicyStatus| s.immutable_ids.map(|i| i.cleared).unwrap_or(0);
    let converted = (cleared(new) - cleared(old)).max(0) as u64;
    let failed = new.immutable_ids.map(|i| i.failed).unwrap_or(0).max(0) as u64;
    ctx.metrics.objects(KIND, converted, failed);
    ctx.metrics
        .drift(ns, name, cond::is_true(c, cond::DRIFT_DETECTED));
}

/// What to do after a failed pass: throttling waits as Graph asked; transient failures back
/// off exponentially (5 s doubling to 5 min, jittered) per resource. Permanent problems never
/// get here: they end the pass with `Stalled`.
pub fn error_policy(obj: Arc<TenantSyncPolicy>, err: &Error, ctx: Arc<Context>) -> Action {
    requeue_after_error(obj.as_ref(), err, &ctx)
}

/// The error policy of every kind: count the failure, then wait as [`backoff_for`] says.
pub fn requeue_after_error<K: kube::Resource<DynamicType = ()>>(
    obj: &K,
    err: &Error,
    ctx: &Context,
) -> Action {
    let kind = K::kind(&());
    let key = format!(
        "{kind}/{}/{}",
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    );
    ctx.metrics.reconcile_error(&kind, err.category());
    ctx.metrics.reconciled(&kind, "error", Duration::ZERO);
    let wait = backoff_for(ctx, &key, err);
    warn!(resource = %key, error = %err, category = err.category(), retry_in_s = wait.as_secs_f64(), "reconcile failed");
    Action::requeue(wait)
}

/// How long to wait after `err`: Graph's Retry-After when it gave one, else exponential
/// backoff on the resource's consecutive failures.
pub fn backoff_for(ctx: &Context, key: &str, err: &Error) -> Duration {
    let failures = ctx.count_failure(key);
    match err {
        Error::Reconcile(e) if e.retry_after().is_some() => e.retry_after().unwrap_or_default(),
        _ => backoff(failures),
    }
}

fn backoff(failures: u32) -> Duration {
    let step = Duration::from_secs(5)
        .saturating_mul(1u32 << failures.saturating_sub(1).min(6))
        .min(Duration::from_secs(300));
    step / 2 + (step / 2).mul_f64(fastrand::f64())
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_grows() {
        assert!(backoff(1) <= Duration::from_secs(5));
        assert!(backoff(3) >= Duration::from_secs(10));
        assert!(backoff(50) <= Duration::from_secs(300));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
