//! Checks of a `CloudUserConversion` spec that need no I/O (the CRD schema enforces the same
//! in a cluster; the local runner has no API server).

use crate::api::common::{is_upn, is_uuid, parse_duration};
use crate::api::user::{CloudUserConversionSpec, UserConversionMethod};
use crate::reconcile::tenant::validate::SpecError;

fn err(field: &'static str, message: impl Into<String>) -> SpecError {
    SpecError {
        field,
        message: message.into(),
    }
}

fn check_upn(field: &'static str, upn: &str) -> Result<(), SpecError> {
    if is_upn(upn) {
        Ok(())
    } else {
        Err(err(
            field,
            format!(
                "{upn:?} is not a user principal name (name@domain; no wildcards, quotes or URL characters)"
            ),
        ))
    }
}

fn check_group(field: &'static str, g: &crate::api::common::GroupRef) -> Result<(), SpecError> {
    match (&g.id, &g.display_name) {
        (Some(id), None) if is_uuid(id) => Ok(()),
        (Some(id), None) => Err(err(
            field,
            format!("{id:?} is not a group object id (GUID)"),
        )),
        (None, Some(name)) if !name.trim().is_empty() && name.len() <= 256 => Ok(()),
        (Some(_), Some(_)) => Err(err(
            field,
            "give each group's id or its displayName, not both",
        )),
        _ => Err(err(
            field,
            "give each group's id or its displayName (a non-blank name of at most 256 characters)",
        )),
    }
}

/// Validate `spec`.
pub fn validate(spec: &CloudUserConversionSpec) -> Result<(), SpecError> {
    if spec.tenant_ref.name.trim().is_empty() {
        return Err(err(
            "tenantRef.name",
            "name the TenantSyncPolicy of the tenant",
        ));
    }
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
        check_upn("selector.userPrincipalNames", upn)?;
    }
    for g in &s.groups {
        check_group("selector.groups", g)?;
    }
    for d in &s.domains {
        if d.is_empty() || d.contains(['@', '\'', ' ', '/']) || !d.contains('.') {
            return Err(err(
                "selector.domains",
                format!("{d:?} is not a domain name"),
            ));
        }
    }
    if let Some(f) = &s.filter
        && (f.len() > 2048 || f.chars().any(char::is_control))
    {
        return Err(err(
            "selector.filter",
            "must be one line of at most 2048 characters, without control characters",
        ));
    }
    if let Some(x) = &spec.exclude {
        for upn in &x.user_principal_names {
            check_upn("exclude.userPrincipalNames", upn)?;
        }
        for g in &x.groups {
            check_group("exclude.groups", g)?;
        }
    }
    let r = &spec.rollout;
    if r.max_objects < 1 {
        return Err(err("rollout.maxObjects", "must be at least 1"));
    }
    if r.wave_size < 1 {
        return Err(err("rollout.waveSize", "must be at least 1"));
    }
    if r.canary < 0 {
        return Err(err("rollout.canary", "cannot be negative"));
    }
    if r.max_failures_per_wave < 0 {
        return Err(err("rollout.maxFailuresPerWave", "cannot be negative"));
    }
    if parse_duration(&r.pause_between_waves).is_none() {
        return Err(err(
            "rollout.pauseBetweenWaves",
            format!(
                "{:?} is not a duration like 10m, 1h30m or 0s",
                r.pause_between_waves
            ),
        ));
    }
    if spec.clear_immutable_id && spec.method != UserConversionMethod::SourceOfAuthority {
        return Err(err(
            "clearImmutableId",
            "applies to method SourceOfAuthority only (the other methods clear it anyway)",
        ));
    }
    if spec.method == UserConversionMethod::RestoreDeleted
        && (!s.groups.is_empty() || s.filter.is_some())
    {
        return Err(err(
            "selector",
            "method RestoreDeleted finds soft-deleted users, which have no group memberships and no $filter support: select them by userPrincipalNames or domains",
        ));
    }
    Ok(())
}
