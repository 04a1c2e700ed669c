//! The CRD's CEL rules (`x-kubernetes-validations`), evaluated client-side with kube's CEL
//! validator: a typo in a rule would otherwise surface only when a cluster rejects the CRD.
#![allow(clippy::unwrap_used)]

use entra_cloud_operator::api::TenantSyncPolicy;
use kube::core::cel::{validate_cel, validate_cel_update};
use serde_json::json;

fn tsp(spec: serde_json::Value) -> TenantSyncPolicy {
    serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
        "metadata": {"name": "contoso", "namespace": "identity"},
        "spec": spec
    }))
    .unwrap()
}

fn base() -> serde_json::Value {
    json!({
        "tenantId": "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        "credentials": {"clientSecret": {"clientId": "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e",
                        "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}},
        "directorySync": "Disabled",
        "clearImmutableIds": true
    })
}

#[test]
fn the_documented_example_passes() {
    validate_cel(&tsp(base())).unwrap();
}

#[test]
fn credentials_need_exactly_one() {
    let mut two = base();
    two["credentials"]["workloadIdentity"] = json!({});
    let err = validate_cel(&tsp(two)).unwrap_err().to_string();
    assert!(
        err.contains("exactly one of clientSecret, certificate, workloadIdentity"),
        "{err}"
    );

    let mut none = base();
    none["credentials"] = json!({});
    assert!(validate_cel(&tsp(none)).is_err());

    let mut wi = base();
    wi["credentials"] = json!({"workloadIdentity": {}});
    validate_cel(&tsp(wi)).unwrap();
}

#[test]
fn clearing_immutable_ids_requires_disabled() {
    let mut s = base();
    s["directorySync"] = json!("Unmanaged");
    let err = validate_cel(&tsp(s)).unwrap_err().to_string();
    assert!(
        err.contains("clearImmutableIds: true requires directorySync: Disabled"),
        "{err}"
    );
    let mut s = base();
    s["directorySync"] = json!("Enabled");
    s["clearImmutableIds"] = json!(false);
    validate_cel(&tsp(s)).unwrap();
}

#[test]
fn tenant_id_is_immutable() {
    let old = tsp(base());
    let mut s = base();
    s["tenantId"] = json!("11111111-2222-3333-4444-555555555555");
    let err = validate_cel_update(&tsp(s), &old).unwrap_err().to_string();
    assert!(err.contains("tenantId is immutable"), "{err}");
    let mut s = base();
    s["drift"] = json!("Remediate");
    validate_cel_update(&tsp(s), &old).unwrap();
}

#[test]
fn a_group_is_named_by_id_or_display_name() {
    use entra_cloud_operator::api::CloudUserConversion;
    let cuc = |groups: serde_json::Value| -> CloudUserConversion {
        serde_json::from_value(json!({
            "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
            "metadata": {"name": "w", "namespace": "identity"},
            "spec": {"tenantRef": {"name": "contoso"}, "mode": "Plan", "selector": {"groups": groups}}
        }))
        .unwrap()
    };
    validate_cel(&cuc(json!([{"displayName": "Migration Wave 1"}]))).unwrap();
    validate_cel(&cuc(
        json!([{"id": "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"}]),
    ))
    .unwrap();
    let both = validate_cel(&cuc(
        json!([{"id": "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "displayName": "x"}]),
    ));
    assert!(
        both.unwrap_err()
            .to_string()
            .contains("id or its displayName")
    );
    assert!(validate_cel(&cuc(json!([{"transitive": true}]))).is_err());
}

#[test]
fn a_conversions_tenant_and_method_cannot_change_mid_rollout() {
    use entra_cloud_operator::api::{CloudGroupConversion, CloudUserConversion};
    let cuc = |tenant: &str, method: &str| -> CloudUserConversion {
        serde_json::from_value(json!({
            "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
            "metadata": {"name": "wave", "namespace": "identity"},
            "spec": {"tenantRef": {"name": tenant}, "mode": "Apply", "method": method,
                     "selector": {"domains": ["contoso.com"]}}
        }))
        .unwrap()
    };
    let old = cuc("contoso", "SourceOfAuthority");
    let err = validate_cel_update(&cuc("fabrikam", "SourceOfAuthority"), &old)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tenantRef is immutable"), "{err}");
    let err = validate_cel_update(&cuc("contoso", "RestoreDeleted"), &old)
        .unwrap_err()
        .to_string();
    assert!(err.contains("method is immutable"), "{err}");
    // Everything else may change: the mode, the selector, the rollout.
    let mut edited = cuc("contoso", "SourceOfAuthority");
    edited.spec.mode = entra_cloud_operator::api::common::ConversionMode::Plan;
    validate_cel_update(&edited, &old).unwrap();

    let cgc = |tenant: &str| -> CloudGroupConversion {
        serde_json::from_value(json!({
            "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudGroupConversion",
            "metadata": {"name": "groups", "namespace": "identity"},
            "spec": {"tenantRef": {"name": tenant}, "mode": "Apply",
                     "selector": {"filter": "startswith(displayName,'SG')"}}
        }))
        .unwrap()
    };
    let err = validate_cel_update(&cgc("fabrikam"), &cgc("contoso"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("tenantRef is immutable"), "{err}");
    validate_cel_update(&cgc("contoso"), &cgc("contoso")).unwrap();
}
