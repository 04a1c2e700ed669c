//! The controller of every kind (`TenantSyncPolicy`, `CloudUserConversion`,
//! `CloudGroupConversion`), through the reconcilers' one trait: find the tenant policy a
//! conversion names (a policy is its own), use its credentials, run the kind's
//! Kubernetes-free reconciler, publish Events, apply the status; with `onDelete: Revert`,
//! through a finalizer whose cleanup undoes the conversion from the journal.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::core::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Api, Resource, ResourceExt};

use crate::api::common::OnDelete;
use crate::api::conditions as cond;
use crate::api::{TenantSyncPolicy, TenantSyncPolicySpec};
use crate::journal::ResourceKey;
use crate::reconcile::resource::Reconciled;
use crate::reconcile::{
    self as rec, EventType, GUARD_INTERVAL, ReconcileEvent, RevertOutcome, Stall,
};

use super::credentials::CredentialProblem;
use super::plumbing::{patch_status, publish, requeue_after_error, result_label};
use super::{Context, Error};

/// The finalizer of resources with `onDelete: Revert`.
pub const FINALIZER: &str = "cloudidentity.dev/revert";

/// What the controller needs of a kind: the reconcilers' [`Reconciled`] and kube's `Resource`.
pub trait Kind:
    Reconciled
    + Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Kind for K where
    K: Reconciled
        + Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + serde::de::DeserializeOwned
        + std::fmt::Debug
{
}

fn key_of<K: Kind>(obj: &K) -> ResourceKey {
    ResourceKey {
        kind: K::kind(&()).to_string(),
        namespace: obj.namespace().unwrap_or_else(|| "default".into()),
        name: obj.name_any(),
    }
}

/// Reconcile one resource: at most [`Context::slot`]'s share of the workers per tenant and
/// kind, and never longer than `--pass-timeout`.
pub async fn reconcile<K: Kind>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = key_of(obj.as_ref());
    // From here on something may be kept for it: released when it goes.
    ctx.note(&key);
    // Fair between tenants: the policy the resource acts for (its own, for a policy).
    let policy = obj.tenant_ref().unwrap_or(&key.name).to_string();
    let Some(_slot) = ctx.slot(&key, &policy) else {
        return Ok(Action::requeue(super::fairness::busy_retry()));
    };
    let limit = ctx.options.security.pass_timeout;
    match tokio::time::timeout(limit, reconcile_now(obj.clone(), ctx.clone())).await {
        Ok(result) => result,
        Err(_) => {
            let note = format!(
                "the pass ran past --pass-timeout ({}s) and was cut; the next pass settles its journal intents and goes on",
                limit.as_secs()
            );
            let e = ReconcileEvent {
                type_: EventType::Warning,
                reason: crate::reasons::PASS_TIMEOUT.into(),
                action: "Reconcile".into(),
                note: note.clone(),
            };
            publish(&ctx, &obj.object_ref(&()), &key, &[e]).await;
            Err(Error::PassTimeout(note))
        }
    }
}

async fn reconcile_now<K: Kind>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let revert =
        obj.on_delete() == OnDelete::Revert || obj.finalizers().iter().any(|f| f == FINALIZER);
    if !revert {
        if obj.meta().deletion_timestamp.is_some() {
            // Nothing to undo: the journal stays; what the controller keeps for it goes.
            ctx.release(&key_of(obj.as_ref()));
            return Ok(Action::await_change());
        }
        return apply(obj, ctx).await;
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &key_of(obj.as_ref()).namespace);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply(o, ctx.clone()).await,
            FinalizerEvent::Cleanup(o) => {
                let key = key_of(o.as_ref());
                let done = cleanup(o, ctx.clone()).await;
                if done.is_ok() {
                    // Reverted (or nothing to undo): the resource goes, and what the
                    // controller keeps for it.
                    ctx.release(&key);
                }
                done
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// After a failed pass: Graph's Retry-After, else exponential backoff per resource.
pub fn error_policy<K: Kind>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    requeue_after_error(obj.as_ref(), err, &ctx)
}

