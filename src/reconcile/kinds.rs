//! The conversion kinds wired to the rollout engine: each kind's spec to its module's
//! validation, selection, permissions and revert, and each kind's words. The engine
//! (`rollout`) knows no kind; the kinds (`user`, `group`) know the engine; this module knows
//! both.

use crate::api::common::{ConversionMode, OnDelete, Rollout};
use crate::graph::GraphClient;
use crate::reconcile::rollout::{ConversionSpec, SelectError, Words};
use crate::reconcile::validate::{SpecError, Valid};
use crate::reconcile::{Context, ReconcileError, RevertOutcome};

macro_rules! conversion_spec {
    ($($spec:ty => $kind:ident, $operations:ident),*) => {$(
        impl ConversionSpec for $spec {
            type Selection = super::$kind::select::Selection;
            async fn select<'a>(
                &'a self,
                graph: &'a GraphClient,
            ) -> Result<Self::Selection, SelectError> {
                super::$kind::select::select(graph, self).await
            }
            fn mode(&self) -> ConversionMode {
                self.mode
            }
            fn suspend(&self) -> bool {
                self.suspend
            }
            fn rollout(&self) -> &Rollout {
                &self.rollout
            }
            fn tenant_ref(&self) -> &str {
                &self.tenant_ref.name
            }
            fn on_delete(&self) -> OnDelete {
                self.on_delete
            }
            fn validate(&self) -> Result<Valid<'_, Self>, SpecError> {
                super::$kind::validate::validate(self)
            }
            fn approval(&self) -> crate::reconcile::rollout::approval::Approval<'_> {
                crate::reconcile::rollout::approval::Approval {
                    required: self.require_approval || self.approved_plan.is_some(),
                    approved: self.approved_plan.as_deref(),
                    tolerance: self.plan_tolerance.unwrap_or(0).max(0),
                }
            }
            fn operations(&self) -> Vec<crate::graph::Operation> {
                super::permissions::$operations(self)
            }
            async fn revert<'a>(
                ctx: &'a Context<'a>,
                tenant_id: &'a str,
            ) -> Result<RevertOutcome, ReconcileError> {
                super::$kind::revert::revert(ctx, tenant_id).await
            }
        }
    )*};
}

conversion_spec!(
    crate::api::user::CloudUserConversionSpec => user, user_operations,
    crate::api::group::CloudGroupConversionSpec => group, group_operations
);

/// `CloudUserConversion`.
pub const USERS: Words = Words {
    kind: "CloudUserConversion",
    objects: "users",
    converged: "every selected user is cloud-managed",
    reverted: "users switched back to AD and their ImmutableIDs restored",
};

/// `CloudGroupConversion`.
pub const GROUPS: Words = Words {
    kind: "CloudGroupConversion",
    objects: "groups",
    converged: "every selected group is cloud-managed with its owners",
    reverted: "groups switched back to AD and the owners this resource added removed",
};
