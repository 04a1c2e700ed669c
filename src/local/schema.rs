//! Structural checks of a manifest against the generated CRD's OpenAPI schema: unknown
//! fields, types, enums, patterns, lengths, numeric bounds and list sizes. In a cluster the API server does this; the
//! local runner has none, so it checks the same schema itself and names each bad field.

use serde_json::Value;

/// Check `value` (a whole resource) against the CRD's `openAPIV3Schema`; return every
/// problem as `path: message`.
pub fn check(value: &Value, schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    // metadata is the API server's business (its own schema); check spec and status only.
    if let (Some(obj), Some(props)) = (value.as_object(), schema.get("properties")) {
        for (key, v) in obj {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            match props.get(key) {
                Some(s) => walk(v, s, key, &mut problems),
                None => problems.push(format!("{key}: unknown field")),
            }
        }
    }
    problems
}

/// What a value failing `pattern` should look like, in words with an example and the fix
/// (the pattern itself only for a pattern this table does not know).
fn pattern_words(text: &str, pattern: &str) -> String {
    use crate::api::common::{CONVERSION_PLAN_PATTERN, UUID_PATTERN};
    const UPN: &str = r"^[A-Za-z0-9._!^~-]+@[A-Za-z0-9.-]+$";
    const UPN_OR_ID: &str = r"^([A-Za-z0-9._!^~-]+@[A-Za-z0-9.-]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$";
    const K8S_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
    const SECRET_KEY: &str = r"^[-._a-zA-Z0-9]+$";
    const URL: &str = r"^https?://[^\s/?#]+(/[^\s?#]*)?$";
    const LDAP_URL: &str = r"^ldaps?://[^\s/?#]+/?$";
    const NO_CONTROL: &str = r"^[^\x00-\x1F\x7F]*$";
    const DOMAIN: &str =
        r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$";
    let wildcard = text.contains('*') || text.contains('?');
    match pattern {
        UUID_PATTERN => "is not a GUID: 32 hexadecimal digits in groups of 8-4-4-4-12, e.g. 3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b (Entra's overview page shows the tenant and application ids)".into(),
        crate::duration::PATTERN => "is not a duration: one or more number+unit pairs, units ms, s, m, h, no spaces, e.g. 90s, 10m, 1h30m (days as hours: 24h)".into(),
        UPN | UPN_OR_ID if wildcard => "is a pattern, not a user principal name: name users one by one, or select them with selector.filter, e.g. \"startswith(userPrincipalName,'ada')\", or selector.domains: [contoso.com]".into(),
        UPN => "is not a user principal name: name@domain, e.g. ada@contoso.com (letters, digits and . _ ! ^ ~ - before the @)".into(),
        UPN_OR_ID => "is neither a user principal name (ada@contoso.com) nor a user object id (a GUID)".into(),
        CONVERSION_PLAN_PATTERN => "is not a plan digest: copy the one `plan` prints for this resource, e.g. convert:users=22:4be0a2c19d7f3e15".into(),
        crate::api::tenant::APPROVED_PLAN_PATTERN => "is not a plan digest: copy the one `plan` prints for this policy, e.g. disable:users=420,groups=37:9f2c4e0a1b3d5f67".into(),
        K8S_NAME => "is not a Kubernetes object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit".into(),
        SECRET_KEY => "is not a Secret key: letters, digits, '-', '_' and '.'".into(),
        URL => "is not an http(s) URL of a host, e.g. https://graph.microsoft.com (no spaces, query or fragment)".into(),
        LDAP_URL => "is not an LDAP URL of a host, e.g. ldaps://dc01.corp.example.com (no path, query or fragment)".into(),
        DOMAIN if wildcard => "is a pattern, not a domain: list each domain, e.g. contoso.com, sales.contoso.com".into(),
        DOMAIN => "is not a domain name: labels of letters, digits and '-' joined by dots, e.g. contoso.com".into(),
        NO_CONTROL => "holds a control character (a line break, a tab, …): write it on one line".into(),
        _ => format!("does not have the expected form (the schema's pattern {pattern})"),
    }
}

