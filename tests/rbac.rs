//! The Helm chart's RBAC is the minimum the controller needs: the controller runs its whole
//! loop against the recording Kubernetes API stand-in (every kind created and reconciled to
//! Ready, user and group conversions in several waves, so Events repeat into series, the
//! journal in ConfigMaps, both conversions deleted and undone through their finalizer, leader
//! election and the Lease released), and the Kubernetes API calls it made, as RBAC sees them
//! (verb, group, resource/subresource, namespace), are compared with the rules `helm template`
//! renders: every call is allowed, and every rule (each verb of each resource) is used by
//! some call. Both ways the chart grants them: cluster-wide (a ClusterRole) and per watched
//! namespace (`watchNamespaces`: a Role in each). Rules restricted to `resourceNames` allow
//! and count only calls on those names.
//!
//! The journal's MAC key Secret (`--journal-key-secret`) is read and patched by name and
//! created in the release namespace: the controller runs here with the chart's name for it.
//!
//! `helm` comes from `.tools/bin/helm` (`make tools`, which `make test` runs first), `$HELM`,
//! or the PATH; without it the test says so and skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_apiserver;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::*;
use entra_cloud_operator::api::{CloudGroupConversion, CloudUserConversion, TenantSyncPolicy};
use entra_cloud_operator::controller::{self, ControllerOptions, JournalStore, LeaseOptions};
use fake_apiserver::FakeApiServer;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
/// The release namespace: the Lease and the journal live there.
const RELEASE_NS: &str = "operator";
/// Where the custom resources and their Secret are.
const NS: &str = "identity";
/// The journal key Secret the chart names for the release `eco` (`--journal-key-secret`).
const JOURNAL_KEY_SECRET: &str = "eco-entra-cloud-operator-journal-key";

/// One Kubernetes API call as RBAC authorises it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Call {
    verb: String,
    group: String,
    /// `plural` or `plural/subresource`.
    resource: String,
    /// `None`: cluster-wide (a collection across namespaces).
    namespace: Option<String>,
    /// The object's name; `None` for a collection (list, watch, create).
    name: Option<String>,
}

/// One rendered rule, with where it applies (`None`: everywhere, from a ClusterRole).
#[derive(Clone, Debug)]
struct Grant {
    namespace: Option<String>,
    groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    /// `resourceNames`: empty means every object.
    names: Vec<String>,
}

/// One verb on one resource a rule grants, where it applies: what a call has to use.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Permission {
    verb: String,
    group: String,
    resource: String,
    namespace: Option<String>,
    names: Vec<String>,
}

impl Permission {
    fn used_by(&self, c: &Call) -> bool {
        c.verb == self.verb
            && c.group == self.group
            && c.resource == self.resource
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| c.namespace.as_ref() == Some(ns))
            && (self.names.is_empty() || c.name.as_ref().is_some_and(|n| self.names.contains(n)))
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.verb, self.group, self.resource)?;
        if !self.names.is_empty() {
            write!(f, " named {}", self.names.join(","))?;
        }
        let ns = self.namespace.as_deref().unwrap_or("every namespace");
        write!(f, " in {ns}")
    }
}