/// The TenantSyncPolicy `obj` acts for: the one its `spec.tenantRef` names (`None` when it
/// does not exist), or itself.
async fn tenant_of<'a, K: Kind>(
    obj: &'a K,
    ns: &str,
    ctx: &Context,
) -> Result<Option<Cow<'a, TenantSyncPolicy>>, Error> {
    if let Some(own) = obj.as_tenant() {
        return Ok(Some(Cow::Borrowed(own)));
    }
    let name = obj.tenant_ref().unwrap_or_default();
    let tenants: Api<TenantSyncPolicy> = Api::namespaced(ctx.client.clone(), ns);
    Ok(tenants.get_opt(name).await?.map(Cow::Owned))
}

async fn apply<K: Kind>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let key = key_of(obj.as_ref());
    let ns = key.namespace.clone();
    let now = ctx.clock.now();
    let tenant = tenant_of(obj.as_ref(), &ns, &ctx).await?;
    let outcome = match &tenant {
        None => {
            let msg = format!(
                "spec.tenantRef.name: TenantSyncPolicy {ns}/{} does not exist; create it or fix the name",
                obj.tenant_ref().unwrap_or_default()
            );
            obj.stall(
                &TenantSyncPolicySpec::default(),
                now,
                Stall::fixable(crate::reasons::TENANT_NOT_FOUND, msg),
            )
        }
        Some(tenant) => {
            let claimed = match obj.as_tenant() {
                Some(own) => super::claim::claimed(&ctx, own).await?,
                None => None,
            };
            if let Some(e) = obj.spec_error() {
                obj.stall(&tenant.spec, now, Stall::invalid_spec(e.to_string()))
            } else if let Some(msg) = claimed {
                obj.stall(
                    &tenant.spec,
                    now,
                    Stall::fixable(crate::reasons::TENANT_CLAIMED, msg),
                )
            } else {
                match ctx.graph_for(tenant).await {
                    Err(CredentialProblem::Stall(s)) => {
                        let s = match obj.tenant_ref() {
                            // Whose credentials they are, when they are another resource's.
                            Some(name) => Stall {
                                message: format!("TenantSyncPolicy {ns}/{name}: {}", s.message),
                                ..s
                            },
                            None => s,
                        };
                        obj.stall(&tenant.spec, now, s)
                    }
                    Err(CredentialProblem::Transient(e)) => return Err(Error::Kube(e)),
                    Ok(graph) => {
                        let journal = ctx.journal_for(&key).await;
                        let ad = super::directory::active_directory(&ctx.client, tenant).await?;
                        let rctx = rec::Context {
                            graph: &graph,
                            journal: journal.as_ref(),
                            resource: key.clone(),
                            concurrency: ctx.options.concurrency,
                            now,
                            guard: &ctx.guard,
                            ad: ad.as_ref(),
                            selections: Some(&ctx.selections),
                        };
                        let outcome = obj.pass(&tenant.spec, &rctx).await?;
                        checkpoint(journal.as_ref()).await;
                        outcome
                    }
                }
            }
        }
    };
    if obj.as_tenant().is_none() {
        // Whether or not it selected: the later conversions no longer wait for it.
        ctx.selections.passed(&key);
    }
    publish(&ctx, &obj.object_ref(&()), &key, &outcome.events).await;
    record::<K>(&ctx, &key, obj.status(), &outcome.status, started.elapsed());
    if obj.status() != Some(&outcome.status) {
        patch_status::<K>(&ctx, &ns, &key.name, &outcome.status).await?;
    }
    ctx.reset_failures(&key.to_string());
    let requeue = match (&tenant, outcome.requeue_after) {
        // Without its tenant policy, look again as the guard does.
        (None, _) => Some(GUARD_INTERVAL),
        (Some(_), r) => r,
    };
    Ok(match requeue {
        Some(d) => Action::requeue(ctx.clock.real(d)),
        None => Action::await_change(),
    })
}

