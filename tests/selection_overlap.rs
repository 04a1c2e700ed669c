//! An object selected by two conversions of one tenant and kind (issue #16, point 4): `apply`
//! runs the earlier (listed first among the manifests), and the later stalls with
//! `SelectionOverlap`, naming the other, before writing anything: not one Graph write, not one
//! journal record of its own. Users and groups, in one run against the in-process emulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

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
