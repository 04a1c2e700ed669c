//! An object selected by two conversions of one tenant and kind (issue #16, point 4): `apply`
//! runs the earlier (listed first among the manifests), and the later stalls with
//! `SelectionOverlap`, naming the other, before writing anything: not one Graph write, not one
//! journal record of its own. Users and groups, in one run against the in-process emulator;
//! then the controller against the Kubernetes API stand-in, through the CRDs: the later by
//! creation stalls after a start, and goes on by itself once the earlier narrows its selector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_apiserver;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::*;
use entra_cloud_operator::local::credentials::{EndpointOverrides, Env};
use entra_cloud_operator::local::progress::ProgressMode;
use entra_cloud_operator::local::{Ran, RunOptions, Settled, manifests};
use serde_json::{Value, json};

const PERMISSIONS: &[&str] = &[
    "Organization.Read.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "User-OnPremisesSyncBehavior.ReadWrite.All",
    "Group-OnPremisesSyncBehavior.ReadWrite.All",
];

fn objects(v: Value) -> Vec<Value> {
    v["value"].as_array().cloned().unwrap_or_default()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// A manifest document of `kind` named `name` with `spec`.
fn doc(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": kind,
           "metadata": {"name": name, "namespace": "identity"}, "spec": spec})
}

fn stalled(r: &Ran) -> Option<(String, String)> {
    r.object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Stalled" && c["status"] == "True")
        .map(|c| {
            (
                c["reason"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
}

/// The journal's records made for `name` (any kind).
fn records_of(journal: &std::path::Path, name: &str) -> Vec<Value> {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["resource"]["name"] == name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_stalls_the_later_of_two_conversions_selecting_one_object() {
    let emu = start(consistent_config(12, 6)).await;
    control_put(&emu, "permissions", json!({ "permissions": PERMISSIONS })).await;
    let users: Vec<Value> = objects(control_get(&emu, "users").await)
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .filter(|u| {
            u["userPrincipalName"]
                .as_str()
                .unwrap_or_default()
                .ends_with("@contoso.com")
        })
        .collect();
    let upn = |i: usize| users[i]["userPrincipalName"].clone();
    // Leaf security groups: no nesting order, no mail.
    let all_groups = objects(control_get(&emu, "groups").await);
    let is_group = |m: &Value| all_groups.iter().any(|g| g["id"] == *m);
    let groups: Vec<Value> = all_groups
        .iter()
        .filter(|g| g["kind"] == "synced" && g["mailEnabled"] != true)
        .filter(|g| {
            let members = g["members"].as_array().cloned().unwrap_or_default();
            !members.iter().any(is_group)
        })
        .cloned()
        .collect();
    assert!(
        users.len() >= 3 && groups.len() >= 3,
        "{users:?} {groups:?}"
    );
    let gid = |i: usize| groups[i]["id"].clone();
    let (shared_user, shared_group) = (id(&users[1]), id(&groups[1]));

    // JSON is YAML. Listed first, so first: `wave-b` and `groups-b`; their names sort after the later ones.
    let rollout = json!({"maxObjects": 10, "pauseBetweenWaves": "0s"});
    let docs = [
        serde_json::to_value(policy("Unmanaged", false, "Report")).unwrap(),
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "graph-credentials", "namespace": "identity"},
               "stringData": {"clientSecret": SECRET}}),
        doc(
            "CloudUserConversion",
            "wave-b",
            json!({"tenantRef": {"name": "contoso"}, "mode": "Apply", "rollout": rollout,
                   "selector": {"userPrincipalNames": [upn(0), upn(1)]}}),
        ),
        doc(
            "CloudUserConversion",
            "wave-a",
            json!({"tenantRef": {"name": "contoso"}, "mode": "Apply", "rollout": rollout,
                   "selector": {"userPrincipalNames": [upn(1), upn(2)]}}),
        ),
        doc(
            "CloudGroupConversion",
            "groups-b",
            json!({"tenantRef": {"name": "contoso"}, "mode": "Apply", "rollout": rollout,
                   "selector": {"groupIds": [gid(0), gid(1)]}}),
        ),
        doc(
            "CloudGroupConversion",
            "groups-a",
            json!({"tenantRef": {"name": "contoso"}, "mode": "Apply", "rollout": rollout,
                   "selector": {"groupIds": [gid(1), gid(2)]}}),
        ),
    ];
    let dir = temp_dir("selection-overlap");
    let file = dir.join("manifests.yaml");
    let yaml: Vec<String> = docs.iter().map(|d| format!("{d}\n")).collect();
    std::fs::write(&file, yaml.join("---\n")).unwrap();
    let journal = dir.join("journal.jsonl");
    let opts = RunOptions {
        overrides: EndpointOverrides {
            graph: Some(emu.url()),
            login: Some(emu.url()),
            ca_bundle: None,
        },
        env: Env::default(),
        journal: journal.clone(),
        journal_key: None,
        timeout: Duration::from_secs(120),
        time_scale: 60.0,
        concurrency: 4,
        progress: ProgressMode::Quiet,
    };
    let m = manifests::load(&[file]).unwrap();
    let result = entra_cloud_operator::local::apply(m, &opts).await.unwrap();
    let ran = |name: &str| {
        result
            .resources
            .iter()
            .find(|r| r.name == format!("identity/{name}"))
            .unwrap()
    };

    for (earlier, later, kind, shared) in [
        ("wave-b", "wave-a", "CloudUserConversion", &shared_user),
        (
            "groups-b",
            "groups-a",
            "CloudGroupConversion",
            &shared_group,
        ),
    ] {
        assert_eq!(ran(earlier).settled, Settled::Ready, "{:#?}", ran(earlier));
        let later_ran = ran(later);
        assert_eq!(later_ran.settled, Settled::Stalled, "{later_ran:#?}");
        let (reason, message) = stalled(later_ran).unwrap();
        assert_eq!(reason, "SelectionOverlap", "{message}");
        for part in [
            format!("{kind} identity/{earlier}"),
            "selects 1 of the same".into(),
            shared.clone(),
            "spec.exclude".into(),
            "delete one".into(),
        ] {
            assert!(message.contains(&part), "{part:?} not in {message}");
        }
        // The later wrote nothing, not even an intent; the earlier converted the shared object.
        assert_eq!(records_of(&journal, later), Vec::<Value>::new());
        assert!(
            records_of(&journal, earlier)
                .iter()
                .any(|r| r["objectId"] == *shared.as_str()),
            "{earlier} converted {shared}"
        );
    }
    let users_now = objects(control_get(&emu, "users").await);
    let user = |i: usize| {
        users_now
            .iter()
            .find(|u| u["id"] == users[i]["id"])
            .unwrap()
            .clone()
    };
    assert_eq!(user(1)["isCloudManaged"], true);
    // The later's own user was never written.
    assert_eq!(
        (user(2)["isCloudManaged"].clone(), user(2)["writes"].clone()),
        (json!(false), json!(0))
    );
    let groups_now = objects(control_get(&emu, "groups").await);
    let group = |i: usize| {
        groups_now
            .iter()
            .find(|g| g["id"] == groups[i]["id"])
            .unwrap()
            .clone()
    };
    assert_eq!(group(1)["isCloudManaged"], true);
    assert_eq!(group(2)["writes"], 0, "{}", group(2));
    emu.shutdown().await;
}

fn condition_is(obj: &Value, t: &str, reason: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == t && c["status"] == "True" && c["reason"] == reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_stalls_the_later_by_creation_until_the_earlier_narrows() {
    use entra_cloud_operator::api::TenantSyncPolicy;
    use entra_cloud_operator::controller::{self, ControllerOptions, JournalStore, Metrics};
    use entra_cloud_operator::journal::FileJournal;
    use kube::Api;
    use kube::api::{Patch, PatchParams, PostParams};
    const WAIT: Duration = Duration::from_secs(60);

    let emu = start(consistent_config(12, 0)).await;
    control_put(&emu, "permissions", json!({ "permissions": PERMISSIONS })).await;
    let users: Vec<Value> = objects(control_get(&emu, "users").await)
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .filter(|u| {
            u["userPrincipalName"]
                .as_str()
                .unwrap_or_default()
                .ends_with("@contoso.com")
        })
        .collect();
    assert!(users.len() >= 3, "{users:?}");
    let upn = |i: usize| users[i]["userPrincipalName"].clone();
    let api_server = fake_apiserver::FakeApiServer::start().await;
    let client = api_server.client();
    api_server.put_object(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "graph-credentials", "namespace": "identity"},
               "stringData": {"clientSecret": SECRET}}),
    );
    let mut tsp = policy("Unmanaged", false, "Report");
    tsp.metadata.generation = None;
    tsp.spec.endpoints = Some(entra_cloud_operator::api::tenant::Endpoints {
        graph: Some(emu.url()),
        login: Some(emu.url()),
        ..Default::default()
    });
    Api::<TenantSyncPolicy>::namespaced(client.clone(), "identity")
        .create(&PostParams::default(), &tsp)
        .await
        .unwrap();
    // Both exist before the controller starts (a restart): `wave-b` was created a day before
    // `wave-a`, so it comes first although its name sorts after.
    let rollout = json!({"maxObjects": 10, "pauseBetweenWaves": "0s"});
    for (name, created, selected) in [
        ("wave-b", "2026-01-01T00:00:00Z", [upn(0), upn(1)]),
        ("wave-a", "2026-01-02T00:00:00Z", [upn(1), upn(2)]),
    ] {
        let mut d = doc(
            "CloudUserConversion",
            name,
            json!({"tenantRef": {"name": "contoso"}, "mode": "Apply", "rollout": rollout,
                   "selector": {"userPrincipalNames": selected}}),
        );
        d["metadata"]["creationTimestamp"] = json!(created);
        api_server.put_object("clouduserconversions", d);
    }
    let path = temp_dir("selection-overlap-controller").join("journal.jsonl");
    let key = entra_cloud_operator::journal::default_key(&path).unwrap();
    let journal = Arc::new(FileJournal::open(&path, key).unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = ControllerOptions {
        namespaces: vec!["identity".into()],
        journal: JournalStore::Shared(journal),
        journal_key_secret: "entra-cloud-operator-journal-key".into(),
        concurrency: 4,
        workers: 4,
        time_scale: 600.0,
        lease: None,
        instance: Some("t".into()),
        // The emulator is an endpoint override.
        security: entra_cloud_operator::controller::Security {
            allow_endpoint_override: true,
            ..Default::default()
        },
    };
    let run = tokio::spawn(controller::run(
        client.clone(),
        options,
        Arc::new(Metrics::default()),
        Arc::new(AtomicBool::new(false)),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let plural = "clouduserconversions";
    let stalled = api_server
        .wait_for(
            plural,
            "identity",
            "wave-a",
            |o| condition_is(o, "Stalled", "SelectionOverlap"),
            WAIT,
        )
        .await
        .unwrap_or_else(|| panic!("{:#?}", api_server.get(plural, "identity", "wave-a")));
    let message = stalled["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Stalled")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    for part in [
        "CloudUserConversion identity/wave-b".to_string(),
        "selects 1 of the same users".into(),
        id(&users[1]),
    ] {
        assert!(message.contains(&part), "{part:?} not in {message}");
    }
    api_server
        .wait_for(
            plural,
            "identity",
            "wave-b",
            |o| condition_is(o, "Ready", "Converted"),
            WAIT,
        )
        .await
        .unwrap_or_else(|| panic!("{:#?}", api_server.get(plural, "identity", "wave-b")));
    assert_eq!(records_of(&path, "wave-a"), Vec::<Value>::new());
    assert!(
        api_server
            .objects("events")
            .iter()
            .any(|e| e["reason"] == "SelectionOverlap" && e["regarding"]["name"] == "wave-a"),
        "a Warning Event names the stall"
    );

    // The earlier narrows its selector: the later goes on by itself, no change of its own.
    Api::<entra_cloud_operator::api::CloudUserConversion>::namespaced(client.clone(), "identity")
        .patch(
            "wave-b",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"selector": {"userPrincipalNames": [upn(0)]}}})),
        )
        .await
        .unwrap();
    api_server
        .wait_for(
            plural,
            "identity",
            "wave-a",
            |o| condition_is(o, "Ready", "Converted"),
            WAIT,
        )
        .await
        .unwrap_or_else(|| panic!("{:#?}", api_server.get(plural, "identity", "wave-a")));
    let converted: Vec<Value> = objects(control_get(&emu, "users").await)
        .into_iter()
        .filter(|u| (0..3).any(|i| u["id"] == users[i]["id"]))
        .collect();
    assert!(
        converted.iter().all(|u| u["isCloudManaged"] == true),
        "{converted:?}"
    );
    stop_tx.send(()).unwrap();
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    api_server.shutdown().await;
    emu.shutdown().await;
}
