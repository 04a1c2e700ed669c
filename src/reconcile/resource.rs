//! The one trait the shells drive: the controller, the local runner (`apply`, `plan`) and the
//! tests run a pass, a stall or a revert of any kind through it, so none of them keeps an
//! adapter per kind.

use std::future::Future;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::ObjectMeta;

use crate::api::common::OnDelete;
use crate::api::tenant::TenantSyncPolicyStatus;
use crate::api::{TenantSyncPolicy, TenantSyncPolicySpec};
use kube::core::object::HasStatus;

use super::health::Conditioned;
use super::rollout::status::RolloutStatus;
use super::rollout::{self, ConversionSpec, InputOf, Preview, Rollout, SpecOf, StatusOf};
use super::{Context, Outcome, ReconcileError, RevertOutcome, SpecError, Stall, tenant};

/// A custom resource the operator reconciles.
pub trait Reconciled: Clone + serde::Serialize + Send + Sync + 'static {
    /// Its status.
    type Status: Clone + Default + PartialEq + serde::Serialize + Send + Sync + 'static;
    /// The kind, as journal records and Events name it.
    const KIND: &'static str;
    /// What a finished revert did, after the count (e.g. "users switched back to AD …").
    const REVERTED: &'static str;

    /// `metadata`.
    fn object_meta(&self) -> &ObjectMeta;
    /// The status, if any.
    fn status(&self) -> Option<&Self::Status>;
    /// Replace the status.
    fn set_status(&mut self, status: Self::Status);
    /// The conditions of `status`.
    fn conditions(status: &Self::Status) -> &[Condition];
    /// The generation `status` describes.
    fn observed_generation(status: &Self::Status) -> Option<i64>;
    /// `spec.suspend`.
    fn suspended(&self) -> bool;
    /// The TenantSyncPolicy it acts for (`spec.tenantRef.name`); `None` for the policy itself.
    fn tenant_ref(&self) -> Option<&str>;
    /// The resource as the tenant policy it is (a TenantSyncPolicy acts for itself).
    fn as_tenant(&self) -> Option<&TenantSyncPolicy> {
        None
    }
    /// `spec.onDelete`.
    fn on_delete(&self) -> OnDelete {
        OnDelete::Keep
    }
    /// The spec's first problem (no I/O).
    fn spec_error(&self) -> Option<SpecError>;
    /// A pass that cannot start: `Stalled`, no Graph call.
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
        ctx: &'a Context<'a>,
    ) -> impl Future<Output = Result<Outcome<Self::Status>, ReconcileError>> + Send + 'a;
    /// What `apply` would do next, from reads only (conversions; the tenant has its own plan).
    fn preview<'a>(
        &'a self,
        tenant: &'a TenantSyncPolicySpec,
        ctx: &'a Context<'a>,
    ) -> impl Future<Output = Result<Result<Preview, Stall>, ReconcileError>> + Send + 'a;
    /// Undo what this resource did, from the journal (`onDelete: Revert`).
    fn revert<'a>(
        ctx: &'a Context<'a>,
        tenant_id: &'a str,
    ) -> impl Future<Output = Result<RevertOutcome, ReconcileError>> + Send + 'a;
    /// Progress as `done/total`, when the kind counts objects.
    fn progress(status: &Self::Status) -> Option<String>;
    /// What changed from `old` to `new`, for the metrics' counters: objects converted, and
    /// per-object failures new in this pass (never the same failures again on a later pass).
    fn changes(old: Option<&Self::Status>, new: &Self::Status) -> (i64, i64);
    /// The objects by state, for the metrics' gauges: matched, converted, pending, failed,
    /// excluded.
    fn object_states(status: &Self::Status) -> [i64; 5];
}

impl<K: Rollout> Reconciled for K {
    type Status = StatusOf<K>;
    const KIND: &'static str = K::WORDS.kind;
    const REVERTED: &'static str = K::WORDS.reverted;

    fn object_meta(&self) -> &ObjectMeta {
        self.meta()
    }
    fn status(&self) -> Option<&StatusOf<K>> {
        HasStatus::status(self)
    }
    fn set_status(&mut self, status: StatusOf<K>) {
        *self.status_mut() = Some(status);
    }
    fn conditions(status: &StatusOf<K>) -> &[Condition] {
        Conditioned::conditions(status)
    }
    fn observed_generation(status: &StatusOf<K>) -> Option<i64> {
        Conditioned::observed_generation(status)
    }
    fn suspended(&self) -> bool {
        self.spec().suspend()
    }
    fn tenant_ref(&self) -> Option<&str> {
        Some(self.spec().tenant_ref())
    }
    fn on_delete(&self) -> OnDelete {
        self.spec().on_delete()
    }
    fn spec_error(&self) -> Option<SpecError> {
        self.spec().validate().err()
    }
    fn stall(
        &self,
        tenant: &TenantSyncPolicySpec,
        now: jiff::Timestamp,
        stall: Stall,
    ) -> Outcome<StatusOf<K>> {
        rollout::stall::<K>(input(self, tenant), now, stall)
    }
    async fn pass<'a>(
        &'a self,
        tenant: &'a TenantSyncPolicySpec,
        ctx: &'a Context<'a>,
    ) -> Result<Outcome<StatusOf<K>>, ReconcileError> {
        rollout::reconcile::<K>(input(self, tenant), ctx).await
    }
    async fn preview<'a>(
        &'a self,
        tenant: &'a TenantSyncPolicySpec,
        ctx: &'a Context<'a>,
    ) -> Result<Result<Preview, Stall>, ReconcileError> {
        rollout::preview::<K>(input(self, tenant), ctx).await
    }
    async fn revert<'a>(
        ctx: &'a Context<'a>,
        tenant_id: &'a str,
    ) -> Result<RevertOutcome, ReconcileError> {
        <SpecOf<K> as ConversionSpec>::revert(ctx, tenant_id).await
    }
    fn progress(status: &StatusOf<K>) -> Option<String> {
        let (converted, pending, _) = status.counts();
        Some(format!("{converted}/{}", converted + pending))
    }
    fn changes(old: Option<&StatusOf<K>>, new: &StatusOf<K>) -> (i64, i64) {
        let mut new = new.clone();
        let before = old.map(|s| s.counts().0).unwrap_or(0);
        let (converted, _, failed) = new.counts();
        // `failed` is the last wave's: counted when that wave's failures are new.
        let failures_new = match old.cloned() {
            Some(mut old) => *old.progress().recent_failures != *new.progress().recent_failures,
            None => true,
        };
        (
            (converted - before).max(0),
            if failures_new { failed.max(0) } else { 0 },
        )
    }
    fn object_states(status: &StatusOf<K>) -> [i64; 5] {
        let mut s = status.clone();
        let p = s.progress();
        [*p.matched, *p.converted, *p.pending, *p.failed, *p.excluded]
    }
}

