//! The Helm chart's static files agree with the code, without helm (`make chart-test` renders
//! and validates the chart with it): the chart ships the CRDs the types generate, documents
//! every value in its schema, charts only metrics the controller exports, and grants the
//! controller every permission it needs (`tests/rbac.rs`: exactly those).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

/// The metrics the controller exports (prometheus-client; counters carry `_total`).
const METRICS: &[&str] = &[
    "entra_cloud_operator_reconciles_total",
    "entra_cloud_operator_reconcile_errors_total",
    "entra_cloud_operator_reconcile_duration_seconds",
    "entra_cloud_operator_graph_requests_total",
    "entra_cloud_operator_graph_request_duration_seconds",
    "entra_cloud_operator_graph_throttled_total",
    "entra_cloud_operator_graph_quota_used_ratio",
    "entra_cloud_operator_objects_converted_total",
    "entra_cloud_operator_objects_failed_total",
    "entra_cloud_operator_objects",
    "entra_cloud_operator_drift_detected",
    "entra_cloud_operator_resource_stalled",
    "entra_cloud_operator_rollout_halted",
    "entra_cloud_operator_leader",
    "entra_cloud_operator_build_info",
];

/// The histograms among them, queried through their `_bucket`, `_sum` and `_count` series.
const HISTOGRAMS: &[&str] = &[
    "entra_cloud_operator_reconcile_duration_seconds",
    "entra_cloud_operator_graph_request_duration_seconds",
];

fn chart_file(path: &str) -> String {
    let full: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "charts/entra-cloud-operator",
        path,
    ]
    .iter()
    .collect();
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn chart_crds_are_the_generated_crds() {
    let generated = entra_cloud_operator::api::crds_yaml().unwrap();
    assert!(
        chart_file("crds/crds.yaml") == generated,
        "charts/entra-cloud-operator/crds/crds.yaml is out of date: run `make crds` and copy \
         crds/crds.yaml into the chart"
    );
}

#[test]
fn app_version_is_the_crate_version() {
    let chart: Value = serde_saphyr::from_str(&chart_file("Chart.yaml")).unwrap();
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["appVersion"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn every_value_is_described_by_the_schema() {
    let schema: Value = serde_json::from_str(&chart_file("values.schema.json")).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(
        schema["additionalProperties"], false,
        "the schema must be strict"
    );
    let properties = schema["properties"].as_object().unwrap();

    let values: Value = serde_saphyr::from_str(&chart_file("values.yaml")).unwrap();
    let keys: Vec<&String> = values.as_object().unwrap().keys().collect();
    assert!(keys.len() > 10, "{keys:?}");
    for key in keys {
        let property = properties
            .get(key)
            .unwrap_or_else(|| panic!("values.yaml key {key} is missing from values.schema.json"));
        assert!(
            property["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "values.schema.json: {key} has no description"
        );
        assert!(
            property.get("type").is_some() || property.get("anyOf").is_some(),
            "values.schema.json: {key} has no type"
        );
    }
    for (key, property) in properties {
        assert!(
            values.get(key).is_some(),
            "values.schema.json describes {key}, which values.yaml does not set: {property}"
        );
    }
    assert_eq!(
        properties["image"]["properties"]["pullPolicy"]["enum"],
        serde_json::json!(["Always", "IfNotPresent", "Never"])
    );
    assert_eq!(
        properties["logFormat"]["enum"],
        serde_json::json!(["json", "text"])
    );
}

/// Metric names in a PromQL expression, histogram series mapped to their family.
fn metric_names(expr: &str) -> Vec<String> {
    let re = regex::Regex::new(r"entra_cloud_operator_[a-z_]+").unwrap();
    re.find_iter(expr)
        .map(|m| {
            let name = m.as_str();
            HISTOGRAMS
                .iter()
                .find(|h| {
                    ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| name == format!("{h}{s}"))
                })
                .map_or_else(|| name.to_string(), |h| h.to_string())
        })
        .collect()
}

fn exprs(panels: &[Value], out: &mut Vec<String>) {
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push(expr.to_string());
            }
        }
        if let Some(nested) = panel["panels"].as_array() {
            exprs(nested, out);
        }
    }
}

#[test]
fn dashboard_charts_exported_metrics_only() {
    let dashboard: Value =
        serde_json::from_str(&chart_file("dashboards/entra-cloud-operator.json")).unwrap();
    assert_eq!(dashboard["uid"], "entra-cloud-operator");
    let mut all = Vec::new();
    exprs(dashboard["panels"].as_array().unwrap(), &mut all);
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["query"]["query"].as_str() {
            all.push(q.to_string());
        }
    }
    assert!(!all.is_empty());

    let mut used = BTreeSet::new();
    for expr in &all {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "query uses no operator metric: {expr}");
        for name in names {
            assert!(
                METRICS.contains(&name.as_str()),
                "the dashboard queries {name}, which the controller does not export: {expr}"
            );
            used.insert(name);
        }
    }
    let unused: Vec<_> = METRICS.iter().filter(|m| !used.contains(**m)).collect();
    assert!(unused.is_empty(), "metrics without a panel: {unused:?}");

    // Every panel has a title and a unique id, and every query names the data source variable.
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(panel["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "duplicate id");
        if panel["type"] != "row" {
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "{panel}");
        }
    }
}

#[test]
fn rbac_covers_every_resource_the_controller_uses() {
    let rbac = chart_file("templates/_rbac.tpl") + &chart_file("templates/rbac.yaml");
    for needle in [
        // cloudidentity.dev: the kinds, with their status and finalizers subresources
        "cloudidentity.dev",
        "- tenantsyncpolicies",
        "- clouduserconversions",
        "- cloudgroupconversions",
        "{{ . }}/status",
        // credentials, events, leader election, journal
        "\"secrets\"",
        "events.k8s.io",
        "\"events\"",
        "coordination.k8s.io",
        "\"leases\"",
        "\"configmaps\"",
        // cluster-wide by default, per namespace with watchNamespaces
        "kind: ClusterRole\n",
        "kind: ClusterRoleBinding",
        "kind: Role\n",
        "kind: RoleBinding",
    ] {
        assert!(rbac.contains(needle), "the RBAC templates lack {needle:?}");
    }
    assert!(
        !rbac.contains("\"delete") && !rbac.contains("\"*\""),
        "the controller never deletes and never needs wildcards"
    );
    // tests/rbac.rs proves the rules exact against the controller's recorded calls (with helm).
    assert!(
        !rbac.contains("/finalizers"),
        "the controller owns no objects, so it needs no finalizers subresource"
    );
}

/// Every flag the chart's Deployment passes exists on the binary (the chart and the code
/// cannot drift apart silently).
#[test]
fn deployment_flags_exist_on_the_binary() {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/charts/entra-cloud-operator/templates/deployment.yaml"
    ))
    .unwrap();
    let help = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_entra-cloud-operator"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let known = help(&["controller", "--help"]) + &help(&["--help"]);
    let flags: Vec<&str> = template
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- --"))
        .map(|l| l.split(['=', ' ']).next().unwrap_or_default())
        .collect();
    assert!(flags.len() >= 6, "{flags:?}");
    let unknown: Vec<String> = flags
        .iter()
        .map(|f| format!("--{f}"))
        .filter(|f| !known.contains(f.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "the chart passes flags the binary does not know: {unknown:?}"
    );
}
