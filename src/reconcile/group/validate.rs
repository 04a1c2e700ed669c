//! Checks of a `CloudGroupConversion` spec that need no I/O (the CRD schema enforces the same
//! in a cluster; the local runner has no API server).

use crate::api::common::{is_upn, is_uuid};
use crate::api::group::CloudGroupConversionSpec;
use crate::reconcile::validate::{self as check, SpecError, Valid, err};

/// Owners a group can have (graph-api.md §5).
pub const MAX_OWNERS: usize = 100;

/// Validate `spec`.
pub fn validate(
    spec: &CloudGroupConversionSpec,
) -> Result<Valid<'_, CloudGroupConversionSpec>, SpecError> {
    check::tenant_ref(&spec.tenant_ref.name)?;
    let s = &spec.selector;
    if s.group_ids.is_empty() && s.filter.as_deref().is_none_or(|f| f.trim().is_empty()) {
        return Err(err("selector", "give at least one of groupIds, filter"));
    }
    check::group_ids("selector.groupIds", &s.group_ids)?;
    if let Some(f) = &s.filter {
        check::filter("selector.filter", f)?;
    }
    if let Some(x) = &spec.exclude {
        check::group_ids("exclude.groupIds", &x.group_ids)?;
    }
    if spec.owners.len() > MAX_OWNERS {
        return Err(err(
            "owners",
            format!("at most {MAX_OWNERS} (a group's owner limit)"),
        ));
    }
    if let Some(bad) = spec.owners.iter().find(|o| !is_upn(o) && !is_uuid(o)) {
        return Err(err(
            "owners",
            format!(
                "{bad:?} is neither a user principal name (name@domain) nor a user object id (GUID)"
            ),
        ));
    }
    let rollout = check::rollout(&spec.rollout)?;
    Ok(Valid { spec, rollout })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const G: &str = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";

    fn spec(extra: serde_json::Value) -> CloudGroupConversionSpec {
        let mut v = json!({"tenantRef": {"name": "contoso"}, "mode": "Plan",
            "selector": {"groupIds": [G]}});
        if let serde_json::Value::Object(m) = extra {
            for (k, x) in m {
                v[k] = x;
            }
        }
        serde_json::from_value(v).unwrap()
    }

    fn field(extra: serde_json::Value) -> Option<&'static str> {
        validate(&spec(extra)).err().map(|e| e.field)
    }

    #[test]
    fn good_specs_pass_and_default_to_nested() {
        let s = spec(json!({"owners": ["admin@contoso.onmicrosoft.com", G]}));
        assert!(validate(&s).is_ok());
        assert!(s.selector.include_nested);
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(
            field(json!({"tenantRef": {"name": " "}})),
            Some("tenantRef.name")
        );
        assert_eq!(field(json!({"selector": {}})), Some("selector"));
        assert_eq!(
            field(json!({"selector": {"filter": "  "}})),
            Some("selector")
        );
        assert_eq!(
            field(json!({"selector": {"groupIds": ["nope"]}})),
            Some("selector.groupIds")
        );
        assert_eq!(
            field(json!({"selector": {"filter": "a\nb"}})),
            Some("selector.filter")
        );
        assert_eq!(
            field(json!({"exclude": {"groupIds": ["x"]}})),
            Some("exclude.groupIds")
        );
        assert_eq!(field(json!({"owners": ["not an owner"]})), Some("owners"));
        assert_eq!(field(json!({"owners": ["*@contoso.com"]})), Some("owners"));
        assert_eq!(
            field(json!({"selector": {"filter": "displayName eq 'x\u{0}'"}})),
            Some("selector.filter")
        );
        assert_eq!(
            field(json!({"rollout": {"canary": -1}})),
            Some("rollout.canary")
        );
        assert_eq!(
            field(json!({"rollout": {"maxFailuresPerWave": -1}})),
            Some("rollout.maxFailuresPerWave")
        );
        let many: Vec<String> = (0..101).map(|i| format!("u{i}@contoso.com")).collect();
        assert_eq!(field(json!({ "owners": many })), Some("owners"));
        assert_eq!(
            field(json!({"rollout": {"waveSize": 0}})),
            Some("rollout.waveSize")
        );
        assert_eq!(
            field(json!({"rollout": {"pauseBetweenWaves": "soon"}})),
            Some("rollout.pauseBetweenWaves")
        );
    }
}