fn helm() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HELM").map(PathBuf::from),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.tools/bin/helm"
        ))),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .or_else(|| {
            std::process::Command::new("helm")
                .arg("version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| PathBuf::from("helm"))
        })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The rules the chart grants the controller's ServiceAccount, rendered by `helm template`.
fn rendered_grants(helm: &PathBuf, set: &[&str]) -> Vec<Grant> {
    let mut cmd = std::process::Command::new(helm);
    cmd.args(["template", "eco"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/charts/entra-cloud-operator"
        ))
        .args([
            "--namespace",
            RELEASE_NS,
            "--show-only",
            "templates/rbac.yaml",
            // The chart requires an image (none is published).
            "--set",
            "image.repository=registry.example.com/entra-cloud-operator",
        ]);
    for s in set {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("helm runs");
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&String::from_utf8(out.stdout).unwrap()).unwrap();
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    let role = |kind: &str, ns: Option<&str>, name: &str| {
        docs.iter()
            .find(|d| {
                d["kind"] == kind
                    && d["metadata"]["name"] == name
                    && d["metadata"]["namespace"].as_str() == ns
            })
            .unwrap_or_else(|| panic!("{kind} {name} is bound but not rendered"))
    };
    let mut grants = Vec::new();
    for b in docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRoleBinding" || d["kind"] == "RoleBinding")
    {
        let ns = b["metadata"]["namespace"].as_str();
        let name = b["roleRef"]["name"].as_str().unwrap();
        let r = match b["roleRef"]["kind"].as_str() {
            Some("ClusterRole") => role("ClusterRole", None, name),
            _ => role("Role", ns, name),
        };
        for rule in r["rules"].as_array().unwrap() {
            grants.push(Grant {
                namespace: ns.map(str::to_string),
                groups: strings(&rule["apiGroups"]),
                resources: strings(&rule["resources"]),
                verbs: strings(&rule["verbs"]),
                names: strings(&rule["resourceNames"]),
            });
        }
    }
    assert!(!grants.is_empty(), "no RBAC rendered");
    grants
}

fn allows(g: &Grant, c: &Call) -> bool {
    let any = |list: &[String], x: &str| list.iter().any(|v| v == x || v == "*");
    g.namespace
        .as_ref()
        .is_none_or(|ns| c.namespace.as_ref() == Some(ns))
        && any(&g.groups, &c.group)
        && any(&g.resources, &c.resource)
        && any(&g.verbs, &c.verb)
        && (g.names.is_empty() || c.name.as_ref().is_some_and(|n| g.names.contains(n)))
}

/// Every verb on every resource of every rule.
fn permissions(grants: &[Grant]) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for g in grants {
        for group in &g.groups {
            for resource in &g.resources {
                for verb in &g.verbs {
                    out.insert(Permission {
                        verb: verb.clone(),
                        group: group.clone(),
                        resource: resource.clone(),
                        namespace: g.namespace.clone(),
                        names: g.names.clone(),
                    });
                }
            }
        }
    }
    out
}

/// The calls the API stand-in recorded; discovery and other non-resource paths are left out
/// (every authenticated client may read them: `system:discovery`).
fn calls(api: &FakeApiServer) -> BTreeSet<Call> {
    let mut out = BTreeSet::new();
    for r in api.requests() {
        let (Some(rp), Some(verb)) = (r.resource(), r.verb()) else {
            assert!(
                r.path == "/api" || r.path == "/apis" || r.path == "/version",
                "a non-resource call RBAC would refuse: {} {}",
                r.method,
                r.path
            );
            continue;
        };
        let resource = match &rp.subresource {
            Some(sub) => format!("{}/{sub}", rp.plural),
            None => rp.plural.clone(),
        };
        out.insert(Call {
            verb: verb.to_string(),
            group: rp.group.clone(),
            resource,
            namespace: rp.namespace.clone(),
            name: rp.name.clone(),
        });
    }
    out
}

fn resources(emu_url: &str) -> (TenantSyncPolicy, CloudUserConversion, CloudGroupConversion) {
    let mut tsp = policy("Unmanaged", false, "Report");
    tsp.metadata.generation = None;
    tsp.spec.endpoints = Some(entra_cloud_operator::api::tenant::Endpoints {
        graph: Some(emu_url.to_string()),
        login: Some(emu_url.to_string()),
        ..Default::default()
    });
    // Several waves: their WaveCompleted Events repeat, which the recorder sends as a series.
    let rollout = json!({"maxObjects": 100, "waveSize": 4, "pauseBetweenWaves": "0s"});
    let users = serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "wave", "namespace": NS},
        "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply", "onDelete": "Revert",
                 "clearImmutableId": true, "selector": {"domains": ["contoso.com"]},
                 "rollout": rollout}
    }))
    .unwrap();
    let groups = serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudGroupConversion",
        "metadata": {"name": "groups", "namespace": NS},
        "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply", "onDelete": "Revert",
                 "selector": {"filter": "startswith(displayName,'SG ')"},
                 "owners": ["admin@contoso.onmicrosoft.com"], "rollout": rollout}
    }))
    .unwrap();
    (tsp, users, groups)
}

