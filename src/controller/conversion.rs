//! The controller of the per-object conversion kinds (`CloudUserConversion`,
//! `CloudGroupConversion`): find the tenant policy a resource names, use its credentials, run
//! the kind's Kubernetes-free reconciler, publish Events, apply the status; with
//! `onDelete: Revert`, through a finalizer whose cleanup undoes the conversion from the journal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Api, Resource, ResourceExt};

use crate::api::common::OnDelete;
use crate::api::conditions as cond;
use crate::api::{
    CloudGroupConversion, CloudGroupConversionStatus, CloudUserConversion,
    CloudUserConversionStatus, TenantSyncPolicy, TenantSyncPolicySpec,
};
use crate::journal::ResourceKey;
use crate::reconcile::GUARD_INTERVAL;
use crate::reconcile::user::revert::RevertOutcome;
use crate::reconcile::{self as rec, EventType, Outcome, ReconcileError, ReconcileEvent, Stall};

use super::credentials::CredentialProblem;
use super::tenant::{patch_status, publish, requeue_after_error, result_label};
use super::{Context, Error};

/// The finalizer of resources with `onDelete: Revert`.
pub const FINALIZER: &str = "cloudidentity.dev/revert";

/// What the controller needs of a conversion kind.
pub trait ConversionKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// The status type.
    type Status: serde::Serialize + PartialEq + Clone + Send + Sync + 'static;
    /// What a finished revert did, e.g. "users switched back to AD …" (after the count).
    const REVERTED: &'static str;
    /// `spec.tenantRef.name`.
    fn tenant_ref(&self) -> &str;
    /// `spec.onDelete`.
    fn on_delete(&self) -> OnDelete;
    /// The current status.
    fn current(&self) -> Option<&Self::Status>;
    /// The spec's first problem, if any.
    fn spec_error(&self) -> Option<String>;
    /// A pass that cannot start: `Stalled` with `reason` and `message`.
    fn stall(
        &self,
        tenant: &TenantSyncPolicySpec,
        now: jiff::Timestamp,
        stall: Stall,
    ) -> Outcome<Self::Status>;
    /// One reconcile pass.
    fn pass<'a>(
        &'a self,
        tenant: &'a TenantSyncPolicySpec,
        ctx: &'a rec::Context<'a>,
    ) -> BoxFuture<'a, Result<Outcome<Self::Status>, ReconcileError>>;
    /// Undo the conversion, from the journal.
    fn revert<'a>(
        ctx: &'a rec::Context<'a>,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, Result<RevertOutcome, ReconcileError>>;
    /// The status' conditions.
    fn conditions(status: &Self::Status) -> &[Condition];
    /// Objects converted and failed, for metrics.
    fn counts(status: &Self::Status) -> (i64, i64);
}

impl ConversionKind for CloudUserConversion {
    type Status = CloudUserConversionStatus;
    const REVERTED: &'static str = "users switched back to AD and their ImmutableIDs restored";
    fn tenant_ref(&self) -> &str {
        &self.spec.tenant_ref.name
    }
    fn on_delete(&self) -> OnDelete {
        self.spec.on_delete
    }
    fn current(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn spec_error(&self) -> Option<String> {
        rec::user::validate::validate(&self.spec)
            .err()
            .map(|e| e.to_string())
    }
    fn stall(
        &self,
        tenant: &TenantSyncPolicySpec,
        now: jiff::Timestamp,
        stall: Stall,
    ) -> Outcome<Self::Status> {
        rec::user::stall(self.input(tenant), now, stall)
    }
    fn pass<'a>(
        &'a self,
        tenant: &'a TenantSyncPolicySpec,
        ctx: &'a rec::Context<'a>,
    ) -> BoxFuture<'a, Result<Outcome<Self::Status>, ReconcileError>> {
        Box::pin(rec::user::reconcile(self.input(tenant), ctx))
    }
    fn revert<'a>(
        ctx: &'a rec::Context<'a>,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, Result<RevertOutcome, ReconcileError>> {
        Box::pin(rec::user::revert::revert(ctx, tenant_id))
    }
    fn conditions(status: &Self::Status) -> &[Condition] {
        &status.conditions
    }
    fn counts(status: &Self::Status) -> (i64, i64) {
        (status.converted, status.failed)
    }
}

