//! The resources the local runner drives, one reconcile pass at a time, each keeping its own
//! status between passes.

use std::time::Duration;

use crate::api::TenantSyncPolicy;
use crate::journal::ResourceKey;
use crate::reconcile::tenant::{self, Context, Input};

use super::runner::key_of;

/// A resource the runner can drive: one reconcile pass at a time.
pub(super) trait Runnable {
    fn key(&self) -> ResourceKey;
    fn suspended(&self) -> bool;
    fn conditions(&self) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>;
    fn progress(&self) -> Option<String>;
    fn to_json(&self) -> serde_json::Value;
    /// One pass; returns its Events and requeue delay, having stored the new status.
    async fn pass(
        &mut self,
        ctx: Result<Context<'_>, super::runner::NoClient>,
        now: jiff::Timestamp,
    ) -> Result<
        (Vec<crate::reconcile::ReconcileEvent>, Option<Duration>),
        crate::reconcile::ReconcileError,
    >;
}

pub(super) struct TenantRun(
    pub(super) TenantSyncPolicy,
    /// Its Active Directory, resolved once (none without `activeDirectory`).
    pub(super) Option<crate::reconcile::DirectoryConnection>,
);

impl Runnable for TenantRun {
    fn key(&self) -> ResourceKey {
        key_of(tenant::KIND, &self.0.metadata)
    }
    fn suspended(&self) -> bool {
        self.0.spec.suspend
    }
    fn conditions(&self) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
        self.0
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default()
    }
    fn progress(&self) -> Option<String> {
        self.0.status.as_ref().and_then(|s| s.progress.clone())
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }
    async fn pass(
        &mut self,
        ctx: Result<Context<'_>, super::runner::NoClient>,
        now: jiff::Timestamp,
    ) -> Result<
        (Vec<crate::reconcile::ReconcileEvent>, Option<Duration>),
        crate::reconcile::ReconcileError,
    > {
        let input = Input {
            spec: &self.0.spec,
            generation: self.0.metadata.generation,
            status: self.0.status.as_ref(),
        };
        let outcome = match ctx {
            Err(stall) => tenant::stall(input, now, stall),
            Ok(ctx) => {
                let ctx = Context {
                    ad: self.1.as_ref(),
                    ..ctx
                };
                tenant::reconcile(input, &ctx).await?
            }
        };
        self.0.status = Some(outcome.status);
        Ok((outcome.events, outcome.requeue_after))
    }
}

pub(super) struct UserRun {
    pub(super) cuc: crate::api::CloudUserConversion,
    pub(super) tenant: Option<crate::api::TenantSyncPolicySpec>,
    /// The tenant's Active Directory, resolved once (none without `activeDirectory`).
    pub(super) ad: Option<crate::reconcile::DirectoryConnection>,
}

impl Runnable for UserRun {
    fn key(&self) -> ResourceKey {
        key_of(crate::reconcile::user::KIND, &self.cuc.metadata)
    }
    fn suspended(&self) -> bool {
        self.cuc.spec.suspend
    }
    fn conditions(&self) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
        self.cuc
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default()
    }
    fn progress(&self) -> Option<String> {
        self.cuc
            .status
            .as_ref()
            .map(|s| format!("{}/{}", s.converted, s.converted + s.pending))
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.cuc).unwrap_or_default()
    }
    async fn pass(
        &mut self,
        ctx: Result<Context<'_>, super::runner::NoClient>,
        now: jiff::Timestamp,
    ) -> Result<
        (Vec<crate::reconcile::ReconcileEvent>, Option<Duration>),
        crate::reconcile::ReconcileError,
    > {
        use crate::reconcile::user;
        let fallback = crate::api::TenantSyncPolicySpec::default();
        let input = user::Input {
            spec: &self.cuc.spec,
            generation: self.cuc.metadata.generation,
            status: self.cuc.status.as_ref(),
            tenant: self.tenant.as_ref().unwrap_or(&fallback),
        };
        let outcome = match ctx {
            Err(stall) => user::stall(input, now, stall),
            Ok(ctx) => {
                let ctx = Context {
                    ad: self.ad.as_ref(),
                    ..ctx
                };
                user::reconcile(input, &ctx).await?
            }
        };
        self.cuc.status = Some(outcome.status);
        Ok((outcome.events, outcome.requeue_after))
    }
}