fn is_ready(o: &Value) -> bool {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// The controller's whole life against the API stand-in; returns the calls it made.
async fn run_controller(namespaces: Vec<String>) -> BTreeSet<Call> {
    let emu = start(entra_cloud_operator::emulator::EmulatorConfig {
        time_scale: 600.0,
        ..config(12, 6)
    })
    .await;
    let mut perms: Vec<&str> = entra_cloud_operator::emulator::DEFAULT_PERMISSIONS.to_vec();
    perms.push("Group.ReadWrite.All");
    control_put(&emu, "permissions", json!({ "permissions": perms })).await;
    let api = FakeApiServer::start().await;
    let client = api.client();
    api.put_object(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "graph-credentials", "namespace": NS},
               "stringData": {"clientSecret": SECRET}}),
    );
    // The test's own writes go to the store directly: only the controller's calls are recorded.
    let (tsp, users, groups) = resources(&emu.url());
    api.put_object("tenantsyncpolicies", serde_json::to_value(&tsp).unwrap());
    api.put_object(
        "clouduserconversions",
        serde_json::to_value(&users).unwrap(),
    );
    api.put_object(
        "cloudgroupconversions",
        serde_json::to_value(&groups).unwrap(),
    );

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = ControllerOptions {
        namespaces,
        journal: JournalStore::ConfigMaps(RELEASE_NS.into()),
        journal_key_secret: JOURNAL_KEY_SECRET.into(),
        concurrency: 4,
        workers: 2,
        time_scale: 600.0,
        lease: Some(LeaseOptions {
            name: "entra-cloud-operator".into(),
            namespace: RELEASE_NS.into(),
            identity: "replica-a".into(),
            duration_s: 15,
        }),
        instance: Some("replica-a".into()),
        // The emulator is an endpoint override.
        security: entra_cloud_operator::controller::Security {
            allow_endpoint_override: true,
            ..Default::default()
        },
    };
    let run = tokio::spawn(controller::run(
        client.clone(),
        options,
        Arc::new(controller::Metrics::default()),
        Arc::new(AtomicBool::new(false)),
        async move {
            let _ = stop_rx.await;
        },
    ));
    for (plural, name) in [
        ("tenantsyncpolicies", "contoso"),
        ("clouduserconversions", "wave"),
        ("cloudgroupconversions", "groups"),
    ] {
        let done = api.wait_for(plural, NS, name, is_ready, WAIT).await;
        assert!(
            done.is_some(),
            "{plural}/{name}: {:#?}",
            api.get(plural, NS, name)
        );
    }
    // Deleting undoes both conversions through the finalizer (a Global Administrator first
    // lets AD take users back, as Microsoft documents).
    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;
    api.delete_object("clouduserconversions", NS, "wave")
        .unwrap();
    api.delete_object("cloudgroupconversions", NS, "groups")
        .unwrap();
    for (plural, name) in [
        ("clouduserconversions", "wave"),
        ("cloudgroupconversions", "groups"),
    ] {
        assert!(
            api.wait_for_absent(plural, NS, name, WAIT).await,
            "{plural}/{name} not reverted: {:#?}",
            api.get(plural, NS, name)
        );
    }
    stop_tx.send(()).unwrap();
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let lease = api
        .get("leases", RELEASE_NS, "entra-cloud-operator")
        .unwrap();
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "released: {lease}"
    );
    let events = api.objects("events");
    assert!(
        events
            .iter()
            .any(|e| e["series"]["count"].as_i64() >= Some(2)),
        "some Event repeated into a series: {events:#?}"
    );
    assert!(events.iter().any(|e| e["reason"] == "Reverted"));
    assert!(!api.objects("configmaps").is_empty(), "the journal");
    let made = calls(&api);
    api.shutdown().await;
    emu.shutdown().await;
    made
}

