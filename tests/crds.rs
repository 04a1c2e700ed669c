//! `crds/` must hold exactly what `entra-cloud-operator crds` prints, and the CRD must carry
//! the validation, status subresource and printer columns users rely on.
#![allow(clippy::unwrap_used)]

use kube::CustomResourceExt;

#[test]
fn crds_dir_matches_the_generated_yaml() {
    let generated = entra_cloud_operator::api::crds_yaml().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/crds.yaml");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "crds/crds.yaml is out of date: run `make crds` and commit the result"
    );
}

#[test]
fn the_binary_prints_the_same_crds() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_entra-cloud-operator"))
        .arg("crds")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        entra_cloud_operator::api::crds_yaml().unwrap()
    );
}

#[test]
fn tenant_crd_shape() {
    let crd = serde_json::to_value(entra_cloud_operator::api::TenantSyncPolicy::crd()).unwrap();
    assert_eq!(
        crd["metadata"]["name"],
        "tenantsyncpolicies.cloudidentity.dev"
    );
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "tsp");
    let v = &crd["spec"]["versions"][0];
    assert_eq!(v["name"], "v1alpha1");
    assert!(v["subresources"]["status"].is_object());
    let columns: Vec<&str> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for c in ["Sync", "Progress", "Ready", "Age"] {
        assert!(columns.contains(&c), "{columns:?}");
    }
    let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert!(
        spec["properties"]["tenantId"]["pattern"]
            .as_str()
            .unwrap()
            .contains("[0-9a-fA-F]{8}")
    );
    assert_eq!(
        spec["properties"]["cloud"]["enum"],
        serde_json::json!(["Global", "USGov", "USGovDoD", "China"])
    );
    assert_eq!(
        spec["properties"]["directorySync"]["enum"],
        serde_json::json!(["Enabled", "Disabled", "Unmanaged"])
    );
    assert_eq!(
        spec["properties"]["drift"]["enum"],
        serde_json::json!(["Report", "Remediate"])
    );
    assert_eq!(spec["properties"]["clearImmutableIds"]["default"], false);
    let rules = serde_json::to_string(&spec["x-kubernetes-validations"]).unwrap();
    assert!(rules.contains("clearImmutableIds"), "{rules}");
    let cred_rules =
        serde_json::to_string(&spec["properties"]["credentials"]["x-kubernetes-validations"])
            .unwrap();
    assert!(cred_rules.contains("size() == 1"), "{cred_rules}");
    let conditions =
        &v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
}

/// What `kubectl get` and `kubectl explain` show of each kind: why (Ready, Reason), progress,
/// Age; more under `-o wide`; a real description; the `entra` category.
#[test]
fn every_kind_reads_well_in_kubectl() {
    use entra_cloud_operator::api::{CloudGroupConversion, CloudUserConversion, TenantSyncPolicy};
    let crds = [
        ("TenantSyncPolicy", TenantSyncPolicy::crd()),
        ("CloudUserConversion", CloudUserConversion::crd()),
        ("CloudGroupConversion", CloudGroupConversion::crd()),
    ];
    for (kind, crd) in crds {
        let crd = serde_json::to_value(crd).unwrap();
        assert_eq!(
            crd["spec"]["names"]["categories"],
            serde_json::json!(["entra"]),
            "{kind}"
        );
        let v = &crd["spec"]["versions"][0];
        let columns = v["additionalPrinterColumns"].as_array().unwrap();
        let named = |priority: i64| -> Vec<&str> {
            columns
                .iter()
                .filter(|c| c["priority"].as_i64().unwrap_or(0) == priority)
                .map(|c| c["name"].as_str().unwrap())
                .collect()
        };
        let (shown, wide) = (named(0), named(1));
        for c in ["Ready", "Reason", "Age"] {
            assert!(shown.contains(&c), "{kind}: {shown:?}");
        }
        assert!(!wide.is_empty(), "{kind}: nothing more under -o wide");
        if kind != "TenantSyncPolicy" {
            for c in ["Phase", "Converted", "Matched", "Pending"] {
                assert!(shown.contains(&c), "{kind}: {shown:?}");
            }
        }
        let schema = &v["schema"]["openAPIV3Schema"];
        for (what, d) in [
            ("kind", &schema["description"]),
            ("spec", &schema["properties"]["spec"]["description"]),
        ] {
            let d = d.as_str().unwrap_or_default();
            assert!(
                d.len() > 20 && !d.contains("Auto-generated"),
                "{kind} {what}: kubectl explain shows {d:?}"
            );
        }
    }
}