fn walk(v: &Value, s: &Value, path: &str, out: &mut Vec<String>) {
    if v.is_null() {
        if s.get("nullable") != Some(&Value::Bool(true)) {
            out.push(format!("{path}: must not be null"));
        }
        return;
    }
    let ty = s.get("type").and_then(Value::as_str);
    let type_ok = match ty {
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("boolean") => v.is_boolean(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        _ => true,
    };
    if !type_ok {
        out.push(format!(
            "{path}: expected {}, got {}",
            ty.unwrap_or("?"),
            kind_of(v)
        ));
        return;
    }
    if let Some(allowed) = s.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let names: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        out.push(format!("{path}: {v} is not one of {}", names.join(", ")));
    }
    if let Some(text) = v.as_str() {
        if let Some(p) = s.get("pattern").and_then(Value::as_str)
            && let Ok(re) = regex::Regex::new(p)
            && !re.is_match(text)
        {
            out.push(format!("{path}: {text:?} {}", pattern_words(text, p)));
        }
        let len = text.chars().count() as u64;
        if let Some(min) = s.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            out.push(format!("{path}: must be at least {min} characters"));
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            out.push(format!("{path}: must be at most {max} characters"));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            out.push(format!("{path}: {v} is less than the minimum {min}"));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            out.push(format!("{path}: {v} is more than the maximum {max}"));
        }
    }
    if let Some(items) = v.as_array() {
        let len = items.len() as u64;
        if let Some(min) = s.get("minItems").and_then(Value::as_u64)
            && len < min
        {
            out.push(format!("{path}: must have at least {min} items"));
        }
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
            && len > max
        {
            out.push(format!("{path}: must have at most {max} items, not {len}"));
        }
    }
    match v {
        Value::Object(obj) => {
            let props = s.get("properties").and_then(Value::as_object);
            if let Some(required) = s.get("required").and_then(Value::as_array) {
                for r in required.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(r) {
                        out.push(format!("{path}.{r}: required"));
                    }
                }
            }
            for (key, child) in obj {
                let child_path = format!("{path}.{key}");
                match props.and_then(|p| p.get(key)) {
                    Some(cs) => walk(child, cs, &child_path, out),
                    None if s.get("x-kubernetes-preserve-unknown-fields")
                        == Some(&Value::Bool(true)) => {}
                    None if s.get("additionalProperties").is_some() => {}
                    None => out.push(format!("{child_path}: unknown field")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item, is, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    fn schema() -> Value {
        let crd = serde_json::to_value(crate::api::TenantSyncPolicy::crd()).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }

    fn doc(spec: Value) -> Value {
        serde_json::json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
                           "metadata": {"name": "x"}, "spec": spec})
    }

    fn good_spec() -> Value {
        serde_json::json!({
            "tenantId": "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
            "credentials": {"clientSecret": {"clientId": "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e",
                            "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}},
            "directorySync": "Disabled"})
    }

    #[test]
    fn the_documented_example_passes() {
        assert_eq!(check(&doc(good_spec()), &schema()), Vec::<String>::new());
    }

    #[test]
    fn each_problem_names_its_field() {
        let mut s = good_spec();
        s["tenantID"] = "x".into();
        s["directorySync"] = "Off".into();
        s["clearImmutableIds"] = "yes".into();
        s["credentials"]["clientSecret"]["clientId"] = "not-a-guid".into();
        let problems = check(&doc(s), &schema());
        let joined = problems.join("\n");
        assert!(joined.contains("spec.tenantID: unknown field"), "{joined}");
        assert!(
            joined.contains("spec.directorySync: \"Off\" is not one of"),
            "{joined}"
        );
        assert!(
            joined.contains("spec.clearImmutableIds: expected boolean"),
            "{joined}"
        );
        assert!(
            joined.contains("spec.credentials.clientSecret.clientId: \"not-a-guid\" is not a GUID"),
            "{joined}"
        );
        let mut s = good_spec();
        s["quota"] = serde_json::json!({"headroomPercent": 150, "writes": 0});
        let joined = check(&doc(s), &schema()).join("\n");
        assert!(
            joined.contains("spec.quota.headroomPercent: 150 is more than the maximum 100"),
            "{joined}"
        );
        assert!(
            joined.contains("spec.quota.writes: 0 is less than the minimum 1"),
            "{joined}"
        );
        let mut s = good_spec();
        s.as_object_mut().unwrap().remove("tenantId");
        assert!(check(&doc(s), &schema()).contains(&"spec.tenantId: required".to_string()));
    }

    /// Every pattern of the three CRDs, as the schema check meets them.
    fn patterns(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(p)) = m.get("pattern") {
                    out.push(p.clone());
                }
                m.values().for_each(|x| patterns(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| patterns(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_pattern_of_the_crds_is_said_in_words() {
        let mut all = Vec::new();
        for crd in [
            serde_json::to_value(crate::api::TenantSyncPolicy::crd()).unwrap(),
            serde_json::to_value(crate::api::CloudUserConversion::crd()).unwrap(),
            serde_json::to_value(crate::api::CloudGroupConversion::crd()).unwrap(),
        ] {
            patterns(&crd, &mut all);
        }
        assert!(all.len() > 10, "{all:?}");
        for p in &all {
            let words = pattern_words("x", p);
            assert!(!words.contains("expected form"), "{p}: {words}");
        }
    }

    #[test]
    fn bad_values_get_the_fix_in_words() {
        let mut spec = good_spec();
        spec["tenantId"] = Value::String("not-a-guid".into());
        let problems = check(&doc(spec), &schema());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("spec.tenantId: \"not-a-guid\" is not a GUID"),
            "{problems:?}"
        );
        assert!(
            !problems[0].contains("[0-9a-fA-F]"),
            "no regex: {problems:?}"
        );
        let upn = r"^[A-Za-z0-9._!^~-]+@[A-Za-z0-9.-]+$";
        assert!(pattern_words("*@contoso.com", upn).contains("selector.filter"));
        assert!(pattern_words("ada", upn).contains("name@domain"));
        assert!(pattern_words("10 minutes", crate::duration::PATTERN).contains("e.g. 90s, 10m"));
    }
}