/// Every call is allowed; every rule's every verb on every resource is used.
fn compare(grants: &[Grant], calls: &BTreeSet<Call>) {
    let refused: Vec<&Call> = calls
        .iter()
        .filter(|c| !grants.iter().any(|g| allows(g, c)))
        .collect();
    assert!(
        refused.is_empty(),
        "calls the chart's RBAC refuses: {refused:#?}"
    );
    let granted = permissions(grants);
    let (_, unused): (Vec<&Permission>, Vec<&Permission>) = granted
        .iter()
        .partition(|p| calls.iter().any(|c| p.used_by(c)));
    let unused: Vec<String> = unused.into_iter().map(ToString::to_string).collect();
    assert!(
        unused.is_empty(),
        "RBAC the controller never uses: {unused:#?}\ncalls: {:#?}",
        calls
            .iter()
            .map(|c| format!(
                "{} {}/{}{} in {}",
                c.verb,
                c.group,
                c.resource,
                c.name
                    .as_deref()
                    .map(|n| format!(" {n}"))
                    .unwrap_or_default(),
                c.namespace.as_deref().unwrap_or("every namespace")
            ))
            .collect::<Vec<_>>()
    );
}

async fn check(namespaces: Vec<String>, set: &[&str]) {
    let Some(helm) = helm() else {
        eprintln!("SKIPPED rbac: no helm (run `make tools`; `make test` does)");
        return;
    };
    let grants = rendered_grants(&helm, set);
    let calls = run_controller(namespaces).await;
    compare(&grants, &calls);
}

#[tokio::test]
async fn cluster_wide_rbac_is_exactly_what_the_controller_uses() {
    check(Vec::new(), &[]).await;
}

#[tokio::test]
async fn per_namespace_rbac_is_exactly_what_the_controller_uses() {
    check(vec![NS.into()], &["watchNamespaces={identity}"]).await;
}

/// The comparison itself, on made-up rules and calls (no helm, no controller): every rule must
/// be used, and `resourceNames` confine a rule to its names.
mod comparison {
    use super::*;

    fn grant(ns: &str, resource: &str, verbs: &[&str], names: &[&str]) -> Grant {
        Grant {
            namespace: Some(ns.to_string()),
            groups: vec![String::new()],
            resources: vec![resource.to_string()],
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn call(verb: &str, resource: &str, ns: &str, name: Option<&str>) -> Call {
        Call {
            verb: verb.to_string(),
            group: String::new(),
            resource: resource.to_string(),
            namespace: Some(ns.to_string()),
            name: name.map(str::to_string),
        }
    }

    /// The chart's journal key rules, and one ConfigMap rule the calls use.
    fn chart() -> Vec<Grant> {
        vec![
            grant(RELEASE_NS, "configmaps", &["list"], &[]),
            grant(
                RELEASE_NS,
                "secrets",
                &["get", "patch"],
                &[JOURNAL_KEY_SECRET],
            ),
            grant(RELEASE_NS, "secrets", &["create"], &[]),
        ]
    }

    /// What the controller does with them.
    fn journal_calls() -> BTreeSet<Call> {
        BTreeSet::from([
            call("list", "configmaps", RELEASE_NS, None),
            call("get", "secrets", RELEASE_NS, Some(JOURNAL_KEY_SECRET)),
            call("patch", "secrets", RELEASE_NS, Some(JOURNAL_KEY_SECRET)),
            call("create", "secrets", RELEASE_NS, None),
        ])
    }

    #[test]
    fn every_rule_used_and_every_call_allowed_passes() {
        compare(&chart(), &journal_calls());
    }

    #[test]
    #[should_panic(expected = "RBAC the controller never uses")]
    fn an_unused_rule_fails() {
        let mut grants = chart();
        grants.push(grant(RELEASE_NS, "secrets", &["list"], &[]));
        compare(&grants, &journal_calls());
    }

    #[test]
    #[should_panic(expected = "calls the chart's RBAC refuses")]
    fn a_call_the_chart_lacks_fails() {
        let mut grants = chart();
        grants.pop();
        compare(&grants, &journal_calls());
    }

    #[test]
    #[should_panic(expected = "calls the chart's RBAC refuses")]
    fn a_rule_with_resource_names_refuses_other_names() {
        let mut calls = journal_calls();
        calls.insert(call(
            "get",
            "secrets",
            RELEASE_NS,
            Some("graph-credentials"),
        ));
        compare(&chart(), &calls);
    }
}