/// Undo the conversion before the resource goes. Without its tenant policy or credentials
/// (deleted together, say), nothing can be undone from here: the deletion proceeds with a
/// Warning, and the journal keeps every prior value for a manual revert.
async fn cleanup<K: Kind>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    if obj.on_delete() != OnDelete::Revert {
        return Ok(Action::await_change());
    }
    let key = key_of(obj.as_ref());
    let ns = key.namespace.clone();
    let oref = obj.object_ref(&());
    let event = |type_, reason: &str, note: String| ReconcileEvent {
        type_,
        reason: reason.into(),
        action: "Revert".into(),
        note,
    };
    let skipped = |why: String| {
        event(
            EventType::Warning,
            crate::reasons::REVERT_SKIPPED,
            format!("{why}; nothing was reverted: the journal keeps every prior value"),
        )
    };
    let Some(tenant) = tenant_of(obj.as_ref(), &ns, &ctx).await? else {
        let e = skipped(format!(
            "TenantSyncPolicy {ns}/{} is gone",
            obj.tenant_ref().unwrap_or_default()
        ));
        publish(&ctx, &oref, &key, &[e]).await;
        return Ok(Action::await_change());
    };
    let graph = match ctx.graph_for(&tenant).await {
        Ok(g) => g,
        Err(CredentialProblem::Transient(e)) => return Err(Error::Kube(e)),
        Err(CredentialProblem::Stall(Stall { message: msg, .. })) => {
            publish(&ctx, &oref, &key, &[skipped(msg)]).await;
            return Ok(Action::await_change());
        }
    };
    let journal = ctx.journal_for(&key).await;
    let ad = super::directory::active_directory(&ctx.client, &tenant).await?;
    let rctx = rec::Context {
        graph: &graph,
        journal: journal.as_ref(),
        resource: key.clone(),
        concurrency: ctx.options.concurrency,
        now: ctx.clock.now(),
        guard: &ctx.guard,
        ad: ad.as_ref(),
        selections: None,
    };
    let reverted = K::revert(&rctx, &tenant.spec.tenant_id).await;
    checkpoint(journal.as_ref()).await;
    let done = match reverted? {
        RevertOutcome::Done(n) => Ok(format!("{n} {}", K::REVERTED)),
        // What Graph would not let go (a group's last owner) is said in the Event.
        RevertOutcome::Kept(n, kept) => Ok(format!("{n} {}; {kept}", K::REVERTED)),
        unfinished => Err(unfinished),
    };
    match done {
        Ok(message) => {
            let e = event(EventType::Normal, crate::reasons::REVERTED, message);
            publish(&ctx, &oref, &key, &[e]).await;
            Ok(Action::await_change())
        }
        Err(unfinished) => {
            let stall = unfinished.stall();
            let msg = stall.message.clone();
            let outcome = obj.stall(&tenant.spec, ctx.clock.now(), stall);
            publish(&ctx, &oref, &key, &outcome.events).await;
            if obj.status() != Some(&outcome.status) {
                patch_status::<K>(&ctx, &ns, &key.name, &outcome.status).await?;
            }
            Err(Error::Revert(msg))
        }
    }
}

fn record<K: Kind>(
    ctx: &Context,
    key: &ResourceKey,
    old: Option<&K::Status>,
    new: &K::Status,
    took: Duration,
) {
    let c = K::conditions(new);
    ctx.metrics.reconciled(&key.kind, result_label(c), took);
    let (converted, failed) = K::changes(old, new);
    ctx.metrics
        .objects(&key.kind, converted.max(0) as u64, failed.max(0) as u64);
    let stalled = cond::get(c, cond::STALLED).filter(|s| s.status == "True");
    let gauges = super::metrics::ResourceGauges {
        objects: K::object_states(new),
        drift: cond::is_true(c, cond::DRIFT_DETECTED),
        stalled: stalled.is_some(),
        halted: stalled.is_some_and(|s| s.reason == crate::reasons::AUTO_HALTED),
    };
    ctx.metrics
        .resource(&key.kind, &key.namespace, &key.name, &gauges);
}

/// Keep the journal's head outside it once per pass. A failure weakens only the evidence of a
/// cut-off end, not the pass: said in the log, and tried again after the next pass.
async fn checkpoint(journal: &dyn crate::journal::Journal) {
    if let Err(e) = journal.checkpoint().await {
        tracing::warn!(error = %e, "could not keep the journal head in its Secret (needs patch on it)");
    }
}