impl CloudUserConversion {
    fn input<'a>(&'a self, tenant: &'a TenantSyncPolicySpec) -> rec::user::Input<'a> {
        rec::user::Input {
            spec: &self.spec,
            generation: self.metadata.generation,
            status: self.status.as_ref(),
            tenant,
        }
    }
}

impl ConversionKind for CloudGroupConversion {
    type Status = CloudGroupConversionStatus;
    const REVERTED: &'static str =
        "groups switched back to AD and the owners this resource added removed";
    fn tenant_ref(&self) -> &str {
        &self.spec.tenant_ref.name
    }
    fn on_delete(&self) -> OnDelete {
        self.spec.on_delete
    }
    fn current(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
    fn spec_error(&self) -> Option<String> {
        rec::group::validate::validate(&self.spec)
            .err()
            .map(|e| e.to_string())
    }
    fn stall(
        &self,
        tenant: &TenantSyncPolicySpec,
        now: jiff::Timestamp,
        stall: Stall,
    ) -> Outcome<Self::Status> {
        rec::group::stall(self.input(tenant), now, stall)
    }
    fn pass<'a>(
        &'a self,
        tenant: &'a TenantSyncPolicySpec,
        ctx: &'a rec::Context<'a>,
    ) -> BoxFuture<'a, Result<Outcome<Self::Status>, ReconcileError>> {
        Box::pin(rec::group::reconcile(self.input(tenant), ctx))
    }
    fn revert<'a>(
        ctx: &'a rec::Context<'a>,
        tenant_id: &'a str,
    ) -> BoxFuture<'a, Result<RevertOutcome, ReconcileError>> {
        Box::pin(rec::group::revert::revert(ctx, tenant_id))
    }
    fn conditions(status: &Self::Status) -> &[Condition] {
        &status.conditions
    }
    fn counts(status: &Self::Status) -> (i64, i64) {
        (status.converted, status.failed)
    }
}

impl CloudGroupConversion {
    fn input<'a>(&'a self, tenant: &'a TenantSyncPolicySpec) -> rec::group::Input<'a> {
        rec::group::Input {
            spec: &self.spec,
            generation: self.metadata.generation,
            status: self.status.as_ref(),
            tenant,
        }
    }
}

fn key_of<K: ConversionKind>(obj: &K) -> ResourceKey {
    ResourceKey {
        kind: K::kind(&()).to_string(),
        namespace: obj.namespace().unwrap_or_else(|| "default".into()),
        name: obj.name_any(),
    }
}

/// Reconcile one conversion resource.
pub async fn reconcile<K: ConversionKind>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let revert =
        obj.on_delete() == OnDelete::Revert || obj.finalizers().iter().any(|f| f == FINALIZER);
    if !revert {
        if obj.meta().deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        return apply(obj, ctx).await;
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &key_of(obj.as_ref()).namespace);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply(o, ctx.clone()).await,
            FinalizerEvent::Cleanup(o) => cleanup(o, ctx.clone()).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// After a failed pass: Graph's Retry-After, else exponential backoff per resource.
pub fn error_policy<K: ConversionKind>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    requeue_after_error(obj.as_ref(), err, &ctx)
}