/// What a pass of `obj` works on.
fn input<'a, K: Rollout>(obj: &'a K, tenant: &'a TenantSyncPolicySpec) -> InputOf<'a, K> {
    rollout::Input {
        spec: obj.spec(),
        generation: obj.meta().generation,
        status: HasStatus::status(obj),
        tenant,
    }
}

impl Reconciled for TenantSyncPolicy {
    type Status = TenantSyncPolicyStatus;
    const KIND: &'static str = tenant::KIND;
    const REVERTED: &'static str = "changes reverted";

    fn object_meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn status(&self) -> Option<&TenantSyncPolicyStatus> {
        self.status.as_ref()
    }
    fn set_status(&mut self, status: TenantSyncPolicyStatus) {
        self.status = Some(status);
    }
    fn conditions(status: &TenantSyncPolicyStatus) -> &[Condition] {
        &status.conditions
    }
    fn observed_generation(status: &TenantSyncPolicyStatus) -> Option<i64> {
        status.observed_generation
    }
    fn suspended(&self) -> bool {
        self.spec.suspend
    }
    fn tenant_ref(&self) -> Option<&str> {
        None
    }
    fn as_tenant(&self) -> Option<&TenantSyncPolicy> {
        Some(self)
    }
    fn spec_error(&self) -> Option<SpecError> {
        tenant::validate::validate(&self.spec).err()
    }
    fn stall(
        &self,
        _: &TenantSyncPolicySpec,
        now: jiff::Timestamp,
        stall: Stall,
    ) -> Outcome<TenantSyncPolicyStatus> {
        tenant::stall(self.input(), now, stall)
    }
    async fn pass<'a>(
        &'a self,
        _: &'a TenantSyncPolicySpec,
        ctx: &'a Context<'a>,
    ) -> Result<Outcome<TenantSyncPolicyStatus>, ReconcileError> {
        tenant::reconcile(self.input(), ctx).await
    }
    async fn preview<'a>(
        &'a self,
        _: &'a TenantSyncPolicySpec,
        _: &'a Context<'a>,
    ) -> Result<Result<Preview, Stall>, ReconcileError> {
        // The tenant's plan is its own (`tenant::plan`): observed state and requests.
        Ok(Err(Stall::fixable(
            crate::reasons::INVALID_SPEC,
            "a TenantSyncPolicy is previewed by tenant::plan",
        )))
    }
    async fn revert<'a>(_: &'a Context<'a>, _: &'a str) -> Result<RevertOutcome, ReconcileError> {
        // Nothing to undo for a tenant policy: the journal stays, the tenant stays as it is.
        Ok(RevertOutcome::Done(0))
    }
    fn progress(status: &TenantSyncPolicyStatus) -> Option<String> {
        status.progress.clone()
    }
    fn changes(old: Option<&TenantSyncPolicyStatus>, new: &TenantSyncPolicyStatus) -> (i64, i64) {
        let ids = |s: Option<&TenantSyncPolicyStatus>| {
            let c = s.and_then(|s| s.immutable_ids.as_ref());
            (c.map_or(0, |c| c.cleared), c.map_or(0, |c| c.failed))
        };
        let (cleared, failed) = ids(Some(new));
        let (cleared_before, failed_before) = ids(old);
        (
            (cleared - cleared_before).max(0),
            (failed - failed_before).max(0),
        )
    }
    fn object_states(status: &TenantSyncPolicyStatus) -> [i64; 5] {
        let count = |c: Option<&crate::api::tenant::ObjectCounts>| {
            c.map_or((0, 0), |c| (c.synced, c.converted))
        };
        let (us, uc) = count(status.users.as_ref());
        let (gs, gc) = count(status.groups.as_ref());
        let failed = status.immutable_ids.as_ref().map_or(0, |c| c.failed);
        // Matched: every object synchronised once; pending: those still synchronised.
        [us + uc + gs + gc, uc + gc, us + gs, failed, 0]
    }
}

impl TenantSyncPolicy {
    fn input(&self) -> tenant::Input<'_> {
        tenant::Input {
            spec: &self.spec,
            generation: self.metadata.generation,
            status: self.status.as_ref(),
        }
    }
}
