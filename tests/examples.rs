//! Every TenantSyncPolicy in `examples/` is one the API server would accept: it passes the
//! CRD's structural schema and its CEL rules (evaluated client-side; there is no API server
//! here), and it deserialises into the Rust type. Users copy these files first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use entra_cloud_operator::api::TenantSyncPolicy;
use kube::CustomResourceExt;
use serde_json::Value;

fn example_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

#[test]
fn example_tenant_sync_policies_are_valid() {
    let crd = serde_json::to_value(TenantSyncPolicy::crd()).unwrap();
    let schema = crd
        .pointer("/spec/versions/0/schema/openAPIV3Schema")
        .expect("the CRD has an openAPIV3Schema");

    let mut checked = Vec::new();
    for path in example_files() {
        for doc in documents(&path) {
            let name = format!(
                "{}: {}/{}",
                path.file_name().unwrap().to_string_lossy(),
                doc["kind"].as_str().unwrap_or("?"),
                doc["metadata"]["name"].as_str().unwrap_or("?")
            );
            assert!(doc["apiVersion"].is_string(), "{name}: no apiVersion");
            assert!(doc["metadata"]["name"].is_string(), "{name}: no name");
            if doc["kind"] != "TenantSyncPolicy" {
                continue;
            }
            assert_eq!(doc["apiVersion"], "cloudidentity.dev/v1alpha1", "{name}");

            let problems = entra_cloud_operator::local::schema::check(&doc, schema);
            assert!(problems.is_empty(), "{name}: schema: {problems:?}");

            let tsp: TenantSyncPolicy = serde_json::from_value(doc.clone())
                .unwrap_or_else(|e| panic!("{name}: does not deserialise: {e}"));
            kube::core::cel::validate_cel(&tsp)
                .unwrap_or_else(|e| panic!("{name}: CEL rules: {e}"));
            checked.push(name);
        }
    }
    assert!(
        checked.len() >= 2,
        "expected the cutover and observe examples: {checked:?}"
    );
}

/// The check above must be able to fail: a broken copy of the first example is refused by
/// the schema check and by the CEL rules.
#[test]
fn the_checks_refuse_a_broken_example() {
    let crd = serde_json::to_value(TenantSyncPolicy::crd()).unwrap();
    let schema = crd
        .pointer("/spec/versions/0/schema/openAPIV3Schema")
        .unwrap();
    let doc = example_files()
        .iter()
        .flat_map(|p| documents(p))
        .find(|d| d["kind"] == "TenantSyncPolicy")
        .unwrap();

    let mut bad = doc.clone();
    bad["spec"]["directorySync"] = Value::from("Off");
    bad["spec"]["tenantId"] = Value::from("not-a-guid");
    let problems = entra_cloud_operator::local::schema::check(&bad, schema);
    assert!(
        problems.iter().any(|p| p.contains("directorySync")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("tenantId")),
        "{problems:?}"
    );

    let mut bad = doc;
    bad["spec"]["directorySync"] = Value::from("Unmanaged");
    bad["spec"]["clearImmutableIds"] = Value::from(true);
    let tsp: TenantSyncPolicy = serde_json::from_value(bad).unwrap();
    assert!(kube::core::cel::validate_cel(&tsp).is_err());
}
