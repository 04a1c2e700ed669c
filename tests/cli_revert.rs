//! `revert -f` end to end: the emulator as its own process, a user and a group conversion
//! applied through the command line, then `revert --plan` (reads only) and `revert` (undoes
//! what the journal recorded, as `onDelete: Revert` does), and a tampered journal refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;

use common::process::EmulatorProcess;

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");

fn temp(name: &str) -> PathBuf {
    common::process::temp_dir("cli-revert", name)
}

/// `method /_emulator/{path}` with `body`, its JSON answer (`null` without one).
fn control(method: reqwest::Method, url: &str, path: &str, body: Option<Value>) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().request(method, format!("{url}/_emulator/{path}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    })
}

fn get(url: &str, path: &str) -> Value {
    control(reqwest::Method::GET, url, path, None)
}

fn listed(url: &str, path: &str) -> Vec<Value> {
    get(url, path)["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn accepted_writes(url: &str) -> Value {
    get(url, "state")["writes"]["accepted"].clone()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("ENTRA_JOURNAL_KEY_FILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

use common::process::CONTOSO as TENANT;

/// The manifests: the tenant, a user conversion of `upns` clearing their ImmutableIDs, and a
/// group conversion of `group` adding `owner`.
fn manifests(dir: &Path, upns: &[&str], group: &str, owner: &str) {
    std::fs::write(dir.join("tenant.yaml"), TENANT).unwrap();
    let upns: Vec<String> = upns.iter().map(|u| format!("\"{u}\"")).collect();
    let users = format!(
        r#"apiVersion: cloudidentity.dev/v1alpha1
kind: CloudUserConversion
metadata: {{name: wave-1, namespace: identity}}
spec:
  tenantRef: {{name: contoso}}
  mode: Apply
  clearImmutableId: true
  selector: {{userPrincipalNames: [{}]}}
  rollout: {{maxObjects: 10, canary: 1, waveSize: 10, pauseBetweenWaves: 0s}}
"#,
        upns.join(", ")
    );
    std::fs::write(dir.join("users.yaml"), users).unwrap();
    let groups = format!(
        r#"apiVersion: cloudidentity.dev/v1alpha1
kind: CloudGroupConversion
metadata: {{name: groups-1, namespace: identity}}
spec:
  tenantRef: {{name: contoso}}
  mode: Apply
  selector: {{groupIds: ["{group}"]}}
  owners: ["{owner}"]
  rollout: {{maxObjects: 10, canary: 1, waveSize: 10, pauseBetweenWaves: 0s}}
"#
    );
    std::fs::write(dir.join("groups.yaml"), groups).unwrap();
}

fn by_id(items: &[Value], id: &str) -> Value {
    items
        .iter()
        .find(|i| i["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not found"))
}

#[test]
fn revert_plans_from_reads_then_restores_what_the_journal_recorded() {
    let emu = EmulatorProcess::start(
        BIN,
        &[
            "--latency",
            "0",
            "--users",
            "12",
            "--groups",
            "5",
            "--time-scale",
            "3600",
            "--block-hard-match-takeover",
            "false",
            "--last-owner-removal",
            "allow",
        ],
    );
    let url = emu.url.as_str();
    // Adding (and removing) an owner needs Group.ReadWrite.All, which the emulator's
    // application is not granted by default.
    let mut granted: Vec<Value> = get(url, "permissions")["permissions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    granted.push("Group.ReadWrite.All".into());
    let grants = serde_json::json!({ "permissions": granted });
    control(reqwest::Method::PUT, url, "permissions", Some(grants));
    let users = listed(url, "users");
    let synced: Vec<&Value> = users
        .iter()
        .filter(|u| u["kind"] == "synced" && u["onPremisesImmutableId"].is_string())
        .take(3)
        .collect();
    assert_eq!(synced.len(), 3, "{users:?}");
    let upns: Vec<&str> = synced
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    let admin = users
        .iter()
        .find(|u| {
            u["userPrincipalName"]
                .as_str()
                .is_some_and(|n| n.starts_with("admin@"))
        })
        .unwrap();
    let admin_id = admin["id"].as_str().unwrap();
    let groups = listed(url, "groups");
    let group = groups
        .iter()
        .find(|g| {
            g["kind"] == "synced" && g["securityEnabled"] == true && g["mailEnabled"] == false
        })
        .unwrap_or_else(|| panic!("no synced security group: {groups:?}"));
    let group_id = group["id"].as_str().unwrap();
    assert!(
        !group["owners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == admin_id)
    );

    let dir = temp("manifests");
    manifests(&dir, &upns, group_id, admin_id);
    let dir = dir.to_str().unwrap();
    let journal_dir = temp("journal");
    let journal = journal_dir.join("journal.jsonl");
    let journal = journal.to_str().unwrap();
    let common = |cmd: &str| -> Vec<String> {
        [
            cmd,
            "-f",
            dir,
            "--graph-url",
            url,
            "--login-url",
            url,
            "--journal",
            journal,
            "--time-scale",
            "3600",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let with = |cmd: &str, more: &[&str]| -> (i32, String, String) {
        let mut args = common(cmd);
        args.extend(more.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    };

    // apply: the users and the group converted, the owner added.
    let (code, out, err) = with("apply", &["--progress", "plain", "--timeout", "120s"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let after = listed(url, "users");
    for u in &synced {
        let now = by_id(&after, u["id"].as_str().unwrap());
        assert_eq!(now["isCloudManaged"], true, "{now}");
        assert_eq!(now["onPremisesImmutableId"], Value::Null, "{now}");
    }
    let g = by_id(&listed(url, "groups"), group_id);
    assert_eq!(g["isCloudManaged"], true, "{g}");
    assert!(
        g["owners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == admin_id),
        "{g}"
    );

    // revert --plan: lists every change, writes nothing (not even the journal), exit 2.
    let writes = accepted_writes(url);
    let journal_before = std::fs::read(journal).unwrap();
    let (code, out, err) = with("revert", &["--plan"]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("CloudUserConversion identity/wave-1"), "{out}");
    assert!(
        out.contains("CloudGroupConversion identity/groups-1"),
        "{out}"
    );
    for (u, upn) in synced.iter().zip(&upns) {
        let value = u["onPremisesImmutableId"].as_str().unwrap();
        assert!(
            out.contains(&format!("undo  {upn}: restore ImmutableID {value}")),
            "{out}"
        );
        assert!(
            out.contains(&format!("undo  {upn}: switch back to AD")),
            "{out}"
        );
    }
    assert!(out.contains(&format!("remove owner {admin_id}")), "{out}");
    assert!(
        out.contains("8 change(s) to undo, 0 object(s) kept"),
        "{out}"
    );
    let (code, json, err) = with("revert", &["--plan", "-o", "json"]);
    assert_eq!(code, 2, "{err}");
    let reports: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(reports[0]["undo"].as_array().unwrap().len(), 6, "{json}");
    assert_eq!(reports[1]["undo"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(accepted_writes(url), writes, "revert --plan wrote");
    assert_eq!(std::fs::read(journal).unwrap(), journal_before);

    // A copy of the journal with one entry edited is refused whole: nothing written.
    let tampered = journal_dir.join("tampered.jsonl");
    let text = String::from_utf8(journal_before.clone()).unwrap();
    let value = synced[0]["onPremisesImmutableId"].as_str().unwrap();
    let other = synced[1]["onPremisesImmutableId"].as_str().unwrap();
    assert!(text.contains(value));
    std::fs::write(&tampered, text.replacen(value, other, 1)).unwrap();
    let key = format!("{journal}.key");
    for extra in [&["--plan"][..], &[][..]] {
        let mut args = common("revert");
        let at = args.iter().position(|a| a == journal).unwrap();
        args[at] = tampered.to_str().unwrap().to_string();
        args.extend(["--journal-key".to_string(), key.clone()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = run(&args);
        assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
        assert!(
            err.contains("does not verify") || err.contains("tampered"),
            "{err}"
        );
    }
    assert_eq!(
        accepted_writes(url),
        writes,
        "a tampered journal drove a write"
    );

    // revert: the plan, then the undo, journaled; exit 0.
    let (code, out, err) = with("revert", &[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("Revert plan: 8 change(s) to undo"), "{out}");
    assert!(
        out.contains("CloudUserConversion identity/wave-1: reverted: 3 "),
        "{out}"
    );
    assert!(
        out.contains("CloudGroupConversion identity/groups-1: reverted: 1 "),
        "{out}"
    );
    let now = listed(url, "users");
    for u in &synced {
        let id = u["id"].as_str().unwrap();
        let n = by_id(&now, id);
        assert_eq!(n["isCloudManaged"], false, "{n}");
        assert_eq!(
            n["onPremisesImmutableId"], u["onPremisesImmutableId"],
            "{n}"
        );
    }
    let g = by_id(&listed(url, "groups"), group_id);
    assert_eq!(g["isCloudManaged"], false, "{g}");
    assert!(
        !g["owners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == admin_id),
        "{g}"
    );
    let journal_text = std::fs::read_to_string(journal).unwrap();
    for action in ["RestoreImmutableId", "SwitchToAd", "RemoveOwner"] {
        assert!(journal_text.contains(action), "{action} not journaled");
    }
    let (code, out, _) = run(&["journal", "verify", "--journal", journal]);
    assert_eq!(code, 0, "{out}");

    // Nothing left: the next plan says so, exit 0, and a second revert writes nothing.
    let (code, out, err) = with("revert", &["--plan"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(out.matches("nothing to revert").count(), 2, "{out}");
    let writes = accepted_writes(url);
    let (code, out, err) = with("revert", &[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(accepted_writes(url), writes);
}

#[test]
fn revert_needs_conversions_and_the_journal() {
    let dir = temp("inputs");
    std::fs::write(dir.join("tenant.yaml"), TENANT).unwrap();
    let tenant = dir.join("tenant.yaml");
    let tenant = tenant.to_str().unwrap();
    let journal = dir.join("journal.jsonl");
    let journal = journal.to_str().unwrap();
    let (code, _, err) = run(&["revert", "-f", tenant, "--journal", journal]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(tenant) && err.contains("no CloudUserConversion or CloudGroupConversion"),
        "{err}"
    );
    let id = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    manifests(
        &dir,
        &["a@contoso.com"],
        id,
        "admin@contoso.onmicrosoft.com",
    );
    let all = dir.to_str().unwrap();
    let (code, _, err) = run(&["revert", "--plan", "-f", all, "--journal", journal]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--journal") && err.contains("no such file"),
        "{err}"
    );
    assert!(
        !Path::new(journal).exists(),
        "revert --plan created the journal"
    );
    assert!(!Path::new(&format!("{journal}.key")).exists());
}

/// The bound `revert` shares with the finalizer (the same functions): an ImmutableID someone
/// set since the conversion cleared it is not overwritten; that user is kept, named, and the
/// others are undone. The preview says so before anything is written.
#[tokio::test]
async fn a_user_changed_since_is_kept_by_the_preview_and_the_revert() {
    use common::*;
    use entra_cloud_operator::api::CloudUserConversion;
    use entra_cloud_operator::api::conditions as cond;
    use entra_cloud_operator::reconcile::RevertOutcome;
    use entra_cloud_operator::reconcile::user::revert::preview;
    use serde_json::json;

    // Reads consistent at once: the change below is seen by the revert's read (a lagging read
    // shows the value before it, which the revert cannot tell from its own).
    let emu = start(consistent_config(3, 1)).await;
    let granted = [
        "Organization.Read.All",
        "User.ReadWrite.All",
        "Group.Read.All",
        "GroupMember.Read.All",
        "User-OnPremisesSyncBehavior.ReadWrite.All",
    ];
    control_put(&emu, "permissions", json!({ "permissions": granted })).await;
    let before: Vec<Value> = users(&emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .collect();
    let cuc: CloudUserConversion = serde_json::from_value(json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
        "metadata": {"name": "wave-1", "namespace": "identity", "generation": 1},
        "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply", "clearImmutableId": true,
                 "selector": {"domains": ["contoso.com"]}, "rollout": {"maxObjects": 100}}
    }))
    .unwrap();
    let mut h = Harness::new(&emu, cuc);
    h.until(5, |s| cond::is_true(&s.conditions, cond::READY))
        .await;
    control_post(
        &emu,
        "directory/features",
        json!({"blockCloudObjectTakeoverThroughHardMatchEnabled": false}),
    )
    .await;
    // Someone else gives one converted user an ImmutableID after the conversion.
    let changed = before[0]["id"].as_str().unwrap();
    let theirs = "c29tZW9uZS1lbHNlcw==";
    graph_request(
        &emu,
        reqwest::Method::PATCH,
        &format!("users/{changed}"),
        Some(json!({"onPremisesImmutableId": theirs})),
    )
    .await;

    let writes = state(&emu).await["writes"]["accepted"].clone();
    let plan = preview(&h.ctx()).await.unwrap();
    assert_eq!(
        state(&emu).await["writes"]["accepted"],
        writes,
        "preview wrote"
    );
    let (name, why) = &plan.refused.0[changed];
    assert_eq!(name, before[0]["userPrincipalName"].as_str().unwrap());
    assert!(
        why.contains(theirs) && why.contains("kept as it is"),
        "{why}"
    );
    assert!(
        plan.steps.iter().all(|s| s.id != changed),
        "{:?}",
        plan.steps
    );
    assert_eq!(plan.steps.len(), 2 * (before.len() - 1), "{:?}", plan.steps);

    let RevertOutcome::Failed(msg) = h.revert().await else {
        panic!("a kept user must not read as a finished revert")
    };
    assert!(msg.starts_with("1 objects refused"), "{msg}");
    for u in users(&emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
    {
        let prior = before.iter().find(|b| b["id"] == u["id"]).unwrap();
        if u["id"] == changed {
            assert_eq!(u["isCloudManaged"], true, "kept: {u}");
            assert_eq!(u["onPremisesImmutableId"], theirs, "not overwritten: {u}");
        } else {
            assert_eq!(u["isCloudManaged"], false, "{u}");
            assert_eq!(u["onPremisesImmutableId"], prior["onPremisesImmutableId"]);
        }
    }
    emu.shutdown().await;
}
