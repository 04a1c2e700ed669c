//! One owner per tenant switch: of the TenantSyncPolicies that set one tenant's
//! `directorySync` (`Enabled` or `Disabled`), one acts and the others stall with
//! `TenantClaimed`, naming it, instead of fighting.
//!
//! The owner is the earliest created (then the first by namespace/name) among the policies
//! that proved they can reach the tenant (their status shows the organization read with their
//! credentials). A policy that never reached the tenant claims nothing, so a namespace user who
//! merely knows a tenant id cannot block its rightful policy by creating one first; a policy
//! that has not reached it yet gives way to one that has.

use kube::api::ListParams;
use kube::{Api, ResourceExt};

use crate::api::TenantSyncPolicy;
use crate::api::tenant::DirectorySyncMode;

use super::Context;

/// Whether `tsp` sets the tenant's switch at all.
pub fn sets_switch(tsp: &TenantSyncPolicy) -> bool {
    tsp.spec.directory_sync != DirectorySyncMode::Unmanaged
}

/// Whether `tsp` has read its tenant's organization with its own credentials.
fn reached(tsp: &TenantSyncPolicy) -> bool {
    tsp.status
        .as_ref()
        .is_some_and(|s| s.organization.is_some())
}

fn order_key(tsp: &TenantSyncPolicy) -> (Option<jiff::Timestamp>, String, String) {
    (
        tsp.metadata.creation_timestamp.as_ref().map(|t| t.0),
        tsp.namespace().unwrap_or_default(),
        tsp.name_any(),
    )
}

/// The policy among `others` that owns the switch of `own`'s tenant instead of `own`, if any.
pub fn owner<'a>(
    own: &TenantSyncPolicy,
    others: &'a [TenantSyncPolicy],
) -> Option<&'a TenantSyncPolicy> {
    let me = (own.namespace(), own.name_any());
    others
        .iter()
        .filter(|o| (o.namespace(), o.name_any()) != me)
        .filter(|o| o.spec.tenant_id.eq_ignore_ascii_case(&own.spec.tenant_id))
        .filter(|o| sets_switch(o) && o.metadata.deletion_timestamp.is_none() && reached(o))
        .filter(|o| !reached(own) || order_key(o) < order_key(own))
        .min_by_key(|o| order_key(o))
}

/// The stall message when another policy owns the switch of `own`'s tenant.
pub async fn claimed(ctx: &Context, own: &TenantSyncPolicy) -> Result<Option<String>, kube::Error> {
    if !sets_switch(own) {
        return Ok(None);
    }
    let mut all = Vec::new();
    if ctx.options.namespaces.is_empty() {
        let api: Api<TenantSyncPolicy> = Api::all(ctx.client.clone());
        all = api.list(&ListParams::default()).await?.items;
    } else {
        for ns in &ctx.options.namespaces {
            let api: Api<TenantSyncPolicy> = Api::namespaced(ctx.client.clone(), ns);
            all.extend(api.list(&ListParams::default()).await?.items);
        }
    }
    Ok(owner(own, &all).map(|o| {
        format!(
            "tenant {}'s directory synchronisation is already set by TenantSyncPolicy {}/{} (directorySync: {:?}); one policy per tenant sets it: set spec.directorySync: Unmanaged here (observing stays possible), or delete one of the two",
            own.spec.tenant_id,
            o.namespace().unwrap_or_default(),
            o.name_any(),
            o.spec.directory_sync
        )
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::tenant::{OrganizationStatus, TenantSyncPolicyStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const TENANT: &str = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";

    fn tsp(
        ns: &str,
        name: &str,
        created_s: i64,
        mode: DirectorySyncMode,
        reached: bool,
    ) -> TenantSyncPolicy {
        let mut t = TenantSyncPolicy::new(name, Default::default());
        t.metadata.namespace = Some(ns.into());
        t.metadata.creation_timestamp = Some(Time(
            jiff::Timestamp::from_second(1_700_000_000 + created_s).unwrap(),
        ));
        t.spec.tenant_id = TENANT.into();
        t.spec.directory_sync = mode;
        if reached {
            t.status = Some(TenantSyncPolicyStatus {
                organization: Some(OrganizationStatus::default()),
                ..Default::default()
            });
        }
        t
    }

    use DirectorySyncMode::{Disabled, Enabled, Unmanaged};

    #[test]
    fn the_earliest_policy_that_reached_the_tenant_owns_the_switch() {
        let first = tsp("identity", "cutover", 0, Disabled, true);
        let second = tsp("team-a", "mine", 10, Enabled, true);
        let all = vec![first.clone(), second.clone()];
        assert!(owner(&first, &all).is_none());
        assert_eq!(
            owner(&second, &all).map(|o| o.name_any()),
            Some("cutover".into())
        );
    }

    #[test]
    fn a_policy_that_never_reached_the_tenant_claims_nothing() {
        let squatter = tsp("team-a", "early", 0, Enabled, false);
        let rightful = tsp("identity", "cutover", 10, Disabled, true);
        let all = vec![squatter.clone(), rightful.clone()];
        assert!(owner(&rightful, &all).is_none());
        // …and gives way to one that did.
        assert_eq!(
            owner(&squatter, &all).map(|o| o.name_any()),
            Some("cutover".into())
        );
        // Neither reached it yet: both may try (their first pass proves access).
        let fresh = tsp("identity", "cutover", 10, Disabled, false);
        assert!(owner(&fresh, &[squatter.clone(), fresh.clone()]).is_none());
    }

    #[test]
    fn observers_other_tenants_and_deleted_policies_do_not_claim() {
        let own = tsp("identity", "cutover", 10, Disabled, true);
        let observer = tsp("audit", "watch", 0, Unmanaged, true);
        let mut other_tenant = tsp("b", "other", 0, Disabled, true);
        other_tenant.spec.tenant_id = "11111111-2222-3333-4444-555555555555".into();
        let mut going = tsp("c", "going", 0, Disabled, true);
        going.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        let all = vec![observer, other_tenant, going, own.clone()];
        assert!(owner(&own, &all).is_none());
        assert!(!sets_switch(&tsp("a", "b", 0, Unmanaged, true)));
    }

    #[test]
    fn ties_break_on_namespace_and_name() {
        let a = tsp("a", "x", 0, Disabled, true);
        let b = tsp("b", "x", 0, Disabled, true);
        let all = vec![b.clone(), a.clone()];
        assert!(owner(&a, &all).is_none());
        assert_eq!(
            owner(&b, &all).map(|o| o.namespace()),
            Some(Some("a".into()))
        );
    }
}
