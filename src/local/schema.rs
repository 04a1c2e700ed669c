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
            out.push(format!("{path}: {text:?} does not match the pattern {p}"));
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
            joined
                .contains("spec.credentials.clientSecret.clientId: \"not-a-guid\" does not match"),
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
}
