//! Checks of a `CloudUserConversion` spec that need no I/O (the CRD schema enforces the same
//! in a cluster; the local runner has no API server).

use crate::api::user::{CloudUserConversionSpec, UserConversionMethod};
use crate::reconcile::validate::{self as check, SpecError, Valid, err};

/// Validate `spec`.
pub fn validate(
    spec: &CloudUserConversionSpec,
) -> Result<Valid<'_, CloudUserConversionSpec>, SpecError> {
    check::tenant_ref(&spec.tenant_ref.name)?;
    let s = &spec.selector;
    if s.user_principal_names.is_empty()
        && s.groups.is_empty()
        && s.domains.is_empty()
        && s.filter.as_deref().is_none_or(|f| f.trim().is_empty())
    {
        return Err(err(
            "selector",
            "give at least one of userPrincipalNames, groups, filter, domains",
        ));
    }
    for upn in &s.user_principal_names {
        check::upn("selector.userPrincipalNames", upn)?;
    }
    for g in &s.groups {
        check::group_ref("selector.groups", g)?;
    }
    for d in &s.domains {
        if d.is_empty() || d.contains(['@', '\'', ' ', '/']) || !d.contains('.') {
            return Err(err(
                "selector.domains",
                format!("{d:?} is not a domain name"),
            ));
        }
    }
    if let Some(f) = &s.filter {
        check::filter("selector.filter", f)?;
    }
    if let Some(x) = &spec.exclude {
        for upn in &x.user_principal_names {
            check::upn("exclude.userPrincipalNames", upn)?;
        }
        for g in &x.groups {
            check::group_ref("exclude.groups", g)?;
        }
    }
    let rollout = check::rollout(&spec.rollout)?;
    if spec.clear_immutable_id && spec.method != UserConversionMethod::SourceOfAuthority {
        return Err(err(
            "clearImmutableId",
            "applies to method SourceOfAuthority only (the other methods clear it anyway)",
        ));
    }
    if let Some(n) = spec.max_soft_deletes_per_sync_cycle {
        if spec.method != UserConversionMethod::RestoreDeleted {
            return Err(err(
                "maxSoftDeletesPerSyncCycle",
                "applies to method RestoreDeleted only (no other method deletes anything)",
            ));
        }
        if !(1..=100_000).contains(&n) {
            return Err(err(
                "maxSoftDeletesPerSyncCycle",
                format!(
                    "{n} is outside 1 to 100000; keep it below Entra Connect's accidental-delete threshold (500 by default)"
                ),
            ));
        }
    }
    if spec.method == UserConversionMethod::RestoreDeleted
        && (!s.groups.is_empty() || s.filter.is_some())
    {
        return Err(err(
            "selector",
            "method RestoreDeleted finds soft-deleted users, which have no group memberships and no $filter support: select them by userPrincipalNames or domains",
        ));
    }
    Ok(Valid { spec, rollout })
}