async fn apply<K: ConversionKind>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let key = key_of(obj.as_ref());
    let ns = key.namespace.clone();
    let tenants: Api<TenantSyncPolicy> = Api::namespaced(ctx.client.clone(), &ns);
    let now = ctx.clock.now();
    let (outcome, tenant) = match tenants.get_opt(obj.tenant_ref()).await? {
        None => {
            let msg = format!(
                "spec.tenantRef.name: TenantSyncPolicy {ns}/{} does not exist; create it or fix the name",
                obj.tenant_ref()
            );
            (
                obj.stall(
                    &TenantSyncPolicySpec::default(),
                    now,
                    Stall::fixable(crate::reasons::TENANT_NOT_FOUND, msg),
                ),
                None,
            )
        }
        Some(tenant) => {
            let outcome = if let Some(e) = obj.spec_error() {
                obj.stall(&tenant.spec, now, Stall::invalid_spec(e))
            } else {
                match ctx.graph_for(&tenant).await {
                    Err(CredentialProblem::Stall(s)) => obj.stall(
                        &tenant.spec,
                        now,
                        Stall {
                            message: format!(
                                "TenantSyncPolicy {ns}/{}: {}",
                                obj.tenant_ref(),
                                s.message
                            ),
                            ..s
                        },
                    ),
                    Err(CredentialProblem::Transient(e)) => return Err(Error::Kube(e)),
                    Ok(graph) => {
                        let journal = ctx.journal_for(&key).await;
                        let ad = super::directory::active_directory(&ctx.client, &tenant).await?;
                        let rctx = rec::Context {
                            graph: &graph,
                            journal: journal.as_ref(),
                            resource: key.clone(),
                            concurrency: ctx.options.concurrency,
                            now,
                            guard: &ctx.guard,
                            ad: ad.as_ref(),
                        };
                        obj.pass(&tenant.spec, &rctx).await?
                    }
                }
            };
            (outcome, Some(tenant))
        }
    };
    publish(&ctx, &obj.object_ref(&()), &key, &outcome.events).await;
    record::<K>(
        &ctx,
        &key,
        obj.current(),
        &outcome.status,
        started.elapsed(),
    );
    if obj.current() != Some(&outcome.status) {
        patch_status::<K>(&ctx, &ns, &key.name, &outcome.status).await?;
    }
    ctx.reset_failures(&key.to_string()).await;
    let requeue = match (tenant, outcome.requeue_after) {
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
async fn cleanup<K: ConversionKind>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
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
    let tenants: Api<TenantSyncPolicy> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(tenant) = tenants.get_opt(obj.tenant_ref()).await? else {
        let e = skipped(format!(
            "TenantSyncPolicy {ns}/{} is gone",
            obj.tenant_ref()
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
    };
    match K::revert(&rctx, &tenant.spec.tenant_id).await? {
        RevertOutcome::Done(n) => {
            let e = event(
                EventType::Normal,
                crate::reasons::REVERTED,
                format!("{n} {}", K::REVERTED),
            );
            publish(&ctx, &oref, &key, &[e]).await;
            Ok(Action::await_change())
        }
        unfinished => {
            let stall = unfinished.stall();
            let msg = stall.message.clone();
            let outcome = obj.stall(&tenant.spec, ctx.clock.now(), stall);
            publish(&ctx, &oref, &key, &outcome.events).await;
            if obj.current() != Some(&outcome.status) {
                patch_status::<K>(&ctx, &ns, &key.name, &outcome.status).await?;
            }
            Err(Error::Revert(msg))
        }
    }
}

fn record<K: ConversionKind>(
    ctx: &Context,
    key: &ResourceKey,
    old: Option<&K::Status>,
    new: &K::Status,
    took: Duration,
) {
    let c = K::conditions(new);
    ctx.metrics.reconciled(&key.kind, result_label(c), took);
    let before = old.map(|s| K::counts(s).0).unwrap_or(0);
    let (converted, failed) = K::counts(new);
    ctx.metrics.objects(
        &key.kind,
        (converted - before).max(0) as u64,
        failed.max(0) as u64,
    );
    ctx.metrics.drift(
        &key.namespace,
        &key.name,
        cond::is_true(c, cond::DRIFT_DETECTED),
    );
}
